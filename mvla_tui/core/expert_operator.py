"""`ExpertOperator`: the sim's scripted expert as the operator who watches a policy drive and corrects it,
what `mvla sim dagger` records its intervention episodes with.

On the control thread, like a person at the keys of the app in hybrid mode:
- every press the policy starts is judged from where the robot stands (`Course.leaves`); one that leaves
  the course (a collision ahead, the wrong side, out of the corridor) is taken over at once: the expert
  presses its own key, which cuts the policy's press short and pauses the policy (`PolicyDriver`'s
  hybrid override, exactly as a key in the app does);
- while it has control it presses a key whenever the robot is at rest, chosen from the true pose;
  after at least `min_presses` presses, once the robot is back on course (`Course.off` is None), it
  stops pressing: the policy drives again `policy.hybrid.resume_s` later (the hand-back);
- a policy that predicts a stop outside the goal region is taken over too, and the expert drives to
  the goal (`done` when it has nothing more to press, or after `max_presses`);
- a press that leaves the course where the expert itself would stop (in the goal region, driving on
  towards the cup) is stopped with the stop key, and the episode is over.
Its keys go through `ControlLoop.offer` and `handle_now`, the path of an operator's key: the parts see
it (the driver pauses, the recording marks the frame `operator`), then the loop moves the robot.
It must not import textual.
"""

from __future__ import annotations

from mvla_tui.core.policy_driver import PolicyDriver
from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.robot.state import Step
from mvla_tui.sim.course import Course
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.link import SimLink
from mvla_tui.sim.success import in_goal
from recorder.catalogue import STOP_KEY

MIN_PRESSES = 2  # a correction is at least this many keys before the expert hands back


class ExpertOperator(LoopPart):
    def __init__(
        self,
        loop: ControlLoop,
        link: SimLink,
        expert: ScriptedExpert,
        policy: PolicyDriver,
        teleop: TeleopConfig,
        *,
        min_presses: int = MIN_PRESSES,
        max_presses: int = 60,
    ) -> None:
        self.loop = loop
        self.link = link
        self.expert = expert
        self.course = Course(expert)
        self.policy = policy
        self.teleop = teleop
        self.min_presses = min_presses
        self.max_presses = max_presses
        self.in_control = False
        self.finishing = False  # took over after a premature stop: drives to the goal, never hands back
        self.done = False  # the expert drove to the goal (or used its presses) after a premature stop
        self.takeovers = 0
        self.reasons: list[str] = []  # why each takeover happened
        self.keys: list[str] = []  # every key the expert pressed
        self._pressed = 0  # keys of the current takeover
        self._take_over: str | None = None  # a reason found on a policy step, acted on at the next tick

    def on_step(self, step: Step) -> None:
        if step.source != "policy" or self.in_control:
            return
        # The frame right after the command: the robot has not moved yet, so this is where it starts.
        self._take_over = self.course.leaves(self.link.pose(), step.action)

    def on_tick(self, now: float) -> None:
        if self.done:
            return
        if not self.in_control:
            reason, self._take_over = self._take_over, None
            if reason is None and self._stopped_short():
                reason, self.finishing = "stopped short of the goal", True
            if reason is not None and (self.policy.running or self.finishing):
                key = self._key()
                if key is None:  # where the expert would stop: it stops the robot, and the episode ends
                    self.takeovers += 1
                    self.reasons.append(reason)
                    self.done = True
                    self._press(STOP_KEY, now)
                    return
                self.in_control = True
                self.takeovers += 1
                self.reasons.append(reason)
                self._pressed = 0
                self._press(key, now)
            return
        if self.loop.moving_source is not None or now < self.loop.stopped_at + self.teleop.settle_s:
            return
        pose = self.link.pose()
        if not self.finishing and self._pressed >= self.min_presses and self.course.off(pose) is None:
            self.in_control = False  # the hand-back: the policy resumes after its pause
            return
        key = self._key()
        if key is None:  # at the goal, or out of presses: the episode is over
            self.done = True
            self.in_control = False
            return
        self._press(key, now)

    def _stopped_short(self) -> bool:
        return (
            not self.policy.running
            and self.policy.ended == "done"
            and not in_goal(self.expert.layout, self.link.pose())
        )

    def _key(self) -> str | None:
        return self.expert.next_key(self.link.pose()) if len(self.keys) < self.max_presses else None

    def _press(self, key: str, now: float) -> None:
        self.keys.append(key)
        self._pressed += 1
        intent = TeleopKey(key)
        if not self.loop.offer(intent, now):
            self.loop.handle_now(intent, now)

    def next_due(self, now: float) -> float | None:
        if self._take_over is not None:
            return now
        if not self.in_control or self.loop.moving_source is not None:
            return None
        return self.loop.stopped_at + self.teleop.settle_s
