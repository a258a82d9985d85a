"""`mvla eval --data DIR`: offline metrics of a policy on recorded episodes.

The episodes are checked and indexed as for training (`trainer.index`, every file read in a child
process), the policy predicts every step as the runtime would (`trainer.offline`), and the metrics
(`trainer.metrics`) are printed per scenario and per axis, with the intervention rate of the episodes
scored (takeovers per 100 steps of those a policy drove in part, `trainer.index.takeovers_per_100_steps`). `mvla_tui.commands.eval` owns the parser and
calls `run_offline`; torch and the models are imported inside it.
"""

from __future__ import annotations

import argparse
import json

from configs import ConfigError


def run_offline(args: argparse.Namespace) -> int:
    """`mvla eval --data DIR --policy CKPT`: offline metrics on recorded episodes."""
    if args.expert:
        raise ConfigError("--data scores a policy's predictions; --expert only runs in the sim (--sim)")
    if args.check_timeout <= 0:
        raise ConfigError(f"--check-timeout must be > 0, got {args.check_timeout}")
    if args.runtime != "torch":
        raise ConfigError(
            f"--runtime {args.runtime}: for --sim; offline metrics (--data) run the torch policy"
        )
    from policies.default_policy import resolve

    checkpoint = resolve(args.policy)
    for folder in args.data:
        if not folder.is_dir():
            raise ConfigError(f"--data {folder}: no such folder")

    import numpy as np
    import torch

    from mvla_tui.commands._progress import quiet_transformers
    from policies.checkpoint import load_checkpoint
    from policies.runtime import resolve_device
    from recorder.catalogue import load_catalogue
    from trainer.data import episode_steps
    from trainer.index import build_index, takeovers_per_100_steps
    from trainer.metrics import key_name, per_group
    from trainer.offline import predict

    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_transformers()
    device = resolve_device(args.device or "auto")
    policy, norm, info = load_checkpoint(checkpoint, device=device)
    index = build_index(args.data, load_catalogue(), include_failed=True, timeout_s=args.check_timeout)
    episodes = index.episodes
    held = set(info.provenance.held_out)
    split = args.split or ("held-out" if held else "all")
    if split == "held-out":
        if not held:
            raise ConfigError(f"{checkpoint}: the checkpoint lists no held-out episodes; use --split all")
        episodes = [e for e in episodes if e.name in held]
        if not episodes:
            raise ConfigError(
                f"none of the checkpoint's {len(held)} held-out episodes is in {', '.join(map(str, args.data))}; "
                "use --split all to score every episode there"
            )
    if not episodes:
        raise ConfigError(
            f"no usable episode in {', '.join(map(str, args.data))}: " + "; ".join(index.describe_skipped(3))
        )
    by_name = {e.name: e for e in episodes}
    preds, losses = predict(policy, (episode_steps(e, norm) for e in episodes), norm, device)
    predicted = np.concatenate([p.predicted for p in preds])
    recorded = np.concatenate([p.recorded for p in preds])
    groups = [by_name[p.key].scenario or "(no scenario)" for p in preds for _ in range(len(p.predicted))]
    key_of = key_name if policy.head_kind == "discrete" else None
    results = per_group(predicted, recorded, groups, key_of)
    label = f"{info.name} ({checkpoint.name}, {info.provenance.steps} steps), {policy.head_kind} head"
    episodes_per = {
        g: sum(1 for p in preds if (by_name[p.key].scenario or "(no scenario)") == g) for g in results
    }
    episodes_per["all"] = len(preds)
    rate = takeovers_per_100_steps(episodes)
    if args.json:
        print(
            json.dumps(
                {
                    "policy": label,
                    "split": split,
                    "episodes": len(preds),
                    "skipped": [{"file": s.path, "kind": s.kind, "reason": s.reason} for s in index.skipped],
                    "loss": losses.as_dict(),
                    "intervention_episodes": sum(e.intervention for e in episodes),
                    "takeovers_per_100_steps": rate,
                    "groups": {g: {"episodes": episodes_per[g], **m.to_dict()} for g, m in results.items()},
                },
                indent=2,
            )
        )
        return 0
    _print_offline(results, episodes_per, label, split, losses.as_dict(), index)
    if rate is not None:
        print(
            f"intervention data: {sum(e.intervention for e in episodes)} of {len(episodes)} episodes, "
            f"{rate:.1f} takeovers per 100 steps"
        )
    return 0


def _print_offline(results, episodes_per, label: str, split: str, losses: dict, index) -> None:
    from rich.console import Console
    from rich.table import Table

    from trainer.metrics import THRESHOLDS

    probe = Console()
    console = Console(width=max(150, probe.width) if not probe.is_terminal else probe.width)
    table = Table(title=f"offline on {split} episodes: {label}", title_justify="left")
    heads = [
        "scenario",
        "episodes",
        "steps",
        "all@0.3",
        "all@0.2",
        "all@0.15",
        "all@0.1",
        "MAE x",
        "MAE y",
        "MAE z",
        "dir x",
        "dir y",
        "dir z",
    ]
    for name in heads:
        table.add_column(name, justify="left" if name == "scenario" else "right", no_wrap=True)
    for group, m in results.items():
        axes = list(m.axes.values())
        row = [group, str(episodes_per[group]), str(m.steps)]
        row += [f"{100 * m.accuracy_all[t]:.1f}%" for t in THRESHOLDS]
        row += [f"{a.mae:.3f}" for a in axes] + ["-"] * (3 - len(axes))
        row += [f"{100 * a.sign_accuracy:.1f}%" for a in axes] + ["-"] * (3 - len(axes))
        table.add_row(*row, style="bold" if group == "all" else None)
    console.print(table)
    overall = results["all"]
    axes = Table(title="per axis, all episodes (key units: a press is 1.15)", title_justify="left")
    for name in (
        "axis",
        "MAE",
        "RMSE",
        "acc@0.3",
        "acc@0.2",
        "acc@0.15",
        "acc@0.1",
        "R²",
        "Pearson",
        "direction",
    ):
        axes.add_column(name, justify="left" if name == "axis" else "right", no_wrap=True)

    def opt(v) -> str:
        return "-" if v is None else f"{v:.3f}"

    for name, a in overall.axes.items():
        axes.add_row(
            name,
            f"{a.mae:.3f}",
            f"{a.rmse:.3f}",
            *(f"{100 * a.accuracy[t]:.1f}%" for t in THRESHOLDS),
            opt(a.r2),
            opt(a.pearson),
            f"{100 * a.sign_accuracy:.1f}%",
        )
    console.print(axes)
    if overall.confusion:
        keys = sorted({k for row in overall.confusion.values() for k in row} | set(overall.confusion))
        confusion = Table(
            title="per-key confusion (rows: recorded key, columns: predicted)", title_justify="left"
        )
        confusion.add_column("key")
        for k in keys:
            confusion.add_column(k, justify="right")
        for true in keys:
            row = overall.confusion.get(true, {})
            confusion.add_row(true, *(str(row.get(k, 0)) or "0" for k in keys))
        console.print(confusion)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
    print(
        f"loss over the windows: {shown}; accuracy within t: |predicted - recorded| <= t (all@t: every axis)"
    )
    print("direction: -1/0/+1 with |a| < 0.1 as 0; steps: chunk[0] at every step, as the runtime commands it")
    if index.skipped:
        print(f"skipped {len(index.skipped)} file(s): " + "; ".join(index.describe_skipped(0)))
