"""The twin's certificate store on its own: hash data, signed chains, what survives a restore."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.pki import Pki, cert_pem
from worker.twin.certificates import CertificateError, CertificateStore, _key_bits, hash_data

NOW = datetime.now(UTC)


def rsa_root() -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RSA Root")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x00ABCDEF)
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def test_issuer_key_hash_is_of_the_public_key_bits() -> None:
    """RFC 5280's key identifier (method 1) is the SHA-1 of the same bits that
    issuerKeyHash hashes: it checks them for RSA and EC keys alike."""
    for certificate in (rsa_root(), Pki().ca.certificate):
        key_id = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())  # type: ignore[arg-type]
        assert hashlib.sha1(_key_bits(certificate.public_key())).digest() == key_id.digest


def test_hash_data_of_a_root_in_each_algorithm() -> None:
    root = rsa_root()
    for algorithm, digest in (
        ("SHA256", hashlib.sha256),
        ("SHA384", hashlib.sha384),
        ("SHA512", hashlib.sha512),
    ):
        data = hash_data(root, algorithm=algorithm)
        assert data == {
            "hashAlgorithm": algorithm,
            "issuerNameHash": digest(root.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": digest(_key_bits(root.public_key())).hexdigest(),
            "serialNumber": "abcdef",
        }


def test_delete_by_any_algorithm_and_case() -> None:
    store = CertificateStore()
    root = rsa_root()
    assert store.install("ManufacturerRootCertificate", cert_pem(root), NOW) == "Accepted"
    wanted = hash_data(root, algorithm="SHA384")
    wanted = {k: v.upper() if k != "hashAlgorithm" else v for k, v in wanted.items()}
    wanted["serialNumber"] = "00" + wanted["serialNumber"]
    assert store.delete(wanted) == "Accepted"
    assert store.installed_ids() == []


def test_an_expired_or_double_certificate_is_rejected() -> None:
    store = CertificateStore()
    pki = Pki()
    assert store.install("CSMSRootCertificate", pki.ca.pem + pki.ca.pem, NOW) == "Rejected"
    later = NOW + timedelta(days=365)
    assert store.install("CSMSRootCertificate", pki.ca.pem, later) == "Rejected"


def test_a_chain_must_be_signed_as_it_claims() -> None:
    store = CertificateStore()
    pki, other = Pki(), Pki("Other")
    csr = store.make_csr("CP1", "ELU Twins", "ChargingStationCertificate")
    signed = pki.sign_csr(csr)
    with pytest.raises(CertificateError, match="not signed by the next certificate"):
        store.accept_signed(signed + other.ca.pem, "ChargingStationCertificate", NOW)
    # An installed root of the same name but another key: the chain is not its.
    store.install("CSMSRootCertificate", Pki().ca.pem, NOW)
    with pytest.raises(CertificateError, match="not signed by the installed root"):
        store.accept_signed(signed + pki.ca.pem, "ChargingStationCertificate", NOW)
    store.install("CSMSRootCertificate", pki.ca.pem, NOW)
    store.accept_signed(signed + pki.ca.pem, "ChargingStationCertificate", NOW)
    assert store.client_certificate is not None
    with pytest.raises(CertificateError, match="no certificate signing request"):
        store.accept_signed(signed, "ChargingStationCertificate", NOW)


def test_the_configured_certificate_and_a_signed_one_across_restores() -> None:
    pki = Pki()
    given = pki.client("CP1")
    store = CertificateStore(given.pem, given.key_pem)
    assert store.client_certificate is not None
    assert store.client_certificate.chain == given.pem

    # The CSMS signs a new one: a restore with the same configuration keeps it.
    csr = store.make_csr("CP1", "ELU Twins", "ChargingStationCertificate")
    signed = pki.sign_csr(csr)
    store.accept_signed(signed, "ChargingStationCertificate", NOW)
    saved = store.save_state()
    same = CertificateStore(given.pem, given.key_pem)
    same.restore_state(saved)
    assert same.client_certificate is not None and same.client_certificate.chain == signed

    # The user gives another certificate: it wins over the saved one.
    newer = pki.client("CP1")
    replaced = CertificateStore(newer.pem, newer.key_pem)
    replaced.restore_state(saved)
    assert replaced.client_certificate is not None
    assert replaced.client_certificate.chain == newer.pem

    # The user removes the configured certificate: gone, unless the CSMS signed one since.
    removed = CertificateStore()
    removed.restore_state(CertificateStore(given.pem, given.key_pem).save_state())
    assert removed.client_certificate is None
    kept = CertificateStore()
    kept.restore_state(saved)
    assert kept.client_certificate is not None and kept.client_certificate.chain == signed
