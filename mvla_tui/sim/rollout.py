"""One expert episode in simulated time: the frames an operator's collector would record, and the verdict.

Owns the step-mode episode flow of DATA_FORMAT.md: frame 0 is `episode_start` with a zero action and
the image before moving; each key press adds a `start_action` frame whose image is rendered right
after the command is sent, then the base drives `key_duration_s`, stops and settles. Without
rendering (`render=False`) the same episode runs on physics alone, for fast evaluation. It writes
no files (`mvla_tui.sim.collect` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mvla_tui.robot.teleop import key_action
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.link import SimLink
from mvla_tui.sim.success import EpisodeResult


@dataclass
class RolloutFrame:
    action: np.ndarray  # (3,) float32, the recorded key action (1.15 per axis)
    event_type: str
    timestamp: float  # simulated seconds since the episode started
    image: np.ndarray | None  # RGB uint8 (H, W, 3), None without rendering


@dataclass
class Rollout:
    result: EpisodeResult
    keys: list[str] = field(default_factory=list)
    frames: list[RolloutFrame] = field(default_factory=list)


def run_expert(link: SimLink, expert: ScriptedExpert, render: bool = True) -> Rollout:
    """Drive `link` (connected, simulated time) with `expert` until it stops or runs out of presses."""
    frames = []
    if render:
        frames.append(RolloutFrame(np.zeros(3, np.float32), "episode_start", link.time, _image(link)))
    keys: list[str] = []
    for _ in range(link.config.max_presses):
        key = expert.next_key(link.pose())
        if key is None:
            break
        action = key_action(key)
        # The command goes out first, the frame is taken right after it, as the collector did.
        link.send_key(action)
        if render:
            frames.append(RolloutFrame(action, "start_action", link.time, _image(link)))
        link.complete_key()
        keys.append(key)
    return Rollout(link.result(), keys, frames)


def _image(link: SimLink) -> np.ndarray:
    frame = link.latest_frame()
    assert frame is not None  # a simulated-time link renders on demand
    return frame.image
