"""Run inside the LeRobot venv (tests/interop/make_lerobot_venv.py), never in the project's: load a dataset
with LeRobot's own `LeRobotDataset`, offline, and print as JSON what LeRobot read. Every frame is fetched
as a training loop fetches it (`dataset[i]`, so video frames are decoded by LeRobot through its torchcodec
backend at the timestamps its metadata gives), and the decoded images are saved as one uint8 array.

    python lerobot_checker.py ROOT REPO_ID IMAGES.npy
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402

IMAGE_KEY = "observation.images.front"


def main(root: str, repo_id: str, images_path: str) -> None:
    dataset = LeRobotDataset(repo_id, root=root, video_backend="torchcodec")
    meta = dataset.meta
    episodes = meta.episodes
    frames: dict[str, list] = {
        "episode_index": [],
        "frame_index": [],
        "index": [],
        "timestamp": [],
        "task": [],
    }
    actions, images = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        for key in ("episode_index", "frame_index", "index"):
            frames[key].append(int(item[key]))
        frames["timestamp"].append(float(item["timestamp"]))
        frames["task"].append(item["task"])
        actions.append([float(x) for x in item["action"].to(torch.float32).numpy()])  # float32 -> exact
        image = item[IMAGE_KEY]  # (C, H, W) float in [0, 1]
        images.append((image * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    np.save(images_path, np.stack(images))
    report = {
        "versions": {name: version(name) for name in ("lerobot", "torch", "torchvision", "torchcodec")},
        "video_backend": dataset.video_backend,
        "fps": dataset.fps,
        "num_frames": dataset.num_frames,
        "num_episodes": dataset.num_episodes,
        "len": len(dataset),
        "video_keys": list(meta.video_keys),
        "tasks": list(meta.tasks.index),
        "episodes": [
            {
                "episode_index": int(episodes["episode_index"][e]),
                "from": int(episodes["dataset_from_index"][e]),
                "to": int(episodes["dataset_to_index"][e]),
                "tasks": list(episodes["tasks"][e]),
                "from_timestamp": float(episodes[f"videos/{IMAGE_KEY}/from_timestamp"][e]),
                "to_timestamp": float(episodes[f"videos/{IMAGE_KEY}/to_timestamp"][e]),
                "source_episode": episodes["source_episode"][e]
                if "source_episode" in episodes.column_names
                else None,
            }
            for e in range(len(episodes))
        ],
        "frames": frames,
        "actions": actions,
        "image_shape": list(images[0].shape) if images else None,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])
