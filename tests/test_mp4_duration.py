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
