"""The exceptions aimon raises: one small hierarchy, messages that say what to fix."""

from __future__ import annotations


class AimonError(Exception):
    """Base class of every error aimon raises on purpose."""


class ConfigError(AimonError, ValueError):
    """A setting is invalid; the message names the field and what is accepted."""


class MalformedEventError(AimonError, ValueError):
    """A prediction-log line or an observed event cannot be read.

    ``reason`` is a short machine-readable tag (``json``, ``ts``, ``latency``...) used
    as the label of the malformed-line counter.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CheckpointError(AimonError):
    """A checkpoint cannot be read or written; the message names the file and the cause."""


class ReferenceError(AimonError, ValueError):
    """A reference cannot be built or read; the message says which file, column or field."""
