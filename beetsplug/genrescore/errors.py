"""The one exception tree of genrescore.

Third-party failures are translated into these at the boundary
(``raise AudioLoadError(path, reason) from exc``), so callers catch one family.
Per-track errors (:class:`TrackError`) are logged with their path and counted while the run
goes on; :class:`ConfigError` stops the command (the glue turns it into a ``UserError``).
"""

from __future__ import annotations

import os
import unicodedata


class GenreScoreError(Exception):
    """Base class of every error genrescore raises on purpose."""


class ConfigError(GenreScoreError):
    """A configuration value is wrong; the message says which and lists the valid ones."""


class DeviceUnavailable(ConfigError):
    """The device the configuration names explicitly (``cuda``) is not there.

    A configuration error, not a backend one: quietly running elsewhere would store
    weaker results than the user asked for. Only ``device: auto`` falls back.
    """


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


def display_path(path: str | bytes | os.PathLike[str]) -> str:
    """A path as one printable line: bytes that are not UTF-8 and control characters escaped.

    A file name may hold a newline or bytes of another encoding; printed raw, the first
    breaks the one-line message and the second the terminal. Ordinary names come back as
    they are.
    """
    text = os.fsdecode(path)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif 0xDC80 <= ord(char) <= 0xDCFF:  # a byte os.fsdecode could not decode
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            name = unicodedata.name(char, "")
            out.append(repr(char)[1:-1] if not name else f"\\N{{{name}}}")
    return "".join(out)


class TrackError(GenreScoreError):
    """One track could not be analysed; the run goes on without it."""

    #: How the run summary counts this error: ``"failed"`` or ``"skipped"``.
    outcome = "failed"

    def __init__(self, path: str | bytes | os.PathLike[str], reason: str, detail: str = "") -> None:
        self.path = os.fsdecode(path)
        self.reason = reason
        #: The traceback behind the reason, shown at ``-v`` (empty when the reason says all).
        self.detail = detail
        super().__init__(f"{display_path(self.path)}: {reason}")

    def __reduce__(self) -> tuple[type[TrackError], tuple[str, str, str]]:
        # Rebuilt from path, reason and detail when it crosses from a decoder process.
        return (type(self), (self.path, self.reason, self.detail))


class AudioLoadError(TrackError):
    """The file is missing, unreadable, corrupt, truncated or not the format its name says."""


class AnalysisError(TrackError):
    """An unexpected failure while analysing one track (a library raised something odd)."""


class UnusableAudio(TrackError):
    """The audio decoded but holds nothing to classify (silence, or too short)."""

    outcome = "skipped"


class ContainerDamaged(GenreScoreError):
    """A container's structure contradicts its file (a chunk runs past the end): the message
    says how. Raised by :mod:`.containers`; the writer turns it into a :class:`TagWriteError`.
    """


class TagWriteError(TrackError):
    """A file's tags were not written; its audio, and its values in the library, are kept.

    The reason starts with what happened (``not written: truncated container: ...``,
    ``cannot write tags: ...``).
    """


class ReadOnlyFile(TagWriteError):
    """The file or its folder cannot be written (permissions, a read-only mount, immutable)."""


class LibraryFull(GenreScoreError):
    """The disk under the library database is full (SQLite's ``SQLITE_FULL``): nothing more
    can be stored, so the command stops; what was stored before it is kept."""

    def __init__(self, database: str | bytes | os.PathLike[str], reason: str) -> None:
        self.database = os.fsdecode(database)
        self.reason = reason
        super().__init__(
            f"the library database {display_path(self.database)} cannot grow ({reason})"
        )
