from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.builders import charge_point_body, create_account, create_charge_point
from tests.pki import Pki


def test_create_as_in_the_readme(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    charge_point = create_charge_point(public_client, account)
    assert charge_point["name"] == "ELU Charger 1"
    assert charge_point["cid"].startswith("ELU-")
    assert (charge_point["vendor"], charge_point["model"]) == ("Elu Twin", "Digital Twin")
    assert charge_point["ocpp_protocol"] == "ocpp1.6"
    assert charge_point["csms_url"] == "ws://localhost:9000"
    assert (charge_point["voltage_ac"], charge_point["voltage_dc"]) == (230, 400)
    assert (charge_point["maximum_dc_power"], charge_point["maximum_ac_power"]) == (180, 20)
    assert charge_point["status"] == "Unavailable"
    assert charge_point["token_cost_per_minute"] == 2
    assert charge_point["user_id"] == account.id
    assert charge_point["quota_id"] is not None
    assert charge_point["ocpp_configuration_id"] is not None
    evses = charge_point["evses"]
    assert [evse["evseid"] for evse in evses] == [1, 2]
    connectors = [connector for evse in evses for connector in evse["connectors"]]
    assert [connector["connectorid"] for connector in connectors] == [1, 2]
    first = connectors[0]
    assert first["connector_type"] == "cCCS1"
    assert first["status"] == "Unavailable"
    assert first["current_energy"] == 0 and first["total_energy"] == 0
    assert first["queued_action"] == []
    assert first["transaction_id"] is None and first["vehicle_id"] is None


def test_read_one_evse_and_one_connector(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    charge_point = create_charge_point(public_client, account)
    evse = charge_point["evses"][1]
    connector = evse["connectors"][0]
    read_evse = public_client.get(f"/twin/charge-point/evse/{evse['id']}", headers=account.headers)
    assert read_evse.json()["evseid"] == 2
    assert read_evse.json()["connectors"][0]["id"] == connector["id"]
    read_connector = public_client.get(
        f"/twin/charge-point/connector/{connector['id']}", headers=account.headers
    )
    assert read_connector.json()["connectorid"] == 2
    assert read_connector.json()["charge_point_id"] == charge_point["id"]


def test_defaults_give_one_ac_connector(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    answer = public_client.post(
        "/twin/charge-point/",
        headers=account.headers,
        json={"name": "minimal", "csms_url": "wss://csms.example.com/ocpp/"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["csms_url"] == "wss://csms.example.com/ocpp"
    assert [len(evse["connectors"]) for evse in body["evses"]] == [1]
    assert body["evses"][0]["connectors"][0]["connector_type"] == "cType2"


def test_invalid_bodies_name_what_is_wrong(public_client: TestClient, private_client: TestClient):
    account = create_account(private_client, public_client)
    for body, field in [
        (charge_point_body(csms_url="http://localhost:9000"), "csms_url"),
        (charge_point_body(csms_url="ws://user:pw@localhost:9000"), "csms_url"),
        (charge_point_body(ocpp_protocol="ocpp3.0"), "ocpp_protocol"),
        (charge_point_body(evses=[]), "evses"),
        (charge_point_body(evses=[{"connectors": [{"connector_type": "USB"}]}]), "evses"),
        (charge_point_body(cid="has space"), "cid"),
        (charge_point_body(speed_factor=0), "speed_factor"),
    ]:
        answer = public_client.post("/twin/charge-point/", headers=account.headers, json=body)
        assert answer.status_code == 422, body
        assert answer.json()["detail"][0]["loc"][1] == field


def test_cid_must_be_unique(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    cid = f"CP-{uuid.uuid4().hex[:8]}"
    create_charge_point(public_client, account, cid=cid)
    again = public_client.post(
        "/twin/charge-point/", headers=account.headers, json=charge_point_body(cid=cid)
    )
    assert again.status_code == 409
    assert cid in again.json()["detail"]


def test_bulk_is_all_or_none(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    cid = f"CP-{uuid.uuid4().hex[:8]}"
    duplicate = public_client.post(
        "/twin/charge-point/bulk",
        headers=account.headers,
        json=[charge_point_body(cid=cid), charge_point_body(cid=cid)],
    )
    assert duplicate.status_code == 409
    assert public_client.get("/twin/charge-point/", headers=account.headers).json()["count"] == 0
    created = public_client.post(
        "/twin/charge-point/bulk",
        headers=account.headers,
        json=[charge_point_body(name=f"cp {n}", ocpp_protocol="ocpp2.0.1") for n in range(4)],
    )
    assert created.status_code == 200
    assert len({charge_point["cid"] for charge_point in created.json()}) == 4
    page = public_client.get("/twin/charge-point/", headers=account.headers).json()
    assert page["count"] == 4
    assert {charge_point["ocpp_protocol"] for charge_point in page["data"]} == {"ocpp2.0.1"}


def test_quota_update_and_delete(public_client: TestClient, private_client: TestClient) -> None:
    account = create_account(private_client, public_client)
    private_client.put(f"/user/{account.id}/quota", json={"max_charge_points": 1})
    charge_point = create_charge_point(public_client, account)
    over = public_client.post(
        "/twin/charge-point/", headers=account.headers, json=charge_point_body()
    )
    assert over.status_code == 403
    patched = public_client.patch(
        f"/twin/charge-point/{charge_point['id']}",
        headers=account.headers,
        json={"speed_factor": 60, "password": "s3cret"},
    )
    assert (patched.json()["speed_factor"], patched.json()["password"]) == (60, "s3cret")
    url = f"/twin/charge-point/{charge_point['id']}"
    assert public_client.delete(url, headers=account.headers).status_code == 204
    assert public_client.get(url, headers=account.headers).status_code == 404
    connector = charge_point["evses"][0]["connectors"][0]["id"]
    gone = public_client.get(f"/twin/charge-point/connector/{connector}", headers=account.headers)
    assert gone.status_code == 404


def test_ocpp_configuration_is_checked_against_the_protocol(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    good = create_charge_point(
        public_client,
        account,
        ocpp_configuration={"MeterValueSampleInterval": "10", "ChargeProfileMaxStackLevel": "3"},
    )
    assert good["ocpp_configuration"]["MeterValueSampleInterval"] == "10"
    for values, problem in [
        ({"HeartbeatIntervall": "10"}, "HeartbeatIntervall: not an OCPP 1.6"),
        ({"MeterValueSampleInterval": "soon"}, "'soon' is not a valid value"),
    ]:
        bad = public_client.post(
            "/twin/charge-point/",
            headers=account.headers,
            json=charge_point_body(ocpp_configuration=values),
        )
        assert bad.status_code == 422
        assert problem in bad.json()["detail"]

    v201 = create_charge_point(
        public_client,
        account,
        ocpp_protocol="ocpp2.0.1",
        ocpp_configuration={"SampledDataCtrlr/TxUpdatedInterval": "15"},
    )
    assert v201["ocpp_configuration"] == {"SampledDataCtrlr/TxUpdatedInterval": "15"}
    bad = public_client.patch(
        f"/twin/charge-point/{v201['id']}",
        headers=account.headers,
        json={"ocpp_configuration": {"EVSE@7/Power": "1"}},
    )
    assert bad.status_code == 422
    assert "EVSE@7/Power" in bad.json()["detail"]
    merged = public_client.patch(
        f"/twin/charge-point/{v201['id']}",
        headers=account.headers,
        json={"ocpp_configuration": {"OCPPCommCtrlr/HeartbeatInterval": "120"}},
    )
    assert merged.json()["ocpp_configuration"] == {
        "SampledDataCtrlr/TxUpdatedInterval": "15",
        "OCPPCommCtrlr/HeartbeatInterval": "120",
    }


def test_patch_null_is_refused_except_for_the_password(
    public_client: TestClient, private_client: TestClient
) -> None:
    account = create_account(private_client, public_client)
    charge_point = create_charge_point(public_client, account, password="s3cret")
    url = f"/twin/charge-point/{charge_point['id']}"
    refused = public_client.patch(url, headers=account.headers, json={"csms_url": None})
    assert refused.status_code == 422
    assert "csms_url may not be null" in refused.text
    cleared = public_client.patch(url, headers=account.headers, json={"password": None})
    assert cleared.json()["password"] is None


def test_client_certificate_is_checked_and_its_key_never_shown(
    public_client: TestClient, private_client: TestClient
) -> None:
    pki = Pki()
    client, other = pki.client("CP-CERT"), pki.client("CP-OTHER")
    account = create_account(private_client, public_client)
    charge_point = create_charge_point(
        public_client,
        account,
        client_certificate=client.pem,
        client_key=client.key_pem,
    )
    assert charge_point["client_certificate"] == client.pem
    assert "client_key" not in charge_point
    url = f"/twin/charge-point/{charge_point['id']}"
    read = public_client.get(url, headers=account.headers)
    assert "PRIVATE KEY" not in read.text

    mismatched = public_client.patch(
        url,
        headers=account.headers,
        json={"client_certificate": client.pem, "client_key": other.key_pem},
    )
    assert mismatched.status_code == 422
    assert "not the key of the certificate" in mismatched.text
    alone = public_client.patch(
        url, headers=account.headers, json={"client_certificate": other.pem}
    )
    assert alone.status_code == 422
    assert "go together" in alone.text

    cleared = public_client.patch(
        url, headers=account.headers, json={"client_certificate": None, "client_key": None}
    )
    assert cleared.status_code == 200
    assert cleared.json()["client_certificate"] is None
