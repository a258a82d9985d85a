"""`export.json` through `ExportMeta`: read back exactly as written, and a damaged one is one line naming
the file and the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from configs import ConfigError
from policies.export import EXPORT_JSON
from policies.export.frontend import CompactFrontend
from policies.export.meta import ExportMeta

DEFAULT_EXPORT = Path(__file__).resolve().parents[2] / "policies" / "default" / "onnx"


def test_the_default_policys_export_json_reads_and_writes_back_unchanged(tmp_path: Path) -> None:
    meta = ExportMeta.read(DEFAULT_EXPORT)
    assert isinstance(meta.frontend, CompactFrontend) and meta.parity is not None and meta.parity.passed
    meta.write(tmp_path)
    assert (tmp_path / EXPORT_JSON).read_text() == (DEFAULT_EXPORT / EXPORT_JSON).read_text()


def _damaged(tmp_path: Path, change) -> Path:
    data = json.loads((DEFAULT_EXPORT / EXPORT_JSON).read_text())
    change(data)
    (tmp_path / EXPORT_JSON).write_text(json.dumps(data))
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("graphs"), "missing key 'graphs'"),
        (lambda d: d.update(opset="17"), "opset must be an integer"),
        (lambda d: d["frontend"].pop("max_words"), "missing key 'frontend.max_words'"),
        (lambda d: d["frontend"].update(kind="clip"), "frontend.kind must be one of compact, kosmos2"),
        (
            lambda d: d["parity"]["rows"][0].update(passed="yes"),
            "parity.rows[0].passed must be true or false",
        ),
        (lambda d: d.update(sha256=["frame.onnx"]), "sha256 must be a mapping"),
    ],
)
def test_a_damaged_export_json_is_one_line_naming_file_and_key(tmp_path: Path, change, message: str) -> None:
    folder = _damaged(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        ExportMeta.read(folder)
    text = str(caught.value)
    assert text.startswith(f"{folder / EXPORT_JSON}: ") and message in text and "\n" not in text
    assert text.endswith("; export again")


def test_not_json_and_no_file_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no export.json; not an export folder"):
        ExportMeta.read(tmp_path)
    (tmp_path / EXPORT_JSON).write_text("{")
    with pytest.raises(ConfigError, match="export.json: not valid JSON; export again"):
        ExportMeta.read(tmp_path)
    (tmp_path / EXPORT_JSON).write_text("[]")
    with pytest.raises(ConfigError, match="export.json: expected a JSON object, got list; export again"):
        ExportMeta.read(tmp_path)


def test_an_export_made_before_files_were_hashed_still_reads(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_EXPORT / EXPORT_JSON, tmp_path / EXPORT_JSON)
    folder = _damaged(tmp_path, lambda d: d.pop("sha256"))
    meta = ExportMeta.read(folder)
    assert meta.sha256 is None and "sha256" not in meta.to_dict()
