"""`ActionChunk`: what one step of a policy runtime answers, the chunk it executes and the command to send.

The value that crosses from the policy worker to the control thread (`PolicyStepDone.chunk`), so it
imports numpy only: the operating core holds one without importing torch. Every action here is in the
recorded key units, [linear_x, linear_y, angular_z] with 1.15 per axis for a full-speed key press, as in
the data; the control loop turns them into m/s and rad/s for the link (by the throttle), not this value.
It holds no behaviour: the runtime (`policies.runtime`) and the executor (`policies.execution`) fill it.
This module must not import torch, textual or h5py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionChunk:
    actions: np.ndarray  # (horizon, 3) float32 key units, clamped to the limits: the chunk being executed
    command: np.ndarray  # (3,) float32 key units [linear_x, linear_y, angular_z]: the action to send now
    latency_ms: float  # frame in -> chunk out, including preprocessing and the device sync
    step: int  # steps since reset, from 0
    fresh: bool  # `actions` was predicted at this step (False while `chunk` execution replays one)
    clamped: bool  # the command sent now was limited (see `policies.execution`, per mode)
    error: str | None = None  # set when the robot must stop; `command` is then zeros
    stop_predicted: bool = False  # the previous chunk predicted a stop here: `command` is zeros

    @property
    def stop(self) -> bool:
        return self.error is not None
