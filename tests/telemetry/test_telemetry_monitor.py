"""`mvla monitor` through `mvla_tui.cli.main`: one JSON object with the sample's keys, a table, and a
one-line error for a bad interval."""

from __future__ import annotations

import json

import pytest

from mvla_tui.cli import main
from mvla_tui.telemetry.sample import SAMPLE_FIELDS


def test_once_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--once", "--json", "--interval", "0.05"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == SAMPLE_FIELDS | {"gpu_memory_shared"}
    assert data["ram_total_bytes"] > 0 and "psutil" in data["sources"]
    assert isinstance(data["gpus"], list) and isinstance(data["notes"], list)


def test_once_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--once", "--interval", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "RAM" in out and "Sources" in out


@pytest.mark.parametrize("interval", ["0", "-1", "nan", "inf"])
def test_bad_interval_is_one_line(interval: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--once", "--interval", interval]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mvla monitor: error: --interval") and err.count("\n") == 1
