"""Real keys and certificates for the lab, made with `cryptography` (EC P-256: fast and real)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey


def new_key() -> Key:
    """A fresh private key."""
    return ec.generate_private_key(ec.SECP256R1())


def name(cn: str, **extra: str) -> x509.Name:
    """A subject name: O and OU when given, then CN."""
    attrs = []
    if "o" in extra:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, extra["o"]))
    if "ou" in extra:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, extra["ou"]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _build(subject: x509.Name, issuer: x509.Name, public: CertificatePublicKeyTypes,
           signer: Key, *, start: dt.datetime, days: int, ca: bool, serial: int | None = None
           ) -> x509.Certificate:
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(public).serial_number(serial or x509.random_serial_number())
         .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
    return b.sign(signer, hashes.SHA256())


def make_ca(subject: x509.Name, days: int = 3650, age_days: int = 0
            ) -> tuple[Key, x509.Certificate]:
    """A self-signed CA, issued `age_days` ago and valid for `days` from then."""
    key = new_key()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=age_days, minutes=5)
    return key, _build(subject, subject, key.public_key(), key, start=start, days=days, ca=True)


def make_leaf(ca_key: Key, ca_cert: x509.Certificate, subject: x509.Name, days: int = 3650,
              age_days: int = 0, key: Key | None = None) -> tuple[Key, x509.Certificate]:
    """A certificate for `subject` signed by the CA."""
    key = key or new_key()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=age_days, minutes=5)
    return key, _build(subject, ca_cert.subject, key.public_key(), ca_key, start=start,
                       days=days, ca=False)


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM text of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key) -> bytes:
    """Unencrypted PKCS#8 PEM of a private key (lab use only)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_cert(path: Path) -> x509.Certificate:
    """Read a PEM certificate file."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_key(path: Path) -> Key:
    """Read a PEM private key file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a file (and its folders) with a mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def crl_pem(ca_key: Key, ca_cert: x509.Certificate) -> bytes:
    """An empty, signed CRL for the CA."""
    now = dt.datetime.now(dt.UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
           .last_update(now).next_update(now + dt.timedelta(days=30))
           .sign(ca_key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)
