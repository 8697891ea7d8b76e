"""Writing tags into a user's files without ever harming them (issue 20).

:func:`write_item` writes an item's tags into a copy next to the file and renames the copy
over it, after three checks:

1. before: the container is consistent (:mod:`.containers`: no chunk, atom or page runs
   past the end of the file; a FLAC decodes to its end). A truncated WAV made the writer put
   its tag block inside the audio on every run.
2. after, in the copy: the tags read back, and the bytes that hold the audio are the ones
   the original holds (decoded samples for a container :mod:`.containers` does not know).
3. the copy gets the original's owner, group and mode (the rename gives the file a new
   inode; ``shutil.copy2`` brings the mode, times and extended attributes, ACLs included).

A copy that fails a check is removed and the file is reported as not written. Copies carry
the marker ``.NAME.genrescore-tmp-XXXXXXXX.ext`` and an exclusive ``flock`` while they are
written: one left by a killed run has lost its lock, and :func:`sweep` removes it the next
time a run touches its folder, while a live one (another run's) keeps it and is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import Any

from beets.library import FileOperationError
from mediafile import MediaFile

from .containers import Audio, read_audio
from .errors import ContainerDamaged, ReadOnlyFile, TagWriteError
from .library import GENRE, METHOD, TOP

#: The marker in a temporary copy's name; :func:`sweep` removes only names that carry it.
TEMPORARY_MARK = b".genrescore-tmp-"
#: ``.NAME.genrescore-tmp-XXXXXXXX.ext`` as ``tempfile.mkstemp`` names it (8 characters of
#: ``[a-z0-9_]``).
_TEMPORARY_NAME = re.compile(rb"\..*\.genrescore-tmp-[a-z0-9_]{8}(\.[^./]*)?", re.DOTALL)
#: Bytes of the name kept in a temporary file's name: with the rest it stays under the
#: 255-byte limit of common file systems whatever the original name's length.
_STEM_BYTES = 200
#: OS errors that mean "not allowed to write here" rather than a failure.
_READ_ONLY_ERRORS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
#: Fields read back from the copy: a writer that lost them lost the tag block.
_READ_BACK = (GENRE, METHOD, TOP)
#: Samples read at the end of a FLAC to see that it decodes to its end.
_TAIL_FRAMES = 4096


def _read_only(path: bytes, exc: OSError, what: str) -> TagWriteError:
    if exc.errno in _READ_ONLY_ERRORS:
        return ReadOnlyFile(path, f"cannot write tags: the {what} is read-only")
    return TagWriteError(path, f"cannot write tags: {exc.strerror or exc}")


@contextlib.contextmanager
def _temporary_sibling(path: bytes) -> Iterator[tuple[bytes, list[bool]]]:
    """A new, empty file of a name no other process holds, next to ``path``, locked while
    the block runs (the lock tells :func:`sweep` it is in use) and removed unless the block
    renamed it (and said so in the list it is given).

    Same folder (so the rename is atomic), same extension (so the tagger knows the format),
    and a random part (``mkstemp``), so two runs writing the same file never share a name.
    """
    folder, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    try:
        handle, temporary = tempfile.mkstemp(
            suffix=extension, prefix=b"." + stem[:_STEM_BYTES] + TEMPORARY_MARK, dir=folder or b"."
        )
    except OSError as exc:
        raise _read_only(path, exc, "folder") from exc
    renamed: list[bool] = []
    try:
        with contextlib.suppress(OSError):  # a file system without locks: no sweep then
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            # Another run's sweep could have taken it between mkstemp and flock.
            intact = _same_file(handle, temporary)
        except OSError:
            intact = False
        if not intact:
            raise TagWriteError(path, "cannot write tags: another run removed its copy; try again")
        yield temporary, renamed
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        os.close(handle)  # releases the lock


def sweep(folder: bytes) -> list[bytes]:
    """Remove the temporary copies a killed run left in ``folder``; return their paths.

    A copy still locked belongs to a run writing it now and stays.
    """
    removed: list[bytes] = []
    try:
        entries = list(os.scandir(folder or b"."))
    except OSError:
        return removed
    for entry in entries:
        if TEMPORARY_MARK not in entry.name or not _TEMPORARY_NAME.fullmatch(entry.name):
            continue
        try:
            handle = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Unlinked while held, so no writer can take it between the test and this.
            if _same_file(handle, entry.path):
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:  # BlockingIOError: a run is writing it now
            pass
        finally:
            os.close(handle)
    return removed


def _same_file(handle: int, path: bytes) -> bool:
    """Whether ``handle`` is still the file named ``path`` and a regular file."""
    held, now = os.fstat(handle), os.lstat(path)
    return stat.S_ISREG(now.st_mode) and (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _copy_owner(info: os.stat_result, temporary: bytes) -> None:
    """Give the copy the original's owner, group and mode, as far as this user may."""
    owner = (info.st_uid, info.st_gid)
    copied = os.stat(temporary)
    if (copied.st_uid, copied.st_gid) != owner:
        try:
            os.chown(temporary, *owner)
        except OSError:
            # Not root: the group still can be kept when the user belongs to it.
            with contextlib.suppress(OSError):
                os.chown(temporary, -1, info.st_gid)
    # chown clears the set-user/group-ID bits; copy2 set the mode before it.
    with contextlib.suppress(OSError):
        os.chmod(temporary, stat.S_IMODE(info.st_mode))


def _audio(path: bytes, original: bytes) -> Audio:
    """The audio the file holds; raises :class:`TagWriteError` naming ``original``."""
    try:
        found = read_audio(path)
        if found is None:
            found = _decoded(path)
        elif found.kind == "FLAC":
            _decodes_to_the_end(path)
    except ContainerDamaged as exc:
        raise TagWriteError(original, f"not written: {exc}") from exc
    except OSError as exc:
        raise _read_only(original, exc, "file") from exc
    return found


def _decodes_to_the_end(path: bytes) -> None:
    """A FLAC's frames can be cut short behind whole metadata: decode its last samples."""
    import soundfile

    try:
        with soundfile.SoundFile(path) as handle:
            handle.seek(max(0, handle.frames - _TAIL_FRAMES))
            if len(handle.read(_TAIL_FRAMES)) < min(_TAIL_FRAMES, handle.frames):
                raise ContainerDamaged("truncated container: the FLAC stops before its end")
    except (RuntimeError, ValueError, TypeError) as exc:  # LibsndfileError is a RuntimeError
        raise ContainerDamaged("truncated container: the FLAC stops before its end") from exc


def _decoded(path: bytes) -> Audio:
    """A container not read byte by byte here: the digest of its decoded samples."""
    import soundfile

    try:
        samples, rate = soundfile.read(path, dtype="int32", always_2d=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ContainerDamaged(
            "cannot check that writing keeps its audio (a container genrescore cannot read)"
        ) from exc
    digest = hashlib.sha256(samples.tobytes()).hexdigest()
    return Audio(f"decoded at {rate} Hz", digest, samples.nbytes)


def _tags_read_back(item: Any, temporary: bytes) -> bool:
    try:
        written = MediaFile(temporary)
    except Exception:  # mediafile on a file it just wrote: anything means "not readable"
        return False
    for field in _READ_BACK:
        expected = item.get(field)
        if expected and getattr(written, field, None) != expected:
            return False
    return True


def write_item(item: Any) -> None:
    """Write an item's tags without ever leaving a damaged or half-written file.

    Files that are symbolic links or have other hard links are written in place, as beets
    does (a rename would cut them off from their other names), once the same write has
    passed the checks in a copy.

    Raises
    ------
    ReadOnlyFile
        The file or its folder cannot be written.
    TagWriteError
        The file was not written (a damaged container, a write that would change its audio
        or lose its tags, an I/O error); it is as it was.
    """
    path = item.path
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise TagWriteError(path, f"cannot write tags: {exc.strerror or exc}") from exc
    # No write bit for anyone counts as read-only too: it is how users mark a file "keep
    # out", and root would otherwise write straight through it.
    if not os.access(path, os.W_OK) or not info.st_mode & 0o222:
        raise ReadOnlyFile(path, "cannot write tags: the file is read-only")
    before = _audio(path, path)
    in_place = stat.S_ISLNK(info.st_mode) or info.st_nlink > 1
    with _temporary_sibling(path) as (temporary, renamed):
        try:
            shutil.copy2(path, temporary)
            _copy_owner(info, temporary)
            item.write(path=temporary)
        except FileOperationError as exc:
            raise TagWriteError(path, f"cannot write tags: {exc}") from exc
        except OSError as exc:
            raise _read_only(path, exc, "folder") from exc
        after = _audio(temporary, path)
        if after != before:
            raise TagWriteError(
                path, "not written: writing the tags would change its audio; it is as it was"
            )
        if not _tags_read_back(item, temporary):
            raise TagWriteError(
                path, "not written: the tags did not read back from the written copy"
            )
        try:
            if in_place:
                item.write()  # what the copy went through, on the same bytes
            else:
                os.replace(temporary, path)
                renamed.append(True)
        except FileOperationError as exc:
            raise TagWriteError(path, f"cannot write tags: {exc}") from exc
        except OSError as exc:
            raise _read_only(path, exc, "folder") from exc
    item.mtime = item.current_mtime()
