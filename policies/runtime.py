"""`PolicyRuntime`: one policy driving one robot, a frame at a time: the streaming step.

What the TUI's control thread, closed-loop evaluation and the benchmark hold. `reset(instruction)`
encodes the instruction once; `step(frame)` encodes only the newest frame and keeps the window of
per-frame features in a deque, then decodes the window (the LSTM head is cheap; the frame encoder is
not). Its output equals recomputing the whole window from images (`windowed_chunk`, which the naive
mode runs every step for the benchmark comparison).

The runtime owns the step and its window; two neighbours own the rest, and the runtime only wires them:
- `policies.execution.ChunkExecutor` turns each step's chunk into the command to send (first / chunk /
  ensemble execution, the predicted stop, clamping, rounding; `RuntimeConfig.execution` and below). The
  runtime hands it the head values and `to_key_units` (de-normalised key-unit actions, 2-D policies
  padded with a zero turn), the one part of that path that needs torch.
- `policies.precision` holds the policy (`hold`: device, dtype, sharing between runtimes) and chooses the
  `auto` precision on the first frames (`choose_precision`); the runtime collects those frames and their
  fp32 chunks and, when the dtype changes, re-encodes its window and instruction in the new dtype.

Safety: a non-finite model output returns a stop (zeros) with an error message (the executor's), and the
runtime drops the window of features as well (it holds the bad frame's; the next steps refill it, as
after a reset).

This module must not import textual or h5py.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import torch

from configs import ConfigError
from configs.limits import LimitsConfig
from policies.base import Policy
from policies.chunk import ActionChunk
from policies.execution import STOP_BELOW, ChunkExecutor, Execution, Weighting
from policies.normalisation import ActionNormalisation
from policies.precision import (
    Precision,
    auto_candidates,
    choose_precision,
    hold,
    precision_name,
    resolve_precision,
)


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
    stop_below: float = STOP_BELOW  # key units: a predicted action below this on every axis is a stop
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


def windowed_chunk(
    policy: Policy, frames: list[np.ndarray], instruction: str, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Recompute a chunk from the images of a window, as training does: (T, H, W, 3) -> the head's
    output of the last step (horizon, W) (`Policy.output_actions` turns it into actions)."""
    pixels = policy.preprocess(np.stack(frames)).to(device=device, dtype=dtype)  # (T, 3, h, w)
    text = policy.encode_instruction([instruction] * len(frames))
    features = policy.encode_frame(pixels, text)  # (T, D)
    return policy.decode(features.unsqueeze(0))[0]  # (horizon, W)


def to_key_units(policy: Policy, normalisation: ActionNormalisation, values: np.ndarray) -> np.ndarray:
    """Head values (..., W) -> key-unit actions (..., 3) before clamping (the executor's `to_robot`)."""
    normalised = policy.values_to_actions(torch.from_numpy(values)).numpy()
    robot = normalisation.denormalise(normalised)  # (..., A) key units
    if robot.shape[-1] == 2:  # a 2-D policy never turns
        robot = np.concatenate([robot, np.zeros((*robot.shape[:-1], 1), np.float32)], axis=-1)
    return robot


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
        setting = "auto" if self._candidates else precision_name(dtype)
        self._hold = hold(policy, self, self.device, setting, dtype, note)
        self.policy = policy
        self.normalisation = normalisation
        self._executor = ChunkExecutor(
            execution=self.config.execution,
            horizon=policy.horizon,
            limits=self.config.limits.as_tuple(),
            # not a bound method: the executor must not keep the runtime alive (a dropped runtime lets go)
            to_robot=functools.partial(to_key_units, policy, normalisation),
            discrete=policy.head_kind == "discrete",
            predicts_stop=policy.config.predicts_stop,
            stop_below=self.config.stop_below,
            command_resolution=self.config.command_resolution,
            ensemble_decay=self.config.ensemble_decay,
            ensemble_weighting=self.config.ensemble_weighting,
        )
        self._features: deque[torch.Tensor] = deque(maxlen=policy.window)  # (1, D) each
        self._frames: deque[np.ndarray] = deque(maxlen=policy.window)  # naive mode only
        self._probe_frames: list[np.ndarray] = []  # auto, until chosen: the frames since reset
        self._probe_chunks: list[np.ndarray] = []  # ... and the fp32 chunk of each
        self._encoded_dtype = self.dtype  # what the window of features and `_text` were computed in
        self._instruction: str | None = None
        self._text = None
        self._step = 0
        self._closed = False

    @property
    def dtype(self) -> torch.dtype:
        return self._hold.dtype

    @property
    def precision(self) -> str:
        """ "fp32", "fp16" or "bf16": what runs now ("fp32" while `auto` has not chosen yet)."""
        return precision_name(self._hold.dtype)

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
        self._hold.release(self)
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
        self._probe_frames, self._probe_chunks = [], []
        self._executor.reset()
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
                output = windowed_chunk(
                    self.policy, list(self._frames), self._instruction, self.device, self.dtype
                )
            else:
                pixels = self.policy.preprocess(frame[None]).to(device=self.device, dtype=self.dtype)
                self._features.append(self.policy.encode_frame(pixels, self._text))  # (1, D)
                window = torch.cat(tuple(self._features)).unsqueeze(0)  # (1, T, D)
                output = self.policy.decode(window)[0]  # (horizon, W)
            values = self.policy.output_values(output).float().cpu().numpy()  # .cpu() waits for the device
            if probing and np.isfinite(values).all():
                self._probe_chunks.append(values)
                if len(self._probe_chunks) >= self.config.auto_frames:
                    self._choose_precision(self._instruction)
        latency_ms = (time.perf_counter() - start) * 1e3
        step = self._step
        self._step += 1
        chunk = self._executor.execute(values, latency_ms, step)
        if chunk.error is not None:
            # The window holds the bad frame's feature: keeping it would stop the next window-1 steps.
            self._features.clear()
            self._frames.clear()
            self._probe_frames, self._probe_chunks = [], []  # auto compares consecutive frames only
            chunk = dataclasses.replace(
                chunk, error=f"{chunk.error}, frame window cleared (the next frames refill it)"
            )
        return chunk

    def _choose_precision(self, instruction: str) -> None:
        """Auto on CUDA, at the K-th frame: compare, convert the policy in place, re-encode the window."""
        choice = choose_precision(
            self.policy,
            self._probe_frames,
            instruction,
            self.device,
            self._candidates,
            self.config.auto_tolerance,
            reference=np.stack(self._probe_chunks),
        )
        self._hold.adopt(self.policy, choice)
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
