"""`SimVerdict`: in the simulator, the sim's judgement of a policy's run, taken when the run ends: did the
robot reach the cup, on which side, or what did it hit (`EpisodeResult`). The app logs it and `mvla drive`
prints it, so an operator trying a policy in the simulator sees the outcome `mvla eval --sim` would count.
A real robot has no such judge. Lives on the control thread; no textual.
"""

from __future__ import annotations

from collections.abc import Callable

from mvla_tui.core.policy_driver import PolicyDriver
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.sim.success import EpisodeResult


class SimVerdict(LoopPart):
    def __init__(self, judge: Callable[[], EpisodeResult], policy: PolicyDriver) -> None:
        """`judge`: the sim link's `result` (where the robot stands now, and what it touched)."""
        self.judge = judge
        self.policy = policy
        self.result: EpisodeResult | None = None  # of the last run that ended
        self._judged = False

    def on_tick(self, now: float) -> None:
        if self.policy.ended is None:  # a run goes on (or none ended yet): judge the next end
            self._judged = False
        elif not self._judged:
            self._judged = True
            self.result = self.judge()
