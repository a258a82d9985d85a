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
- `ensemble`: temporal ensembling of the overlapping chunks (ACT): the action for now is the average
  of what each of the last `horizon` chunks predicted for now, weighted `exp(-decay * age)`, where
  age is how many steps ago that chunk was predicted (decay > 0 favours fresh chunks).

Safety: actions are de-normalised, then clamped to `limits`; a non-finite model output returns a stop
(zeros) with an error message, and drops the pending chunk, the ensemble history and the window of
features (which holds the bad frame's; the next steps refill it, as after a reset). Precision: fp16 by
default on CUDA, fp32 on CPU; fp16 asked on a CPU runs fp32 and says so in `precision_note`.

The runtime moves the policy it is given to its device and dtype and puts it in eval mode. It is
owned by one thread. This module must not import textual or h5py.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch

from configs import ConfigError
from configs.limits import LimitsConfig
from policies.base import Policy
from policies.normalisation import ActionNormalisation

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Execution = Literal["first", "chunk", "ensemble"]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class RuntimeConfig:
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda", "cuda:1"
    precision: Precision = "auto"  # auto: fp16 on CUDA, fp32 on CPU
    execution: Execution = "first"
    ensemble_decay: float = 0.1  # per step of age, for execution "ensemble"
    limits: LimitsConfig = field(default_factory=LimitsConfig)  # in key units, as recorded
    naive: bool = False  # recompute the whole window from images each step (benchmark comparison only)

    def __post_init__(self) -> None:
        if self.execution not in get_args(Execution):
            raise ValueError(f"execution {self.execution!r}: use one of {', '.join(get_args(Execution))}")
        if self.precision not in get_args(Precision):
            raise ValueError(f"precision {self.precision!r}: use one of {', '.join(get_args(Precision))}")
        if not (math.isfinite(self.ensemble_decay) and self.ensemble_decay >= 0):
            raise ValueError(f"ensemble_decay must be >= 0, got {self.ensemble_decay}")


@dataclass(frozen=True)
class ActionChunk:
    actions: np.ndarray  # (horizon, 3) float32, robot units, clamped: the chunk being executed
    command: np.ndarray  # (3,) float32 [linear_x m/s, linear_y m/s, angular_z rad/s] to send now
    latency_ms: float  # frame in -> chunk out, including preprocessing and the device sync
    step: int  # steps since reset, from 0
    fresh: bool  # `actions` was predicted at this step (False while `chunk` execution replays one)
    clamped: bool  # some value of this step's prediction was outside the limits
    error: str | None = None  # set when the robot must stop; `command` is then zeros

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
    """(dtype to run, note for the operator; empty when it is what was asked)."""
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ConfigError(
                f"precision bf16: not supported by {torch.cuda.get_device_name(device)}; use fp16"
            )
        return DTYPES["fp16" if precision == "auto" else precision], ""
    if precision == "fp16":
        return torch.float32, "fp16 is not used on a CPU (slow and partly unsupported there); running fp32"
    if precision == "auto":
        return torch.float32, "the CPU default"
    return DTYPES[precision], ""


def windowed_chunk(
    policy: Policy, frames: list[np.ndarray], instruction: str, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Recompute a chunk from the images of a window, as training does: (T, H, W, 3) -> (horizon, A)."""
    pixels = policy.preprocess(np.stack(frames)).to(device=device, dtype=dtype)  # (T, 3, h, w)
    text = policy.encode_instruction([instruction] * len(frames))
    features = policy.encode_frame(pixels, text)  # (T, D)
    return policy.decode(features.unsqueeze(0))[0]  # (horizon, A)


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
        self.dtype, self.precision_note = resolve_precision(self.config.precision, self.device)
        self.precision = next(k for k, v in DTYPES.items() if v == self.dtype)
        self.policy = policy.to(device=self.device, dtype=self.dtype).eval()
        self.normalisation = normalisation
        self._limits = np.asarray(self.config.limits.as_tuple(), np.float32)
        self._features: deque[torch.Tensor] = deque(maxlen=policy.window)  # (1, D) each
        self._frames: deque[np.ndarray] = deque(maxlen=policy.window)  # naive mode only
        self._history: deque[tuple[int, np.ndarray]] = deque(maxlen=policy.horizon)  # ensemble
        self._pending: np.ndarray | None = None  # chunk mode: the chunk being executed
        self._pending_index = 0
        self._instruction: str | None = None
        self._text = None
        self._step = 0

    def describe(self) -> str:
        """E.g. "cpu fp32 (the CPU default)" for status lines and benchmark output."""
        note = f" ({self.precision_note})" if self.precision_note else ""
        return f"{self.device} {self.precision}{note}"

    @torch.inference_mode()
    def reset(self, instruction: str) -> None:
        """Start an episode: forget the window and pending actions, encode the instruction once."""
        self._instruction = instruction
        self._text = None if self.config.naive else self.policy.encode_instruction([instruction])
        self._features.clear()
        self._frames.clear()
        self._history.clear()
        self._pending = None
        self._step = 0

    def step(self, frame: np.ndarray) -> ActionChunk:
        """RGB uint8 (H, W, 3) frame -> the chunk and the command to send now."""
        if self._instruction is None:
            raise RuntimeError("PolicyRuntime.step() before reset(instruction)")
        start = time.perf_counter()
        with torch.inference_mode():
            if self.config.naive:
                self._frames.append(frame.copy())  # a camera may reuse its buffer
                chunk = windowed_chunk(
                    self.policy, list(self._frames), self._instruction, self.device, self.dtype
                )
            else:
                pixels = self.policy.preprocess(frame[None]).to(device=self.device, dtype=self.dtype)
                self._features.append(self.policy.encode_frame(pixels, self._text))  # (1, D)
                window = torch.cat(tuple(self._features)).unsqueeze(0)  # (1, T, D)
                chunk = self.policy.decode(window)[0]  # (horizon, A)
            normalised = chunk.float().cpu().numpy()  # .cpu() waits for the device
        latency_ms = (time.perf_counter() - start) * 1e3
        step = self._step
        self._step += 1
        return self._execute(normalised, latency_ms, step)

    def _execute(self, normalised: np.ndarray, latency_ms: float, step: int) -> ActionChunk:
        if not np.isfinite(normalised).all():
            self._pending = None
            self._history.clear()
            # The window holds the bad frame's feature: keeping it would stop the next window-1 steps.
            self._features.clear()
            self._frames.clear()
            zeros = np.zeros((self.policy.horizon, 3), np.float32)
            error = (
                f"policy output is not finite at step {step}; robot stopped, frame window cleared "
                "(the next frames refill it)"
            )
            return ActionChunk(zeros, np.zeros(3, np.float32), latency_ms, step, True, False, error)
        robot = self.normalisation.denormalise(normalised)  # (horizon, A) robot units
        if robot.shape[1] == 2:  # a 2-D policy never turns
            robot = np.concatenate([robot, np.zeros((len(robot), 1), np.float32)], axis=1)
        actions = np.clip(robot, -self._limits, self._limits).astype(np.float32)
        clamped = bool((actions != robot).any())
        mode = self.config.execution
        if mode == "chunk":
            fresh = self._pending is None or self._pending_index >= len(self._pending)
            if fresh:
                self._pending, self._pending_index = actions, 0
            command = self._pending[self._pending_index]
            self._pending_index += 1
            return ActionChunk(self._pending, command.copy(), latency_ms, step, fresh, clamped)
        if mode == "ensemble":
            self._history.append((step, actions))
            command = self._ensemble(step)
        else:
            command = actions[0].copy()
        return ActionChunk(actions, command, latency_ms, step, True, clamped)

    def _ensemble(self, step: int) -> np.ndarray:
        weights, values = [], []
        for born, chunk in self._history:
            age = step - born
            if age < len(chunk):
                weights.append(math.exp(-self.config.ensemble_decay * age))
                values.append(chunk[age])
        w = np.asarray(weights, np.float64)[:, None]
        return (np.asarray(values, np.float64) * w).sum(axis=0).astype(np.float32) / np.float32(w.sum())
