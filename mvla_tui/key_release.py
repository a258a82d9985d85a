"""Real key release where the terminal can tell: the kitty keyboard protocol's event types, for
hold-to-drive over SSH.

Textual 8 enables the kitty protocol without its "report event types" flag and has no key-release event
(Textualize/textual#6417); its parser cannot even read a sequence that carries an event type
(`CSI 119;1:3u`). Terminals that speak the protocol (kitty, WezTerm, foot, Ghostty, recent iTerm2) do
report releases when asked. `KeyReleaseDriver` asks: after Textual pushed its flags it sets the
event-type flag as well (`CSI = 2 ; 2 u`) and queries the flags (`CSI ? u`); a terminal that answers with
the flag set reports releases (`KeyboardReport(release=True)`), any other answer or none means the app
keeps the key-repeat deadman. `KeyReleaseParser` sits in front of Textual's parser: a release becomes a
`KeyReleased` message, a press or repeat loses its event-type field so Textual reads it as before, the
flags answer becomes a `KeyboardReport`. Everything else passes through untouched.

Textual's input thread builds its parser by name (`linux_driver.XTermParser`); the driver points that
name at `KeyReleaseParser` for the life of the app (one app per process). Linux and macOS only.
"""

from __future__ import annotations

import re

from textual._xterm_parser import XTermParser
from textual.drivers import linux_driver
from textual.drivers.linux_driver import LinuxDriver
from textual.keys import _character_to_key
from textual.message import Message

REPORT_EVENT_TYPES = 0b10  # kitty progressive enhancement flag 2
# CSI key-code[:alternates] ; modifiers:event [; text] terminator (a kitty key with its event type), or
# CSI ? flags u (the answer to the flags query).
_OURS = re.compile(
    r"\x1b\[(?:\?(?P<flags>\d+)u|(?P<code>\d+)(?P<alt>(?::\d*)*);(?P<mods>\d*):(?P<event>[123])"
    r"(?P<text>(?:;[\d:]*)?)(?P<end>[u~ABCDEFHPQS]))"
)
# A key sequence cut off at the end of a read (the rest comes with the next). Never a lone ESC: that is the
# Escape key of a legacy terminal (the e-stop) and must not wait for more input.
_CUT = re.compile(r"\x1b\[[\d:;?]*$")
_CONTROL_KEYS = {27: "escape", 13: "enter", 9: "tab", 127: "backspace"}


class KeyReleased(Message):
    """The terminal reported that `key` (a Textual key name such as "w") was released."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class KeyboardReport(Message):
    """The terminal's answer to the flags query: whether it reports key releases."""

    def __init__(self, flags: int) -> None:
        super().__init__()
        self.flags = flags
        self.release = bool(flags & REPORT_EVENT_TYPES)


def key_name(code: int, terminator: str) -> str:
    """The Textual name of a kitty key code ("w" for 119); functional keys by their code and terminator."""
    if terminator == "u" and code in _CONTROL_KEYS:
        return _CONTROL_KEYS[code]
    if terminator == "u" and code >= 32:
        return _character_to_key(chr(code))
    return f"{code}{terminator}"


class KeyReleaseParser(XTermParser):
    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._held = ""  # the start of a sequence cut off by the end of the last read

    def feed(self, data: str):
        if not data:  # end of input: what was held, then the end
            held, self._held = self._held, ""
            if held:
                yield from super().feed(held)
            yield from super().feed("")
            return
        data, self._held = self._held + data, ""
        cut = _CUT.search(data)
        if cut is not None:
            self._held, data = data[cut.start() :], data[: cut.start()]
        start = 0
        for match in _OURS.finditer(data):  # in order: a release must follow its press
            if match.start() > start:
                yield from super().feed(data[start : match.start()])
            start = match.end()
            g = match.group
            if g("flags") is not None:
                yield KeyboardReport(int(g("flags")))
            elif g("event") == "3":
                yield KeyReleased(key_name(int(g("code")), g("end")))
            else:  # a press (1) or a repeat (2): the sequence Textual knows, without the event type
                yield from super().feed(f"\x1b[{g('code')}{g('alt')};{g('mods')}{g('text')}{g('end')}")
        if start < len(data):
            yield from super().feed(data[start:])


class KeyReleaseDriver(LinuxDriver):
    def start_application_mode(self) -> None:
        linux_driver.XTermParser = KeyReleaseParser  # type: ignore[misc]  (see the module docstring)
        super().start_application_mode()
        # Textual pushed its own flags; add the event types to them (mode 2: set these bits), then ask.
        self.write(f"\x1b[={REPORT_EVENT_TYPES};2u\x1b[?u")
        self.flush()
