"""Scenario catalogue, episode schema, crash-safe HDF5 writer, reader of every legacy layout,
validation and dataset statistics. Needs numpy, h5py and OpenCV only; never Textual or torch.

Modules: `catalogue` (scenarios, patterns, distances, instructions, targets), `naming` (file names of
every generation), `episode` (in-memory episode), `writer` (`EpisodeWriter`), `journal` (the
append-only file frames go to while recording), `h5write` (journal -> durable V4 file), `reader`
(`read_episode`), `check` (`check` -> named problems), `recover` (leftovers of a crash), `stats`
(progress against the targets and the older collector's side files).
"""
