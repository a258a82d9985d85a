"""Loading the Kosmos-2 backbone (`transformers.Kosmos2Model`) with its tokenizer and pixel statistics,
and putting it in its training mode: frozen, LoRA through PEFT, or full fine-tuning.

A pretrained backbone comes from `from_pretrained` on a hub id or a local directory; anything that
keeps it from loading completely (no such directory, no network, another model type, missing
weights, a damaged weight file) is a one-line `PolicyLoadError`, never a silent random
initialisation. Weights are read safely in whatever format they come (`load_weights`): safetensors
when the source has them; otherwise the PyTorch files (`pytorch_model.bin`, or its shards), read with
`torch.load(weights_only=True)`, which refuses anything but tensors and plain containers, so a
malicious pickle is an error, never code that runs. Some hub repositories (openai/clip-vit-base-patch32
at older commits) carry only the PyTorch files on the pinned revision. Which format was read is part of
the identity: `load_weights` returns it beside the model (`LoadedWeights`). Random weights only come from an explicit `init: random` and are announced with a
`RandomInitWarning`.

`weights_identity` names the exact files loaded (`policies.fingerprint`: the hub's content hashes,
or a full hash of a local folder's weight, config, tokenizer and preprocessor files, cached by size
and mtime) so a checkpoint can refuse a backbone other than the one it was trained on.

The processor is not loaded as such: `Kosmos2Processor` needs Pillow for its image half, and the
policy does its own tensor preprocessing anyway. The tokenizer and `preprocessor_config.json` it
would read are loaded directly. This module must not know about the action head or the batch format.
Why one module of this size: every loader here (config, weights in either format, tokenizer, pixel
statistics) shares the same one-line refusals, and together they make the identity a checkpoint records.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import torch
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoTokenizer,
    Kosmos2Model,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers import Kosmos2Config as HFKosmos2Config
from transformers.image_processing_base import ImageProcessingMixin
from transformers.models.kosmos2.configuration_kosmos2 import Kosmos2TextConfig, Kosmos2VisionConfig
from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from configs import ConfigError
from policies import PolicyLoadError
from policies.fingerprint import backbone_identity
from policies.kosmos2.config import Kosmos2BackboneConfig, Kosmos2Sizes
from policies.kosmos2.timing_tokenizer import timing_tokenizer

M = TypeVar("M", bound=PreTrainedModel)
C = TypeVar("C", bound=PretrainedConfig)
Stats = tuple[float, float, float]  # one value per RGB channel


class RandomInitWarning(UserWarning):
    """A backbone was built with random weights (`init: random`): fit for timing, not for driving."""


@dataclass
class Backbone:
    model: Kosmos2Model  # LoRA layers injected in place in mode `lora`
    tokenizer: PreTrainedTokenizerBase  # carries the Kosmos-2 tags
    image_mean: Stats
    image_std: Stats
    where: str  # how error messages name this backbone
    identity: str  # `weights_identity`, or the seed of a random one

    @property
    def image_size(self) -> int:
        """The vision tower's square input, pixels."""
        size = _sub_config(self.model, "vision_config", Kosmos2VisionConfig).image_size
        if not isinstance(size, int):
            raise TypeError(f"Kosmos-2 config: vision_config.image_size {size!r} is not one square size")
        return size

    @property
    def text_dim(self) -> int:
        """Width of the language model's hidden states: the frame feature's size."""
        return _sub_config(self.model, "text_config", Kosmos2TextConfig).embed_dim


@dataclass(frozen=True)
class LoadedWeights(Generic[M]):
    """A model `load_weights` built, and which of the source's weight files it read."""

    model: M
    weights_format: str  # "safetensors", or the PyTorch files and how they were read


def _sub_config(model: Kosmos2Model, name: str, kind: type[C]) -> C:
    value = getattr(model.config, name)  # transformers types it loosely (a dict before __init__ ends)
    if not isinstance(value, kind):
        raise TypeError(f"Kosmos-2 config: {name} is a {type(value).__name__}, not a {kind.__name__}")
    return value


def load_backbone(cfg: Kosmos2BackboneConfig) -> Backbone:
    if cfg.init == "random":
        assert cfg.architecture is not None  # Kosmos2BackboneConfig refuses random init without sizes
        backbone = _random(cfg.architecture)
    else:
        backbone = load_pretrained_parts(cfg)
    apply_mode(backbone.model, cfg, backbone.where)
    return backbone


def describe(source: str, revision: str | None, key: str) -> str:
    return f"{key} {source!r}" + (f" (revision {revision})" if revision else "")


def load_pretrained_parts(cfg: Kosmos2BackboneConfig) -> Backbone:
    where = describe(cfg.source, cfg.revision, "backbone.source")
    hf_config = load_hf_config(cfg.source, cfg.revision, where, "kosmos-2")
    loaded = load_weights(Kosmos2Model, cfg.source, cfg.revision, hf_config, where)
    tokenizer = load_tokenizer(cfg.source, cfg.revision, where)
    mean, std = pixel_stats(cfg.source, cfg.revision, where)
    identity = weights_identity(cfg.source, cfg.revision, loaded.weights_format)
    return Backbone(loaded.model, tokenizer, mean, std, where, identity)


def weights_identity(source: str, revision: str | None, weights_format: str) -> str:
    """The files the backbone was loaded from (`policies.fingerprint.backbone_identity`), and the
    weight format read (`LoadedWeights.weights_format`)."""
    identity = backbone_identity(source, revision)
    return f"{identity} ({weights_format})" if weights_format else identity


def load_hf_config(source: str, revision: str | None, where: str, model_type: str) -> PretrainedConfig:
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


SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PYTORCH = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def weight_format(source: str, revision: str | None) -> str:
    """ "safetensors" when the source has safetensors weights, else "pytorch" when it has the PyTorch
    files, else "safetensors" (so that the error names the file that is missing)."""
    folder = Path(source)
    if folder.is_dir():
        if any(folder.glob("*.safetensors")) or (folder / SAFETENSORS[1]).is_file():
            return "safetensors"
        return "pytorch" if any((folder / n).is_file() for n in PYTORCH) else "safetensors"
    names = _hub_listing(source, revision)
    for fmt, files in (("safetensors", SAFETENSORS), ("pytorch", PYTORCH)):
        if names is not None and any(n in names for n in files):
            return fmt
        if names is None and any(_cached(source, n, revision) for n in files):
            return fmt
    return "safetensors"


def _hub_listing(source: str, revision: str | None) -> set[str] | None:
    """The files of a hub repository at `revision`; None offline (the cache is asked instead)."""
    from huggingface_hub import constants, list_repo_files

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        return set(list_repo_files(source, revision=revision))
    except (OSError, ValueError):  # HTTP errors are OSErrors: no network, or no such repo
        return None  # from_pretrained says which below


def _cached(source: str, name: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(source, name, revision=revision), str)


def load_weights(
    cls: type[M], source: str, revision: str | None, hf_config: PretrainedConfig, where: str
) -> LoadedWeights[M]:
    """`cls.from_pretrained` in fp32 that refuses missing or mis-shaped weights (which transformers would
    otherwise initialise at random with a log line) and damaged files; safetensors when the source has
    them, else the PyTorch files through `torch.load(weights_only=True)` (`load_pytorch_weights`)."""
    fmt = weight_format(source, revision)
    if fmt == "pytorch":
        model = load_pytorch_weights(cls, source, revision, hf_config, where)
        return LoadedWeights(model, "pytorch_model.bin, read with torch.load(weights_only=True)")
    try:
        model, info = _from_pretrained(
            cls, source, revision=revision, config=hf_config, dtype=torch.float32, use_safetensors=True
        )
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError) as exc:
        # SafetensorError: a truncated or garbled model.safetensors; KeyError/ValueError: a damaged
        # shard index; OSError: a missing file.
        files = sorted(str(f) for f in Path(source).glob("*.safetensors")) if Path(source).is_dir() else []
        raise PolicyLoadError(
            f"{where}: cannot load its weights {' '.join(files)} ({_first_line(exc)}); the weight files "
            "are damaged or missing: restore them from the source"
        ) from None
    if info.missing:
        raise PolicyLoadError(
            f"{where}: the weights lack {len(info.missing)} tensor(s), first {info.missing[0]!r}; the files "
            "are incomplete or of another architecture"
        )
    if info.mismatched:
        raise PolicyLoadError(f"{where}: weight {info.mismatched[0]!r} has the wrong shape for its config")
    return LoadedWeights(model, "safetensors")


@dataclass(frozen=True)
class LoadingInfo:
    """What `from_pretrained(output_loading_info=True)` reports, as weight names."""

    missing: list[str]  # sorted
    unexpected: list[str]
    mismatched: list[str]  # present with the wrong shape


def _from_pretrained(cls: type[M], source: str | None, **options: object) -> tuple[M, LoadingInfo]:
    """`cls.from_pretrained(source, output_loading_info=True, **options)`, which transformers types as
    returning the model alone: (model, its loading info)."""
    load: Callable[..., object] = cls.from_pretrained
    result = load(source, output_loading_info=True, **options)
    model, info = result if isinstance(result, tuple) and len(result) == 2 else (None, None)
    if not (isinstance(model, cls) and isinstance(info, dict)):
        raise TypeError(f"{cls.__name__}.from_pretrained(output_loading_info=True) gave no (model, info)")
    names = {k: [str(v) for v in info.get(k) or []] for k in ("missing_keys", "unexpected_keys")}
    mismatched = [str(m[0]) for m in info.get("mismatched_keys") or []]
    return model, LoadingInfo(sorted(names["missing_keys"]), names["unexpected_keys"], mismatched)


def _pytorch_files(source: str, revision: str | None, where: str) -> list[Path]:
    folder = Path(source)
    local = folder.is_dir()

    def get(name: str) -> Path:
        if local:
            return folder / name
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(source, name, revision=revision))

    single: Path | None = None
    index: Path | None = None
    if local:
        single, index = get(PYTORCH[0]), get(PYTORCH[1])
    else:
        try:
            single = get(PYTORCH[0])
        except OSError:  # not found (remote or in the offline cache): try the sharded layout
            try:
                index = get(PYTORCH[1])
            except OSError as exc:
                raise PolicyLoadError(
                    f"{where}: cannot fetch its PyTorch weights ({_first_line(exc)})"
                ) from None
    if single is not None and single.is_file():
        return [single]
    try:
        if index is None:
            raise OSError("no such file")
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return [get(name) for name in sorted(set(weight_map.values()))]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PolicyLoadError(f"{where}: cannot read {PYTORCH[1]} ({_first_line(exc)})") from None


def load_pytorch_weights(
    cls: type[M], source: str, revision: str | None, hf_config: PretrainedConfig, where: str
) -> M:
    """The model built from its config, then the PyTorch weight files loaded strictly with
    `torch.load(weights_only=True)`: a file holding anything but tensors is refused."""
    import pickle

    state: dict[str, torch.Tensor] = {}
    for path in _pytorch_files(source, revision, where):
        try:
            part = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
            raise PolicyLoadError(
                f"{where}: refused {path} ({_first_line(exc)}); only plain tensor weights are loaded "
                "from PyTorch files (torch.load weights_only=True), never other pickled objects"
            ) from None
        if not isinstance(part, dict) or not all(isinstance(v, torch.Tensor) for v in part.values()):
            raise PolicyLoadError(f"{where}: {path} is not a state dict of tensors")
        state.update(part)
    # from_pretrained on the state dict: the same construction, dtype and attention as the
    # safetensors path, and the same report of missing and mis-shaped weights.
    model, info = _from_pretrained(cls, None, config=hf_config, state_dict=state, dtype=torch.float32)
    # Older files keep buffers later versions compute (position_ids): those may be left over.
    unexpected = [k for k in info.unexpected if not k.endswith("position_ids")]
    missing, mismatched = info.missing, info.mismatched
    if missing or unexpected or mismatched:
        what = (
            f"lack {missing[0]!r}"
            if missing
            else f"have an unexpected {sorted(unexpected)[0]!r}"
            if unexpected
            else f"give {mismatched[0]!r} the wrong shape"
        )
        raise PolicyLoadError(
            f"{where}: the PyTorch weights {what} ({len(missing)} missing, {len(unexpected)} unexpected); "
            "they are incomplete or of another architecture"
        )
    return model


def load_tokenizer(source: str, revision: str | None, where: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"{where}: cannot load its tokenizer ({_first_line(exc)})") from None


def pixel_stats(source: str, revision: str | None, where: str) -> tuple[Stats, Stats]:
    """Normalisation mean and std from the backbone's `preprocessor_config.json`."""
    try:
        data, _ = ImageProcessingMixin.get_image_processor_dict(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f"{where}: cannot load preprocessor_config.json ({_first_line(exc)})") from None
    mean, std = data.get("image_mean"), data.get("image_std")
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == 3 == len(std)):
        raise PolicyLoadError(f"{where}: preprocessor_config.json lacks 3-value image_mean and image_std")
    return _stats(mean), _stats(std)


def _stats(values: list[float] | tuple[float, ...]) -> Stats:
    return float(values[0]), float(values[1]), float(values[2])


def apply_mode(model: PreTrainedModel, cfg: Kosmos2BackboneConfig, where: str) -> None:
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
    mean, std = _stats(OPENAI_CLIP_MEAN), _stats(OPENAI_CLIP_STD)
    return Backbone(model, tokenizer, mean, std, "backbone (init: random)", f"random, seed {sizes.seed}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
