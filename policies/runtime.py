"""`PolicyRuntime`: one policy driving one robot, a frame at a time, with chunk execution and safety.

What the TUI's control thread, closed-loop evaluation and the benchmark hold. `reset(instruction)`
encodes the instruction once; `step(frame)` encodes only the newest frame and keeps the window of
per-frame features in a deque, then decodes the window (the LSTM head is cheap; the frame encoder is
not). Its output equals recomputing the whole window from images (`windowed_chunk`, which the naive
mode runs every step for the benchmark comparison).

Chunk execution (`RuntimeConfig.execution`):
- `first`: execute the first action of every new chunk;
- `chunk`: execute a whole chunk before adopting the next one. Every frame is still encoded, so the
  window always holds consecutive frames as in training;
- `ensemble`: temporal ensembling of the overlapping chunks (ACT, Zhao et al. 2023): the action for
  now is the weighted average of what each of the last `horizon` chunks predicted for now, with
  weights `exp(-m * k)`, m = `ensemble_decay`, and k set by `ensemble_weighting`:
  - `"newest"` (the default): k is the chunk's age, the steps since it was predicted; 0 for this
    step's chunk, so the newest prediction weighs most;
  - `"oldest"`: ACT's own definition, `w_i = exp(-m * i)` with i = 0 the OLDEST chunk that still
    predicts this step and i counting towards the newest, so the oldest prediction weighs most (ACT
    uses m = 0.01, which is close to a plain average).
  The default is "newest" because this robot avoids obstacles: when an obstacle comes into view,
  only the chunks predicted from then on know of it, and ACT's weighting gives each of them less
  weight than any older chunk, so the robot would keep its old course for several steps. ACT chose
  the opposite for smooth fine manipulation from many fast, mostly agreeing predictions; there,
  lagging a little behind a new observation is cheap and jerk is costly. Both settings average, so
  both smooth; "newest" with m = 0.1 and a horizon of 10 gives this step's chunk about 15% of the
  weight, "oldest" about 6%.

Discrete heads (`head.kind: discrete`): every chunk is a probability distribution over the classes
(keys) per step; the action is the most probable class (x the normalisation scale: 1.15 for a key)
or, below `head.hold_threshold`, a hold (zeros). `ensemble` averages the probabilities of the covering
chunks with the same weights, then takes the most probable class, so two chunks that disagree between
`a` and `d` never average into a half press neither of them meant.

Stopping (`first` mode, for a policy with `predicts_stop`). An episode's last recorded frame is the
one its last command was taken from: no frame shows the robot at rest at its goal. A policy trained
with stop targets (`policies.windows`) learns the stop as the *next* action of its last steps, at
`chunk[1]`, never at `chunk[0]`. So when the previous step's chunk predicted a stop for this step (its
action there is below `stop_below` on every axis: a hold or the zero class of a discrete head), this
step commands a stop, whatever the newest chunk, computed from a view of the goal no training frame
showed, says first. `ensemble` gets the same from averaging, `chunk` from playing the chunk out.

`ActionChunk.clamped` is about the command sent at this step: its action of the chunk (`first`,
`chunk`) or any of the predictions averaged into it (`ensemble`) had a value outside the limits.

Command resolution (`command_resolution`, key units; 0, the default here, sends the command as computed;
the robot configs' `policy.command_resolution` is 0.01): the command sent is rounded to a multiple of
it, then clamped again, so a runtime whose outputs differ from another's only in their last bits
(PyTorch and ONNX Runtime in fp32 differ by about 1e-7) sends the very same command, and a closed loop
driven by either follows the same trajectory. Without it the difference does not stay small: a pose
1e-7 m apart already renders thousands of different pixels in the simulator (edges seen edge-on), and
from there the two runs are two different episodes. The chunk (`ActionChunk.actions`) is not rounded.

Safety: actions are de-normalised, then clamped to `limits`; a non-finite model output returns a stop
(zeros) with an error message, and drops the pending chunk, the ensemble history and the window of
features (which holds the bad frame's; the next steps refill it, as after a reset).

Precision (`RuntimeConfig.precision`): `fp32`, `fp16`, `bf16` run as asked (fp16 asked on a CPU runs
fp32 and says so in `precision_note`). `auto` is fp32 on a CPU. On CUDA, `auto` measures instead of
assuming that fp16 is good enough for these weights: the first `auto_frames` (K = 4) frames after a
reset run fp32 (those commands are the fp32 ones), and at the K-th, `choose_precision` computes the
chunks of those same K steps with fp16 weights and compares them with the fp32 chunks the runtime
produced: fp16 is taken when every value is finite and the largest absolute difference of the
normalised actions (range [-1, 1]; class probabilities for a discrete head) is at most `auto_tolerance`
(0.02, 1% of full scale); otherwise
bf16 (where the GPU has it natively, compute capability 8.0 or more) under the same test, otherwise
fp32. The policy is then converted in place, the frames of the window are re-encoded with the chosen
dtype (so the streaming window stays consistent: no frame is dropped) and the instruction too, and
the choice and the measured differences go into `precision_note`, e.g. "matches fp32 within 0.0013
on the first 4 frames" or "fp16 differed from fp32 by 0.41 > 0.02, bf16 by 0.05 > 0.02 on the first
4 frames". The K-th step takes longer, once: one or two batched passes over K frames, the
conversion and the re-encode. Memory: the candidate is evaluated with `torch.func.functional_call`
on the fp32 module with parameters and floating buffers cast to the candidate (half the fp32 size),
so the fp32 module is not touched until the choice is made and the peak is about 1.5x the fp32
weights, never two models.

Holding a policy: a runtime moves the policy it is given to its device and dtype and puts it in eval
mode, and records that it holds it (a registry of weak references, so a runtime that is dropped or
`close()`d lets go). Another runtime on the same policy shares it when it would run it the same way
(the same device and the same precision setting after resolution, e.g. the benchmark's per-step and
naive runtimes); it then follows an `auto` choice that either of them makes. A runtime that would
run it another way raises a one-line `ConfigError` instead of changing the model under the first:
load the policy again for it. Runtimes sharing a policy are stepped by one thread.

Why one file of this size: the holding rule, the precision choice and the step all decide together
what dtype the policy and the window are in; split up, each would have to trust the others' state.
This module must not import textual or h5py.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from configs import ConfigError
from configs.limits import LimitsConfig
from policies.base import Policy
from policies.normalisation import ActionNormalisation

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Execution = Literal["first", "chunk", "ensemble"]
Weighting = Literal["newest", "oldest"]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class RuntimeConfig:
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1"
    precision: Precision = "auto"  # auto: measured on the first frames on CUDA, fp32 on CPU
    execution: Execution = "first"
    ensemble_decay: float = 0.1  # m in exp(-m * k), for execution "ensemble"; ACT uses 0.01
    ensemble_weighting: Weighting = "newest"  # newest: k = age, newest weighs most; oldest: ACT's
    auto_frames: int = 4  # K: frames run in fp32 before `auto` picks a precision on CUDA
    auto_tolerance: float = 0.02  # largest |candidate - fp32| of normalised actions auto accepts
    limits: LimitsConfig = field(default_factory=LimitsConfig)  # in key units, as recorded
    naive: bool = False  # recompute the whole window from images each step (benchmark comparison only)
    stop_below: float = 0.1  # key units: a predicted action below this on every axis is a stop
    command_resolution: float = 0.0  # key units: the command sent is rounded to a multiple (0: not)

    def __post_init__(self) -> None:
        if self.execution not in get_args(Execution):
            raise ValueError(f"execution {self.execution!r}: use one of {', '.join(get_args(Execution))}")
        if self.precision not in get_args(Precision):
            raise ValueError(f"precision {self.precision!r}: use one of {', '.join(get_args(Precision))}")
        if self.ensemble_weighting not in get_args(Weighting):
            raise ValueError(
                f"ensemble_weighting {self.ensemble_weighting!r}: use one of {', '.join(get_args(Weighting))}"
            )
        if not (math.isfinite(self.ensemble_decay) and self.ensemble_decay >= 0):
            raise ValueError(f"ensemble_decay must be >= 0, got {self.ensemble_decay}")
        if self.auto_frames < 1:
            raise ValueError(f"auto_frames must be >= 1, got {self.auto_frames}")
        if not (math.isfinite(self.auto_tolerance) and self.auto_tolerance > 0):
            raise ValueError(f"auto_tolerance must be > 0, got {self.auto_tolerance}")
        if not (math.isfinite(self.stop_below) and self.stop_below >= 0):
            raise ValueError(f"stop_below must be >= 0, got {self.stop_below}")
        if not (math.isfinite(self.command_resolution) and self.command_resolution >= 0):
            raise ValueError(f"command_resolution must be >= 0, got {self.command_resolution}")


@dataclass(frozen=True)
class ActionChunk:
    actions: np.ndarray  # (horizon, 3) float32, robot units, clamped: the chunk being executed
    command: np.ndarray  # (3,) float32 [linear_x m/s, linear_y m/s, angular_z rad/s] to send now
    latency_ms: float  # frame in -> chunk out, including preprocessing and the device sync
    step: int  # steps since reset, from 0
    fresh: bool  # `actions` was predicted at this step (False while `chunk` execution replays one)
    clamped: bool  # the command sent now was limited (see the module docstring, per mode)
    error: str | None = None  # set when the robot must stop; `command` is then zeros
    stop_predicted: bool = False  # the previous chunk predicted a stop here: `command` is zeros

    @property
    def stop(self) -> bool:
        return self.error is not None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r}: use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available here; use --device cpu")
    return device


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


def windowed_chunk(
    policy: Policy, frames: list[np.ndarray], instruction: str, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Recompute a chunk from the images of a window, as training does: (T, H, W, 3) -> the head's
    output of the last step (horizon, W) (`Policy.output_actions` turns it into actions)."""
    pixels = policy.preprocess(np.stack(frames)).to(device=device, dtype=dtype)  # (T, 3, h, w)
    text = policy.encode_instruction([instruction] * len(frames))
    features = policy.encode_frame(pixels, text)  # (T, D)
    return policy.decode(features.unsqueeze(0))[0]  # (horizon, W)


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


@dataclass(eq=False)
class _Holding:
    """How the live runtimes holding one policy run it."""

    device: torch.device
    setting: str  # "fp32", "fp16", "bf16", or "auto" while or after choosing on the first frames
    dtype: torch.dtype
    note: str  # auto: what it runs and why, for every runtime sharing it
    pending: bool  # auto has not chosen yet: fp32 until it does
    runtimes: weakref.WeakSet = field(default_factory=weakref.WeakSet)

    def describe(self) -> str:
        if self.setting != "auto":
            return f"{self.device} {self.setting}"
        now = "not chosen yet" if self.pending else f"now {_name(self.dtype)}"
        return f"{self.device} auto precision ({now})"


_HOLDINGS: weakref.WeakKeyDictionary[nn.Module, _Holding] = weakref.WeakKeyDictionary()
_HOLDINGS_LOCK = threading.Lock()


def _name(dtype: torch.dtype) -> str:
    return next(k for k, v in DTYPES.items() if v == dtype)


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return a.index == b.index
    return (a.index if a.index is not None else torch.cuda.current_device()) == (
        b.index if b.index is not None else torch.cuda.current_device()
    )


class PolicyRuntime:
    def __init__(
        self, policy: Policy, normalisation: ActionNormalisation, config: RuntimeConfig | None = None
    ) -> None:
        self.config = config or RuntimeConfig()
        if normalisation.action_dim != policy.action_dim:
            raise ConfigError(
                f"normalisation has {normalisation.action_dim} action dims, the policy {policy.action_dim}"
            )
        self.device = resolve_device(self.config.device)
        dtype, note = resolve_precision(self.config.precision, self.device)
        self._candidates = auto_candidates(self.device) if self.config.precision == "auto" else ()
        if self._candidates:
            dtype, note = (
                torch.float32,
                (
                    f"auto: fp32 for the first {self.config.auto_frames} frames, then "
                    f"{' or '.join(self._candidates)} if it matches fp32 within {self.config.auto_tolerance:g}"
                ),
            )
        self._note = note  # an explicit setting's note; auto's is the holding's, shared
        self._hold = self._take(policy, "auto" if self._candidates else _name(dtype), dtype, note)
        self.policy = policy
        self.normalisation = normalisation
        self._limits = np.asarray(self.config.limits.as_tuple(), np.float32)
        self._features: deque[torch.Tensor] = deque(maxlen=policy.window)  # (1, D) each
        self._frames: deque[np.ndarray] = deque(maxlen=policy.window)  # naive mode only
        self._history: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = deque(maxlen=policy.horizon)
        self._previous: np.ndarray | None = None  # first mode: the last chunk, robot units
        self._pending: np.ndarray | None = None  # chunk mode: the chunk being executed
        self._pending_clamped = np.zeros(0, bool)  # chunk mode: which of its actions were clamped
        self._pending_index = 0
        self._probe_frames: list[np.ndarray] = []  # auto, until chosen: the frames since reset
        self._probe_chunks: list[np.ndarray] = []  # ... and the fp32 chunk of each
        self._encoded_dtype = self.dtype  # what the window of features and `_text` were computed in
        self._instruction: str | None = None
        self._text = None
        self._step = 0
        self._closed = False

    def _take(self, policy: Policy, setting: str, dtype: torch.dtype, note: str) -> _Holding:
        """Hold `policy`: share it with the live runtimes that run it the same way, refuse otherwise."""
        with _HOLDINGS_LOCK:
            hold = _HOLDINGS.get(policy)
            if hold is not None and len(hold.runtimes) > 0:
                if not (_same_device(hold.device, self.device) and hold.setting == setting):
                    raise ConfigError(
                        f"this policy is held by another runtime on {hold.describe()}; a runtime on "
                        f"{self.device} {setting} would change it under that one: load the policy again "
                        "for this runtime, or close() the other runtime first"
                    )
                hold.runtimes.add(self)
                return hold
            policy.to(device=self.device, dtype=dtype).eval()
            hold = _Holding(self.device, setting, dtype, note, pending=setting == "auto")
            hold.runtimes.add(self)
            _HOLDINGS[policy] = hold
            return hold

    @property
    def dtype(self) -> torch.dtype:
        return self._hold.dtype

    @property
    def precision(self) -> str:
        """ "fp32", "fp16" or "bf16": what runs now ("fp32" while `auto` has not chosen yet)."""
        return _name(self._hold.dtype)

    @property
    def precision_note(self) -> str:
        return self._hold.note if self._hold.setting == "auto" else self._note

    @property
    def precision_pending(self) -> bool:
        """`auto` on CUDA has not chosen yet: the next steps run fp32 until `auto_frames` are seen."""
        return self._hold.pending

    def describe(self) -> str:
        """E.g. "cpu fp32 (the CPU default)" for status lines and benchmark output; an exported
        policy's `execution_note` instead ("onnx runtime: fp32 graphs (...)")."""
        if self.policy.execution_note():
            return self.policy.execution_note()
        note = f" ({self.precision_note})" if self.precision_note else ""
        return f"{self.device} {self.precision}{note}"

    def close(self) -> None:
        """Let go of the policy, so that another runtime may run it another way; no step after this."""
        with _HOLDINGS_LOCK:
            self._hold.runtimes.discard(self)
        self._closed = True

    @torch.inference_mode()
    def reset(self, instruction: str) -> None:
        """Start an episode: forget the window and pending actions, encode the instruction once."""
        if self._closed:
            raise RuntimeError("PolicyRuntime.reset() after close()")
        self._instruction = instruction
        self._encoded_dtype = self.dtype
        self._text = None if self.config.naive else self.policy.encode_instruction([instruction])
        self._features.clear()
        self._frames.clear()
        self._history.clear()
        self._probe_frames, self._probe_chunks = [], []
        self._pending = None
        self._previous = None
        self._step = 0

    def warm_up(self, steps: int = 2, size: tuple[int, int] = (64, 48)) -> None:
        """Run `steps` steps on a black frame of `size` (width, height) and forget them, so that the first
        step of an episode does not pay for what runs once per thread and process (the allocator, kernel
        choice, the resize path): on a 2-core CPU the default policy's first step in the app took 40-70 ms
        against 5 ms for the next, and missed its deadline. Nothing when `auto` precision is still to choose
        (it would choose on these frames). Call it on the thread that will step."""
        if self.precision_pending:
            return
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        self.reset("warm up")
        for _ in range(steps):
            self.step(frame)
        self.reset("warm up")
        self._instruction = None  # a step before the episode's reset stays an error

    def step(self, frame: np.ndarray) -> ActionChunk:
        """RGB uint8 (H, W, 3) frame -> the chunk and the command to send now."""
        if self._closed:
            raise RuntimeError("PolicyRuntime.step() after close()")
        if self._instruction is None:
            raise RuntimeError("PolicyRuntime.step() before reset(instruction)")
        start = time.perf_counter()
        with torch.inference_mode():
            if self._encoded_dtype != self.dtype:  # a runtime sharing the policy chose its precision
                self._reencode()
            probing = self._hold.pending
            if probing:
                self._probe_frames.append(frame.copy())
            if self.config.naive:
                self._frames.append(frame.copy())  # a camera may reuse its buffer
                chunk = windowed_chunk(
                    self.policy, list(self._frames), self._instruction, self.device, self.dtype
                )
            else:
                pixels = self.policy.preprocess(frame[None]).to(device=self.device, dtype=self.dtype)
                self._features.append(self.policy.encode_frame(pixels, self._text))  # (1, D)
                window = torch.cat(tuple(self._features)).unsqueeze(0)  # (1, T, D)
                chunk = self.policy.decode(window)[0]  # (horizon, W)
            values = self.policy.output_values(chunk).float().cpu().numpy()  # .cpu() waits for the device
            if probing and np.isfinite(values).all():
                self._probe_chunks.append(values)
                if len(self._probe_chunks) >= self.config.auto_frames:
                    self._choose_precision()
        latency_ms = (time.perf_counter() - start) * 1e3
        step = self._step
        self._step += 1
        return self._execute(values, latency_ms, step)

    def _choose_precision(self) -> None:
        """Auto on CUDA, at the K-th frame: compare, convert the policy in place, re-encode the window."""
        choice = choose_precision(
            self.policy,
            self._probe_frames,
            self._instruction,
            self.device,
            self._candidates,
            self.config.auto_tolerance,
            reference=np.stack(self._probe_chunks),
        )
        with _HOLDINGS_LOCK:
            self.policy.to(dtype=choice.dtype)
            self._hold.dtype, self._hold.note, self._hold.pending = choice.dtype, choice.note, False
        if self.device.type == "cuda" and choice.dtype != torch.float32:
            # The fp32 weights' blocks stay in torch's cache otherwise; on a Jetson that memory is
            # the CPU's too.
            torch.cuda.empty_cache()
        self._reencode()

    def _reencode(self) -> None:
        """The policy's dtype changed: encode the instruction and the frames of the window again in it
        (all frames since the last reset or clear are kept while auto chooses, so none is dropped)."""
        held = self._probe_frames[len(self._probe_frames) - len(self._features) :] if self._features else []
        self._probe_frames, self._probe_chunks = [], []
        self._encoded_dtype = self.dtype
        if self.config.naive or self._instruction is None:
            return  # naive recomputes its window from images every step, in the dtype of the moment
        self._text = self.policy.encode_instruction([self._instruction])
        self._features.clear()
        if held:
            pixels = self.policy.preprocess(np.stack(held)).to(device=self.device, dtype=self.dtype)
            text = self.policy.encode_instruction([self._instruction] * len(held))
            self._features.extend(self.policy.encode_frame(pixels, text).split(1))  # (1, D) each

    def _to_robot(self, values: np.ndarray) -> np.ndarray:
        """Head values (..., W) -> robot-unit actions (..., 3) before clamping."""
        normalised = self.policy.values_to_actions(torch.from_numpy(values)).numpy()
        robot = self.normalisation.denormalise(normalised)  # (..., A) robot units
        if robot.shape[-1] == 2:  # a 2-D policy never turns
            robot = np.concatenate([robot, np.zeros((*robot.shape[:-1], 1), np.float32)], axis=-1)
        return robot

    def _execute(self, values: np.ndarray, latency_ms: float, step: int) -> ActionChunk:
        if not np.isfinite(values).all():
            self._pending = None
            self._previous = None
            self._history.clear()
            # The window holds the bad frame's feature: keeping it would stop the next window-1 steps.
            self._features.clear()
            self._frames.clear()
            self._probe_frames, self._probe_chunks = [], []  # auto compares consecutive frames only
            zeros = np.zeros((self.policy.horizon, 3), np.float32)
            error = (
                f"policy output is not finite at step {step}; robot stopped, frame window cleared "
                "(the next frames refill it)"
            )
            return ActionChunk(zeros, np.zeros(3, np.float32), latency_ms, step, True, False, error)
        robot = self._to_robot(values)  # (horizon, 3)
        actions = np.clip(robot, -self._limits, self._limits).astype(np.float32)
        over = (actions != robot).any(axis=1)  # (horizon,) which actions were clamped
        mode = self.config.execution
        if mode == "chunk":
            fresh = self._pending is None or self._pending_index >= len(self._pending)
            if fresh:
                self._pending, self._pending_clamped, self._pending_index = actions, over, 0
            index = self._pending_index
            self._pending_index += 1
            command, clamped = self._pending[index].copy(), bool(self._pending_clamped[index])
            return ActionChunk(self._pending, self._round(command), latency_ms, step, fresh, clamped)
        if mode == "ensemble":
            self._history.append((step, values, actions, over))
            command, clamped = self._ensemble(step)
        else:
            previous, self._previous = self._previous, actions
            if (
                self.policy.config.predicts_stop
                and previous is not None
                and len(previous) > 1
                and bool((np.abs(previous[1]) < self.config.stop_below).all())
            ):
                return ActionChunk(
                    actions, np.zeros(3, np.float32), latency_ms, step, True, False, stop_predicted=True
                )
            command, clamped = actions[0].copy(), bool(over[0])
        return ActionChunk(actions, self._round(command), latency_ms, step, True, clamped)

    def _round(self, command: np.ndarray) -> np.ndarray:
        """The command to a multiple of `command_resolution` (within the limits, which are multiples
        of it or are kept by the clip)."""
        r = self.config.command_resolution
        if r == 0:
            return command
        rounded = (np.round(command.astype(np.float64) / r) * r).astype(np.float32)
        return np.clip(rounded, -self._limits, self._limits).astype(np.float32)

    def _ensemble(self, step: int) -> tuple[np.ndarray, bool]:
        """(command, whether any prediction averaged into it was clamped) for `step`. A regression
        head averages the clamped actions; a discrete head averages the class probabilities and
        takes the most probable class of the average (then clamps it)."""
        covering = [  # oldest first: the history is in order of prediction
            (step - born, values[step - born], chunk[step - born], over[step - born])
            for born, values, chunk, over in self._history
            if step - born < len(chunk)
        ]
        if self.config.ensemble_weighting == "newest":
            k = np.asarray([age for age, _, _, _ in covering], np.float64)  # 0 = this step's chunk
        else:
            k = np.arange(len(covering), dtype=np.float64)  # ACT: 0 = the oldest chunk
        w = np.exp(-self.config.ensemble_decay * k)[:, None]
        if self.policy.head_kind == "discrete":
            probs = np.asarray([v for _, v, _, _ in covering], np.float64)
            mean = ((probs * w).sum(axis=0) / w.sum()).astype(np.float32)
            robot = self._to_robot(mean)
            command = np.clip(robot, -self._limits, self._limits).astype(np.float32)
            return command, bool((command != robot).any())
        values = np.asarray([value for _, _, value, _ in covering], np.float64)
        command = ((values * w).sum(axis=0) / w.sum()).astype(np.float32)
        return command, any(clamped for _, _, _, clamped in covering)
