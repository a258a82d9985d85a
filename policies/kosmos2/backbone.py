"""Loading the Kosmos-2 backbone (`transformers.Kosmos2Model`) with its tokenizer and pixel statistics,
and putting it in its training mode: frozen, LoRA through PEFT, or full fine-tuning.

A pretrained backbone comes from `from_pretrained` on a hub id or a local directory; anything that
keeps it from loading completely (no such directory, no network, another model type, missing
weights, a damaged weight file) is a one-line `PolicyLoadError`, never a silent random
initialisation. Only safetensors weights are read, never pickles. Random weights only come from an
explicit `init: random` and are announced with a `RandomInitWarning`.

`weights_identity` names the exact weights loaded (the hub commit, or a fingerprint of a local
folder's weight files) so a checkpoint can refuse a backbone other than the one it was trained on.

The processor is not loaded as such: `Kosmos2Processor` needs Pillow for its image half, and the
policy does its own tensor preprocessing anyway. The tokenizer and `preprocessor_config.json` it
would read are loaded directly. This module must not know about the action head or the batch format.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoTokenizer, Kosmos2Model
from transformers import Kosmos2Config as HFKosmos2Config
from transformers.image_processing_base import ImageProcessingMixin
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from configs import ConfigError
from policies import PolicyLoadError
from policies.kosmos2.config import Kosmos2BackboneConfig, Kosmos2Sizes
from policies.kosmos2.timing_tokenizer import timing_tokenizer


class RandomInitWarning(UserWarning):
    """A backbone was built with random weights (`init: random`): fit for timing, not for driving."""


@dataclass
class Backbone:
    model: Kosmos2Model  # LoRA layers injected in place in mode `lora`
    tokenizer: object  # a transformers tokenizer carrying the Kosmos-2 tags
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    where: str  # how error messages name this backbone
    identity: str  # `weights_identity`, or the seed of a random one


def load_backbone(cfg: Kosmos2BackboneConfig) -> Backbone:
    backbone = _random(cfg.architecture) if cfg.init == "random" else load_pretrained_parts(cfg)
    apply_mode(backbone.model, cfg, backbone.where)
    return backbone


def describe(source: str, revision: str | None, key: str) -> str:
    return f"{key} {source!r}" + (f" (revision {revision})" if revision else "")


def load_pretrained_parts(cfg: Kosmos2BackboneConfig) -> Backbone:
    where = describe(cfg.source, cfg.revision, "backbone.source")
    hf_config = load_hf_config(cfg.source, cfg.revision, where, "kosmos-2")
    model = load_weights(Kosmos2Model, cfg.source, cfg.revision, hf_config, where)
    tokenizer = load_tokenizer(cfg.source, cfg.revision, where)
    mean, std = pixel_stats(cfg.source, cfg.revision, where)
    return Backbone(model, tokenizer, mean, std, where, weights_identity(cfg.source, hf_config))


def weights_identity(source: str, hf_config) -> str:
    """The loaded weights, cheaply: for a local folder a fingerprint of its `*.safetensors` files
    (name, size, header, and 16 evenly spaced 64 KiB samples of the data: different trained values
    of one architecture share a header), for a hub id the commit transformers resolved."""
    folder = Path(source)
    if folder.is_dir():
        digest = hashlib.sha256()
        for path in sorted(folder.glob("*.safetensors")):
            digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
            digest.update(_weight_samples(path))
        return f"local folder, weights sha256 {digest.hexdigest()[:16]}"
    commit = getattr(hf_config, "_commit_hash", None)
    return f"hub {source} commit {commit}" if commit else f"hub {source} (commit not resolved)"


def _weight_samples(path: Path, samples: int = 16, block: int = 1 << 16) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        parts = [f.read(min(header_len, size))]
        for i in range(samples):
            f.seek(size * i // samples)
            parts.append(f.read(block))
    return b"".join(parts)


def load_hf_config(source: str, revision: str | None, where: str, model_type: str):
    try:
        hf_config = AutoConfig.from_pretrained(source, revision=revision)
    except (OSError, ValueError, KeyError) as exc:
        raise PolicyLoadError(
            f"{where}: cannot load its config ({_first_line(exc)}); point it at a directory written by "
            "save_pretrained, or at a hub id with network access or in the local hub cache"
        ) from None
    if hf_config.model_type != model_type:
        raise PolicyLoadError(
            f"{where}: holds a {hf_config.model_type!r} model, not {model_type!r}; point it at a {model_type} model"
        )
    return hf_config


def load_weights(cls, source: str, revision: str | None, hf_config, where: str):
    """`cls.from_pretrained` in fp32, safetensors only, that refuses missing or mis-shaped weights
    (which transformers would otherwise initialise at random with a log line) and damaged files."""
    try:
        model, info = cls.from_pretrained(
            source,
            revision=revision,
            config=hf_config,
            dtype=torch.float32,
            output_loading_info=True,
            use_safetensors=True,
        )
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError) as exc:
        # SafetensorError: a truncated or garbled model.safetensors; KeyError/ValueError: a damaged
        # shard index; OSError: a missing file (including pickle-only weights, refused here).
        files = sorted(str(f) for f in Path(source).glob("*.safetensors")) if Path(source).is_dir() else []
        raise PolicyLoadError(
            f"{where}: cannot load its weights {' '.join(files)} ({_first_line(exc)}); the weight files "
            "are damaged or missing: restore them from the source"
        ) from None
    missing = sorted(info.get("missing_keys") or [])
    mismatched = info.get("mismatched_keys") or []
    if missing:
        raise PolicyLoadError(
            f"{where}: the weights lack {len(missing)} tensor(s), first {missing[0]!r}; the files are "
            "incomplete or of another architecture"
        )
    if mismatched:
        raise PolicyLoadError(f"{where}: weight {mismatched[0][0]!r} has the wrong shape for its config")
    return model


def load_tokenizer(source: str, revision: str | None, where: str):
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"{where}: cannot load its tokenizer ({_first_line(exc)})") from None


def pixel_stats(source: str, revision: str | None, where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation mean and std from the backbone's `preprocessor_config.json`."""
    try:
        data, _ = ImageProcessingMixin.get_image_processor_dict(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"{where}: cannot load preprocessor_config.json ({_first_line(exc)})") from None
    mean, std = data.get("image_mean"), data.get("image_std")
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == 3 == len(std)):
        raise PolicyLoadError(f"{where}: preprocessor_config.json lacks 3-value image_mean and image_std")
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def apply_mode(model: torch.nn.Module, cfg: Kosmos2BackboneConfig, where: str) -> None:
    """Freeze, adapt (LoRA) or unfreeze the backbone in place, and set gradient checkpointing."""
    if cfg.gradient_checkpointing:
        # Non-reentrant checkpointing also works when no input of a block requires grad (frozen mode).
        # transformers renamed the method in 5.x and warns on the old name; older 5.x only has that one.
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.requires_grad_(cfg.mode == "full")
    if cfg.mode != "lora":
        return
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        bias="none",
    )
    try:
        inject_adapter_in_model(lora, model)  # freezes everything but the adapters
    except ValueError as exc:
        raise ConfigError(
            f"backbone.lora.target_modules {list(cfg.lora.target_modules)}: {_first_line(exc)}; "
            f"name Linear modules of {where}"
        ) from None


def _random(sizes: Kosmos2Sizes) -> Backbone:
    tokenizer = timing_tokenizer()
    if len(tokenizer) > sizes.vocab_size:
        raise ConfigError(f"backbone.architecture.vocab_size must be at least {len(tokenizer)}")
    hf_config = HFKosmos2Config(
        text_config={
            "vocab_size": sizes.vocab_size,
            "embed_dim": sizes.text_dim,
            "layers": sizes.text_layers,
            "attention_heads": sizes.text_heads,
            "ffn_dim": sizes.text_ffn,
        },
        vision_config={
            "hidden_size": sizes.vision_hidden,
            "num_hidden_layers": sizes.vision_layers,
            "num_attention_heads": sizes.vision_heads,
            "intermediate_size": sizes.vision_intermediate,
            "image_size": sizes.image_size,
            "patch_size": sizes.patch_size,
        },
        latent_query_num=sizes.latent_queries,
    )
    # A private RNG stream: the same sizes and seed give the same weights, and the caller's global
    # RNG state is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(sizes.seed)
        model = Kosmos2Model(hf_config)
    warnings.warn(
        f"Kosmos-2 backbone built with RANDOM weights (backbone.init: random, seed {sizes.seed}): "
        "for latency measurements only, its actions mean nothing",
        RandomInitWarning,
        stacklevel=3,
    )
    mean, std = tuple(OPENAI_CLIP_MEAN), tuple(OPENAI_CLIP_STD)
    return Backbone(model, tokenizer, mean, std, "backbone (init: random)", f"random, seed {sizes.seed}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
