"""How other parts join the control thread: the `LoopPart` contract, and `PartIntent`, the base of the
intents meant for the parts rather than for the loop.

The control loop (`mvla_tui.robot.control.ControlLoop`) holds a list of parts and calls each of them in
turn, on its own thread: every intent before the loop handles it, every recorded step, every tick, and
once when it ends. The operating core's recording session, policy driver, sim verdict and frame tap, the
scripted expert, an evaluation's observer and `mvla drive`'s printer are parts; they see every intent,
step and tick in order, without locks. Work that takes long (saving an episode, loading or running a
model) is done off the control thread and comes back as an intent through `ControlLoop.submit`.

`LoopPart` is a Protocol whose methods do nothing by default: a part subclasses it and writes only what it
uses. This module holds only the contract; it must not import a link, rclpy or textual.
"""

from __future__ import annotations

from typing import Protocol

from mvla_tui.robot.state import Step


class PartIntent:
    """Base of the intents a part acts on (recording, policy, and the answers of work done off the control
    thread): the loop hands them to its parts and refuses one that no part consumed."""


class LoopPart(Protocol):
    def on_intent(self, intent: object, now: float) -> bool:
        """Act on `intent` and return True to consume it (the other parts and the loop then do not see
        it). Called for every submitted intent, before the loop handles it; a consumed intent makes the
        loop send a state snapshot at the end of the tick, outside its rate limit."""
        return False

    def on_step(self, step: Step) -> None:
        """A recorded step: the frame taken right after a motion command (or an `episode_start`)."""
        return None

    def on_tick(self, now: float) -> None:
        """Once per loop iteration, after the loop's own timers."""
        return None

    def next_due(self, now: float) -> float | None:
        """When this part next needs a tick (None: no need); the loop sleeps no longer than that."""
        return None

    def waiting(self) -> bool:
        """True while a result from another thread is awaited (a policy step): in simulated time the loop
        then waits for it on the wall clock instead of letting simulated time pass."""
        return False

    def on_close(self) -> None:
        """The loop is ending and the robot is stopped: finish or hand off what is in progress."""
        return None
