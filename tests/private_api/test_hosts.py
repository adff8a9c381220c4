from __future__ import annotations

from tests.stack import Stack


async def test_operators_see_hosts_and_where_each_twin_runs(stack: Stack) -> None:
    headers = await stack.account()
    charge_point = await stack.charge_point(headers)
    connected = await stack.action("connect-charger", headers, charge_point_id=charge_point["id"])
    assert connected.status_code == 200

    hosts = (await stack.private.get("/hosts")).json()
    ours = next(
        host
        for host in hosts
        if {"id": charge_point["id"], "cid": charge_point["cid"]} in host["twins"]
    )
    assert ours["name"] in stack.hosts
    assert ours["alive"] is True
    assert ours["status"] == "running"
    assert ours["pid"] == stack.hosts[ours["name"]]
    assert ours["twin_count"] == len(ours["twins"]) >= 1

    hosted = await stack.private.get("/charge-points", params={"host": ours["name"]})
    row = next(row for row in hosted.json()["data"] if row["id"] == charge_point["id"])
    assert row["connected"] is True
    assert row["desired_state"] == "connected"
    assert row["cid"] == charge_point["cid"]

    assert (await stack.private.get("/hosts", headers={"X-Operator-Key": "x"})).status_code == 401
