"""The dashboard's panels. Each only displays: the app sets its reactive attributes (attributes down) and
it re-renders in `watch_*`; a panel never calls the robot, a model or the disk. `format.py` holds the
plain-text formatting the panels share.
"""
