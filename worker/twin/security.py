"""OCPP security operations of a twin, the same for 1.6 and 2.0.1.

Between an adapter's ``@on`` handlers (which translate their version's words) and the
twin's :class:`~worker.twin.certificates.CertificateStore`: each function decides the
answer at once and leaves what follows (a SignCertificate, a security event, the
reconnect with a new client certificate) to after the answer
(:meth:`~worker.twin.protocol.ProtocolAdapter.after_answer`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from worker.twin.certificates import MAX_CHAIN_SIZE, CertificateError, SigningUse

if TYPE_CHECKING:
    from worker.twin.certificates import CertificateStore
    from worker.twin.config import ChargePointConfig
    from worker.twin.protocol import ProtocolAdapter

logger = logging.getLogger(__name__)


def security_profile(config: ChargePointConfig, store: CertificateStore) -> int:
    """The OCPP security profile the twin connects with: 3 over wss with a client
    certificate, 2 over wss, 1 with a basic-auth password over ws, else 0."""
    if config.csms_url.startswith("wss://"):
        return 3 if store.client_certificate is not None else 2
    return 1 if config.password else 0


def install_certificate(
    adapter: ProtocolAdapter, use: str, pem: str
) -> Literal["Accepted", "Rejected", "Failed"]:
    twin = adapter.twin
    status = twin.certificates.install(use, pem, twin.now())
    if status == "Accepted":
        twin.mark_changed()
        if use == "CSMSRootCertificate":
            adapter.after_answer(
                lambda: twin.security_events.record(
                    "ReconfigurationOfSecurityParameters", "CSMS root certificate installed"
                )
            )
    return status


def delete_certificate(
    adapter: ProtocolAdapter, hash_data: dict[str, str]
) -> Literal["Accepted", "Failed", "NotFound"]:
    twin = adapter.twin
    before = twin.certificates.revision
    status = twin.certificates.delete(hash_data)
    if status == "Accepted":
        twin.mark_changed()
        if twin.certificates.revision != before:
            adapter.after_answer(
                lambda: twin.security_events.record(
                    "ReconfigurationOfSecurityParameters", "CSMS root certificate deleted"
                )
            )
    return status


def request_signing(adapter: ProtocolAdapter, use: SigningUse) -> None:
    """After the answer being handled: a new key, and a SignCertificate with its CSR."""
    adapter.after_answer(lambda: adapter.twin.spawn(send_sign_certificate(adapter, use)))


async def send_sign_certificate(adapter: ProtocolAdapter, use: SigningUse) -> str:
    """Make a key and a CSR for ``use`` and send SignCertificate; the CSMS's status."""
    twin = adapter.twin
    organization = adapter.organization_name()  # type: ignore[attr-defined]
    csr = twin.certificates.make_csr(twin.config.cid, organization, use)
    twin.mark_changed()
    status: str = await adapter.send_sign_certificate(csr, use)  # type: ignore[attr-defined]
    if status != "Accepted":
        logger.warning("%s: CSMS answered SignCertificate %s", twin.config.cid, status)
    return status


def certificate_signed(
    adapter: ProtocolAdapter, chain: str, use: SigningUse
) -> Literal["Accepted", "Rejected"]:
    """Take the chain the CSMS signed; a new client certificate is used at once: the
    twin reconnects with it when it connects over wss."""
    twin = adapter.twin
    try:
        if len(chain) > MAX_CHAIN_SIZE:
            raise CertificateError(f"the chain is longer than {MAX_CHAIN_SIZE} characters")
        twin.certificates.accept_signed(chain, use, twin.now())
    except CertificateError as error:
        logger.warning("%s: CertificateSigned rejected: %s", twin.config.cid, error)
        if use == "ChargingStationCertificate":
            reason = str(error)
            adapter.after_answer(
                lambda: twin.security_events.record("InvalidChargingStationCertificate", reason)
            )
        return "Rejected"
    twin.mark_changed()
    if use == "ChargingStationCertificate":

        def switch() -> None:
            twin.security_events.record(
                "ReconfigurationOfSecurityParameters", "new charging station certificate"
            )
            if twin.config.csms_url.startswith("wss://"):
                twin.reconnect()

        adapter.after_answer(switch)
    return "Accepted"


def snake_hash_data(data: dict[str, Any]) -> dict[str, str]:
    """CertificateHashDataType as the library hands it (snake_case) → camelCase."""
    return {
        "hashAlgorithm": str(data.get("hash_algorithm", data.get("hashAlgorithm", ""))),
        "issuerNameHash": str(data.get("issuer_name_hash", data.get("issuerNameHash", ""))),
        "issuerKeyHash": str(data.get("issuer_key_hash", data.get("issuerKeyHash", ""))),
        "serialNumber": str(data.get("serial_number", data.get("serialNumber", ""))),
    }
