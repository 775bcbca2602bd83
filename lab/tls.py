"""The lab's throw-away certificate authority: server certificates for every endpoint, client certificates
for the Kubernetes API (CSR signing), and the CA file clients are told to trust."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from datetime import datetime, timedelta, timezone


class LabCA:
    """One CA per lab. `ca_file` is written under the state dir; server contexts are made per endpoint."""

    def __init__(self, state_dir: Path) -> None:
        self._ca = trustme.CA(organization_name="prefect-windows-nodes lab")
        self.ca_file = Path(state_dir) / "lab-ca.crt"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM."""
        return self._ca.cert_pem.bytes()

    def server_context(self, *hostnames: str, client_auth: bool = False) -> ssl.SSLContext:
        """A server TLS context with a certificate for `hostnames` (IPs allowed). With `client_auth`, client
        certificates signed by this CA are requested (optional) and verified."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*(hostnames or ("127.0.0.1", "localhost"))).configure_cert(ctx)
        if client_auth:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self._ca.configure_trust(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this CA."""
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        return ctx

    def sign_csr(self, csr_pem: bytes, *, days: int = 365) -> bytes:
        """Sign a PKCS#10 request as the cluster CA would (client auth usage); return the certificate in PEM."""
        csr = x509.load_pem_x509_csr(csr_pem)
        ca_cert = x509.load_pem_x509_certificate(self._ca.cert_pem.bytes())
        ca_key = serialization.load_pem_private_key(self._ca.private_key_pem.bytes(), password=None)
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def issue_client_cert(self, common_name: str, organizations: list[str] = ()) -> tuple[bytes, bytes]:
        """A client certificate and key (PEM) for `CN=common_name, O=organizations` (e.g. the lab's admin)."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
        cert = self.sign_csr(csr.public_bytes(serialization.Encoding.PEM))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert, key_pem
