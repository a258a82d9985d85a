"""Shared test set-up: `gpu`, `ros` markers skip cleanly when CUDA or rclpy are missing, and `ros` tests run
real DDS only inside a private network namespace.

`ros` tests (real rclpy, from the `ros-test` extra or a sourced ROS 2) must never put DDS on this machine's
network interfaces. So they run in-process only where the network namespace holds nothing but loopback;
anywhere else this pytest replaces them with stand-ins and runs the real ones once, in a child pytest inside
`unshare --net --mount` (loopback brought up, a private tmpfs on /dev/shm so Fast DDS's shared-memory
transport is private too and what killed participants leave behind goes with the namespace), and each
stand-in passes, fails or skips as its test did there. Each `ros` test gets its own `ROS_DOMAIN_ID`.
Where no namespace can be made (not root and no user namespaces, no `unshare`), they skip and say why.
`private_network_argv` and `only_loopback` are also what `benchmarks/bench_ros_stop.py` runs itself with.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
# Tests never download: a hub id that slips through fails at once instead of retrying for half a minute.
os.environ["HF_HUB_OFFLINE"] = "1"

# ---- ros: real DDS only behind a private network namespace ------------------------------------------------

# Set for the child pytest inside the namespace: the file its `ros` test outcomes go to.
RESULTS_ENV = "MVLA_ROS_NETNS_RESULTS"
# Inside the namespace: make /dev/shm private, bring loopback up with multicast (DDS discovery is multicast;
# without it participants find each other only after seconds), then run the command ("$0" "$@").
NETNS_SETUP = (
    "mount -t tmpfs -o mode=1777 mvla-dds-shm /dev/shm && ip link set lo up multicast on && "
    'ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"'
)
# As root first; else in a user namespace of our own (unprivileged, where the kernel allows it).
UNSHARE_WAYS = (["unshare", "--net", "--mount"], ["unshare", "--map-root-user", "--net", "--mount"])
CHILD_TIMEOUT_S = 540  # under pytest-timeout's 600 s for the stand-in that waits for the child
# Domain ids 1..100 (ports stay below the ephemeral range), a different start for each run.
_DOMAINS = itertools.cycle(list(range(1 + os.getpid() % 100, 101)) + list(range(1, 1 + os.getpid() % 100)))


def only_loopback() -> bool:
    """True when this process's network namespace has no interface but loopback: DDS cannot leave it."""
    return [name for _index, name in socket.if_nameindex()] == ["lo"]


def _private_network_prefix() -> tuple[list[str] | None, str]:
    """What to put before a command line to run it in a private network namespace holding only loopback
    (up), tried here with `true`; or None and why it cannot be made."""
    if shutil.which("unshare") is None:
        return None, "`unshare` (util-linux) is not installed"
    why = ""
    for way in UNSHARE_WAYS:
        prefix = [*way, "sh", "-c", NETNS_SETUP]
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return prefix, ""
        why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
    return None, f"cannot make a private network namespace ({why}); run as root or allow user namespaces"


def private_network_argv(argv: list[str]) -> tuple[list[str] | None, str]:
    """`argv` wrapped to run in a private network namespace that holds only loopback, or None and why not."""
    prefix, why = _private_network_prefix()
    return (None, why) if prefix is None else ([*prefix, *argv], "")


def next_ros_domain() -> int:
    return next(_DOMAINS)


@pytest.fixture(autouse=True)
def _ros_domain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `ros` test's own DDS domain (inherited by the processes it starts): nothing left over from another
    test, such as a participant a killed process never removed, can reach it."""
    if request.node.get_closest_marker("ros") is not None:
        assert only_loopback(), "a ros test outside a private network namespace"  # conftest never lets one
        flags = int(Path("/sys/class/net/lo/flags").read_text(), 16)
        assert flags & 0x1, "loopback is down in this network namespace; bring it up: ip link set lo up"
        monkeypatch.setenv("ROS_DOMAIN_ID", str(next_ros_domain()))


class NamespacedRun:
    """The child pytest that runs this session's `ros` tests inside a private network namespace, once."""

    def __init__(self, config: pytest.Config, argv_prefix: list[str]) -> None:
        self.config = config
        self.argv_prefix = argv_prefix
        self.nodeids: list[str] = []
        self.results: dict[str, dict] | None = None
        self.output = ""

    def result(self, nodeid: str) -> dict | None:
        if self.results is None:
            self._run()
        return self.results.get(nodeid)

    def _run(self) -> None:
        self.results = {}
        with tempfile.TemporaryDirectory(prefix="mvla-ros-netns-") as tmp:
            results = Path(tmp) / "results.json"
            env = {**os.environ, RESULTS_ENV: str(results)}
            argv = [
                *self.argv_prefix,
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                # This session already selected them: addopts' `-m "not slow"` must not deselect any.
                "-m",
                "",
                *self.nodeids,
            ]
            child = subprocess.Popen(
                argv,
                cwd=self.config.rootpath,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own process group: what its tests started ends with it
            )
            try:
                self.output, _ = child.communicate(timeout=CHILD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                self.output = child.communicate()[0] + f"\n(killed after {CHILD_TIMEOUT_S} s)"
            with contextlib.suppress(ProcessLookupError):  # what a failed test left behind goes with it
                os.killpg(child.pid, signal.SIGKILL)
            if results.exists():
                self.results = json.loads(results.read_text())

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


class NamespacedRosTest(pytest.Item):
    """Stands in for one `ros` test outside the namespace: its outcome is the real test's, run inside."""

    def __init__(self, *, run: NamespacedRun, original: pytest.Item, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.original = original
        for mark in original.iter_markers():  # so -m and the summary see them as the test's own
            self.own_markers.append(mark)
            self.keywords[mark.name] = mark

    def runtest(self) -> None:
        outcome = self.run.result(self.nodeid)
        if outcome is None:
            pytest.fail(
                f"the child pytest in the private network namespace did not report this test; its output:\n"
                f"{self.run.tail()}",
                pytrace=False,
            )
        if outcome["outcome"] == "skipped":
            pytest.skip(outcome["text"])
        if outcome["outcome"] == "failed":
            pytest.fail(f"(in the private network namespace)\n{outcome['text']}", pytrace=False)

    def reportinfo(self):
        return self.original.reportinfo()


def _namespaced(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Replace every `ros` item by a stand-in for its run in a private network namespace (or skip it)."""
    ros = [i for i, item in enumerate(items) if "ros" in item.keywords]
    if not ros:
        return
    prefix, why = _private_network_prefix()
    if prefix is None:
        for i in ros:
            items[i].add_marker(pytest.mark.skip(reason=f"ros tests need a private network namespace: {why}"))
        return
    run = NamespacedRun(config, prefix)
    for i in ros:
        item = items[i]
        run.nodeids.append(item.nodeid)
        items[i] = NamespacedRosTest.from_parent(item.parent, name=item.name, run=run, original=item)


class _OutcomeRecorder:
    """In the child pytest: each test's outcome (and why, when it did not pass), written at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outcomes: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        known = self.outcomes.get(report.nodeid)
        if known is not None and known["outcome"] != "passed":
            return  # the first failure or skip is the one to show
        if report.failed:
            where = "" if report.when == "call" else f"error in {report.when}\n"
            self.outcomes[report.nodeid] = {"outcome": "failed", "text": where + report.longreprtext}
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.outcomes[report.nodeid] = {"outcome": "skipped", "text": reason.removeprefix("Skipped: ")}
        elif report.when == "call":
            self.outcomes[report.nodeid] = {"outcome": "passed", "text": ""}

    def pytest_sessionfinish(self) -> None:
        self.path.write_text(json.dumps(self.outcomes))


def pytest_configure(config: pytest.Config) -> None:
    results = os.environ.get(RESULTS_ENV)
    if results and only_loopback():
        config.pluginmanager.register(_OutcomeRecorder(Path(results)), "mvla-ros-netns-results")


# ---- markers ----------------------------------------------------------------------------------------------


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


# trylast: after -k / -m deselection, so only the selected `ros` tests run in the namespace.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_ros = importlib.util.find_spec("rclpy") is not None
    has_cuda = None
    for item in items:
        if "ros" in item.keywords and not has_ros:
            item.add_marker(
                pytest.mark.skip(reason="needs ROS 2 (rclpy): source ROS 2, or install the ros-test extra")
            )
        if "gpu" in item.keywords:
            if has_cuda is None:
                has_cuda = _has_cuda()
            if not has_cuda:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
    if has_ros and not only_loopback():
        _namespaced(config, items)
