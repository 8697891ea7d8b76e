"""The one exception tree of genrescore.

Third-party failures are translated into these at the boundary
(``raise AudioLoadError(path, reason) from exc``), so callers catch one family.
Per-track errors (:class:`TrackError`) are logged with their path and counted while the run
goes on; :class:`ConfigError` stops the command (the glue turns it into a ``UserError``).
"""

from __future__ import annotations

import os


class GenreScoreError(Exception):
    """Base class of every error genrescore raises on purpose."""


class ConfigError(GenreScoreError):
    """A configuration value is wrong; the message says which and lists the valid ones."""


class BackendUnavailable(GenreScoreError):
    """A model backend cannot run here (not downloaded, missing dependency, bad directory)."""

    def __init__(self, backend: str, reason: str, hint: str = "") -> None:
        self.backend = backend
        self.reason = reason
        self.hint = hint
        message = f"{backend}: {reason}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[BackendUnavailable], tuple[str, str, str]]:
        return (type(self), (self.backend, self.reason, self.hint))


class ModelLoadError(BackendUnavailable):
    """A model directory exists but is corrupt, unsafe or has the wrong head."""


class TrackError(GenreScoreError):
    """One track could not be analysed; the run goes on without it."""

    #: How the run summary counts this error: ``"failed"`` or ``"skipped"``.
    outcome = "failed"

    def __init__(self, path: str | bytes | os.PathLike[str], reason: str) -> None:
        self.path = os.fsdecode(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[TrackError], tuple[str, str]]:
        # Rebuilt from path and reason when it crosses from a decoder process.
        return (type(self), (self.path, self.reason))


class AudioLoadError(TrackError):
    """The file is missing, unreadable, corrupt, truncated or not the format its name says."""


class UnusableAudio(TrackError):
    """The audio decoded but holds nothing to classify (silence, or too short)."""

    outcome = "skipped"
