"""`mvla doctor`'s checks: is this robot ready to drive, record and run a policy? No Textual here.

    checks = diagnose(DoctorRequest(config, reason), Machine())   # list[Check], each ok / warn / fail
    failed(checks)                                                # True when any check failed

Each module holds one group of checks and returns `Check` values (`checks`): ROS 2 and its graph
(`ros`), the camera (`camera`), GPU, jtop and temperatures (`gpu`), free disk for episodes (`disk`),
the policy checkpoint and its exported engines (`policy`); `run` puts them in order and bounds the time
each may take. Probes only look: nothing here publishes a twist or writes a file. Heavy or optional
packages (torch, rclpy, MuJoCo, tensorrt, jtop) are imported inside the check that needs them.
"""

from mvla_tui.doctor.checks import Check, failed
from mvla_tui.doctor.run import DoctorRequest, Machine, diagnose

__all__ = ["Check", "DoctorRequest", "Machine", "diagnose", "failed"]
