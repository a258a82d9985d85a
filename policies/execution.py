"""`ChunkExecutor`: turns each step's predicted chunk into the command to send now, and `is_stop`, the one
rule for "the policy says stop".

It owns what the robot is sent of a prediction: which action of which chunk (the execution mode), the
predicted stop, clamping to the limits, rounding to the command resolution, and the stop on a non-finite
output. It does not run a model: the runtime (`policies.runtime`) hands it each step's head values and a
function that turns them into key-unit actions. All in the recorded key units (1.15 per axis for a full
press; see `policies.chunk`). This module must not import torch, textual or h5py: the operating core uses
`is_stop`, and the tests drive the executor from tables.

Chunk execution (`execution`):
- `first`: execute the first action of every new chunk;
- `chunk`: execute a whole chunk before adopting the next one. The runtime still encodes every frame, so
  its window always holds consecutive frames as in training;
- `ensemble`: temporal ensembling of the overlapping chunks (ACT, Zhao et al. 2023): the action for now
  is the weighted average of what each of the last `horizon` chunks predicted for now, with weights
  `exp(-m * k)`, m = `ensemble_decay`, and k set by `ensemble_weighting`:
  - `"newest"` (the default): k is the chunk's age, the steps since it was predicted; 0 for this step's
    chunk, so the newest prediction weighs most;
  - `"oldest"`: ACT's own definition, `w_i = exp(-m * i)` with i = 0 the OLDEST chunk that still
    predicts this step and i counting towards the newest, so the oldest prediction weighs most (ACT uses
    m = 0.01, which is close to a plain average).
  The default is "newest" because this robot avoids obstacles: when an obstacle comes into view, only
  the chunks predicted from then on know of it, and ACT's weighting gives each of them less weight than
  any older chunk, so the robot would keep its old course for several steps. ACT chose the opposite for
  smooth fine manipulation from many fast, mostly agreeing predictions; there, lagging a little behind a
  new observation is cheap and jerk is costly. Both settings average, so both smooth; "newest" with
  m = 0.1 and a horizon of 10 gives this step's chunk about 15% of the weight, "oldest" about 6%.

Discrete heads (`discrete`): every chunk is a probability distribution over the classes (keys) per
step; the action is the most probable class (x the normalisation scale: 1.15 for a key) or, below the
head's hold threshold, a hold (zeros); `to_robot` does that. `ensemble` averages the probabilities of
the covering chunks with the same weights, then takes the most probable class, so two chunks that
disagree between `a` and `d` never average into a half press neither of them meant.

Stopping (`first` mode, for a policy that `predicts_stop`). An episode's last recorded frame is the one
its last command was taken from: no frame shows the robot at rest at its goal. A policy trained with stop
targets (`policies.windows`) learns the stop as the *next* action of its last steps, at `chunk[1]`, never
at `chunk[0]`. So when the previous step's chunk predicted a stop for this step (`is_stop`: its action
there is below `stop_below` on every axis, a hold or the zero class of a discrete head), this step
commands a stop, whatever the newest chunk, computed from a view of the goal no training frame showed,
says first. `ensemble` gets the same from averaging, `chunk` from playing the chunk out. The policy
driver ends a run with the same rule on the command it receives (`mvla_tui.core.policy_driver`).

`ActionChunk.clamped` is about the command sent at this step: its action of the chunk (`first`, `chunk`)
or any of the predictions averaged into it (`ensemble`) had a value outside the limits.

Command resolution (`command_resolution`, key units; 0 sends the command as computed; the robot configs'
`policy.command_resolution` is 0.01): the command sent is rounded to a multiple of it, then clamped
again, so a runtime whose outputs differ from another's only in their last bits (PyTorch and ONNX
Runtime in fp32 differ by about 1e-7) sends the very same command, and a closed loop driven by either
follows the same trajectory. Without it the difference does not stay small: a pose 1e-7 m apart already
renders thousands of different pixels in the simulator (edges seen edge-on), and from there the two runs
are two different episodes. The chunk (`ActionChunk.actions`) is not rounded.

Safety: actions are clamped to `limits`; a non-finite output returns a stop (zeros) with an error
message and drops the pending chunk and the ensemble history.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from policies.chunk import ActionChunk

Execution = Literal["first", "chunk", "ensemble"]
Weighting = Literal["newest", "oldest"]

STOP_BELOW = 0.1  # key units: an action below this on every axis is a stop (a hold, the zero class)


def is_stop(action: np.ndarray, below: float = STOP_BELOW) -> bool:
    """The policy says stop: every axis of `action` (key units) is below `below` in magnitude. False for
    a non-finite action (that is an error, not a stop) and always False with `below` 0."""
    return bool((np.abs(action) < below).all())


class ChunkExecutor:
    """One policy's chunks, step by step since a reset, -> the command to send at each step."""

    def __init__(
        self,
        *,
        execution: Execution,
        horizon: int,
        limits: Sequence[float],
        to_robot: Callable[[np.ndarray], np.ndarray],
        discrete: bool,
        predicts_stop: bool,
        stop_below: float,
        command_resolution: float,
        ensemble_decay: float,
        ensemble_weighting: Weighting,
    ) -> None:
        """`limits`: |linear_x|, |linear_y|, |angular_z| in key units; `to_robot`: head values (..., W)
        -> key-unit actions (..., 3) before clamping (de-normalised; for a discrete head the action of
        the most probable class)."""
        self.execution = execution
        self.horizon = horizon
        self.limits = np.asarray(limits, np.float32)
        self.to_robot = to_robot
        self.discrete = discrete
        self.predicts_stop = predicts_stop
        self.stop_below = stop_below
        self.command_resolution = command_resolution
        self.ensemble_decay = ensemble_decay
        self.ensemble_weighting = ensemble_weighting
        # ensemble: (step predicted, head values, clamped actions, which actions were clamped) per chunk
        self._history: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = deque(maxlen=horizon)
        self._previous: np.ndarray | None = None  # first mode: the last chunk, key units
        self._pending: np.ndarray | None = None  # chunk mode: the chunk being executed
        self._pending_clamped = np.zeros(0, bool)  # chunk mode: which of its actions were clamped
        self._pending_index = 0

    def reset(self) -> None:
        """Forget the pending chunk, the previous chunk and the ensemble history (a new episode)."""
        self._history.clear()
        self._pending = None
        self._previous = None

    def execute(self, values: np.ndarray, latency_ms: float, step: int) -> ActionChunk:
        """The head values (horizon, W) predicted at `step` -> the chunk and the command to send now."""
        if not np.isfinite(values).all():
            self.reset()
            zeros = np.zeros((self.horizon, 3), np.float32)
            error = f"policy output is not finite at step {step}; robot stopped"
            return ActionChunk(zeros, np.zeros(3, np.float32), latency_ms, step, True, False, error)
        robot = self.to_robot(values)  # (horizon, 3)
        actions = self._clamp(robot)
        over = (actions != robot).any(axis=1)  # (horizon,) which actions were clamped
        if self.execution == "chunk":
            fresh = self._pending is None or self._pending_index >= len(self._pending)
            if fresh:
                self._pending, self._pending_clamped, self._pending_index = actions, over, 0
            assert self._pending is not None
            index = self._pending_index
            self._pending_index += 1
            command, clamped = self._pending[index].copy(), bool(self._pending_clamped[index])
            return ActionChunk(self._pending, self._round(command), latency_ms, step, fresh, clamped)
        if self.execution == "ensemble":
            self._history.append((step, values, actions, over))
            command, clamped = self._ensemble(step)
        else:
            previous, self._previous = self._previous, actions
            if (
                self.predicts_stop
                and previous is not None
                and len(previous) > 1
                and is_stop(previous[1], self.stop_below)
            ):
                return ActionChunk(
                    actions, np.zeros(3, np.float32), latency_ms, step, True, False, stop_predicted=True
                )
            command, clamped = actions[0].copy(), bool(over[0])
        return ActionChunk(actions, self._round(command), latency_ms, step, True, clamped)

    def _clamp(self, robot: np.ndarray) -> np.ndarray:
        return np.clip(robot, -self.limits, self.limits).astype(np.float32)

    def _round(self, command: np.ndarray) -> np.ndarray:
        """The command to a multiple of `command_resolution` (within the limits, which are multiples
        of it or are kept by the clip)."""
        r = self.command_resolution
        if r == 0:
            return command
        rounded = (np.round(command.astype(np.float64) / r) * r).astype(np.float32)
        return self._clamp(rounded)

    def _ensemble(self, step: int) -> tuple[np.ndarray, bool]:
        """(command, whether any prediction averaged into it was clamped) for `step`. A regression
        head averages the clamped actions; a discrete head averages the class probabilities and
        takes the most probable class of the average (then clamps it)."""
        covering = [  # oldest first: the history is in order of prediction
            (step - born, values[step - born], chunk[step - born], over[step - born])
            for born, values, chunk, over in self._history
            if step - born < len(chunk)
        ]
        if self.ensemble_weighting == "newest":
            k = np.asarray([age for age, _, _, _ in covering], np.float64)  # 0 = this step's chunk
        else:
            k = np.arange(len(covering), dtype=np.float64)  # ACT: 0 = the oldest chunk
        w = np.exp(-self.ensemble_decay * k)[:, None]
        if self.discrete:
            probs = np.asarray([v for _, v, _, _ in covering], np.float64)
            mean = ((probs * w).sum(axis=0) / w.sum()).astype(np.float32)
            robot = self.to_robot(mean)
            command = self._clamp(robot)
            return command, bool((command != robot).any())
        values = np.asarray([value for _, _, value, _ in covering], np.float64)
        command = ((values * w).sum(axis=0) / w.sum()).astype(np.float32)
        return command, any(clamped for _, _, _, clamped in covering)
