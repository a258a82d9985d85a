"""Mobile VLA: the `mvla` command and its Textual app.

Importing this package imports nothing heavy; the app, torch and models load lazily.
"""

__version__ = "0.1.0"
