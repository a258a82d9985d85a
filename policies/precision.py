"""Precision: which dtype a policy runs in, how `auto` chooses it, and which runtimes hold a policy.

Precision (`RuntimeConfig.precision`): `fp32`, `fp16`, `bf16` run as asked (fp16 asked on a CPU runs
fp32 and says so in the note; `resolve_precision`). `auto` is fp32 on a CPU. On CUDA, `auto` measures
instead of assuming that fp16 is good enough for these weights: the runtime runs the first `auto_frames`
(K = 4) frames after a reset in fp32 (those commands are the fp32 ones), and at the K-th,
`choose_precision` computes the chunks of those same K steps with fp16 weights and compares them with the
fp32 chunks the runtime produced: fp16 is taken when every value is finite and the largest absolute
difference of the normalised actions (range [-1, 1]; class probabilities for a discrete head) is at most
`auto_tolerance` (0.02, 1% of full scale); otherwise bf16 (where the GPU has it natively, compute
capability 8.0 or more; `auto_candidates`) under the same test, otherwise fp32. The runtime then
converts the policy in place (`Holding.adopt`), re-encodes the frames of its window with the chosen
dtype (so the streaming window stays consistent: no frame is dropped) and the instruction too, and the
choice and the measured differences go into its `precision_note`, e.g. "matches fp32 within 0.0013 on
the first 4 frames" or "fp16 differed from fp32 by 0.41 > 0.02, bf16 by 0.05 > 0.02 on the first 4
frames". The K-th step takes longer, once: one or two batched passes over K frames, the conversion and
the re-encode. Memory: the candidate is evaluated with `torch.func.functional_call` on the fp32 module
with parameters and floating buffers cast to the candidate (half the fp32 size; `stream_chunks`), so the
fp32 module is not touched until the choice is made and the peak is about 1.5x the fp32 weights, never
two models.

Holding a policy (`hold`): a runtime moves the policy it is given to its device and dtype, puts it in
eval mode and folds its LoRA adapters into their base weights (`policies.adapters`), on a CPU in fp32
packs its large linear layers into oneDNN's layout (`policies.packed`), and records that it holds it (a registry of weak references, so a runtime that is dropped or
`close()`d lets go). Another runtime on the same policy shares it when it would run it the same way (the
same device and the same precision setting after resolution, e.g. the benchmark's per-step and naive
runtimes); it then follows an `auto` choice that either of them makes. A runtime that would run it
another way raises a one-line `ConfigError` instead of changing the model under the first: load the
policy again for it. Runtimes sharing a policy are stepped by one thread.

This module owns the dtype of a held policy; the streaming step and its window of features are the
runtime's (`policies.runtime`), which re-encodes them when the dtype changes. It must not import textual
or h5py, and it decides nothing about the commands sent (`policies.execution`).
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from configs import ConfigError
from policies.adapters import merge_adapters
from policies.base import Policy
from policies.packed import pack_linears, unpack_linears

Precision = Literal["auto", "fp32", "fp16", "bf16"]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_precision(precision: str, device: torch.device) -> tuple[torch.dtype, str]:
    """(dtype to start in, note for the operator; empty when it is what was asked). `auto` on CUDA
    starts in fp32 until `choose_precision` has compared the candidates (`auto_candidates`)."""
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                f"precision bf16: not supported by {torch.cuda.get_device_name(device)}; use fp16"
            )
        return DTYPES["fp32" if precision == "auto" else precision], ""
    if precision == "fp16":
        return torch.float32, "fp16 is not used on a CPU (slow and partly unsupported there); running fp32"
    if precision == "auto":
        return torch.float32, "the CPU default"
    return DTYPES[precision], ""


def auto_candidates(device: torch.device) -> tuple[str, ...]:
    """The precisions `auto` tries against fp32 on `device`, in order; none on a CPU (fp32 there).
    bf16 only where it is native (compute capability 8.0: Ampere, the Jetson Orin, and later)."""
    if device.type != "cuda":
        return ()
    return ("fp16", "bf16") if torch.cuda.get_device_capability(device) >= (8, 0) else ("fp16",)


class _StreamChunks(nn.Module):
    """The chunk of every step of a stream of frames since a reset, as the runtime computes them: each
    step's chunk sees the last `window` frames up to it. A module, so `functional_call` can run it
    with other weights."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        k, w = pixels.shape[0], self.policy.window
        text = self.policy.encode_instruction([instruction] * k)
        features = self.policy.encode_frame(pixels, text)  # (K, D), one batch
        chunks = [self.policy.decode(features[max(0, i + 1 - w) : i + 1].unsqueeze(0))[0] for i in range(k)]
        return self.policy.output_values(torch.stack(chunks))  # (K, horizon, W)


def _stored_dtype(module: nn.Module) -> torch.dtype:
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


@torch.inference_mode()
def stream_chunks(
    policy: Policy, frames: Sequence[np.ndarray], instruction: str, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """(K, horizon, W) chunks (`Policy.output_values`: actions, or class probabilities) of the K steps
    after a reset on `frames`, computed with the policy's
    weights in `dtype`. When the policy holds its weights in another dtype they are cast on the fly
    (`torch.func.functional_call`, parameters and floating buffers): the module is not changed, and
    the extra memory is one copy of the weights in `dtype`."""
    wrapper = _StreamChunks(policy)
    pixels = policy.preprocess(np.stack(frames)).to(device=device, dtype=dtype)  # (K, 3, h, w)
    if _stored_dtype(policy) == dtype:
        return wrapper(pixels, instruction)
    named = itertools.chain(wrapper.named_parameters(), wrapper.named_buffers())
    cast = {name: t.to(dtype) for name, t in named if t.is_floating_point() and t.dtype != dtype}
    with warnings.catch_warnings():
        # cuDNN's LSTM wants its weights in one flat buffer; the cast copies are not, for this one call.
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous")
        return torch.func.functional_call(wrapper, cast, (pixels, instruction))


@dataclass(frozen=True)
class PrecisionChoice:
    """What `choose_precision` found: the precision to run and how far each tried candidate was."""

    precision: str  # "fp16", "bf16" or "fp32"
    differences: dict[str, float]  # candidate tried -> max |candidate - fp32| (inf: not finite)
    frames: int
    tolerance: float
    reference_finite: bool = True  # False: fp32 itself was not finite, nothing could be compared

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    @property
    def note(self) -> str:
        """For `precision_note`, e.g. "matches fp32 within 0.0013 on the first 4 frames"."""
        where = f"on the first {self.frames} frames"
        if not self.reference_finite:
            return f"fp32 output was not finite {where}, so no lower precision was tried"
        failed, compared = [], False
        for name, diff in self.differences.items():
            if name == self.precision:
                break
            if not math.isfinite(diff):
                failed.append(f"{name} was not finite")
            else:  # "fp16 differed from fp32 by 0.41 > 0.02, bf16 by 0.05 > 0.02"
                failed.append(
                    f"{name}{'' if compared else ' differed from fp32'} by {diff:.2g} > {self.tolerance:g}"
                )
                compared = True
        if self.precision == "fp32":
            return f"{', '.join(failed) or 'no candidate to try'} {where}"
        match = f"matches fp32 within {self.differences[self.precision]:.2g} {where}"
        return f"{', '.join(failed)}; {self.precision} {match}" if failed else match


def choose_precision(
    policy: Policy,
    frames: Sequence[np.ndarray],
    instruction: str,
    device: torch.device,
    candidates: Sequence[str] = ("fp16", "bf16"),
    tolerance: float = 0.02,
    reference: np.ndarray | None = None,
) -> PrecisionChoice:
    """The first of `candidates` whose chunks on `frames` (the K steps after a reset) are finite and
    within `tolerance` of fp32's (max absolute difference of the normalised actions, or of the class
    probabilities of a discrete head), else fp32.

    `reference`: the (K, horizon, A) fp32 chunks of those steps when the caller has them (the runtime
    does: it ran them), else they are computed. The policy is not changed (see `stream_chunks`)."""
    with torch.inference_mode():
        if reference is None:
            reference = (
                stream_chunks(policy, frames, instruction, device, torch.float32).float().cpu().numpy()
            )
        reference = np.asarray(reference, np.float32)
        if not np.isfinite(reference).all():
            return PrecisionChoice("fp32", {}, len(frames), tolerance, reference_finite=False)
        differences: dict[str, float] = {}
        for name in candidates:
            got = stream_chunks(policy, frames, instruction, device, DTYPES[name]).float().cpu().numpy()
            diff = float(np.abs(got - reference).max()) if np.isfinite(got).all() else math.inf
            differences[name] = diff
            if diff <= tolerance:
                return PrecisionChoice(name, differences, len(frames), tolerance)
    return PrecisionChoice("fp32", differences, len(frames), tolerance)


def precision_name(dtype: torch.dtype) -> str:
    """torch.float16 -> "fp16" (of `DTYPES`)."""
    return next(k for k, v in DTYPES.items() if v == dtype)


@dataclass(eq=False)
class Holding:
    """How the live runtimes holding one policy run it (shared by them: an `auto` choice is for all)."""

    device: torch.device
    setting: str  # "fp32", "fp16", "bf16", or "auto" while or after choosing on the first frames
    dtype: torch.dtype
    note: str  # auto: what it runs and why, for every runtime sharing it
    pending: bool  # auto has not chosen yet: fp32 until it does
    runtimes: weakref.WeakSet = field(default_factory=weakref.WeakSet)

    def describe(self) -> str:
        if self.setting != "auto":
            return f"{self.device} {self.setting}"
        now = "not chosen yet" if self.pending else f"now {precision_name(self.dtype)}"
        return f"{self.device} auto precision ({now})"

    def adopt(self, policy: Policy, choice: PrecisionChoice) -> None:
        """`auto` has chosen: convert the held policy in place, for every runtime sharing it."""
        with _HOLDINGS_LOCK:
            policy.to(dtype=choice.dtype)
            self.dtype, self.note, self.pending = choice.dtype, choice.note, False

    def release(self, runtime: object) -> None:
        """`runtime` lets go of the policy, so that another runtime may run it another way."""
        with _HOLDINGS_LOCK:
            self.runtimes.discard(runtime)


_HOLDINGS: weakref.WeakKeyDictionary[nn.Module, Holding] = weakref.WeakKeyDictionary()
_HOLDINGS_LOCK = threading.Lock()


def hold(
    policy: Policy, runtime: object, device: torch.device, setting: str, dtype: torch.dtype, note: str
) -> Holding:
    """`runtime` holds `policy` on `device` with precision `setting` (starting in `dtype`): it shares the
    holding of the live runtimes that run it the same way, or, when none does, moves the policy to the
    device and dtype and puts it in eval mode. Raises `ConfigError` when a live runtime runs it another way."""
    with _HOLDINGS_LOCK:
        holding = _HOLDINGS.get(policy)
        if holding is not None and len(holding.runtimes) > 0:
            if not (_same_device(holding.device, device) and holding.setting == setting):
                raise ConfigError(
                    f"this policy is held by another runtime on {holding.describe()}; a runtime on "
                    f"{device} {setting} would change it under that one: load the policy again "
                    "for this runtime, or close() the other runtime first"
                )
            holding.runtimes.add(runtime)
            return holding
        unpack_linears(policy)  # an earlier holding's CPU fp32 layers, before any move or cast
        policy.to(device=device).eval()
        # Adapters folded before any cast (the delta is computed in the weights' own precision); a
        # policy put back in training mode unfolds them (`Kosmos2Base.train`).
        merge_adapters(policy)
        policy.to(dtype=dtype)
        if device.type == "cpu" and dtype == torch.float32:
            pack_linears(policy)  # oneDNN's layout for the large layers (`policies.packed`)
        holding = Holding(device, setting, dtype, note, pending=setting == "auto")
        holding.runtimes.add(runtime)
        _HOLDINGS[policy] = holding
        return holding


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return a.index == b.index
    return (a.index if a.index is not None else torch.cuda.current_device()) == (
        b.index if b.index is not None else torch.cuda.current_device()
    )
