"""`SessionPart`: what the recording session, the policy driver, the scripted expert and an evaluation's
observer have in common: they live on the control thread and the session forwards the loop's calls to
each of them in turn (`mvla_tui.robot.hooks.LoopHooks`). Every method has a do-nothing default, so a part
only writes what it uses. No behaviour of its own; no textual.
"""

from __future__ import annotations

from mvla_tui.robot.state import Step


class SessionPart:
    def handle(self, intent: object, now: float) -> bool:
        """Act on `intent` and return True to consume it; False leaves it to the other parts and the loop."""
        return False

    def on_step(self, step: Step) -> None:
        """A recorded step (the frame taken right after a motion command, or an `episode_start`)."""

    def tick(self, now: float) -> None:
        """Once per loop iteration, after the loop's own timers."""

    def next_due(self, now: float) -> float | None:
        """When this part next needs a tick (None: no need)."""
        return None

    def waiting(self) -> bool:
        """True while an answer from another thread is awaited (simulated time then stands still)."""
        return False

    def close(self) -> None:
        """The loop is ending and the robot is stopped."""
