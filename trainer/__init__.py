"""Training: the episode index (every file checked in a child process, damaged ones skipped with a reason),
the seeded stratified split, windows and augmentation, the loader, the training loop on HF Accelerate
with exact resume, cached features for frozen backbones, and offline metrics. Never Textual.

Modules: `config` (`TrainConfig`, what `mvla train --config` reads), `index` (files -> `EpisodeRecord`s,
split), `augment` (colour jitter, crop, mirror, paraphrases), `data` (epoch schedule, dataset,
normalisation and discrete classes from the data), `features` (the frozen-encoder feature cache),
`loop` (`train`), `state` (resumable checkpoints), `offline` (per-step predictions as the runtime makes
them), `metrics` (MAE, RMSE, accuracies, R², Pearson, direction, confusion).
"""
