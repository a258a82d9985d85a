"""Building TensorRT engines, against a stand-in `tensorrt` module (no GPU here): the network flags of
TensorRT 8.6 (JetPack 6.0: explicit batch must be asked for) and 10 (always explicit), the FP16 flag,
and the optimisation profile given to each input of the default policy's exported graphs (tuned for
one frame and one full window, instructions up to 128 tokens, fixed dimensions kept)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from policies.default_policy import DEFAULT_DIR
from policies.export.backends import TRT_MAX_BATCH, TRT_MAX_TOKENS, TRT_OPT_TOKENS, build_engine

pytest.importorskip("onnx")


def stand_in(version: str) -> tuple[types.ModuleType, dict]:
    seen: dict = {"shapes": {}, "flags": set()}

    class Builder:
        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags: int):
            seen["network_flags"] = flags
            return object()

        def create_builder_config(self):
            return types.SimpleNamespace(
                set_flag=seen["flags"].add, add_optimization_profile=lambda p: seen.setdefault("profile", p)
            )

        def create_optimization_profile(self):
            return types.SimpleNamespace(set_shape=lambda name, *s: seen["shapes"].__setitem__(name, s))

        def build_serialized_network(self, network, config):
            return b"engine"

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger) -> None:
            pass

        def parse_from_file(self, path: str) -> bool:
            seen["parsed"] = path
            return True

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    trt.BuilderFlag = types.SimpleNamespace(FP16="fp16")
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)
    return trt, seen


@pytest.mark.parametrize(("version", "flags"), [("8.6.2", 1), ("10.3.0", 0)])
def test_engines_are_built_with_explicit_batch_fp16_and_a_profile_per_input(
    version: str, flags: int, tmp_path: Path, monkeypatch
) -> None:
    trt, seen = stand_in(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    onnx_dir = DEFAULT_DIR / "onnx"
    for graph, expected in [
        ("instruction", {"tokens": ((1, 1), (1, TRT_OPT_TOKENS), (TRT_MAX_BATCH, TRT_MAX_TOKENS))}),
        (
            "frame",
            {
                "pixels": ((1, 3, 72, 128), (1, 3, 72, 128), (TRT_MAX_BATCH, 3, 72, 128)),
                "text": ((1, 64), (1, 64), (TRT_MAX_BATCH, 64)),
            },
        ),
        ("head", {"features": ((1, 1, 256), (1, 8, 256), (TRT_MAX_BATCH, 8, 256))}),  # window 8
    ]:
        seen["shapes"].clear()
        engine = tmp_path / f"{graph}.engine"
        build_engine(onnx_dir / f"{graph}.onnx", engine, window=8)
        assert seen["network_flags"] == flags and "fp16" in seen["flags"]
        assert {k: tuple(tuple(s) for s in v) for k, v in seen["shapes"].items()} == expected
        assert engine.read_bytes() == b"engine"
