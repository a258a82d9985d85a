"""`Kosmos2Config`: the Kosmos-2 policy's backbone source, training mode and LoRA settings.

No torch here, so a config loads (and is validated) before any model is built. The backbone is
`from_pretrained` from a hub id or a local directory (with a revision) by default. `init: random`
builds the same architecture with random weights from explicit `architecture` sizes and a tokenizer
made on the spot: for latency measurements only, never for driving, and the model says so with a
`RandomInitWarning` when it is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Literal, TypeVar

from policies.config import PolicyConfig

C = TypeVar("C", bound="Kosmos2Config")

DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


@dataclass
class LoraSettings:
    """PEFT LoRA on the backbone (mode `lora`). `target_modules` are module names or name suffixes,
    as PEFT matches them: the defaults adapt every attention and MLP projection of the vision
    tower, the image-to-text resampler and the language model."""

    r: int = 32
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = DEFAULT_LORA_TARGETS

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ValueError(f"lora.r and lora.alpha must be >= 1, got {self.r}, {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("lora.target_modules must name at least one module")


@dataclass
class Kosmos2Sizes:
    """Architecture of a randomly initialised Kosmos-2 (`init: random`). Defaults: the full-size
    model (microsoft/kosmos-2-patch14-224, 1.66 B parameters)."""

    vision_hidden: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    vision_intermediate: int = 4096
    image_size: int = 224
    patch_size: int = 14
    text_dim: int = 2048
    text_layers: int = 24
    text_heads: int = 32
    text_ffn: int = 8192
    vocab_size: int = 65037
    latent_queries: int = 64  # image tokens the resampler hands to the language model
    seed: int = 0  # the same sizes and seed give the same weights, so checkpoints stay comparable

    def __post_init__(self) -> None:
        small = [f.name for f in fields(self) if f.name != "seed" and getattr(self, f.name) < 1]
        if small:
            raise ValueError(f"backbone.architecture.{small[0]} must be >= 1, got {getattr(self, small[0])}")
        if self.seed < 0:
            raise ValueError(f"backbone.architecture.seed must be >= 0, got {self.seed}")
        for width, heads in (("vision_hidden", "vision_heads"), ("text_dim", "text_heads")):
            if getattr(self, width) % getattr(self, heads):
                raise ValueError(
                    f"backbone.architecture.{heads} ({getattr(self, heads)}) must divide {width} "
                    f"({getattr(self, width)})"
                )
        if self.patch_size > self.image_size:
            raise ValueError(
                f"backbone.architecture.patch_size ({self.patch_size}) must be at most image_size ({self.image_size})"
            )


@dataclass
class Kosmos2BackboneConfig:
    # Hub id or local directory, and hub branch, tag or commit (None: the default branch). Both are
    # unused with init: random.
    source: str = "microsoft/kosmos-2-patch14-224"
    revision: str | None = None
    init: Literal["pretrained", "random"] = "pretrained"
    architecture: Kosmos2Sizes | None = None  # required with init: random, refused otherwise
    mode: Literal["frozen", "lora", "full"] = "lora"
    lora: LoraSettings = field(default_factory=LoraSettings)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, slower

    def __post_init__(self) -> None:
        if self.init == "random" and self.architecture is None:
            raise ValueError("backbone.init is 'random' but backbone.architecture is missing; give its sizes")
        if self.init == "pretrained" and self.architecture is not None:
            raise ValueError("backbone.architecture is only used with backbone.init: random; remove it")


@dataclass
class Kosmos2Config(PolicyConfig):
    backbone: Kosmos2BackboneConfig = field(default_factory=Kosmos2BackboneConfig)
    # False keeps the action token at zeros: with `backbone.mode: frozen` the frame encoder then has
    # no trainable weight, and the trainer may cache frame features (an epoch costs only the head)
    train_action_token: bool = True

    def with_gradient_checkpointing(self: C, enabled: bool) -> C:
        backbone = dataclasses.replace(self.backbone, gradient_checkpointing=enabled)
        return dataclasses.replace(self, backbone=backbone)
