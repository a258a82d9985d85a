"""The app as an operator uses it, with real key presses (Pilot) on the fake robot and fixed telemetry:
teleop keys reach the link with the right Twist, e-stop works from any focus (also while typing a
command), the scenario -> record -> save flow writes the right episode, discard leaves nothing, the typed
commands work with a tiny policy, a key overrides a driving policy, the episodes screen replays a
recorded file through the policy, damaged files there are one line each, never a crash, and the typed
`episodes` and `quit` do what their keys do."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from mvla_tui.panels.recording import RecordingPanel
from mvla_tui.robot.link import STOP, Twist
from mvla_tui.screens.episodes import EpisodesScreen
from recorder.check import check
from recorder.reader import read_episode
from tests.core.core_helpers import ScriptedRuntime, tiny_runtime
from tests.recorder.recorder_builders import damaged_folder
from tests.tui.tui_helpers import make_app, type_command, wait_for

pytestmark = pytest.mark.asyncio

HALF = float(np.float32(1.15)) * 0.5  # a key at the default throttle, 50 %
SIZE = (160, 48)


def sends(link) -> list[Twist]:
    return [s.twist for s in link.sent if s.kind == "send"]


def said(app) -> str:
    output = app.query_one("#policy-output")
    return "\n".join(line.text for line in output.lines)


def shown(panel) -> str:
    """The text a panel shows (its content rendered as the terminal would)."""
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(panel.content)
    return console.export_text()


async def started(pilot, app) -> None:
    await wait_for(pilot, lambda: app.state is not None and app.state.robot.running, what="the control loop")


async def test_teleop_keys_reach_the_link_with_the_right_twist() -> None:
    app, session, link = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        for key, twist in (("w", Twist(HALF, 0, 0)), ("a", Twist(0, HALF, 0)), ("e", Twist(HALF, -HALF, 0))):
            await pilot.press(key)
            await wait_for(
                pilot, lambda t=twist: pytest.approx(t.as_array()) == sends(link)[-1].as_array(), what=key
            )
        await pilot.press("space")
        await wait_for(pilot, lambda: link.last_twist == STOP)
        await pilot.press("g")
        await wait_for(pilot, lambda: app.state.robot.throttle == 60)
        await pilot.press("r")
        await wait_for(pilot, lambda: sends(link)[-1].angular_z == pytest.approx(1.15 * 0.6))


async def test_estop_works_from_any_focus_even_while_typing_a_command() -> None:
    app, session, link = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("w")
        await wait_for(pilot, lambda: bool(sends(link)))
        await pilot.press("i")  # focus the command line
        await pilot.press("d", "a")  # typed, not driven
        assert app.query_one("#command").value == "da"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.state.robot.estop)
        assert link.last_twist == STOP
        moves = len(sends(link))
        app.query_one("#log").focus()
        await pilot.press("w")
        await pilot.pause(0.3)
        assert all(t.is_zero for t in sends(link)[moves:]), "latched: no motion until cleared"
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: not app.state.robot.estop)
        await pilot.press("w")
        await wait_for(pilot, lambda: not sends(link)[-1].is_zero)


async def test_scenario_record_save_writes_the_episode(tmp_path: Path) -> None:
    app, session, link = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("n", "4", "v", "l", "plus", "enter")  # 2box_right, variant, far, a series of 2
        await wait_for(pilot, lambda: app.state.recording.recording, what="recording")
        assert app.state.recording.series_total == 2
        for key in ("w", "d"):
            await pilot.press(key)
            await pilot.pause(0.5)
        await wait_for(pilot, lambda: app.state.recording.frames == 3)
        await pilot.press("m")
        await wait_for(pilot, lambda: bool(app.state.recording.last_saved), what="the save")
    (path,) = tmp_path.glob("*.h5")
    assert re.fullmatch(r"episode_\d{8}_\d{6}_2box_hori_right_variant_far\.h5", path.name)
    assert check(path) == []
    episode = read_episode(path)
    assert episode.event_types == ["episode_start", "start_action", "start_action"]
    assert (episode.meta.scenario, episode.meta.pattern, episode.meta.outcome) == (
        "2box_right",
        "variant",
        "success",
    )
    assert episode.meta.robot == "fake" and "right side" in episode.meta.instruction


async def test_discard_leaves_nothing(tmp_path: Path) -> None:
    app, session, link = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("n", "1", "enter")
        await wait_for(pilot, lambda: app.state.recording.recording)
        await pilot.press("w")
        await pilot.pause(0.3)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.state.recording.recording and app.state.recording.saving == 0)
    assert list(tmp_path.iterdir()) == []


async def test_typed_commands_with_a_tiny_policy() -> None:
    app, session, link = make_app(runtime=tiny_runtime())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: bool(app.state.policy.label), what="the policy")

        async def type_line(line: str) -> None:
            await type_command(pilot, line)
            await pilot.pause(0.05)

        await type_line("benchmark 5")  # no instruction yet: an error on screen, not an invented one
        assert "benchmark: no instruction yet" in said(app)
        await type_line("navigate around the obstacle on the left side")
        await wait_for(
            pilot, lambda: app.state.policy.instruction == "navigate around the obstacle on the left side"
        )
        await type_line("infer")
        await wait_for(pilot, lambda: "infer:" in said(app), what="the infer answer")
        assert all(t.is_zero for t in sends(link)), "infer does not move the robot"
        await type_line("benchmark 5")
        await wait_for(pilot, lambda: "benchmark: 5 steps" in said(app), what="the benchmark")
        # `mvla bench`'s measurement and warm-up rule (at least 10 steps, a window, the auto choice)
        figures = " ".join(said(app).split())  # the output wraps long lines
        assert re.search(r"p50 [\d.]+ ms p95 [\d.]+ ms p99 [\d.]+ ms .* after 10 warm-up", figures)
        assert not app.query_one("#policy-benchmark").display, "the progress bar is gone"
        await type_line("memory")
        await wait_for(pilot, lambda: "RAM:" in said(app) and "GPU 0:" in said(app))
        await type_line("clear")
        await wait_for(pilot, lambda: "clear:" in said(app))
        await type_line("run")
        await wait_for(
            pilot, lambda: app.state.policy.running and app.state.policy.steps >= 1, what="the policy"
        )
        await wait_for(pilot, lambda: any(s.kind == "send" for s in link.sent))
        await type_line("stop")
        await wait_for(pilot, lambda: not app.state.policy.running)
        await type_line("benchmark 0")
        assert "N must be a whole number from 1 to 10000" in said(app)


async def test_a_key_overrides_a_driving_policy_at_once() -> None:
    app, session, link = make_app(runtime=tiny_runtime(), resume_s=30.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: bool(app.state.policy.label))
        await type_command(pilot, "go left")
        await type_command(pilot, "run")
        await wait_for(pilot, lambda: app.state.policy.steps >= 1, what="a policy step")
        await pilot.press("tab")  # out of the command line: keys drive again
        await pilot.press("a")
        await wait_for(pilot, lambda: sends(link)[-1] == Twist(0, HALF, 0), what="the key's twist")
        await wait_for(pilot, lambda: app.state.policy.control == "hybrid")
        assert app.state.policy.resumes_in_s > 20


@pytest.mark.slow
async def test_the_episodes_screen_replays_a_file_through_the_policy(tmp_path: Path) -> None:
    app, session, link = make_app(tmp_path, runtime=tiny_runtime())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("n", "1", "enter")
        await wait_for(pilot, lambda: app.state.recording.recording)
        for key in ("w", "w", "a"):
            await pilot.press(key)
            await pilot.pause(0.45)
        await pilot.press("m")
        await wait_for(pilot, lambda: bool(app.state.recording.last_saved))
        await wait_for(pilot, lambda: bool(app.state.policy.label))
        await pilot.press("ctrl+o")
        table = app.screen.query_one("#episode-list")
        await wait_for(pilot, lambda: table.row_count == 1, what="the episode list")
        assert "ok" in str(table.get_row_at(0)[2])
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.episode is not None, what="the episode")
        await pilot.press("right")
        await wait_for(pilot, lambda: app.screen.index == 1)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen.replayed is not None, what="the replay")
        shown = str(app.screen.query_one("#episode-actions").render())
        assert "frame 2/4" in shown and "policy" in shown and "agreement over the episode" in shown
        assert len(app.screen.replayed.predicted) == 4


async def test_the_episodes_screen_shows_damaged_files_in_one_line_each(tmp_path: Path, monkeypatch) -> None:
    """A Git LFS pointer, a truncated file and one that crashes the HDF5 library (when read in a child
    process; the app reads episode files only there): each is a one-line status in the list, opening one
    is a one-line notification, and the app goes on driving and opens the sound file."""
    files = damaged_folder(tmp_path / "data", monkeypatch)
    app, session, link = make_app(tmp_path / "data")
    notes: list[str] = []
    app.notify = lambda message, **kwargs: notes.append(str(message))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("ctrl+o")
        table = app.screen.query_one("#episode-list")
        await wait_for(pilot, lambda: table.row_count == 4, timeout_s=60.0, what="the episode list")
        rows = [table.get_row_at(i) for i in range(4)]
        status = {name: str(state) for name, _, state in rows}
        assert [name for name, _, _ in rows] == sorted(f.name for f in files.values())
        assert status[files["good"].name] == "ok"
        assert status[files["lfs"].name].startswith("Git LFS pointer")
        assert status[files["truncated"].name].startswith("truncated or unreadable")
        assert status[files["crash"].name].startswith("unreadable (crashed, hung or broke the reader)")
        table.focus()
        for name in ("crash", "truncated", "lfs"):
            table.move_cursor(row=[r[0] for r in rows].index(files[name].name))
            await pilot.press("enter")
            await wait_for(pilot, lambda: any(files[name].name in n for n in notes), timeout_s=60.0)  # noqa: B023
        crash, truncated, lfs = notes[-3:]
        assert "reading it crashed the HDF5 library (SIGSEGV)" in crash
        assert "truncated or unreadable" in truncated and "git lfs pull" in lfs
        assert all("\n" not in n for n in notes)
        table.move_cursor(row=[r[0] for r in rows].index(files["good"].name))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.episode is not None, timeout_s=60.0, what="the episode")
        assert app.screen.episode.name == files["good"].stem and len(app.screen.episode) == 3
        assert app.state.robot.running


async def test_a_policy_that_predicts_its_stop_ends_the_run_and_the_log_says_done() -> None:
    """What the README says a new user sees: the run ends by itself, the robot at rest, 'policy done' in the
    log and 'done:' in the policy panel; a step budget would have said 'stopped' instead."""
    from tests.core.core_helpers import ScriptedRuntime

    app, session, link = make_app(
        runtime=ScriptedRuntime([(0.5, 0.0, 0.0), (0.5, 0.0, 0.0), (0.02, 0.0, 0.0)])
    )
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: bool(app.state.policy.label))
        await type_command(pilot, "go around the box on the left and reach the cup")
        await type_command(pilot, "run")
        await wait_for(pilot, lambda: app.state.policy.ended is not None, what="the end of the run")
        await pilot.pause(0.2)
        policy = app.state.policy
        assert policy.ended == "done" and policy.steps == 2 and not app.state.robot.estop
        assert link.last_twist == STOP
        log = " ".join(" ".join(str(line.text) for line in app.query_one("#log").lines).split())
        assert "policy done: predicted a stop after 2 steps; the robot is at rest" in log
        assert "done: predicted a stop after 2 steps" in str(app.policy_panel._summary(policy))


async def test_typed_quit_and_episodes_do_what_their_keys_do(tmp_path: Path) -> None:
    """`episodes` opens the episodes screen as ctrl+o does; `quit` ends the app (and so stops the robot)."""
    app, session, link = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await type_command(pilot, "episodes")
        await wait_for(pilot, lambda: isinstance(app.screen, EpisodesScreen), what="the episodes screen")
        await pilot.press("backspace")
        await wait_for(pilot, lambda: not isinstance(app.screen, EpisodesScreen))
        await type_command(pilot, "quit")
        await wait_for(pilot, lambda: not app.is_running, what="the app to end")
    assert not session.state.robot.running


async def test_the_recording_panel_counts_policy_and_operator_steps_and_takeovers(tmp_path: Path) -> None:
    app, session, link = make_app(tmp_path, runtime=ScriptedRuntime([(0.5, 0.0, 0.0)]), resume_s=30.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: bool(app.state.policy.label))
        await pilot.press("n", "1", "c", "k", "enter")
        await wait_for(pilot, lambda: app.state.recording.recording, what="recording")
        await type_command(pilot, "run")
        await wait_for(pilot, lambda: app.state.recording.policy_steps >= 2, what="two policy steps")
        await pilot.press("tab")  # out of the command line: keys drive again
        await pilot.press("a")
        await wait_for(pilot, lambda: app.state.recording.takeovers == 1, what="the takeover")
        await wait_for(
            pilot, lambda: "takeovers: 1" in shown(app.query_one(RecordingPanel)), what="the panel"
        )
        await pilot.press("m")
        await wait_for(pilot, lambda: bool(app.state.recording.last_saved), what="the save")
    (path,) = tmp_path.glob("*.h5")
    got = read_episode(path).intervention
    assert got is not None and got.takeovers == 1
    assert got.sources.count("operator") >= 2  # frame 0 and the key
