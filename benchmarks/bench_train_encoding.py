"""Training throughput (samples/s, a sample being one window) of the episode-batched encoding against the
per-window encoding of RoboVLMs' loader, in one run, at window 8 (not a test: it prints figures).

Both ways train on the same batches of whole synthetic episodes (17 steps each, 256x144 RGB frames, as
`mvla sim collect --size 256x144` writes them): `episode` encodes each frame once and unfolds the
features into the episode's 10 overlapping windows (`policies.batch.collate`); `per-window` copies
every window's 8 frames out and encodes each of them (`Batch.per_window()`), so a frame is encoded up
to 8 times. A step is forward, backward and an AdamW update; the two ways alternate step by step, so a
change in machine load hits both alike. Policies: the compact policy of configs/policy/compact.yaml,
and a tiny Kosmos-2 (random weights, `init: random`, 2+2 layers, 224 px input, LoRA). With
`--cached`, a third row: the tiny Kosmos-2 with a frozen backbone and frozen action token, its frame
features computed once and cached (`trainer.features`), so a step costs only the head.

    python benchmarks/bench_train_encoding.py [--steps 6] [--episodes 4] [--threads 2] [--cached]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from configs import config_path
from policies import registry
from policies.batch import EpisodeSteps, collate
from policies.kosmos2.config import Kosmos2BackboneConfig, Kosmos2Config, Kosmos2Sizes, LoraSettings

TINY = Kosmos2Sizes(
    vision_hidden=128,
    vision_layers=2,
    vision_heads=4,
    vision_intermediate=256,
    image_size=224,
    patch_size=32,
    text_dim=128,
    text_layers=2,
    text_heads=4,
    text_ffn=256,
    latent_queries=16,
)


def episodes(count: int, steps: int = 17, seed: int = 0) -> list[EpisodeSteps]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        frames = rng.integers(0, 256, (steps, 144, 256, 3), dtype=np.uint8)
        actions = rng.choice([-1.0, 0.0, 1.0], size=(steps, 3)).astype(np.float32)
        out.append(
            EpisodeSteps(
                frames,
                actions,
                "Navigate around the obstacle on the left side and reach the cup",
                True,
                f"e{i}",
            )
        )
    return out


def kosmos(mode: str = "lora", train_token: bool = True) -> tuple[str, Kosmos2Config]:
    import warnings

    warnings.filterwarnings("ignore", message="Kosmos-2 backbone built with RANDOM weights")
    backbone = Kosmos2BackboneConfig(
        init="random", architecture=TINY, mode=mode, lora=LoraSettings(r=8, alpha=16)
    )
    return "kosmos2", Kosmos2Config(
        window=8, fwd_pred_next_n=10, backbone=backbone, train_action_token=train_token
    )


def measure(name: str, config, eps: list[EpisodeSteps], steps: int, cached: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    policy = registry.build_policy(name, config).train()
    optimiser = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)
    batch = collate(eps, policy.preprocess, policy.window, policy.horizon)
    ways = {"episode": batch, "per-window": batch.per_window()}
    if cached:
        assert policy.frame_encoder_frozen()
        with torch.no_grad():
            features = policy.frame_features(batch)
        ways = {"cached features": replace(batch, pixels=None, features=features), **ways}
    times: dict[str, list[float]] = {k: [] for k in ways}
    for i in range(steps + 1):  # the first step of each way is warm-up
        for way, b in ways.items():
            start = time.perf_counter()
            out = policy(b)
            out.loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            if i:
                times[way].append(time.perf_counter() - start)
    return {way: batch.num_windows / float(np.median(t)) for way, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per batch (17 steps each)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cached", action="store_true", help="add the frozen, cached-features row")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    eps = episodes(args.episodes)
    windows = collate(eps, lambda f: torch.zeros(len(f), 1), 8, 10).num_windows
    print(
        f"{args.episodes} episodes x 17 steps per batch = {windows} windows of 8 steps; "
        f"{torch.get_num_threads()} torch threads; median of {args.steps} steps after one warm-up"
    )
    compact = registry.load_config(config_path("policy/compact.yaml"))
    rows = [
        ("compact (configs/policy/compact.yaml)", *compact, False),
        ("tiny Kosmos-2, LoRA", *kosmos(), False),
    ]
    if args.cached:
        rows.append(("tiny Kosmos-2, frozen backbone", *kosmos("frozen", train_token=False), True))
    for label, name, config, cached in rows:
        rates = measure(name, config, eps, args.steps, cached)
        shown = "  ".join(f"{way} {rate:7.1f} samples/s" for way, rate in rates.items())
        print(f"{label:<38} {shown}  -> episode-batched {rates['episode'] / rates['per-window']:.1f}x")
        if "cached features" in rates:
            print(
                f"{'':<38} cached features {rates['cached features'] / rates['episode']:.1f}x the episode-batched encoding"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
