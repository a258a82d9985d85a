"""The load order of native libraries that must precede MuJoCo's renderer: `load_before_renderer`.

Why. Mesa's software renderers (the EGL driver `swrast_dri.so` with llvmpipe, and OSMesa) link the
system's shared libLLVM, and Mesa opens them with RTLD_GLOBAL, so from then on that libLLVM's symbols are
global in the process. triton, which the package registry's torch build brings on x86-64 Linux and which
`transformers` imports through `torch._dynamo`, has its own, newer, LLVM linked into `libtriton.so` and
exports those symbols without binding its own references to them. Opened after Mesa, the dynamic linker
binds thousands of libtriton's LLVM references to the system libLLVM instead, and libtriton's static
initialisers crash in the mix of two LLVM versions (SIGSEGV inside `triton/knobs.py`, in
`llvm::DenseMap` growing from `_GLOBAL__sub_I_PassBuilder.cpp`). Opened before Mesa, libtriton is an
ordinary RTLD_LOCAL extension module that binds to itself, Mesa binds to its own libLLVM, and both work.

So every MuJoCo import goes through `mvla_tui.sim.world`, which calls `load_before_renderer()` before it
imports MuJoCo: with MUJOCO_GL=osmesa `import mujoco` itself opens Mesa, with egl the first renderer
does. It imports each package of `LLVM_CARRIERS` that is installed (about 0.15 s for triton; nothing
where it is not installed: PyTorch's CPU build, macOS, the Jetson). It must not import torch.
"""

from __future__ import annotations

import importlib
import importlib.util

# Python packages whose extension modules carry an LLVM of their own, exported and not bound to itself.
LLVM_CARRIERS = ("triton",)


def load_before_renderer() -> list[str]:
    """Import the installed packages of `LLVM_CARRIERS` (idempotent); returns those now imported."""
    loaded = []
    for name in LLVM_CARRIERS:
        if importlib.util.find_spec(name) is None:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            # A broken install: the later import fails the same way before opening its library, so
            # there is nothing to order (and torch treats a triton that does not import as absent).
            continue
        loaded.append(name)
    return loaded
