"""Certificate facts with `cryptography`: who, by whom, until when, key match, chain, in date."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .errors import CertError

PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def load_certs(data: bytes) -> list[x509.Certificate]:
    """Every certificate in PEM text (possibly inside other output) or one DER certificate."""
    found = PEM_CERT.findall(data)
    try:
        if found:
            return [x509.load_pem_x509_certificate(block) for block in found]
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertError(f"not a readable certificate: {exc}") from None


def key_description(key: object) -> tuple[str, int | None]:
    """Key type and size of a public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def _public_bytes(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert: x509.Certificate, key_data: bytes) -> bool | None:
    """Whether the private key belongs to the certificate (None: key encrypted or unreadable).

    The key is only held in memory for the comparison; nothing of it is returned or kept.
    """
    for loader in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            key = loader(key_data, password=None)
        except (ValueError, TypeError):
            continue
        return _public_bytes(key.public_key()) == _public_bytes(cert.public_key())
    return None


def chains_to(cert: x509.Certificate, chain: list[x509.Certificate], now: datetime) -> str | None:
    """None when `cert` chains (signatures, names, dates) to the last cert of `chain`.

    Otherwise the reason it does not. `chain` is the CA file's certificates: intermediates
    first, the root (trust anchor) last, or just the root.
    """
    current = cert
    for issuer in chain:
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            if issuer is chain[-1]:
                return f"not issued by {issuer.subject.rfc4514_string()}: {exc or 'bad signature'}"
            continue
        if not (issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc):
            return f"issuer {issuer.subject.rfc4514_string()} is not in date"
        current = issuer
        if issuer is chain[-1]:
            return None
    return "no issuer in the CA file signed it"


@dataclass
class CertFacts:
    """What a `cert` step found; never any key material."""

    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    days_left: int
    fingerprint_sha256: str
    key_type: str
    key_size: int | None
    self_signed: bool
    in_date: bool
    key_matches: bool | None = None
    chains_to_ca: bool | None = None
    chain_problem: str = ""
    status: str = "pass"
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready facts."""
        return asdict(self)


def facts(cert: x509.Certificate, *, key: bytes | None = None,
          ca: list[x509.Certificate] | None = None, warn_days: int = 90, fail_days: int = 0,
          now: datetime | None = None, expired: str = "fail") -> CertFacts:
    """Facts about `cert`, with pass / warn / fail from the thresholds.

    Fails when expired, not yet valid, under `fail_days` left, the key does not match, or it
    does not chain to `ca`; warns under `warn_days`.
    """
    now = now or datetime.now(UTC)
    before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
    kt, ks = key_description(cert.public_key())
    f = CertFacts(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"), not_before=before.isoformat(),
        not_after=after.isoformat(), days_left=int((after - now).total_seconds() // 86400),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        key_type=kt, key_size=ks, self_signed=cert.issuer == cert.subject,
        in_date=before <= now <= after)
    warnings: list[str] = []
    if now > after:
        (f.problems if expired == "fail" else warnings).append(f"expired on {after:%Y-%m-%d}")
    elif now < before:
        f.problems.append(f"not valid before {before:%Y-%m-%d %H:%M} UTC (clock skew?)")
    elif f.days_left < fail_days:
        f.problems.append(f"{f.days_left} days left, under the {fail_days}-day limit")
    if key is not None:
        f.key_matches = key_matches(cert, key)
        if f.key_matches is False:
            f.problems.append("the private key does not match the certificate")
    if ca:
        f.chain_problem = chains_to(cert, ca, now) or ""
        f.chains_to_ca = not f.chain_problem
        if f.chain_problem:
            f.problems.append(f.chain_problem)
    if f.problems:
        f.status = "fail"
    elif warnings or f.days_left < warn_days:
        f.status = "warn"
        f.problems += warnings or [f"{f.days_left} days left, under the {warn_days}-day "
                                   "warning"]
    return f
