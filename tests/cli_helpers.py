"""`mvla` run as an operator runs it: a fresh Python process, no terminal on stdin, output captured. The one
subprocess helper for the command-line tests; in-process calls go through `mvla_tui.cli.main` instead."""

from __future__ import annotations

import subprocess
import sys

TIMEOUT_S = 120  # a hung command fails its test instead of waiting for pytest-timeout


def mvla(*args: str, hide_rclpy: bool = False) -> subprocess.CompletedProcess[str]:
    """`mvla ARGS...` in a child process. `hide_rclpy`: rclpy cannot be imported there (None in
    `sys.modules`), as on a machine where ROS 2 is not sourced."""
    hide = "import sys; sys.modules['rclpy'] = None\n" if hide_rclpy else ""
    code = f"{hide}from mvla_tui.cli import main\nraise SystemExit(main({list(args)!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT_S,
    )
