"""Scenario catalogue, episode schema, crash-safe HDF5 writer, reader of every legacy layout,
validation and dataset statistics. Needs numpy, h5py and OpenCV only; never Textual or torch."""
