"""How other parts join the control thread: `LoopHooks` (what the loop calls on its own thread) and
`SimulatedTime` (a link whose clock only moves when told to, such as the simulator in simulated time).

The operating core (`mvla_tui.core.session`) implements `LoopHooks` to run the recording session, the
policy driver or the scripted expert on the control thread, so they see every intent, every recorded step
and every tick in order, without locks. Work that takes long (saving an episode, loading or running a
model) is done off the control thread and comes back as an intent through `ControlLoop.submit`.
This module holds only the two contracts; it must not import a link, rclpy or textual.
"""

from __future__ import annotations

from typing import Protocol

from mvla_tui.robot.state import Step


class LoopHooks(Protocol):
    def on_intent(self, intent: object, now: float) -> bool:
        """Called for every submitted intent before the loop handles it; True when the hook consumed it
        (the loop then ignores it). Intents the loop does not know must be consumed here."""
        ...

    def on_step(self, step: Step) -> None:
        """A recorded step: the frame taken right after a motion command (or an `episode_start`)."""
        ...

    def on_tick(self, now: float) -> None:
        """Called once per loop iteration, after the loop's own timers."""
        ...

    def next_due(self, now: float) -> float | None:
        """When the hooks next need a tick (None: no need); the loop sleeps no longer than that."""
        ...

    def waiting(self) -> bool:
        """True while a result from another thread is awaited (a policy step): in simulated time the
        loop then waits for it on the wall clock instead of letting simulated time pass."""
        ...

    def on_close(self) -> None:
        """The loop is ending, the robot already stopped: finish or hand off what is in progress."""
        ...


class SimulatedTime(Protocol):
    """A clock that moves only when advanced (the MuJoCo sim in simulated time)."""

    @property
    def time(self) -> float: ...

    def advance(self, seconds: float) -> None: ...
