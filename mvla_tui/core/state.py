"""`ControlState`: everything an operator watches, in one immutable snapshot from the control thread.

The robot side (`RobotState`: mode, e-stop, throttle, the twist sent, link health and warnings), which link
this is and why it was chosen, the recording session (`RecordingState`) and the policy driver
(`PolicyState`) when the session has them, and in the simulator its verdict on the last policy run. The app's panels display it; headless commands print parts of
it; tests assert on it. Built at most `teleop.state_hz` times a second. No behaviour; no textual.
"""

from __future__ import annotations

from dataclasses import dataclass

from mvla_tui.core.policy_driver import PolicyState
from mvla_tui.core.recording import RecordingState
from mvla_tui.robot.state import RobotState
from mvla_tui.sim.success import EpisodeResult


@dataclass(frozen=True)
class ControlState:
    robot: RobotState
    link: str  # the link kind: "ros2", "sim" or "fake"
    link_reason: str  # why this link, e.g. "sim — no ROS 2 found; source ... to drive the robot"
    recording: RecordingState | None = None
    policy: PolicyState | None = None
    sim_result: EpisodeResult | None = None  # the simulator's verdict on the last policy run that ended
