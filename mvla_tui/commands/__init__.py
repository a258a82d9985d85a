"""Sub-commands of `mvla`, one module each.

A module here defines `register(subparsers)`, which adds its parser and sets `func` (called with the
parsed arguments; returns the exit status). Modules import heavy libraries inside `func`, so that
`mvla --help` stays fast. `mvla_tui.cli` finds the modules by listing this package.
"""
