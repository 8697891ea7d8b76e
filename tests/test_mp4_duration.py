"""An MP4's duration read from its header (``audio.mp4_duration``) instead of an ffprobe
process: the very number ffprobe prints, so an m4a track's windows, and its analysis, are
those of before; ffprobe still answers where the header cannot (not MP4, fragmented)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from beetsplug.genrescore import audio
from beetsplug.genrescore.demo import synth

#: ffmpeg's ways of writing an MP4 a user's library holds: AAC (iTunes, ffmpeg), ALAC,
#: the header moved to the front (faststart, as streaming tools write it), the iPod
#: flavour, and a plain .mp4 at 44.1 kHz; cover art (a video stream) below.
VARIANTS = {
    "aac": ["-c:a", "aac", "-b:a", "96k"],
    "alac": ["-c:a", "alac"],
    "faststart": ["-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart"],
    "ipod": ["-c:a", "aac", "-b:a", "96k", "-f", "ipod"],
    "mp4-44k": ["-c:a", "aac", "-ar", "44100", "-b:a", "96k", "-f", "mp4"],
}


def _ffprobe(path: Path) -> str:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _encode(source: Path, target: Path, args: list[str]) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", source, *args, target], check=True
    )
    return target


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mp4")
    path = folder / "source.wav"
    # 37.3 s: not a whole number of AAC frames, so the priming and padding show.
    soundfile.write(path, synth.STYLES["rock"](37.3), synth.SR)
    return path


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_header_gives_ffprobes_duration(source: Path, variant: str) -> None:
    path = _encode(source, source.with_name(f"{variant}.m4a"), VARIANTS[variant])
    assert audio.mp4_duration(str(path)) == float(_ffprobe(path))


def test_with_cover_art_too(source: Path, tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x64",
            "-frames:v",
            "1",
            cover,
        ],
        check=True,
    )
    plain = _encode(source, tmp_path / "plain.m4a", VARIANTS["aac"])
    path = _encode(
        plain,
        tmp_path / "cover.m4a",
        [
            "-i",
            str(cover),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-disposition:v",
            "attached_pic",
        ],
    )
    assert audio.mp4_duration(str(path)) == float(_ffprobe(path))


def test_a_fragmented_file_is_left_to_ffprobe(source: Path) -> None:
    path = _encode(
        source,
        source.with_name("fragmented.m4a"),
        ["-c:a", "aac", "-movflags", "+frag_keyframe+empty_moov", "-f", "mp4"],
    )
    assert audio.mp4_duration(str(path)) is None
    # ...and the analysis still reads it, through ffprobe.
    decoded = audio.load_windows(str(path), rates=(16000,), count=3, seconds=10.0, min_seconds=1.0)
    assert decoded.duration == pytest.approx(37.3, abs=0.1)


@pytest.mark.parametrize(
    "content", [b"", b"\x00\x00\x00\x18ftypM4A ", b"\x00\x00\x00\x18ftypM4A " + bytes(64)]
)
def test_a_damaged_header_is_left_to_ffprobe(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "damaged.m4a"
    path.write_bytes(content)
    assert audio.mp4_duration(str(path)) is None


def test_not_an_mp4(source: Path) -> None:
    assert audio.mp4_duration(str(source)) is None


def test_the_windows_are_those_ffprobes_duration_places(source: Path) -> None:
    path = _encode(source, source.with_name("windows.m4a"), VARIANTS["aac"])
    decoded = audio.load_windows(str(path), rates=(16000,), count=3, seconds=10.0, min_seconds=1.0)
    assert decoded.windows == audio.plan_windows(float(_ffprobe(path)), 3, 10.0)
    assert all(np.isfinite(w).all() and len(w) == 160000 for w in decoded.audio[16000])


# --- the header's corners, on ffmpeg's own file rewritten --------------------------------
# ffmpeg writes a version-0 movie header in milliseconds, with 32-bit box sizes and the movie
# box (moov) last: the rounding, the 64-bit forms and a box that runs to the end never show
# in its files. Each case below rewrites one of them (the moov box stays last, after the
# samples, so no chunk offset moves) and ffprobe reads the same bytes.


def _box(data: bytes | bytearray, kind: bytes, start: int = 0, end: int | None = None) -> int:
    """The offset of the first box ``kind`` among the boxes between ``start`` and ``end``."""
    position, end = start, len(data) if end is None else end
    while position < end:
        if data[position + 4 : position + 8] == kind:
            return position
        position += int.from_bytes(data[position : position + 4], "big")
    raise AssertionError(f"no {kind!r} box")


def _with_mvhd(data: bytes, scale: int, length: int, *, version: int = 0) -> bytes:
    """``data`` with its movie header's time scale and duration set (version 1: 64-bit
    times, the box 12 bytes longer)."""
    moov = _box(data, b"moov")
    moov_size = int.from_bytes(data[moov : moov + 4], "big")
    mvhd = _box(data, b"mvhd", moov + 8, moov + moov_size)
    size = int.from_bytes(data[mvhd : mvhd + 4], "big")
    rest = data[mvhd + 28 : mvhd + size]  # after version, flags, two dates, scale, duration
    if version == 1:
        times = bytes([1, 0, 0, 0]) + (7).to_bytes(8, "big") + (9).to_bytes(8, "big")
        payload = times + scale.to_bytes(4, "big") + length.to_bytes(8, "big") + rest
    else:
        times = bytes(4) + (7).to_bytes(4, "big") + (9).to_bytes(4, "big")
        payload = times + scale.to_bytes(4, "big") + length.to_bytes(4, "big") + rest
    box = (len(payload) + 8).to_bytes(4, "big") + b"mvhd" + payload
    new_moov = (moov_size + len(box) - size).to_bytes(4, "big")
    return data[:moov] + new_moov + data[moov + 4 : mvhd] + box + data[mvhd + size :]


@pytest.fixture(scope="module")
def plain(source: Path) -> bytes:
    return _encode(source, source.with_name("plain.m4a"), VARIANTS["aac"]).read_bytes()


@pytest.mark.parametrize(
    ("scale", "length", "printed"),
    [
        (2_000_000, 74_600_001, "37.300001"),  # 37.3000005 s: half a microsecond rounds up
        (2_000_000, 74_599_999, "37.300000"),  # 37.2999995 s: up too, to the whole second
        (2_000_000, 74_600_003, "37.300002"),
        (2_000_000, 74_599_997, "37.299999"),
        (3, 112, "37.333333"),  # a third of a microsecond rounds down
        (44_100, 1_644_931, "37.300023"),  # a sample rate's time scale: 37.30002268 s
        (100_000_000, 3_730_000_051, "37.300001"),  # a time scale past 24 bits
        (1, 37, "37.000000"),  # whole seconds
        (1000, 1, "0.001000"),  # one tick
    ],
)
def test_the_header_rounds_to_the_microsecond_as_ffprobe(
    plain: bytes, tmp_path: Path, scale: int, length: int, printed: str
) -> None:
    path = tmp_path / "scaled.m4a"
    path.write_bytes(_with_mvhd(plain, scale, length))
    assert _ffprobe(path) == printed
    assert audio.mp4_duration(str(path)) == float(printed)


@pytest.mark.parametrize(
    ("scale", "length", "printed"),
    [
        (1000, 37_300, "37.300000"),
        # a duration past 32 bits: what version 1 is for
        (200_000_000, 7_460_000_101, "37.300001"),
    ],
)
def test_a_version_1_header_gives_ffprobes_duration(
    plain: bytes, tmp_path: Path, scale: int, length: int, printed: str
) -> None:
    path = tmp_path / "v1.m4a"
    path.write_bytes(_with_mvhd(plain, scale, length, version=1))
    assert _ffprobe(path) == printed
    assert audio.mp4_duration(str(path)) == float(printed)
    if scale == 1000:  # the edit list counts in the movie's time scale: decodable in this one
        decoded = audio.load_windows(
            str(path), rates=(16000,), count=3, seconds=10.0, min_seconds=1.0
        )
        assert decoded.duration == 37.3
        assert decoded.windows == audio.plan_windows(37.3, 3, 10.0)


def test_a_movie_box_sized_zero_or_in_64_bits_is_read(plain: bytes, tmp_path: Path) -> None:
    """Size 0: the box runs to the end of the file; size 1: a 64-bit size follows its type."""
    moov = _box(plain, b"moov")
    size = int.from_bytes(plain[moov : moov + 4], "big")
    assert moov + size == len(plain)  # the last box, as ffmpeg writes it
    # Seconds the samples cannot give: the figure is the header's, not a guess from them.
    scaled = _with_mvhd(plain, 1000, 41_234)
    size = int.from_bytes(scaled[moov : moov + 4], "big")
    to_end = scaled[:moov] + bytes(4) + scaled[moov + 4 :]
    wide = scaled[:moov] + (1).to_bytes(4, "big") + b"moov"
    wide += (size + 8).to_bytes(8, "big") + scaled[moov + 8 :]
    for name, content in (("to-end", to_end), ("wide", wide)):
        path = tmp_path / f"{name}.m4a"
        path.write_bytes(content)
        assert _ffprobe(path) == "41.234000", name
        assert audio.mp4_duration(str(path)) == 41.234, name


@pytest.mark.parametrize(("scale", "length"), [(0, 37_300), (1000, 0)])
def test_no_time_scale_or_no_duration_is_left_to_ffprobe(
    plain: bytes, tmp_path: Path, scale: int, length: int
) -> None:
    path = tmp_path / "zero.m4a"
    path.write_bytes(_with_mvhd(plain, scale, length))
    assert audio.mp4_duration(str(path)) is None


def test_a_truncated_header_is_left_to_ffprobe(plain: bytes, tmp_path: Path) -> None:
    moov = _box(plain, b"moov")
    mvhd = _box(plain, b"mvhd", moov + 8)
    for cut in (moov + 4, moov + 12, mvhd + 20, mvhd + 60, len(plain) - 1):
        path = tmp_path / f"cut-{cut}.m4a"
        path.write_bytes(plain[:cut])
        assert audio.mp4_duration(str(path)) is None, cut
    # A movie header shorter than its times: damaged, though the boxes around it fit.
    size = int.from_bytes(plain[mvhd : mvhd + 4], "big")
    short = bytearray(plain)
    short[mvhd : mvhd + 4] = (8 + 31).to_bytes(4, "big")
    short[mvhd + 39 : mvhd + 47] = (size - 39).to_bytes(4, "big") + b"free"
    path = tmp_path / "short.m4a"
    path.write_bytes(bytes(short))
    assert audio.mp4_duration(str(path)) is None
    # ... and 32 bytes are enough for a version-0 or version-1 header's times.
    for version in (0, 1):
        exact = bytearray(_with_mvhd(plain, 1000, 37_300, version=version))
        size = int.from_bytes(exact[mvhd : mvhd + 4], "big")
        exact[mvhd : mvhd + 4] = (8 + 32).to_bytes(4, "big")
        exact[mvhd + 40 : mvhd + 48] = (size - 40).to_bytes(4, "big") + b"free"
        path = tmp_path / f"exact-{version}.m4a"
        path.write_bytes(bytes(exact))
        assert audio.mp4_duration(str(path)) == 37.3, version


def test_an_empty_movie_extends_box_last_still_marks_a_fragmented_file(
    plain: bytes, tmp_path: Path
) -> None:
    """``mvex`` says fragments follow, whose length the header does not count; an empty one
    (8 bytes, the smallest box) at the very end of the movie box is found too."""
    moov = _box(plain, b"moov")
    size = int.from_bytes(plain[moov : moov + 4], "big")
    marked = plain[:moov] + (size + 8).to_bytes(4, "big") + plain[moov + 4 :]
    path = tmp_path / "mvex.m4a"
    path.write_bytes(marked + (8).to_bytes(4, "big") + b"mvex")
    assert audio.mp4_duration(str(path)) is None
