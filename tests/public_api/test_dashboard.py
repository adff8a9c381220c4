"""The dashboard at /ui, used in a real headless Chromium against `elu-twins up`.

Chromium is Debian's (``apt-get install -y chromium``), driven through Playwright; without it
the test skips saying what to install (CI, with ELU_REQUIRE_SERVICES=1, fails instead).
Set ELU_DASHBOARD_SCREENSHOT=docs/dashboard.png to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import service_missing
from tests.embedded import Embedded, login, run_embedded

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path(os.environ.get("ELU_CHROMIUM", "/usr/bin/chromium"))
#: How long the page may take to show a change (a bound for busy machines, not a claim).
WAIT_MS = 30_000
#: A power as the page shows it, above 0.0 kW.
POSITIVE_KW = re.compile(r"^(?!0\.0 )\d+\.\d kW$")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        service_missing(
            f"Chromium is not installed at {CHROMIUM}: install Debian's "
            "(`apt-get install -y chromium`) or set ELU_CHROMIUM to a Chromium binary"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


def create(embedded: Embedded, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{embedded.public_url}{path}", headers=headers, json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def charge_point_body(name: str, csms_url: str, protocol: str = "ocpp1.6") -> dict[str, Any]:
    interval = (
        {"MeterValueSampleInterval": "20"}
        if protocol == "ocpp1.6"
        else {"SampledDataCtrlr/TxUpdatedInterval": "20"}
    )
    return {
        "name": name,
        "ocpp_protocol": protocol,
        "csms_url": csms_url,
        "speed_factor": 60,
        "maximum_dc_power": 150,
        "evses": [{"connectors": [{"connector_type": "cCCS2"}]}] * 2,
        "ocpp_configuration": interval,
    }


def chart_points(page: Page) -> int:
    return int(page.locator("#chart").get_attribute("data-points") or 0)


def power_kw(cell: Locator) -> float:
    return float(cell.inner_text().split()[0])


def test_dashboard_follows_a_session_live(tmp_path: Path, browser: Browser) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with run_embedded(tmp_path, timeout=120) as embedded:
        headers = login(embedded)
        csms_v16 = f"ws://127.0.0.1:{embedded.ports['CSMS_V16']}"
        csms_v201 = f"ws://127.0.0.1:{embedded.ports['CSMS_V201']}"
        create(
            embedded,
            headers,
            "/twin/vehicle/",
            {"name": "Family hatchback", "battery_capacity": 58, "soc": 35},
        )
        vehicle = create(
            embedded,
            headers,
            "/twin/vehicle/",
            {
                "name": "Delivery van",
                "battery_capacity": 75,
                "soc": 20,
                "maximum_charging_rate": 90,
            },
        )
        depot = create(
            embedded, headers, "/twin/charge-point/", charge_point_body("Depot DC 1", csms_v16)
        )
        office = create(
            embedded,
            headers,
            "/twin/charge-point/",
            charge_point_body("Office AC 2.0.1", csms_v201, "ocpp2.0.1"),
        )
        create(embedded, headers, "/twin/charge-point/", charge_point_body("Spare", csms_v16))
        connected = httpx.post(
            f"{embedded.public_url}/twin/charge-point/action/connect-charger",
            headers=headers,
            json={"charge_point_id": office["id"]},
            timeout=30,
        )
        assert connected.status_code == 200, connected.text

        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{embedded.public_url}/ui")

        page.get_by_label("Username").fill("me")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#login-error")).to_contain_text("incorrect username or password")
        page.get_by_label("Password").fill("change-me-please")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who")).to_have_text("me")
        page.reload()  # the token lives in sessionStorage: still signed in
        expect(page.locator("#who")).to_have_text("me")

        card = page.locator("article.charge-point", has_text="Depot DC 1")
        expect(card.locator(".cp-status")).to_have_text("disconnected")
        expect(page.locator("article.charge-point", has_text="Office AC")).to_contain_text(
            "Available"
        )
        connector = card.locator("tr.connector").first

        # An action the API refuses shows its error, as the API words it.
        connector.locator("select").select_option(vehicle["id"])
        connector.get_by_role("button", name="Start").click()
        error = page.locator("#error")
        expect(error).to_contain_text("Start on Depot DC 1 #1 failed (409 not_connected)")
        expect(error).to_contain_text("is offline")

        card.get_by_role("button", name="Connect", exact=True).click()
        expect(card.locator(".cp-status")).to_have_text("Available")
        expect(connector.locator(".c-status")).to_have_text("Available")

        connector.locator("select").select_option(vehicle["id"])
        connector.get_by_role("button", name="Start").click()
        expect(connector.locator(".c-status")).to_have_text("Charging")
        expect(connector.locator("[data-testid=power]")).to_have_text(POSITIVE_KW)
        assert power_kw(connector.locator("[data-testid=power]")) > 0
        expect(page.locator("#session-title")).to_contain_text("Depot DC 1 #1")
        expect(page.locator("#session-power")).to_have_text(POSITIVE_KW)

        page.wait_for_function(
            "() => document.getElementById('chart').dataset.points >= 2", timeout=WAIT_MS
        )
        before = chart_points(page)
        page.wait_for_function(
            f"() => document.getElementById('chart').dataset.points > {before + 2}",
            timeout=WAIT_MS,
        )
        assert page.locator("#chart polyline.power").count() == 1

        frames = page.locator("#frames")
        expect(frames).to_contain_text("StartTransaction")
        expect(frames).to_contain_text("MeterValues")
        expect(page.locator("#frames-of")).to_contain_text("Depot DC 1")

        if target := os.environ.get("ELU_DASHBOARD_SCREENSHOT"):
            # Past the knee of the vehicle's curve, where the chart has something to show.
            expect(connector.locator(".c-soc")).to_have_text(re.compile(r"^(7\d|8\d)\."))
            page.screenshot(path=target)

        connector.get_by_role("button", name="Stop").click()
        expect(connector.locator(".c-status")).to_have_text("Finishing")
        expect(page.locator("#session-status")).to_contain_text("ended")
        expect(frames).to_contain_text("StopTransaction")
        transactions = httpx.get(
            f"{embedded.public_url}/operations/charge_point/transaction/",
            headers=headers,
            params={"charge_point_id": depot["id"]},
        ).json()["data"]
        # The start refused while offline is kept as a Rejected transaction; the other ended.
        assert sorted((t["status"], t["stop_reason"]) for t in transactions) == [
            ("Ended", "Local"),
            ("Rejected", None),
        ]

        connector.get_by_role("button", name="Unplug").click()
        expect(connector.locator(".c-status")).to_have_text("Available")
        second = card.locator("tr.connector").nth(1)
        second.locator("select").select_option(vehicle["id"])
        second.get_by_role("button", name="Plug in").click()
        expect(second.locator(".c-status")).to_have_text("Preparing")
        second.get_by_role("button", name="Fault", exact=True).click()
        expect(second.locator(".c-status")).to_have_text("Faulted")
        second.get_by_role("button", name="Clear fault").click()
        expect(second.locator(".c-status")).to_have_text("Preparing")
        card.get_by_role("button", name="Disconnect").click()
        expect(card.locator(".cp-status")).to_have_text("disconnected")

        # A charge point deleted elsewhere leaves the page, which follows another one.
        deleted = httpx.delete(
            f"{embedded.public_url}/twin/charge-point/{depot['id']}", headers=headers
        )
        assert deleted.status_code == 204, deleted.text
        expect(card).to_have_count(0)
        expect(page.locator("#frames-of")).to_contain_text("Office AC")
        expect(page.locator("#error")).to_be_hidden()

        # A token the API no longer takes brings back the sign-in form, saying why.
        page.evaluate("sessionStorage.setItem('elu.token', 'no longer valid')")
        page.reload()
        expect(page.locator("#login-error")).to_contain_text("sign in again")
        page.close()
