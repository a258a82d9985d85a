"""Tiny Kosmos-2 and CLIP backbones with random weights, written to a directory the way the hub holds
them (`save_pretrained` of the model, its tokenizer and `preprocessor_config.json`), so tests load them
through the real `from_pretrained` path and nothing is downloaded.

`tiny_kosmos2_config(path)` and `tiny_kosmos2_clip_config(path)` return policy configs pointing there;
building and running a forward takes well under a second on a CPU.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, Kosmos2ForConditionalGeneration
from transformers import Kosmos2Config as HFKosmos2Config
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from policies.config import HeadConfig
from policies.kosmos2.config import Kosmos2BackboneConfig, Kosmos2Config, LoraSettings
from policies.kosmos2.timing_tokenizer import timing_tokenizer
from policies.kosmos2_clip.config import ClipBackboneConfig, Kosmos2ClipConfig

IMAGE_SIZE = 32
LATENT_QUERIES = 4


def write_preprocessor_config(path: Path) -> None:
    """What `CLIPImageProcessor.save_pretrained` writes for a square model input (CLIP statistics).
    Written by hand: the image processor class itself needs Pillow, which the policy does not."""
    data = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": IMAGE_SIZE},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(OPENAI_CLIP_MEAN),
        "image_std": list(OPENAI_CLIP_STD),
        "do_convert_rgb": True,
    }
    (path / "preprocessor_config.json").write_text(json.dumps(data, indent=2), encoding="utf-8")


def write_tiny_kosmos2(path: Path, seed: int = 0) -> Path:
    """A 2-layer Kosmos-2 (vision and text) saved as the hub saves microsoft/kosmos-2-patch14-224."""
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = timing_tokenizer()
    config = HFKosmos2Config(
        text_config={
            "vocab_size": len(tokenizer),
            "embed_dim": 32,
            "layers": 2,
            "attention_heads": 4,
            "ffn_dim": 64,
            "max_position_embeddings": 256,
        },
        vision_config={
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "image_size": IMAGE_SIZE,
            "patch_size": 8,
        },
        latent_query_num=LATENT_QUERIES,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Kosmos2ForConditionalGeneration(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    write_preprocessor_config(path)
    return path


def write_tiny_clip(path: Path, seed: int = 0) -> Path:
    """A 1-layer CLIP with a letter-level BPE tokenizer, saved as the hub saves openai/clip-vit-base-patch32."""
    path.mkdir(parents=True, exist_ok=True)
    specials = ["<|startoftext|>", "<|endoftext|>"]
    letters = string.ascii_lowercase + string.digits + string.punctuation
    vocab = {tok: i for i, tok in enumerate(specials + list(letters) + [c + "</w>" for c in letters])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "image_size": IMAGE_SIZE,
            "patch_size": 16,
        },
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    write_preprocessor_config(path)
    return path


def _tiny_backbone(path: Path, mode: str) -> Kosmos2BackboneConfig:
    if not (path / "config.json").is_file():
        write_tiny_kosmos2(path)
    return Kosmos2BackboneConfig(source=str(path), mode=mode, lora=LoraSettings(r=4, alpha=8))


def tiny_kosmos2_config(tmp_path: Path, mode: str = "lora") -> Kosmos2Config:
    return Kosmos2Config(
        window=4,
        fwd_pred_next_n=5,
        backbone=_tiny_backbone(tmp_path / "kosmos2", mode),
        head=HeadConfig(hidden=16),
    )


def tiny_kosmos2_clip_config(tmp_path: Path, mode: str = "lora") -> Kosmos2ClipConfig:
    clip = tmp_path / "clip"
    if not (clip / "config.json").is_file():
        write_tiny_clip(clip)
    return Kosmos2ClipConfig(
        window=4,
        fwd_pred_next_n=5,
        backbone=_tiny_backbone(tmp_path / "kosmos2", mode),
        clip=ClipBackboneConfig(source=str(clip)),
        fusion_dim=24,
        head=HeadConfig(hidden=16),
    )
