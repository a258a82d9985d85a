"""The app's screens (episodes browser, episode setup); they display and post messages."""
