"""The certificates of a scaled-out booth (docker-compose.yml, profile "scale"), made once into a folder:

- ``ca.pem`` / ``ca-key.pem``: the booth's own CA (keep ``ca-key.pem`` offline once done);
- ``nats.pem`` / ``nats-key.pem``: every NATS node (nats-1, nats-2, nats-3 and the names given with ``--host``),
  for clients (server use) and for the routes between the nodes (client use: mutual TLS);
- ``api.pem`` / ``api-key.pem``: both API nodes' HTTPS, so kiosks pin one fingerprint for either.

Workers, API nodes and the mailer trust ``ca.pem`` for NATS (``PORTRAIT_NATS_CA_FILE`` in the compose file; a GPU host
elsewhere the same). Run: python scripts/scale_certs.py ./certs --host booth.example.org [--host 10.0.0.5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NATS_NAMES = ["nats-1", "nats-2", "nats-3", "localhost", "127.0.0.1"]
YEARS = 3


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portrait Booth"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _alt_names(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _write(folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = folder / f"{stem}-key.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)


def make_certs(folder: Path, hosts: list[str]) -> None:
    """The CA, the NATS nodes' and the API nodes' certificates (see the module's description) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Portrait Booth CA"))
        .issuer_name(_name("Portrait Booth CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder, "ca", ca_key, ca)
    for stem, names, usages in (
        ("nats", NATS_NAMES + hosts, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("api", ["localhost", "127.0.0.1", *hosts], [ExtendedKeyUsageOID.SERVER_AUTH]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"Portrait Booth {stem}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365 * YEARS))
            .add_extension(_alt_names(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(folder, stem, key, cert)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="where the certificates go (PORTRAIT_SCALE_CERTS)")
    parser.add_argument(
        "--host", action="append", default=[], help="a name or address GPU hosts and kiosks use (repeatable)"
    )
    args = parser.parse_args()
    make_certs(args.folder, args.host)
    print(f"certificates in {args.folder}: ca.pem, nats.pem, api.pem (and their keys; keep ca-key.pem offline)")


if __name__ == "__main__":
    main()
