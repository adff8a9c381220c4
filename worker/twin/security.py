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

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from worker.twin.certificates import (
    MAX_CHAIN_SIZE,
    CertificateError,
    SigningUse,
    load_certificates,
)
from worker.twin.errors import (
    CommandTimeout,
    InvalidRequest,
    InvalidState,
    NotConnected,
    Rejected,
)
from worker.twin.values import CallFailed, ConnectionLost, InvalidOutgoingCall

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
    if use == "V2GCertificate" and twin.config.protocol == "ocpp2.0.1":
        # A station keeps the OCSP status of its 15118 certificate at hand (M06).
        adapter.after_answer(lambda: twin.spawn(get_certificate_status(adapter, use)))
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


def ocsp_request_data(store: CertificateStore, use: SigningUse) -> dict[str, str]:
    """OCSPRequestDataType of our own certificate of ``use``: its hash data and the OCSP
    responder its Authority Information Access names (empty when it names none)."""
    own = store.own.get(use)
    if own is None:
        raise CertificateError(f"this charging station has no {use}")
    leaf = load_certificates(own.chain)[0]
    responder = ""
    try:
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        access = []
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            responder = str(description.access_location.value)[:512]
            break
    return {**store.own_chain_ids(use)[0], "responderURL": responder}


async def get_certificate_status(
    adapter: ProtocolAdapter, use: SigningUse = "V2GCertificate"
) -> tuple[str, str | None]:
    """Send GetCertificateStatus (2.0.1) for our certificate of ``use``; the CSMS's status
    and OCSP result (base64 DER)."""
    data = ocsp_request_data(adapter.twin.certificates, use)
    answer = await adapter.send_get_certificate_status(data)  # type: ignore[attr-defined]
    logger.info("%s: GetCertificateStatus %s", adapter.twin.config.cid, answer.get("status"))
    return str(answer.get("status")), answer.get("ocspResult")


async def get_15118_ev_certificate(
    adapter: ProtocolAdapter, schema_version: str, action: str, exi_request: str
) -> tuple[str, str]:
    """Send Get15118EVCertificate (2.0.1) for an EV; the CSMS's status and EXI response."""
    answer = await adapter.send_get_15118_ev_certificate(  # type: ignore[attr-defined]
        schema_version, action, exi_request
    )
    return str(answer.get("status")), str(answer.get("exiResponse", ""))


#: What a user may ask a twin to send (the API's certificate requests).
REQUESTS = ("SignCertificate", "GetCertificateStatus", "Get15118EVCertificate")


async def user_request(twin: Any, request: str, **arguments: Any) -> dict[str, Any]:
    """Send one of :data:`REQUESTS` for a user and return the CSMS's answer, raising the
    :mod:`worker.twin.errors` error that says what went wrong.

    * SignCertificate (``certificate_type``: ChargingStationCertificate, or 2.0.1's
      V2GCertificate): a new key and CSR; the CSMS's CertificateSigned completes it.
    * GetCertificateStatus (2.0.1, ``certificate_type``): the OCSP status of our own
      certificate of that type.
    * Get15118EVCertificate (2.0.1, ``iso15118_schema_version``, ``action``,
      ``exi_request``): what an EV asking for a contract certificate would have sent.
    """
    adapter = twin.adapter
    use = arguments.get("certificate_type") or "ChargingStationCertificate"
    if request not in REQUESTS:
        raise InvalidRequest(f"{request} is not a certificate request a user can send")
    if twin.config.protocol == "ocpp1.6" and (
        request != "SignCertificate" or use != ("ChargingStationCertificate")
    ):
        raise InvalidRequest(
            f"{request} for {use} is OCPP 2.0.1; charge point {twin.config.cid} speaks 1.6"
        )
    if not twin.online:
        raise twin._not_online_error()
    try:
        if request == "SignCertificate":
            return {"status": await send_sign_certificate(adapter, use)}
        if request == "GetCertificateStatus":
            status, ocsp_result = await get_certificate_status(adapter, use)
            return {"status": status, "ocsp_result": ocsp_result}
        status, exi_response = await get_15118_ev_certificate(
            adapter,
            arguments["iso15118_schema_version"],
            arguments["action"],
            arguments["exi_request"],
        )
        return {"status": status, "exi_response": exi_response}
    except CertificateError as error:
        raise InvalidState(str(error)) from None
    except InvalidOutgoingCall as error:
        raise InvalidRequest(str(error)) from None
    except CallFailed as error:
        if error.timeout:
            raise CommandTimeout(f"CSMS did not answer {request}: {error}") from None
        raise Rejected(f"CSMS refused {request}: {error}") from None
    except ConnectionLost as error:
        raise NotConnected(f"connection lost during {request}: {error}") from None
