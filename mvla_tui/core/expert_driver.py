"""`ExpertDriver`: the sim's scripted expert pressing its keys through the control loop, like an operator.

On the control thread: whenever the robot is at rest (the last step ended `teleop.settle_s` ago), it asks
`ScriptedExpert.next_key(pose)` and presses that key through `ControlLoop.handle_now`, so the key goes the
same way as an operator's (throttle, step time, clamping, the frame taken right after the command). It is
done when the expert has nothing more to press, or after `sim.max_presses` keys. Only for the simulator:
it reads the true pose, which a real robot does not have. It must not import textual.
"""

from __future__ import annotations

from mvla_tui.core.part import SessionPart
from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.link import SimLink


class ExpertDriver(SessionPart):
    def __init__(
        self, loop: ControlLoop, link: SimLink, expert: ScriptedExpert, teleop: TeleopConfig, max_presses: int
    ) -> None:
        self.loop = loop
        self.link = link
        self.expert = expert
        self.teleop = teleop
        self.max_presses = max_presses
        self.keys: list[str] = []
        self.done = False

    def _due(self) -> float | None:
        if self.done or self.loop.moving_source is not None:
            return None
        return self.loop.stopped_at + self.teleop.settle_s

    def tick(self, now: float) -> None:
        due = self._due()
        if due is None or now < due:
            return
        key = self.expert.next_key(self.link.pose()) if len(self.keys) < self.max_presses else None
        if key is None:
            self.done = True
            return
        self.keys.append(key)
        self.loop.handle_now(TeleopKey(key), now)

    def next_due(self, now: float) -> float | None:
        return self._due()
