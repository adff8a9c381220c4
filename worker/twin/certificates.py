"""The twin's certificate store: what OCPP's certificate management keeps in a charger.

One store per twin, the same for OCPP 1.6 (Security Whitepaper edition 3) and 2.0.1;
the adapters translate their message words to the neutral ones here:

* **Installed root certificates**, by use: ``CSMSRootCertificate`` (1.6 calls it
  CentralSystemRootCertificate), ``ManufacturerRootCertificate``,
  ``V2GRootCertificate`` and ``MORootCertificate`` (2.0.1 only). The CSMS root
  certificates are also trusted for ``wss://``, beside the host's CA file.
* **The charge point's own certificate** (security profile 3's client certificate)
  and its private key, given in the charge point's configuration or made by the
  twin: :meth:`CertificateStore.make_csr` generates a key and a certificate signing
  request (CN = the charge point's identity, O = its organisation), and
  :meth:`CertificateStore.accept_signed` takes the chain the CSMS sends back, checks
  it belongs to that key and is signed as it claims, and makes it the certificate of
  the next connection. 2.0.1's V2GCertificate is kept the same way, beside it.
* **Certificate hash data** (:func:`hash_data`): issuerNameHash (of the DER issuer
  name), issuerKeyHash (of the issuer's public key bits, found among the installed
  certificates; a self-signed certificate is its own issuer) and serialNumber (hex,
  without leading zeroes), as GetInstalledCertificateIds reports them and
  DeleteCertificate names them.

Everything is PEM text and goes into the twin's saved state (:meth:`save_state`),
private keys included: a twin moved to another host or restarted keeps its
certificates. Keys are EC P-256 (fast to make; OCPP allows them).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

logger = logging.getLogger(__name__)

#: Root certificate uses the store knows (2.0.1 InstallCertificateUseEnumType words).
ROOT_USES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
)
#: What a CSR is for (2.0.1 CertificateSigningUseEnumType; 1.6 knows only the first).
SigningUse = Literal["ChargingStationCertificate", "V2GCertificate"]
#: Installed certificates a store keeps at most (CertificateStoreMaxLength).
MAX_INSTALLED = 20
#: Characters a certificate chain may have (CertificateSignedMaxChainSize).
MAX_CHAIN_SIZE = 10000
_HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


class CertificateError(ValueError):
    """A certificate, chain or key that cannot be used, with the reason."""


def load_certificates(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in order; CertificateError when none or broken."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CertificateError(f"not a PEM X.509 certificate: {error}") from None
    if not certificates:
        raise CertificateError("no certificate in the PEM text")
    return certificates


def load_private_key(pem: str) -> Any:
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise CertificateError(f"not an unencrypted PEM private key: {error}") from None


def client_certificate_problem(certificate: str, key: str) -> str | None:
    """Why a client certificate and key given by a user cannot be used, or None."""
    try:
        leaf = load_certificates(certificate)[0]
        private_key = load_private_key(key)
    except CertificateError as error:
        return str(error)
    try:
        matches = _public_der(leaf.public_key()) == _public_der(private_key.public_key())
    except (ValueError, UnsupportedAlgorithm) as error:
        return f"unsupported key: {error}"
    if not matches:
        return "the private key is not the key of the certificate"
    return None


def _key_bits(public_key: Any) -> bytes:
    """The subjectPublicKey BIT STRING's content, which issuerKeyHash hashes."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise CertificateError(f"unsupported public key type {type(public_key).__name__}")


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def is_issuer(issuer: x509.Certificate, certificate: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``certificate``."""
    if issuer.subject != certificate.issuer:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def hash_data(
    certificate: x509.Certificate,
    issuer: x509.Certificate | None = None,
    algorithm: str = "SHA256",
) -> dict[str, str]:
    """CertificateHashDataType (camelCase) of ``certificate``; ``issuer`` defaults to the
    certificate itself (a root is self-signed)."""
    digest = _HASHES[algorithm]
    issuer = issuer or certificate
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": digest(certificate.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": digest(_key_bits(issuer.public_key())).hexdigest(),
        "serialNumber": format(certificate.serial_number, "x"),
    }


def _same_hash_data(a: dict[str, str], b: dict[str, str]) -> bool:
    return (
        a["issuerNameHash"].lower() == b["issuerNameHash"].lower()
        and a["issuerKeyHash"].lower() == b["issuerKeyHash"].lower()
        and a["serialNumber"].lower().lstrip("0") == b["serialNumber"].lower().lstrip("0")
    )


def _valid_now(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _fingerprint(certificate: str, key: str) -> str:
    return hashlib.sha256(f"{certificate}\n{key}".encode()).hexdigest()


@dataclass(slots=True)
class InstalledCertificate:
    use: str
    pem: str
    certificate: x509.Certificate


@dataclass(slots=True)
class OwnCertificate:
    """A certificate of the charge point itself, with its key (PEM)."""

    chain: str
    key: str


class CertificateStore:
    """The certificates of one twin (see the module)."""

    __slots__ = ("_config_fingerprint", "_pending", "installed", "own", "revision")

    def __init__(
        self, client_certificate: str | None = None, client_key: str | None = None
    ) -> None:
        self.installed: list[InstalledCertificate] = []
        #: Own certificates by signing use ("ChargingStationCertificate", "V2GCertificate").
        self.own: dict[str, OwnCertificate] = {}
        #: Private keys (PEM) made for a CSR, by signing use, until the certificate comes.
        self._pending: dict[str, str] = {}
        #: Bumped whenever what a TLS connection uses changes.
        self.revision = 0
        self._config_fingerprint: str | None = None
        self.take_configured(client_certificate, client_key)

    # -- the charge point's own certificate ---------------------------------------------

    def take_configured(self, certificate: str | None, key: str | None) -> None:
        """Use the client certificate given in the charge point's configuration, unless
        it is the one this store already took from there (a certificate the CSMS signed
        since then stays until the configuration gives a different one)."""
        if not certificate or not key:
            return
        fingerprint = _fingerprint(certificate, key)
        if fingerprint == self._config_fingerprint:
            return
        self._config_fingerprint = fingerprint
        self.own["ChargingStationCertificate"] = OwnCertificate(certificate, key)
        self.revision += 1

    @property
    def client_certificate(self) -> OwnCertificate | None:
        """The certificate and key the twin presents to its CSMS (security profile 3)."""
        return self.own.get("ChargingStationCertificate")

    def make_csr(self, common_name_: str, organization: str, use: SigningUse) -> str:
        """A new key and a PEM CSR for it; the key waits for :meth:`accept_signed`."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name_[:64]),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64] or "-"),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        self._pending[use] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_signed(self, chain_pem: str, use: SigningUse, now: datetime) -> None:
        """Install the certificate the CSMS signed for our last CSR of ``use``.

        Raises CertificateError (the answer is Rejected) when no CSR waits, the chain
        is not PEM, its leaf is not for our key or not valid now, or a certificate of
        the chain is not signed by the next one (nor, for the last one, by an installed
        root when one of them is its issuer).
        """
        pending = self._pending.get(use)
        if pending is None:
            raise CertificateError(f"no certificate signing request for {use} is waiting")
        chain = load_certificates(chain_pem)
        leaf = chain[0]
        key = load_private_key(pending)
        if _public_der(leaf.public_key()) != _public_der(key.public_key()):
            raise CertificateError("the certificate is not for the key of our signing request")
        if not _valid_now(leaf, now):
            raise CertificateError("the certificate is not valid now")
        for certificate, issuer in itertools.pairwise(chain):
            if not is_issuer(issuer, certificate):
                raise CertificateError(
                    f"{certificate.subject.rfc4514_string()} is not signed by the next "
                    "certificate of the chain"
                )
        last = chain[-1]
        roots = [i.certificate for i in self.installed if i.certificate.subject == last.issuer]
        if roots and not any(is_issuer(root, last) for root in roots):
            raise CertificateError("the chain is not signed by the installed root certificate")
        del self._pending[use]
        self.own[use] = OwnCertificate(chain_pem, pending)
        self.revision += 1

    # -- installed root certificates ------------------------------------------------------

    def install(
        self, use: str, pem: str, now: datetime
    ) -> Literal["Accepted", "Rejected", "Failed"]:
        """Rejected: not one valid PEM certificate; Failed: the store is full."""
        try:
            certificates = load_certificates(pem)
        except CertificateError as error:
            logger.info("InstallCertificate rejected: %s", error)
            return "Rejected"
        if len(certificates) != 1 or not _valid_now(certificates[0], now):
            return "Rejected"
        certificate = certificates[0]
        for index, installed in enumerate(self.installed):
            if installed.use == use and installed.certificate == certificate:
                self.installed[index] = InstalledCertificate(use, pem, certificate)
                return "Accepted"
        if len(self.installed) >= MAX_INSTALLED:
            return "Failed"
        self.installed.append(InstalledCertificate(use, pem, certificate))
        if use == "CSMSRootCertificate":
            self.revision += 1
        return "Accepted"

    def _issuer_of(self, certificate: x509.Certificate) -> x509.Certificate:
        for installed in self.installed:
            if is_issuer(installed.certificate, certificate):
                return installed.certificate
        return certificate

    def installed_ids(
        self, uses: list[str] | None = None, algorithm: str = "SHA256"
    ) -> list[tuple[str, dict[str, str]]]:
        """(use, hash data) of each installed certificate of ``uses`` (all when None)."""
        return [
            (i.use, hash_data(i.certificate, self._issuer_of(i.certificate), algorithm))
            for i in self.installed
            if uses is None or i.use in uses
        ]

    def own_chain_ids(self, use: SigningUse, algorithm: str = "SHA256") -> list[dict[str, str]]:
        """Hash data of our own certificate of ``use`` and its chain (leaf first)."""
        own = self.own.get(use)
        if own is None:
            return []
        chain = load_certificates(own.chain)
        ids = []
        for index, certificate in enumerate(chain):
            issuer = chain[index + 1] if index + 1 < len(chain) else self._issuer_of(certificate)
            ids.append(hash_data(certificate, issuer, algorithm))
        return ids

    def delete(self, wanted: dict[str, str]) -> Literal["Accepted", "Failed", "NotFound"]:
        """Delete the installed certificate ``wanted`` (camelCase hash data) names.
        Failed for the charge point's own certificate (it cannot connect without it)."""
        algorithm = wanted.get("hashAlgorithm", "SHA256")
        if algorithm not in _HASHES:
            return "NotFound"
        for use in self.own:
            # Issuer name and serial number: the issuer's key may be nowhere in the store.
            if any(
                _same_hash_data(wanted, {**ids, "issuerKeyHash": wanted["issuerKeyHash"]})
                for ids in self.own_chain_ids(use, algorithm)  # type: ignore[arg-type]
            ):
                return "Failed"
        for index, installed in enumerate(self.installed):
            issuer = self._issuer_of(installed.certificate)
            if _same_hash_data(wanted, hash_data(installed.certificate, issuer, algorithm)):
                del self.installed[index]
                if installed.use == "CSMSRootCertificate":
                    self.revision += 1
                return "Accepted"
        return "NotFound"

    # -- TLS --------------------------------------------------------------------------

    def ssl_context(self, ca_file: str | None) -> ssl.SSLContext:
        """A client TLS context: trusts ``ca_file`` (or the system's CAs) and the installed
        CSMS root certificates, and presents our certificate when we have one."""
        context = ssl.create_default_context(cafile=ca_file)
        for installed in self.installed:
            if installed.use == "CSMSRootCertificate":
                context.load_verify_locations(cadata=installed.pem)
        own = self.client_certificate
        if own is not None:
            # load_cert_chain reads files only: a private temporary file, gone at once.
            handle, path = tempfile.mkstemp(suffix=".pem")
            try:
                with os.fdopen(handle, "w") as file:
                    file.write(own.chain.strip() + "\n" + own.key.strip() + "\n")
                context.load_cert_chain(path)
            finally:
                os.unlink(path)
        return context

    # -- saved state ----------------------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        return {
            "installed": [{"use": i.use, "pem": i.pem} for i in self.installed],
            "own": {use: {"chain": o.chain, "key": o.key} for use, o in self.own.items()},
            "pending": dict(self._pending),
            "config_fingerprint": self._config_fingerprint,
        }

    def restore_state(self, data: dict[str, Any]) -> None:
        """Take back :meth:`save_state`; what the configuration gives anew still wins."""
        configured = self.client_certificate
        fingerprint = self._config_fingerprint
        self.installed = []
        for item in data.get("installed", ()):
            try:
                certificate = load_certificates(item["pem"])[0]
            except CertificateError:
                continue
            self.installed.append(InstalledCertificate(item["use"], item["pem"], certificate))
        self.own = {
            use: OwnCertificate(o["chain"], o["key"]) for use, o in data.get("own", {}).items()
        }
        self._pending = dict(data.get("pending", {}))
        self._config_fingerprint = data.get("config_fingerprint")
        if configured is not None and fingerprint != self._config_fingerprint:
            self.own["ChargingStationCertificate"] = configured
            self._config_fingerprint = fingerprint
        elif configured is None and self._config_fingerprint is not None:
            # The user took the configured certificate away: so does the twin, unless
            # the CSMS has signed another one since.
            own = self.client_certificate
            if own is not None and _fingerprint(own.chain, own.key) == self._config_fingerprint:
                del self.own["ChargingStationCertificate"]
            self._config_fingerprint = None
        self.revision += 1
