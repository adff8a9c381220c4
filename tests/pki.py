"""Certificates for tests, made with ``cryptography``: a CA, certificates it signs, files.

``Pki()`` makes a root CA; :meth:`Pki.server` a certificate for 127.0.0.1 / localhost,
:meth:`Pki.client` a charge point certificate (CN = its identity), :meth:`Pki.sign_csr`
signs a CSR as a CSMS would; :meth:`Pki.write` puts PEM text in files for ``ssl``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return cert_pem(self.certificate)

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)


class Pki:
    """A root CA and what it signs."""

    def __init__(self, name: str = "Test Root CA") -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        self.ca = Issued(certificate, key)

    def _issue(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        usage: x509.ObjectIdentifier,
        names: list[x509.GeneralName] | None = None,
        days: int = 10,
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.ca.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.ca.key, hashes.SHA256())

    def server(self) -> Issued:
        """A CSMS certificate for 127.0.0.1 and localhost."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        return Issued(
            self._issue(subject, key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH, names), key
        )

    def client(self, cid: str) -> Issued:
        """A charge point certificate: CN = the identity."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cid),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ELU Twins"),
            ]
        )
        return Issued(self._issue(subject, key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH), key)

    def sign_csr(self, csr_pem: str) -> str:
        """The PEM certificate for a CSR, as a CSMS signs it."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        certificate = self._issue(
            csr.subject,
            csr.public_key(),  # type: ignore[arg-type]
            ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        return cert_pem(certificate)

    @staticmethod
    def write(directory: Path, name: str, text: str) -> str:
        path = directory / name
        path.write_text(text)
        return str(path)
