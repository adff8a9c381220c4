"""TLS and a certificate authority for the bundled test CSMSs (security profiles 2 and 3).

Settings, from the environment (both CSMSs share them):

* ``ELU_CSMS_TLS_CERT`` / ``ELU_CSMS_TLS_KEY``: PEM files of the CSMS's server
  certificate and key. Set, the CSMSs serve ``wss://`` (and ``https://`` for their API).
* ``ELU_CSMS_TLS_CLIENT_CA``: PEM file of the CA(s) that sign charge point certificates.
  Set (with the two above), the CSMSs require a client certificate signed by it: mutual
  TLS, security profile 3. The HTTP API on the same port then asks for one too.
* ``ELU_CSMS_CA_CERT`` / ``ELU_CSMS_CA_KEY``: PEM files of a CA certificate and its key
  with which the CSMSs sign the CSRs charge points send in SignCertificate, answering with
  CertificateSigned. Unset, SignCertificate is Rejected. Usually the same CA as
  ``ELU_CSMS_TLS_CLIENT_CA``, so that a signed certificate gets the charge point in.

The CA signs a CSR only if its signature is valid and its subject's CN is the identity of
the charge point that sent it (OCPP 2.0.1 A02.FR.06, the 1.6 Whitepaper alike). Under
mutual TLS a charge point is also refused (HTTP 403) when the CN of its certificate is
not the identity in its URL.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

#: Days a certificate the CSMS signs is valid.
SIGNED_DAYS = 365


class CsmsTlsSettings(BaseSettings):
    """The TLS and CA settings of the bundled CSMSs (see the module)."""

    model_config = SettingsConfigDict(env_prefix="ELU_CSMS_", extra="ignore")

    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    ca_cert: Path | None = None
    ca_key: Path | None = None

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config keyword arguments: TLS, and client certificates when asked."""
        if self.tls_cert is None or self.tls_key is None:
            return {}
        options: dict[str, Any] = {
            "ssl_certfile": str(self.tls_cert),
            "ssl_keyfile": str(self.tls_key),
        }
        if self.tls_client_ca is not None:
            options |= mutual_tls_options(str(self.tls_client_ca))
        return options

    def authority(self) -> CertificateAuthority | None:
        if self.ca_cert is None or self.ca_key is None:
            return None
        return CertificateAuthority.from_files(self.ca_cert, self.ca_key)


def mutual_tls_options(client_ca: str) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that require client certificates signed by
    ``client_ca`` and hand each websocket's certificate to the app."""
    return {
        "ssl_ca_certs": client_ca,
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ws": TlsWebSocketProtocol,
    }


class TlsWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, plus the client certificate in the ASGI TLS extension
    (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM), which uvicorn leaves out:
    the OCPP endpoint checks it names the charge point (security profile 3)."""

    async def run_asgi(self) -> None:
        ssl_object = self.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            self.scope["extensions"]["tls"] = {  # type: ignore[index]
                "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)]
            }
        await super().run_asgi()


def client_common_name(scope: Mapping[str, Any]) -> str | None:
    """The CN of the client certificate of a websocket (None: no certificate)."""
    chain = (scope.get("extensions") or {}).get("tls", {}).get("client_cert_chain")
    if not chain:
        return None
    certificate = x509.load_pem_x509_certificate(chain[0].encode())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


class CsrRefused(ValueError):
    """A CSR the CSMS does not sign, with the reason."""


class CertificateAuthority:
    """Signs charge point CSRs with a CA certificate and key."""

    def __init__(self, certificate_pem: str, key_pem: str) -> None:
        self.certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        self.key = serialization.load_pem_private_key(key_pem.encode(), password=None)

    @classmethod
    def from_files(cls, certificate: Path, key: Path) -> CertificateAuthority:
        return cls(certificate.read_text(), key.read_text())

    def sign(self, csr_pem: str, charge_point_id: str) -> str:
        """The PEM certificate for ``csr_pem``, for client authentication, valid
        :data:`SIGNED_DAYS`; CsrRefused when the CSR is broken or not for this identity."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as error:
            raise CsrRefused(f"not a PEM CSR: {error}") from None
        if not csr.is_signature_valid:
            raise CsrRefused("the CSR's signature is not valid")
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else None
        if common_name != charge_point_id:
            raise CsrRefused(
                f"the CSR's CN {common_name!r} is not the charge point's identity "
                f"{charge_point_id!r}"
            )
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=SIGNED_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()
