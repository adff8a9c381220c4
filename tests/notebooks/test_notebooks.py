"""The notebooks run top to bottom against a running `elu-twins up` and draw their plots."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.embedded import Embedded, run_embedded

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: notebook -> (texts its outputs must hold, sessions its plot draws)
EXPECTED: dict[str, tuple[tuple[str, ...], int]] = {
    "quick_start_api.ipynb": (
        (
            "ocpp1.6    the CSMS recorded 1 transaction",
            "ocpp2.0.1  the CSMS recorded 1 transaction",
            "TransactionEvent",
            "StartTransaction",
        ),
        2,
    ),
    "quick_start_api_v16.ipynb": (("kWh from", "BootNotification"), 1),
    "quick_start_api-ocppv2.ipynb": (("kWh from", "BootNotification"), 1),
    "smart_charging.ipynb": (("power before the limit",), 1),
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    # A generous start-up wait: the notebooks' tests share a busy machine with the others.
    with run_embedded(tmp_path_factory.mktemp("notebooks"), timeout=120) as running:
        yield running


@pytest.fixture(scope="module")
def executed(embedded: Embedded) -> Callable[[str], Any]:
    """Runs a notebook once per module, whichever test asks for it first."""
    documents: dict[str, Any] = {}

    def execute(name: str) -> Any:
        if name not in documents:
            documents[name] = run_notebook(name, embedded)
        return documents[name]

    return execute


def run_notebook(name: str, embedded: Embedded) -> Any:
    """Execute the notebook in its own folder (as Jupyter does) with the settings of the
    running instance, as a user's shell that started `make up` would have them."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for setting, value in embedded.env().items():
            monkeypatch.setenv(setting, value)
        monkeypatch.delenv("ELU_OPERATOR_KEY", raising=False)
        monkeypatch.delenv("ELU_HOST", raising=False)
        document = nbformat.read(NOTEBOOKS / name, as_version=4)
        NotebookClient(
            document,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        ).execute()
    return document


def outputs(document: Any) -> list[dict[str, Any]]:
    return [
        output
        for cell in document.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]


def text_of(document: Any) -> str:
    return "".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for output in outputs(document)
    )


def plots(document: Any) -> list[dict[str, Any]]:
    """The figures the notebook displayed (their PNG and their text description)."""
    return [output["data"] for output in outputs(document) if "image/png" in output.get("data", {})]


def assert_session_plot(plot: dict[str, Any], sessions: int) -> None:
    """A rendered PNG with, per session, the power/SoC axes pair and the curve axes."""
    assert base64.b64decode(plot["image/png"]).startswith(PNG_SIGNATURE)
    assert f"with {3 * sessions} Axes" in plot["text/plain"], plot["text/plain"]


@pytest.mark.parametrize("notebook", sorted(EXPECTED))
def test_notebook_runs_and_ends_with_its_session_plot(
    notebook: str, executed: Callable[[str], Any]
) -> None:
    document = executed(notebook)
    texts, sessions = EXPECTED[notebook]
    text = text_of(document)
    for expected in texts:
        assert expected in text
    last_code = [cell for cell in document.cells if cell.cell_type == "code"][-1]
    drawn = [
        output["data"] for output in last_code.outputs if "image/png" in output.get("data", {})
    ]
    assert len(drawn) == 1, "the notebook must end with one plot"
    assert_session_plot(drawn[0], sessions)


def test_smart_charging_power_steps_down_to_the_csms_limit(
    executed: Callable[[str], Any],
) -> None:
    document = executed("smart_charging.ipynb")
    found = re.search(
        r"power before the limit: ([\d.]+) kW, after: ([\d.]+) kW \(limit ([\d.]+) kW\)",
        text_of(document),
    )
    assert found, text_of(document)
    before, after, limit = (float(value) for value in found.groups())
    assert before == pytest.approx(50.0, abs=0.1), "the vehicle's curve gives 50 kW at this SoC"
    assert after <= limit + 0.05
    assert after < before - 30


@pytest.mark.parametrize("notebook", sorted(EXPECTED))
def test_stored_notebook_shows_its_plot_on_github(notebook: str) -> None:
    """The notebooks are committed with their outputs, small enough to read on GitHub."""
    document = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    stored = plots(document)
    assert len(stored) == 1, "store the notebook with its outputs (make notebooks)"
    assert_session_plot(stored[0], EXPECTED[notebook][1])
    assert (NOTEBOOKS / notebook).stat().st_size < 250_000
