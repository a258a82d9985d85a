"""Sub-commands of `mvla`, one module each.

A module here defines `register(subparsers)`, which adds its parser and sets `func` (called with the
parsed arguments; returns the exit status). Modules import heavy libraries inside `func`, so that
`mvla --help` stays fast. `mvla_tui.cli` finds the modules by listing this package.

A module whose name starts with `_` is not a sub-command but what several share, and `cli` skips it:
`_launch` (the app: `mvla` without a sub-command), `_options` (shared options and the rules that turn
them into a config), `_progress` (the progress bar), and the halves of `eval` (`_eval_sim`,
`_eval_offline`).
"""
