"""HTTPS for the style server: the operator's certificate, or a self-signed one made on first start.

The self-signed certificate lives in ``<data_dir>/tls/`` and is reused on every later start, so the
fingerprint a kiosk pinned stays valid. Kiosks pin it by its SHA-256 fingerprint (``shared/tls.py``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from shared.tls import pem_fingerprint

from ..config import Settings

log = logging.getLogger("style_server.tls")

CERT_NAME, KEY_NAME = "cert.pem", "key.pem"
VALID_DAYS = 3650  # pinned by fingerprint, not by a CA: a certificate that expires mid-event helps no one


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    fingerprint: str
    created: bool = False

    def announcement(self) -> str:
        return f"TLS certificate SHA-256 fingerprint: {self.fingerprint}"


def subject_names(host: str) -> list[str]:
    """Names the self-signed certificate covers: loopback, this machine's name and the configured host."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if host and host not in ("0.0.0.0", "::"):  # the wildcard addresses are nobody's name
        names.append(host)
    return list(dict.fromkeys(n for n in names if n))


def tls_files(settings: Settings) -> TlsFiles:
    """The certificate and key to serve: the configured files, else the self-signed pair (made if missing)."""
    if settings.security.tls_cert_file is not None and settings.security.tls_key_file is not None:
        for path in (settings.security.tls_cert_file, settings.security.tls_key_file):
            if not path.is_file():
                raise FileNotFoundError(f"TLS file {path} (PORTRAIT_TLS_CERT_FILE / _KEY_FILE) does not exist")
        return TlsFiles(
            settings.security.tls_cert_file,
            settings.security.tls_key_file,
            pem_fingerprint(settings.security.tls_cert_file.read_text()),
        )
    return self_signed(settings.storage.data_dir / "tls", settings.server.host)


def self_signed(folder: Path, host: str) -> TlsFiles:
    cert_file, key_file = folder / CERT_NAME, folder / KEY_NAME
    if cert_file.is_file() and key_file.is_file():
        if _still_valid(cert_file):
            return TlsFiles(cert_file, key_file, pem_fingerprint(cert_file.read_text()))
        log.warning("the self-signed TLS certificate in %s has expired; making a new one (kiosks must re-pin)", folder)
    cert_pem, key_pem = make_self_signed(subject_names(host))
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    _write(key_file, key_pem, 0o600)  # the key first: a certificate without its key is useless
    _write(cert_file, cert_pem, 0o644)
    files = TlsFiles(cert_file, key_file, pem_fingerprint(cert_pem.decode()), created=True)
    log.info("made a self-signed TLS certificate in %s", folder)
    return files


def alt_names(names: list[str]):
    """The subject alternative names of a server certificate: IP addresses as such, the rest as DNS names."""
    from cryptography import x509

    general: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


def signature_key_usage():
    """The key usage of a TLS server (or client) certificate with an ECDSA key: signatures only."""
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def make_self_signed(names: list[str], days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-256 server certificate for ``names`` (DNS names or IP addresses), as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Portrait Booth style server ({names[0]})")])
    now = dt.datetime.now(dt.UTC)
    key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        # key identifiers: strict verifiers (OpenSSL's X509_STRICT, Python 3.13's default) refuse a certificate without
        .add_extension(key_id, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id), critical=False)
        .add_extension(alt_names(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(signature_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _still_valid(cert_file: Path) -> bool:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError:
        return False
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically, with the mode set from the first byte (never a world-readable key, even briefly)."""
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask
    tmp.replace(path)
