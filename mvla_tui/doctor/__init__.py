"""`mvla doctor`'s checks: is this robot ready to drive, record and run a policy? No Textual here.

    checks = diagnose(DoctorRequest(config, policy="default"), Machine())  # list[Check]: ok/warn/fail
    failed(checks)                                                      # True when any failed

Each module holds one group of checks and returns `Check` values (`checks`): ROS 2 and its graph
(`ros`), the camera (`camera`), GPU, jtop and temperatures (`gpu`), free disk for episodes (`disk`),
the policy checkpoint and its exported engines (`policy`); `run` puts them in order and bounds the time
each may take. Probes only look: nothing here commands the real robot or writes a file (the fake's
and the sim's links get their usual stop when the camera probe closes them). Heavy or optional
packages (torch, rclpy, MuJoCo, tensorrt, jtop) are imported inside the check that needs them.
"""

from mvla_tui.doctor.checks import Check, failed
from mvla_tui.doctor.run import DoctorRequest, Machine, diagnose

__all__ = ["Check", "DoctorRequest", "Machine", "diagnose", "failed"]
