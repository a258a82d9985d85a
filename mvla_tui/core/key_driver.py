"""`KeyDriver`: presses keys through the control loop like an operator, one whenever the robot is at rest.

On the control thread: whenever the robot is at rest (the last step ended `teleop.settle_s` ago), it asks
its `choose()` for the next key and presses it through `ControlLoop.handle_now`, so the key goes the same
way as an operator's (throttle, step time, clamping, the frame taken right after the command). It is done
when `choose()` has nothing more (None) or after `max_presses` keys. The sim's scripted expert chooses
from the true pose (`expert_driver`); `mvla drive --keys` plays a fixed sequence. It must not import
textual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.link import SimLink


class KeyDriver(LoopPart):
    def __init__(
        self,
        loop: ControlLoop,
        choose: Callable[[], str | None],
        teleop: TeleopConfig,
        max_presses: int,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        """`ready()` holds the first key back (e.g. until a recording has its frame 0)."""
        self.loop = loop
        self.ready = ready
        self.choose = choose
        self.teleop = teleop
        self.max_presses = max_presses
        self.keys: list[str] = []
        self.done = False

    def _due(self) -> float | None:
        if self.done or self.loop.moving_source is not None:
            return None
        return self.loop.stopped_at + self.teleop.settle_s

    def on_tick(self, now: float) -> None:
        due = self._due()
        if due is None or now < due or not self.ready():
            return
        key = self.choose() if len(self.keys) < self.max_presses else None
        if key is None:
            self.done = True
            return
        self.keys.append(key)
        self.loop.handle_now(TeleopKey(key), now)

    def next_due(self, now: float) -> float | None:
        return self._due()


def expert_driver(
    loop: ControlLoop, link: SimLink, expert: ScriptedExpert, teleop: TeleopConfig, max_presses: int
) -> KeyDriver:
    """The sim's scripted expert at the keys: it reads the true pose, which only the simulator has."""
    return KeyDriver(loop, lambda: expert.next_key(link.pose()), teleop, max_presses)


def sequence_driver(
    loop: ControlLoop, keys: Iterable[str], teleop: TeleopConfig, ready: Callable[[], bool] = lambda: True
) -> KeyDriver:
    """A fixed sequence of keys, one per step."""
    keys = list(keys)
    it = iter(keys)
    return KeyDriver(loop, lambda: next(it, None), teleop, len(keys), ready)
