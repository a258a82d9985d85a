"""Which extra of the package installs an optional module, so that a missing one is one line saying what
to install rather than a traceback (`missing_module_line`). The extras are those of pyproject.toml."""

from __future__ import annotations

EXTRA_OF = {
    "mujoco": "sim",
    "torch": "policy",
    "transformers": "policy",
    "peft": "policy",
    "safetensors": "policy",
    "accelerate": "train",
    "tensorboard": "train",
    "onnx": "export",
    "onnxruntime": "export",
    "pynvml": "nvidia",
    "jtop": "jetson",
    "rerun": "rerun",
    "rosbags": "rosbag",
    "pyarrow": "lerobot",
    "av": "lerobot",
}


def missing_module_line(exc: ImportError) -> str | None:
    """'onnxruntime is not installed: pip install "mobile-vla[export]"' for an optional module of the
    package, None for any other import failure (a bug or a broken install, worth its traceback)."""
    name = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(name)
    if extra is None or not isinstance(exc, ModuleNotFoundError):
        return None
    return f'{name} is not installed: pip install "mobile-vla[{extra}]"'
