"""The quick-start notebooks run top to bottom against a running `elu-twins up`."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.embedded import run_embedded

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.mark.parametrize(
    ("notebook", "csms_port"),
    [("quick_start_api_v16.ipynb", "CSMS_V16"), ("quick_start_api-ocppv2.ipynb", "CSMS_V201")],
)
def test_notebook_runs_against_embedded(
    notebook: str, csms_port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with run_embedded(tmp_path) as embedded:
        monkeypatch.setenv("ELU_PUBLIC_URL", embedded.public_url)
        monkeypatch.setenv("ELU_PRIVATE_URL", embedded.private_url)
        monkeypatch.setenv("ELU_CSMS_URL", f"ws://127.0.0.1:{embedded.ports[csms_port]}")
        monkeypatch.setenv("ELU_OPERATOR_KEY", embedded.operator_key)
        document = nbformat.read(NOTEBOOKS / notebook, as_version=4)
        NotebookClient(document, timeout=120, kernel_name="python3").execute()
    outputs = [
        output.get("text", "")
        for cell in document.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]
    assert any("kWh from" in text for text in outputs)
    assert any("BootNotification" in text for text in outputs)
