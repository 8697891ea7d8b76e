"""Path -> a few windows of mono audio, decoding only what is needed.

soundfile (libsndfile) first: it seeks in wav, flac, ogg/opus and mp3 and reads just the
window. An ``ffmpeg`` subprocess for the rest (m4a/aac, wma, ape...). Every failure is an
:class:`AudioLoadError` or :class:`UnusableAudio` carrying the path and a reason a user
understands. Nothing here knows about beets or models.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import AudioLoadError, TrackError, UnusableAudio

Waveform = npt.NDArray[np.float32]

#: Peak level under which a window counts as silent: -70 dBFS, below the noise floor of any
#: real recording (16-bit dither sits near -96 dBFS, tape hiss near -60).
SILENCE_PEAK = 10 ** (-70 / 20)
#: A window that comes back shorter than asked by more than this (s) means a truncated file.
TRUNCATION_SLACK = 1.0
#: Longest a single ffmpeg call may take (s) before the file counts as unreadable.
FFMPEG_TIMEOUT = 120
#: Most audio the ffmpeg fallback decodes from a damaged file (s): 20 minutes at 32 kHz is
#: 150 MB of float32, and the windows of longer tracks sit in their first 20 minutes then.
FALLBACK_SECONDS = 20 * 60
#: Bytes read at each of a file's start, middle and end for its identity (file_identity).
IDENTITY_BLOCK = 64 * 1024
#: How many bytes are read to recognise a container.
SNIFF_BYTES = 12

# Extension -> the container its name promises.
_CONTAINER_BY_EXTENSION = {
    ".mp3": "MP3",
    ".flac": "FLAC",
    ".ogg": "Ogg",
    ".oga": "Ogg",
    ".opus": "Ogg",
    ".m4a": "MP4",
    ".m4b": "MP4",
    ".mp4": "MP4",
    ".alac": "MP4",
    ".wav": "WAV",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".wma": "ASF",
    ".asf": "ASF",
}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11")
#: File extensions taken for audio when looking through a folder.
AUDIO_EXTENSIONS = frozenset(_CONTAINER_BY_EXTENSION) | {".aac", ".ape", ".wv", ".mpc"}


@dataclass(frozen=True)
class Window:
    """A stretch of a track, in seconds."""

    start: float
    length: float


@dataclass(frozen=True)
class Decoded:
    """The windows of one track, resampled to each rate asked for."""

    #: Duration of the whole track in seconds.
    duration: float
    windows: tuple[Window, ...]
    #: Sample rate -> one mono float32 array per window.
    audio: dict[int, list[Waveform]]


def plan_windows(duration: float, count: int, seconds: float) -> tuple[Window, ...]:
    """Spread ``count`` windows of ``seconds`` over a track, away from intro and outro.

    Window centres sit at 1/(count+1), 2/(count+1)... of the track, so three windows look at
    25 %, 50 % and 75 %. A track shorter than one window is one window, and a short track
    gets no more windows than fit in it side by side: overlapping windows cost time and tell
    nothing new.
    """
    if duration <= seconds:
        return (Window(0.0, duration),)
    count = min(count, max(1, int(duration // seconds)))
    windows: list[Window] = []
    for index in range(count):
        centre = duration * (index + 1) / (count + 1)
        start = min(max(0.0, centre - seconds / 2), duration - seconds)
        window = Window(round(start, 3), seconds)
        if window not in windows:
            windows.append(window)
    return tuple(windows)


def sniff_container(head: bytes) -> str | None:
    """Name the container a file's first bytes show, or ``None`` when unrecognised."""
    if head.startswith(b"ID3"):
        return "MP3"  # an ID3v2 tag: MP3 (FLAC with a leading ID3 tag is too rare to matter)
    if head.startswith(b"fLaC"):
        return "FLAC"
    if head.startswith(b"OggS"):
        return "Ogg"
    if head[4:8] == b"ftyp":
        return "MP4"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "WAV"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head.startswith(_ASF_GUID):
        return "ASF"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # 11 sync bits; layer bits 00 mean AAC (ADTS), anything else an MPEG audio frame.
        return "AAC" if head[1] & 0x06 == 0 else "MP3"
    return None


def check_file(path: str) -> None:
    """Fail early, with a clear reason, on files no decoder should be trusted with.

    Raises
    ------
    AudioLoadError
        Missing, empty, unreadable, or content that contradicts the file's extension
        (Ogg data named ``.mp3``): writing tags there would damage it.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except FileNotFoundError as exc:
        raise AudioLoadError(path, "file not found") from exc
    except OSError as exc:
        raise AudioLoadError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise AudioLoadError(path, "the file is empty (0 bytes)")
    extension = os.path.splitext(path)[1].lower()
    promised = _CONTAINER_BY_EXTENSION.get(extension)
    found = sniff_container(head)
    if promised is None or found == promised:
        return
    if found is None:
        raise AudioLoadError(path, f"not a valid {promised} file (unrecognised data at its start)")
    raise AudioLoadError(
        path, f"the file holds {found} data but its name ends in {extension}; rename it"
    )


def file_identity(path: str | bytes) -> str:
    """A short hash of a file's content, cheap at any size: its size and three blocks of
    :data:`IDENTITY_BLOCK` bytes (start, middle, end).

    Another song, or another encoding of it, at the same path changes it, whatever the
    format, duration and bitrate (those are what the identity was before: a replaced song
    kept its old genre). So does a tag write, since tags are bytes of the file too: the
    library refreshes the identity after every write that keeps the audio (its own, and
    beets' ``write`` event). An edit outside the three blocks that keeps the size is not
    seen; ``--force`` analyses again.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest = hashlib.sha256(str(size).encode())
        middle, end = max(0, (size - IDENTITY_BLOCK) // 2), max(0, size - IDENTITY_BLOCK)
        for offset in sorted({0, middle, end}):
            handle.seek(offset)
            digest.update(handle.read(IDENTITY_BLOCK))
    return digest.hexdigest()[:16]


def _mono(data: npt.NDArray[np.float32]) -> Waveform:
    mono: Waveform = np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)
    return mono


class _StopsEarly(AudioLoadError):
    """Decoding stopped before the end the file announces: the other decoder may go on
    (libsndfile gives up at the first damaged frame or page; ffmpeg skips it)."""


def _truncated(path: str, window: Window, got: float, duration: float) -> AudioLoadError:
    stop = window.start + got
    return _StopsEarly(
        path,
        f"truncated or corrupt: decoding stops at {stop:.0f} s "
        f"although the file says it lasts {duration:.0f} s",
    )


def _read_soundfile(
    path: str, windows_for: _WindowPlanner
) -> tuple[float, tuple[Window, ...], int, list[Waveform]] | None:
    """Decode windows with libsndfile; ``None`` when it cannot open this format."""
    import soundfile

    try:
        # As bytes: libsndfile takes a C string, and a name that is not valid UTF-8 (held
        # as surrogates in a str) cannot be encoded back any other way.
        handle = soundfile.SoundFile(os.fsencode(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    with handle:
        rate = handle.samplerate
        duration = handle.frames / rate if rate else 0.0
        windows = windows_for(duration)
        chunks: list[Waveform] = []
        for window in windows:
            wanted = round(window.length * rate)
            try:
                position = handle.seek(round(window.start * rate))
                if not 0 <= position <= handle.frames:
                    # Damaged Ogg pages make libsndfile land past the end after a seek;
                    # a read from there asks numpy for a negative number of frames.
                    raise _truncated(path, window, 0.0, duration)
                data = handle.read(wanted, dtype="float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
                raise _truncated(path, window, 0.0, duration) from exc
            if wanted - len(data) > TRUNCATION_SLACK * rate:
                raise _truncated(path, window, len(data) / rate, duration)
            chunks.append(_mono(data))
    return duration, windows, rate, chunks


def _ffmpeg(path: str) -> str:
    binary = shutil.which("ffmpeg")
    if binary is None:
        extension = os.path.splitext(path)[1] or "these"
        raise AudioLoadError(
            path, f"decoding {extension} files needs ffmpeg, which is not installed"
        )
    return binary


def _probe_duration(path: str) -> float:
    probe = shutil.which("ffprobe")
    if probe is None:
        _ffmpeg(path)
        raise AudioLoadError(path, "decoding this file needs ffprobe (part of ffmpeg)")
    command = [probe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=FFMPEG_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise AudioLoadError(path, "ffprobe timed out reading the file") from exc
    text = result.stdout.decode(errors="replace").strip()
    try:
        return float(text)
    except ValueError:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        detail = reason[-1] if reason else "no audio stream found"
        raise AudioLoadError(path, f"not a decodable audio file ({detail})") from None


def mp4_duration(path: str) -> float | None:
    """An MP4 file's duration as ffprobe reports it (its movie header, ``moov/mvhd``, in
    microseconds rounded as libavformat rescales it, printed to six decimals), read from the
    header in well under a millisecond instead of an ffprobe process (~85 ms of CPU, a
    quarter of an m4a track's analysis); ``None`` where ffprobe must say: not an MP4, no
    header, a fragmented file (``moov/mvex``: its header's duration is not the file's), a
    zero duration, or a damaged box."""
    try:
        with open(path, "rb") as handle:
            if handle.read(SNIFF_BYTES)[4:8] != b"ftyp":
                return None
            size = os.fstat(handle.fileno()).st_size
            moov = _mp4_box(handle, 0, size, b"moov")
            if moov is None:
                return None
            inside = (moov[0], moov[0] + moov[1])
            if _mp4_box(handle, *inside, b"mvex") is not None:
                return None
            mvhd = _mp4_box(handle, *inside, b"mvhd")
            if mvhd is None or mvhd[1] < 32:
                return None
            handle.seek(mvhd[0])
            data = handle.read(32)
    except OSError:
        return None
    if len(data) < 32:
        return None
    if data[0] == 1:  # version 1: 64-bit times
        scale = int.from_bytes(data[20:24], "big")
        length = int.from_bytes(data[24:32], "big")
    else:
        scale = int.from_bytes(data[12:16], "big")
        length = int.from_bytes(data[16:20], "big")
    if scale <= 0 or length <= 0:
        return None
    micro = (length * 1_000_000 + scale // 2) // scale  # av_rescale, rounding to nearest
    return float(f"{micro * 1e-6:.6f}")


def _mp4_box(handle: Any, start: int, end: int, name: bytes) -> tuple[int, int] | None:
    """The payload (offset, length) of the first box called ``name`` among the boxes
    between ``start`` and ``end``; ``None`` when there is none or a box's size is damaged."""
    position = start
    while position + 8 <= end:
        handle.seek(position)
        header = handle.read(16)
        if len(header) < 8:
            return None
        size, kind, skip = int.from_bytes(header[:4], "big"), header[4:8], 8
        if size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return None
            size, skip = int.from_bytes(header[8:16], "big"), 16
        elif size == 0:  # the box runs to the end
            size = end - position
        if size < skip or position + size > end:
            return None
        if kind == name:
            return position + skip, size - skip
        position += size
    return None


def _read_ffmpeg(
    path: str, windows_for: _WindowPlanner, rate: int
) -> tuple[float, tuple[Window, ...], int, list[Waveform]]:
    binary = _ffmpeg(path)
    duration = mp4_duration(path)
    if duration is None:
        duration = _probe_duration(path)
    windows = windows_for(duration)
    chunks: list[Waveform] = []
    for window, raw in zip(windows, _ffmpeg_windows(binary, path, windows, rate), strict=True):
        data = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if window.length - len(data) / rate > TRUNCATION_SLACK:
            raise _truncated(path, window, len(data) / rate, duration)
        chunks.append(data)
    return duration, windows, rate, chunks


def _ffmpeg_windows(binary: str, path: str, windows: Sequence[Window], rate: int) -> list[bytes]:
    """Each window of ``path`` as mono float32 samples at ``rate``, decoded by ffmpeg.

    One ffmpeg process for all the windows where pipes can be handed to it (POSIX): each
    window is an input of its own (``-ss``/``-t`` before ``-i``, so it seeks as a process of
    its own would) mapped to an output on its own pipe, and the samples are those of one
    process per window, to the byte. An ffmpeg start costs about 85 ms of CPU, more than
    the decoding: an m4a track took four (ffprobe and three windows), now one (its duration
    read from its header: :func:`mp4_duration`).
    """
    head = [binary, "-nostdin", "-v", "error"]
    inputs = [
        ["-ss", f"{window.start:.3f}", "-t", f"{window.length:.3f}", "-i", path]
        for window in windows
    ]
    if os.name != "posix":  # no pipes to hand over: a process per window, on its stdout
        return [_run_ffmpeg(path, head + one + _to(rate, "pipe:1"))[0] for one in inputs]
    pipes = [os.pipe() for _ in windows]
    outputs = []
    for index, (_, write_end) in enumerate(pipes):
        outputs += ["-map", f"{index}:a:0", *_to(rate, f"pipe:{write_end}")]
    return _run_ffmpeg(path, head + [arg for one in inputs for arg in one] + outputs, pipes)


def _to(rate: int, target: str) -> list[str]:
    """ffmpeg's output options: mono float32 samples at ``rate``, written to ``target``."""
    return ["-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", target]


def _run_ffmpeg(
    path: str, command: list[str], pipes: Sequence[tuple[int, int]] = ()
) -> list[bytes]:
    """Run ffmpeg: what it wrote to stdout, or, given ``pipes`` (``os.pipe()`` pairs whose
    write ends it writes its outputs to), to each pipe. The pipes are closed on return.

    Raises
    ------
    AudioLoadError
        ffmpeg failed, or took longer than :data:`FFMPEG_TIMEOUT`.
    """
    handed = [write_end for _, write_end in pipes]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if pipes else subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=handed,
        )
    except BaseException:
        for read_end, write_end in pipes:
            os.close(read_end)
            os.close(write_end)
        raise
    for fd in handed:
        os.close(fd)  # ffmpeg's now: a read sees the end of a pipe when ffmpeg closes it
    outputs: list[Any] = [read for read, _ in pipes] or [process.stdout]
    sources = [process.stderr, *outputs]
    received: list[list[bytes]] = [[] for _ in sources]
    readers = [
        threading.Thread(target=_drain, args=(source, into), daemon=True)
        for source, into in zip(sources, received, strict=True)
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + FFMPEG_TIMEOUT
    try:
        # ffmpeg closes its outputs as it exits: the readers' ends wake this at once, where
        # Popen.wait with a timeout polls, sleeping up to 50 ms a turn (about 20 ms lost a
        # decode, a tenth of a track's time).
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        if any(reader.is_alive() for reader in readers):
            raise subprocess.TimeoutExpired(command, FFMPEG_TIMEOUT)
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.wait()
        raise AudioLoadError(path, "ffmpeg timed out decoding the file") from exc
    finally:
        for reader in readers:
            reader.join()
        for read_end, _ in pipes:
            os.close(read_end)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if process.returncode != 0:
        lines = b"".join(received[0]).decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else f"ffmpeg exited with status {process.returncode}"
        raise AudioLoadError(path, f"cannot decode: {detail}")
    return [b"".join(chunks) for chunks in received[1:]]


def _drain(source: Any, into: list[bytes]) -> None:
    """Read a pipe (a file object or a descriptor) to its end."""
    while chunk := (source.read(1 << 16) if hasattr(source, "read") else os.read(source, 1 << 16)):
        into.append(chunk)


def _read_ffmpeg_through(
    path: str, windows_for: _WindowPlanner, rate: int
) -> tuple[float, tuple[Window, ...], int, list[Waveform]]:
    """The fallback for a file libsndfile stopped decoding early: ffmpeg decodes it from the
    start, skipping what it cannot read, and the windows are planned on what came out.

    No seeking: in a damaged file the duration and the timestamps a seek relies on are
    often what is damaged (a shuffled Ogg page, a flipped bit in a FLAC header). At most
    :data:`FALLBACK_SECONDS` are decoded, which bounds the memory.
    """
    binary = _ffmpeg(path)
    command = [
        binary, "-nostdin", "-v", "error", "-i", path, "-t", str(FALLBACK_SECONDS),
        "-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioLoadError(path, "ffmpeg timed out decoding the file") from exc
    data = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    duration = len(data) / rate
    if duration < windows_for.min_seconds:
        raise AudioLoadError(path, f"ffmpeg decodes only {duration:.1f} s of it")
    windows = windows_for(duration)
    chunks = [
        data[round(window.start * rate) : round((window.start + window.length) * rate)]
        for window in windows
    ]
    return duration, windows, rate, chunks


class _WindowPlanner:
    def __init__(self, path: str, count: int, seconds: float, min_seconds: float) -> None:
        self.path, self.count, self.seconds, self.min_seconds = path, count, seconds, min_seconds

    def __call__(self, duration: float) -> tuple[Window, ...]:
        if duration < self.min_seconds:
            raise UnusableAudio(
                self.path,
                f"too short to analyse ({duration:.1f} s; at least {self.min_seconds:g} s needed)",
            )
        return plan_windows(duration, self.count, self.seconds)


def resample(y: Waveform, *, orig_sr: int, target_sr: int) -> Waveform:
    """Resample mono audio with soxr's high-quality filter (a no-op at the same rate)."""
    if orig_sr == target_sr:
        return y
    import soxr

    out: Waveform = np.asarray(soxr.resample(y, orig_sr, target_sr, quality="HQ"), np.float32)
    return out


def load_windows(
    path: str,
    *,
    rates: Sequence[int],
    count: int,
    seconds: float,
    min_seconds: float,
) -> Decoded:
    """Decode ``count`` windows of ``seconds`` from ``path`` at each sample rate in ``rates``.

    Silent windows (lead-in, hidden-track gaps) are dropped; if nothing but silence is left
    the file is unusable: silence is not a genre.

    Raises
    ------
    AudioLoadError
        The file is missing, unreadable, corrupt, truncated, or not what its name says.
    UnusableAudio
        Too short, or silent.
    """
    try:
        check_file(path)
        planner = _WindowPlanner(path, count, seconds, min_seconds)
        try:
            decoded = _read_soundfile(path, planner)
            if decoded is None:
                decoded = _read_ffmpeg(path, planner, max(rates))
        except _StopsEarly as stopped:
            # Before calling the file corrupt, ffmpeg from the start, without seeking: it
            # plays most files with a damaged frame or page to the end (issue 20: every
            # mid-file bit flip), and a damaged header's duration misplaces every window.
            try:
                decoded = _read_ffmpeg_through(path, planner, max(rates))
            except TrackError:
                raise stopped from None
    except TrackError:
        raise
    except Exception as exc:
        # A decoder library failing in a way nobody foresaw costs this file, not the run.
        raise AudioLoadError(
            path, f"cannot decode: {type(exc).__name__}: {exc}", traceback.format_exc()
        ) from exc
    duration, windows, rate, chunks = decoded

    kept = [
        (window, chunk)
        for window, chunk in zip(windows, chunks, strict=True)
        if chunk.size and float(np.max(np.abs(chunk))) >= SILENCE_PEAK
    ]
    if not kept:
        raise UnusableAudio(path, "silent: no sound above -70 dBFS in the analysed windows")
    audio = {
        target: [resample(chunk, orig_sr=rate, target_sr=target) for _, chunk in kept]
        for target in sorted(set(rates))
    }
    return Decoded(duration=duration, windows=tuple(w for w, _ in kept), audio=audio)
