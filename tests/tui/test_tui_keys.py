"""Hold-to-drive with real key release: escape sequences recorded from a terminal speaking the kitty
keyboard protocol with event types (as `KeyReleaseDriver` asks for), read by `KeyReleaseParser` in front
of Textual's parser; and the app stopping a held key on its release, not a deadman later."""

from __future__ import annotations

import time

import pytest
from textual import events

from mvla_tui.key_release import KeyboardReport, KeyReleased, KeyReleaseParser
from mvla_tui.robot.link import STOP
from tests.tui.tui_helpers import make_app, wait_for

# kitty 0.3x with flags 1|2|8|16 (disambiguate, event types, all keys as escapes, associated text):
# w pressed, repeated, released; shift+a pressed and released; Escape pressed and released; up arrow.
RECORDED = (
    "\x1b[119;1:1;119u\x1b[119;1:2;119u\x1b[119;1:3u"
    "\x1b[97;2:1;65u\x1b[97;2:3u"
    "\x1b[27;1:1u\x1b[27;1:3u"
    "\x1b[1;1:1A\x1b[1;1:3A"
)


def parsed(parser: KeyReleaseParser, data: str) -> list[tuple[str, str]]:
    out = []
    for event in parser.feed(data):
        if isinstance(event, KeyReleased):
            out.append(("release", event.key))
        elif isinstance(event, KeyboardReport):
            out.append(("report", str(event.flags)))
        elif isinstance(event, events.Key):
            out.append(("key", event.key))
    return out


def test_presses_repeats_and_releases_in_order() -> None:
    assert parsed(KeyReleaseParser(), RECORDED) == [
        ("key", "w"),
        ("key", "w"),  # the repeat feeds the deadman like any key repeat
        ("release", "w"),
        ("key", "A"),
        ("release", "a"),
        ("key", "escape"),  # the e-stop still arrives as Escape
        ("release", "escape"),
        ("key", "up"),
        ("release", "1A"),
    ]


def test_a_sequence_cut_between_two_reads_is_read_whole() -> None:
    parser = KeyReleaseParser()
    assert parsed(parser, "\x1b[119;1:1;119u\x1b[119;1:") == [("key", "w")]
    assert parsed(parser, "3u") == [("release", "w")]


@pytest.mark.parametrize(
    ("answer", "release"), [("\x1b[?27u", True), ("\x1b[?25u", False), ("\x1b[?1u", False)]
)
def test_the_flags_answer_says_whether_releases_come(answer: str, release: bool) -> None:
    (report,) = list(KeyReleaseParser().feed(answer))
    assert isinstance(report, KeyboardReport) and report.release is release


def test_a_legacy_terminal_passes_through_untouched() -> None:
    """No kitty protocol: plain characters, and a lone ESC is never held back (it is the e-stop)."""
    parser = KeyReleaseParser()
    assert parsed(parser, "wasd") == [("key", k) for k in "wasd"]
    list(parser.feed("\x1b"))
    assert parser._held == ""
    time.sleep(0.2)
    assert [e.key for e in parser.tick() if isinstance(e, events.Key)] == ["escape"]


@pytest.mark.asyncio
async def test_releasing_a_held_key_stops_the_robot_at_once() -> None:
    app, session, link = make_app(mode="hold", deadman_s=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.state is not None and app.state.robot.running)
        app.post_message(KeyboardReport(27))
        await wait_for(pilot, lambda: app.status.key_mode == "key release (kitty protocol)")
        await pilot.press("w")
        await wait_for(pilot, lambda: app.state.robot.moving)
        pressed = time.monotonic()
        app.post_message(KeyReleased("w"))
        await wait_for(pilot, lambda: link.last_twist == STOP and not app.state.robot.moving)
        assert time.monotonic() - pressed < 1.5, "stopped on release, not by the 3 s deadman"
