"""MuJoCo simulation of the obstacle scenarios: layouts, scenes, the `SimLink` robot, the scripted expert,
success checks and expert data collection. No Textual here.

`config` (SimConfig), `layout` (seeded geometry and looks, no MuJoCo), `scene` (MJCF text), `world`
(physics, contacts, rendering), `success` (goal, collision and side rule), `link` (`RobotLink` in
simulated or real time), `expert` (key-by-key scripted driver), `rollout` (one episode's frames),
`collect` (episodes written through the recorder).
"""
