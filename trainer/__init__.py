"""Windowed dataset, training loop and metrics behind `mvla train`. No Textual."""
