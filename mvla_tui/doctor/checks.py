"""The doctor's result type, `Check` (a name, ok / warn / fail, what was found and what to do), and
`bounded`, which runs a probe with a deadline so that no check can hang the command.

A check that overruns its deadline becomes a failing line saying so; its thread is a daemon left to
finish on its own (a ROS 2 call or a driver that never returns must not keep the operator waiting).
A check that raises something unexpected is a failing line naming the error, not a silent skip
(`MVLA_DEBUG=1` raises it instead, for the traceback). Nothing here touches the machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

Status = Literal["ok", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail")
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One line of the report. `fix` says what to do; None for an ok line."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, "warn", detail, fix)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "fail", detail, fix)


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def counts(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(c.status == status for c in checks) for status in STATUSES}


def bounded(probe: Callable[[], T], timeout_s: float, on_error: Callable[[str], T]) -> T:
    """`probe()`, or `on_error(why)` when it does not return within `timeout_s` or raises."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(probe())
        except Exception as exc:  # becomes a failing line below: reported, never hidden
            error.append(exc)

    thread = threading.Thread(target=target, name="mvla-doctor-check", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return on_error(f"did not finish within {timeout_s:g} s")
    if error:
        if os.environ.get("MVLA_DEBUG"):
            raise error[0]
        return on_error(f"the check itself failed: {type(error[0]).__name__}: {error[0]}")
    return result[0]
