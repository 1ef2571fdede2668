"""A local certificate authority, kept in a user folder, and the certificate the emulator serves as *.stripe.com."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smoke.errors import ConfigError

CA_DIR_ENV = "STRIPE_SMOKE_CA_DIR"
# The names Stripe's clients and pages use: the API, the hosted Checkout page, 3D Secure and webhook pages, files.
STRIPE_HOSTS = ("api.stripe.com", "checkout.stripe.com", "hooks.stripe.com", "files.stripe.com", "js.stripe.com")
LOCAL_NAMES = ("localhost",)
LOCAL_IPS = ("127.0.0.1", "::1")
CA_NAME = "stripe-smoke local CA"
CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a server certificate
RENEW_BEFORE_DAYS = 30
CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"
BUNDLE = "ca-bundle.pem"  # the public roots plus this CA: for SSL_CERT_FILE, which replaces the default roots


def default_ca_dir() -> Path:
    """``$STRIPE_SMOKE_CA_DIR``, else ``$XDG_DATA_HOME/stripe-smoke/ca``, else ``~/.local/share/stripe-smoke/ca``."""
    override = os.environ.get(CA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home).expanduser() if data_home else Path.home() / ".local" / "share"
    return base / "stripe-smoke" / "ca"


@dataclass(frozen=True)
class LocalCA:
    """The CA's folder and the files in it: the CA, the server certificate it signed, and a trust bundle."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate alone (for ``NODE_EXTRA_CA_CERTS``, which adds to Node's roots)."""
        return self.directory / CA_CERT

    @property
    def ca_key(self) -> Path:
        """The CA's private key (mode 0600)."""
        return self.directory / CA_KEY

    @property
    def server_cert(self) -> Path:
        """The server certificate followed by the CA certificate."""
        return self.directory / SERVER_CERT

    @property
    def server_key(self) -> Path:
        """The server certificate's private key (mode 0600)."""
        return self.directory / SERVER_KEY

    @property
    def bundle(self) -> Path:
        """Public roots plus this CA (for ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE``, which replace the roots)."""
        return self.directory / BUNDLE

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the server certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def spki_sha256(self) -> str:
        """Base64 SHA-256 of the CA's public key, for Chromium's ``--ignore-certificate-errors-spki-list``."""
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


def ensure_ca(directory: str | Path | None = None) -> LocalCA:
    """The CA in ``directory`` (default :func:`default_ca_dir`), created once; the server certificate renewed when due."""
    ca = LocalCA(Path(directory).expanduser() if directory else default_ca_dir())
    try:
        ca.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(ca.directory / ".lock", "w")  # noqa: SIM115 - held for the whole block below
    except OSError as exc:
        raise ConfigError(f"Cannot write the local CA's folder {ca.directory} ({exc.strerror or exc}); set "
                          f"{CA_DIR_ENV} to a folder you can write.") from None
    with lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # two emulators starting at once make one CA
        except ImportError:  # pragma: no cover - not POSIX
            pass
        try:
            _ensure_files(ca)
        except OSError as exc:
            raise ConfigError(f"Cannot write the local CA's files in {ca.directory} ({exc.strerror or exc}); set "
                              f"{CA_DIR_ENV} to a folder you can write.") from None
    return ca


def _ensure_files(ca: LocalCA) -> None:
    if not (ca.ca_cert.is_file() and ca.ca_key.is_file()):
        _write_ca(ca)
    try:
        ca_cert = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(ca.ca_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        ca_key, why = None, str(exc)[:80]
    else:
        why = "its key is not the EC key stripe-smoke makes"
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"The local CA in {ca.directory} cannot be used ({why}); delete that folder to make a new "
                          "CA, then trust the new ca.pem where you trusted the old one.")
    if _server_cert_due(ca, ca_cert):
        _write_server_cert(ca, ca_cert, ca_key)
    bundle = _public_roots() + ca.ca_cert.read_bytes()
    if not ca.bundle.is_file() or ca.bundle.read_bytes() != bundle:
        _write(ca.bundle, bundle, 0o644)


def _names() -> list[Any]:
    """The server certificate's subject alternative names (cryptography GeneralName objects)."""
    return ([x509.DNSName(name) for name in (*STRIPE_HOSTS, *LOCAL_NAMES)]
            + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in LOCAL_IPS])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_ca(ca: LocalCA) -> None:

    key = ec.generate_private_key(ec.SECP256R1())
    # Named after the machine and day, so a person who trusted it can tell it apart in a trust store.
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stripe-smoke"),
                      x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"{CA_NAME} ({socket.gethostname()[:30]} {_now():%Y-%m-%d})")])
    # Name constraints: even when trusted, this CA vouches only for Stripe's names and loopback.
    permitted = ([x509.DNSName("stripe.com"), x509.DNSName("localhost")]
                 + [x509.IPAddress(ipaddress.ip_network(ip)) for ip in ("127.0.0.0/8", "::1/128")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1)).not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(ca.ca_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()), 0o600)
    _write(ca.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    ca.server_cert.unlink(missing_ok=True)  # signed by a CA that no longer exists


def _server_cert_due(ca: LocalCA, ca_cert: x509.Certificate) -> bool:
    """True when the server certificate is missing, expiring, for other names, or signed by another CA."""

    if not (ca.server_cert.is_file() and ca.server_key.is_file()):
        return True
    try:
        cert = x509.load_pem_x509_certificate(ca.server_cert.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return True
    return (cert.issuer != ca_cert.subject
            or cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS)
            or set(names) != set(_names()))


def _write_server_cert(ca: LocalCA, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, STRIPE_HOSTS[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1)).not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_names()), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(ca.server_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()), 0o600)
    # The chain includes the CA, so a client pinning the CA's key (Chromium's SPKI list) finds it.
    _write(ca.server_cert, cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM),
           0o644)


def _public_roots() -> bytes:
    """The public roots a bundle starts from: certifi's (what requests and the stripe SDK use), else the system's."""
    candidates: list[str | None] = []
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:  # pragma: no cover - requests brings certifi
        pass
    candidates.append(ssl.get_default_verify_paths().cafile)
    for path in candidates:
        if path and Path(path).is_file():
            data = Path(path).read_bytes()
            return data if data.endswith(b"\n") else data + b"\n"
    return b""


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with ``mode`` from the start (a private key is never readable by others, not even briefly)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
