"""`Kosmos2ClipConfig`: the Kosmos-2 policy's fields plus the CLIP backbone and the fused feature size.

No torch here. CLIP is always frozen and referenced by hub id or local directory (and revision); it
has no random initialisation. Its pixel input must match Kosmos-2's (same size and statistics, true
of the defaults), so one `preprocess` serves both towers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies.kosmos2.config import Kosmos2Config

# The commit of openai/clip-vit-base-patch32 that public hub caches hold (not re-checked against the hub
# here: there is no network in CI). Pinned so that a checkpoint's CLIP never moves under it; at this
# commit the repository may carry its weights only as pytorch_model.bin, which the loader reads with
# torch.load(weights_only=True) (policies/kosmos2/backbone.py).
CLIP_REVISION = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"


@dataclass
class ClipBackboneConfig:
    source: str = "openai/clip-vit-base-patch32"  # hub id or local directory
    revision: str | None = CLIP_REVISION  # pinned; ignored for a local directory


@dataclass
class Kosmos2ClipConfig(Kosmos2Config):
    clip: ClipBackboneConfig = field(default_factory=ClipBackboneConfig)
    fusion_dim: int = 1024  # the fused per-frame feature fed to the LSTM head

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fusion_dim < 1:
            raise ValueError(f"fusion_dim must be >= 1, got {self.fusion_dim}")
