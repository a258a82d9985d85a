"""Build, or reuse, the separate venv in which the `interop` tests load our LeRobot exports with LeRobot
0.4.4 itself. Run it alone to build the venv ahead of the tests (it says what it does and how long it took):

    PYTHONPATH=. .venv/bin/python tests/interop/make_lerobot_venv.py

It lives under ~/.cache/mvla/ (XDG_CACHE_HOME honoured), named by LeRobot's version and a hash of the
requirement lists below and the Python version, so a changed list builds a new one; an existing one is
reused when a probe (LeRobot's dataset class imports, torchcodec finds FFmpeg) passes. Several pytest
processes wait for one another on a lock beside it.

Why not `pip install lerobot==0.4.4`: it declares torch<2.11, torchvision<0.26 and torchcodec<0.11, and
its default install brings the training stack (wandb, diffusers, rerun, gymnasium, ...). Reading a dataset
needs only `lerobot.datasets`, so lerobot 0.4.4 is installed with `--no-deps` beside the pure-Python
libraries that package imports, and a newer torch, torchvision and torchcodec (LeRobot's dataset code uses
only their stable API). torchcodec is LeRobot's default video backend and the one that works here: its
`pyav` backend calls `torchvision.io.VideoReader`, which torchvision 0.26 removed. torchcodec loads the
system's FFmpeg shared libraries (4 to 9; `apt-get install ffmpeg` on Debian/Ubuntu): without them the
venv is built but the probe says decoding cannot work, and the test skips saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LEROBOT_VERSION = "0.4.4"
# Resolved normally (pip brings their own dependencies).
REQUIREMENTS = (
    "torch==2.14.1",
    "torchvision==0.29.1",
    "torchcodec==0.17.0",
    "datasets==4.8.5",
    "huggingface-hub==0.35.3",
    "av==15.1.0",
    "jsonlines==4.0.0",
    "packaging==25.0",
    "draccus==0.10.0",
    "deepdiff==8.6.2",
    "termcolor==3.3.0",
    "einops==0.8.2",
    "psutil==7.2.2",
    "PyYAML==6.0.4",
    "safetensors==0.8.0",
)
# Installed without their declared dependencies (see the module docstring; accelerate would pull torch's
# version range again, and `lerobot.utils` imports it).
NO_DEPS = (f"lerobot=={LEROBOT_VERSION}", "accelerate==1.16.0")
MIN_FREE_GB = 10.0  # the venv takes about 5.5 GB (CUDA torch); pip's downloads and cache need room too
PIP_TIMEOUT_S = 1800
PROBE_TIMEOUT_S = 120
OK_MARK = ".mvla-interop-ok"
# Run in the venv: LeRobot's dataset class imports; then whether torchcodec loaded FFmpeg's libraries.
PROBE = """
from importlib.metadata import version
import torch, torchvision, torchcodec
from lerobot.datasets.lerobot_dataset import LeRobotDataset
import torchcodec._core.ops as ops
print(f"lerobot {version('lerobot')}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, torchcodec {torchcodec.__version__}, "
      f"FFmpeg {ops.ffmpeg_major_version if ops._FFMPEG_AVAILABLE else 'missing'}")
raise SystemExit(0 if ops._FFMPEG_AVAILABLE else 3)
"""
NO_FFMPEG = 3


class VenvUnavailable(RuntimeError):
    """The venv cannot be built or cannot decode video here; the message says why."""


def venv_dir() -> Path:
    key = "\n".join(
        (*REQUIREMENTS, "--no-deps", *NO_DEPS, f"python{sys.version_info[0]}.{sys.version_info[1]}")
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mvla" / f"interop-venv-lerobot-{LEROBOT_VERSION}-{digest}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def say(message: str) -> None:
    print(f"[lerobot venv] {message}", flush=True)


def _run(argv: list[str], what: str, timeout: float) -> None:
    start = time.monotonic()
    say(f"{what}: {' '.join(argv[2:] if argv[1:3] == ['-m', 'pip'] else argv)}")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise VenvUnavailable(f"{what} took over {timeout:.0f} s") from e
    if done.returncode != 0:
        tail = [line for line in (done.stderr + done.stdout).splitlines() if "is ignored" not in line][-6:]
        raise VenvUnavailable(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))
    say(f"{what}: {time.monotonic() - start:.1f} s")


def probe(venv: Path) -> tuple[int, str]:
    """(exit code, what the probe printed or its error): 0 works, NO_FFMPEG: no FFmpeg libraries."""
    try:
        done = subprocess.run(
            [str(venv_python(venv)), "-c", PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return 1, str(e)
    err = done.stderr.strip().splitlines()
    return done.returncode, done.stdout.strip() or (err[-1] if err else f"exit {done.returncode}")


@contextlib.contextmanager
def _locked(venv: Path) -> Iterator[None]:
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pip(venv: Path) -> list[str]:
    return [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]


def _registry_reachable(venv_parent: Path) -> None:
    """Fetches lerobot's own wheel (a few hundred kB) with one short try, so that an unreachable registry
    is said at once instead of after pip's retries."""
    with tempfile.TemporaryDirectory(dir=venv_parent) as tmp:
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "1", "--timeout", "20"]
        argv += ["-d", tmp, NO_DEPS[0]]
        try:
            _run(argv, "registry check (download lerobot's wheel)", timeout=120)
        except VenvUnavailable as e:
            raise VenvUnavailable(f"the package registry is not reachable: {e}") from e


def ensure_venv() -> Path:
    """The venv's directory, built when missing or broken; raises VenvUnavailable saying why it cannot be
    built or cannot decode video here."""
    venv = venv_dir()
    start = time.monotonic()
    with _locked(venv):
        if (venv / OK_MARK).exists():
            code, text = probe(venv)
            if code == 0:
                say(f"reusing {venv} ({text}; probe {time.monotonic() - start:.1f} s)")
                return venv
            if code == NO_FFMPEG:
                raise VenvUnavailable(
                    f"torchcodec finds no FFmpeg libraries (apt-get install ffmpeg): {text}"
                )
            say(f"{venv} exists but its probe failed ({text}); building it again")
        if venv.exists():
            shutil.rmtree(venv)
        free_gb = shutil.disk_usage(venv.parent).free / 1e9
        if free_gb < MIN_FREE_GB:
            raise VenvUnavailable(
                f"{free_gb:.1f} GB free under {venv.parent}; the venv needs {MIN_FREE_GB:.0f} GB"
            )
        _registry_reachable(venv.parent)
        say(f"building {venv} (Python {sys.version.split()[0]})")
        try:
            _run([sys.executable, "-m", "venv", str(venv)], "create the venv", timeout=300)
            _run(
                [*_pip(venv), "install", "--quiet", *REQUIREMENTS],
                "install torch and dependencies",
                PIP_TIMEOUT_S,
            )
            _run([*_pip(venv), "install", "--quiet", "--no-deps", *NO_DEPS], "install lerobot --no-deps", 600)
        except VenvUnavailable:
            shutil.rmtree(venv, ignore_errors=True)
            raise
        code, text = probe(venv)
        if code not in (0, NO_FFMPEG):
            shutil.rmtree(venv, ignore_errors=True)
            raise VenvUnavailable(f"the new venv's probe failed: {text}")
        (venv / OK_MARK).write_text(f"built in {time.monotonic() - start:.0f} s\n")
        say(f"built in {time.monotonic() - start:.1f} s ({text})")
        if code == NO_FFMPEG:
            raise VenvUnavailable(f"torchcodec finds no FFmpeg libraries (apt-get install ffmpeg): {text}")
        return venv


def main() -> int:
    try:
        venv = ensure_venv()
    except VenvUnavailable as e:
        say(f"unavailable: {e}")
        return 2
    print(venv_python(venv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
