"""Running one exported graph: ONNX Runtime (`OrtGraph`) or a TensorRT engine (`TrtGraph`), both
`run(named numpy arrays) -> named numpy arrays`; and building TensorRT engines from the ONNX graphs.

ONNX Runtime settings (`OrtSettings`): graph optimisation level (default `all`: constant folding,
node fusions and layout optimisations), intra-op threads (default: ONNX Runtime's, one per physical
core; `--threads` sets it, as it sets torch's), one inter-op thread, sequential execution. TensorRT
is imported only when used; where it is missing, `require_tensorrt` says so in one line.
This module must not import textual or h5py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from configs import MvlaError

if TYPE_CHECKING:
    from onnx import TensorShapeProto

LEVELS = ("disable", "basic", "extended", "all")
# The largest dimensions a TensorRT engine accepts (its optimisation profile): a batch is at most a
# window of frames; an instruction is at most this many tokens (and is tuned for TRT_OPT_TOKENS).
TRT_MAX_BATCH = 16
TRT_MAX_TOKENS = 128
TRT_OPT_TOKENS = 32


class Graph(Protocol):
    """One graph ready to run: an `OrtGraph` or a `TrtGraph`."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    provider: str  # what runs it, e.g. "CPUExecutionProvider" or "TensorRT"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class OrtSettings:
    level: str = "all"  # disable | basic | extended | all
    threads: int | None = None  # intra-op threads; None: ONNX Runtime's default

    def describe(self) -> str:
        threads = f"{self.threads} intra-op threads" if self.threads else "default intra-op threads"
        return f"optimisation {self.level}, {threads}"


DEFAULT_ORT = OrtSettings()


class OrtGraph:
    def __init__(self, path: Path, settings: OrtSettings | None = None, providers: list[str] | None = None):
        import onnxruntime as ort

        settings = settings or DEFAULT_ORT
        if settings.level not in LEVELS:
            raise MvlaError(f"ONNX Runtime optimisation level {settings.level!r}: use {', '.join(LEVELS)}")
        options = ort.SessionOptions()
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[settings.level]
        if settings.threads:
            options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # fp16 graphs on a CPU log every node it cannot fold
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception classes, not exported
            raise MvlaError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]})") from None
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self.outputs = tuple(o.name for o in self.session.get_outputs())
        self.provider = self.session.get_providers()[0]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.session.run(None, {n: feeds[n] for n in self.inputs})
        return dict(zip(self.outputs, out, strict=True))


def require_tensorrt() -> ModuleType:
    """The `tensorrt` module, or a one-line `MvlaError` saying it is missing."""
    try:
        import tensorrt
    except ImportError:
        raise MvlaError(
            "TensorRT is not installed here (the `tensorrt` Python package does not import); install "
            "TensorRT with its Python bindings on a machine with an NVIDIA GPU (JetPack on the Jetson), "
            "or use ONNX instead (mvla export --format onnx, --runtime onnx)"
        ) from None
    return tensorrt


def profile_shapes(
    dims: Iterable[TensorShapeProto.Dimension], window: int
) -> tuple[list[int], list[int], list[int]]:
    """(min, opt, max) of one input's dimensions (ONNX `dim`s): fixed ones as they are; `steps` 1 ..
    `window`, tuned for a full window; `batch` 1 .. max(TRT_MAX_BATCH, window), tuned for 1 (a step
    encodes one new frame and decodes one window); token lengths 1 .. TRT_MAX_TOKENS, tuned for
    TRT_OPT_TOKENS."""
    low, opt, high = [], [], []
    for d in dims:
        if d.dim_value > 0:
            shape = (d.dim_value, d.dim_value, d.dim_value)
        elif d.dim_param == "steps":
            shape = (1, window, window)
        elif d.dim_param == "batch":
            shape = (1, 1, max(TRT_MAX_BATCH, window))
        else:  # tokens, text, clip_tokens
            shape = (1, TRT_OPT_TOKENS, TRT_MAX_TOKENS)
        low.append(shape[0])
        opt.append(shape[1])
        high.append(shape[2])
    return low, opt, high


def network_flags(trt: ModuleType) -> int:
    """`create_network` flags: explicit batch, which the ONNX parser needs, is a flag before TensorRT 10
    (JetPack 6.0 ships 8.6) and the only mode from 10 on, where the flag is deprecated."""
    if int(str(trt.__version__).split(".")[0]) >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def build_engine(onnx_path: Path, engine_path: Path, fp16: bool = True, window: int = 8) -> None:
    """An engine for `onnx_path` with the TensorRT Python API (FP16 kernels allowed when `fp16`), with
    one optimisation profile (`profile_shapes`) for the policy's `window`."""
    import onnx

    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise MvlaError(f"{onnx_path}: TensorRT cannot parse it ({errors})")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    for value in graph.input:
        profile.set_shape(value.name, *profile_shapes(value.type.tensor_type.shape.dim, window))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise MvlaError(f"{onnx_path}: TensorRT could not build an engine (see its log above)")
    engine_path.write_bytes(bytes(serialized))


class TrtGraph:
    """A TensorRT engine run on the current CUDA device through torch's buffers and stream."""

    def __init__(self, path: Path) -> None:
        import torch

        trt = require_tensorrt()
        if not torch.cuda.is_available():
            raise MvlaError(f"{path}: a TensorRT engine needs CUDA, which is not available here")
        self._trt, self._torch = trt, torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise MvlaError(f"{path}: not an engine this TensorRT version can load; export it again here")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = tuple(n for n in names if is_input[n])
        self.outputs = tuple(n for n in names if not is_input[n])
        # TensorRT before 10 has no int64 tensors: the parser turns int64 inputs (token ids) into int32.
        self._input_dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in self.inputs}
        self.provider = "TensorRT"

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch, trt = self._torch, self._trt
        keep = []
        for name in self.inputs:
            t = torch.from_numpy(np.ascontiguousarray(feeds[name], self._input_dtypes[name])).cuda()
            keep.append(t)
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        outputs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = torch.from_numpy(np.zeros(0, trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
            buf = torch.empty(shape, dtype=dtype, device="cuda")
            outputs[name] = buf
            self.context.set_tensor_address(name, buf.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise MvlaError("TensorRT execution failed")
        stream.synchronize()
        return {n: t.float().cpu().numpy() for n, t in outputs.items()}
