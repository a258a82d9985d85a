"""Policies: the interface, models, checkpoints, per-step runtime and benchmark. No Textual, no h5py."""
