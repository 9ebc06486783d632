"""One exception family per kind of bad input, so callers can report it without a traceback.

Every message names the field, the value received and what would be accepted.
"""


class SoraError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SoraError, ValueError):
    """A config dict or config file has an unknown key or a value out of range."""


class CheckpointError(SoraError):
    """A weights file is missing, damaged, unsafe to load, or belongs to another model."""


class VideoShapeError(SoraError, ValueError):
    """A frame count, resolution or channel count that a model cannot take."""


class MaskStrategyError(SoraError, ValueError):
    """A malformed or conflicting mask strategy (conditioning frames)."""


class ReferenceMediaError(SoraError):
    """A reference image or video that is missing, unreadable or too short."""


class DatasetError(SoraError, ValueError):
    """A training data file, column or bucket setup that yields no usable samples."""


class PromptError(SoraError, ValueError):
    """A prompt, or its embedded JSON / per-loop syntax, that cannot be parsed."""


class RemoteError(SoraError):
    """A ComfyUI server refused a queued workflow, failed running it, or cannot be reached."""
