"""The recorder's error types, defined with every other in `configs.errors`; re-exported here, where the
recorder's users import them."""

from configs.errors import EpisodeFileError, RecorderError

__all__ = ["EpisodeFileError", "RecorderError"]
