"""The certificates of a scaled-out booth (compose.scale.yaml), made once into a folder:

- ``ca.pem`` / ``ca-key.pem``: the booth's own CA (keep ``ca-key.pem`` offline once done);
- ``nats.pem`` / ``nats-key.pem``: every NATS node (nats-1, nats-2, nats-3 and the names given with ``--host``),
  for clients (server use) and for the routes between the nodes (client use: mutual TLS);
- ``api.pem`` / ``api-key.pem``: both API nodes' HTTPS, so kiosks pin one fingerprint for either.

Workers, API nodes and the mailer trust ``ca.pem`` for NATS (``PORTRAIT_NATS_CA_FILE`` in the compose file; a GPU host
elsewhere the same). Every certificate carries key identifiers, basic constraints, key usage and extended key usage,
as strict verifiers (OpenSSL's X509_STRICT, Python 3.13's default) require. Existing files are kept unless --force.
Run: python scripts/scale_certs.py ./certs --host booth.example.org [--host 10.0.0.5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from style_server.service.tls import alt_names, signature_key_usage

NATS_NAMES = ["nats-1", "nats-2", "nats-3", "localhost", "127.0.0.1"]
YEARS = 3
FILES = ["ca.pem", "ca-key.pem", "nats.pem", "nats-key.pem", "api.pem", "api-key.pem"]
CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portrait Booth"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """A new file with ``mode`` from its first byte (a key is never readable by others, even briefly)."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as handle:
        handle.write(data)


def _write(folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    _write_file(folder / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_file(folder / f"{stem}-key.pem", pem, 0o600)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * YEARS))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_certs(folder: Path, hosts: list[str], force: bool = False) -> None:
    """The CA, the NATS nodes' and the API nodes' certificates (see the module's description) into ``folder``;
    raises FileExistsError rather than replace any (kiosks pinned them, nodes trust the CA) unless ``force``."""
    existing = [name for name in FILES if (folder / name).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{folder} already has {', '.join(existing)}: keeping them (use --force to make new ones; kiosks must "
            "then pin the new fingerprint)"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new folder: only its owner reads the keys
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Portrait Booth CA")
    ca_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        _builder(ca_name, ca_name, ca_key, now)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_id), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(folder, "ca", ca_key, ca)
    for stem, names, usages in (
        ("nats", NATS_NAMES + hosts, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("api", ["localhost", "127.0.0.1", *hosts], [ExtendedKeyUsageOID.SERVER_AUTH]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(_name(f"Portrait Booth {stem}"), ca.subject, key, now)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_id), critical=False)
            .add_extension(alt_names(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(signature_key_usage(), critical=True)
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
    parser.add_argument("--force", action="store_true", help="replace certificates already in the folder")
    args = parser.parse_args()
    try:
        make_certs(args.folder, args.host, args.force)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"certificates in {args.folder}: ca.pem, nats.pem, api.pem (and their keys; keep ca-key.pem offline)")


if __name__ == "__main__":
    main()
