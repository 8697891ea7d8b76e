"""Decoding that stops early falls back to ffmpeg before a file is called corrupt (issue 20).

The damaged files are real: an encoded track with bits flipped mid-file, searched over
seeds until libsndfile (the first decoder) gives up on it while ffmpeg plays it to the end.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from beetsplug.genrescore import audio
from beetsplug.genrescore.audio import load_windows
from beetsplug.genrescore.errors import AudioLoadError

from .audio_files import track
from .damage import flip

RATE = 16000


def ffmpeg_seconds(path: Path) -> float:
    """How much audio ffmpeg decodes from the whole file."""
    out = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le",
         "-"],
        capture_output=True, check=False,
    ).stdout  # fmt: skip
    return len(out) / 4 / RATE


def libsndfile_stops(path: Path) -> bool:
    planner = audio._WindowPlanner(str(path), 3, 3.0, 1.0)
    try:
        audio._read_soundfile(str(path), planner)
    except AudioLoadError as exc:
        return "decoding stops at" in exc.reason
    return False


@pytest.fixture(scope="module")
def flipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per format, a file with bits flipped in its middle that libsndfile stops decoding
    and ffmpeg decodes past the damage (a damaged Ogg page costs ffmpeg that page's audio:
    2 of the Ogg's 6 s)."""
    folder = tmp_path_factory.mktemp("flipped")
    found = {}
    # A 12 s Ogg's flipped pages cost libsndfile under the second it forgives; a 6 s one's do.
    for fmt, style, seconds in (("ogg", "reel", 6.0), ("flac", "techno", 12.0)):
        good = track(folder / f"good.{fmt}", style, seconds)
        data = good.read_bytes()
        middle = len(data) // 2
        for seed in range(50):
            path = folder / f"flipped-{seed}.{fmt}"
            path.write_bytes(flip(data, random.Random(seed), middle - 2000, middle + 2000, 24))
            if libsndfile_stops(path) and ffmpeg_seconds(path) > 0.6 * seconds:
                found[fmt] = path
                break
            path.unlink()
    return found


#: libmpg123 resyncs over flipped bits in an MP3 itself (libsndfile decodes every such
#: file): an MP3 falls back only when cut short (below).
@pytest.mark.parametrize("fmt", ["ogg", "flac"])
def test_a_mid_file_bit_flip_that_ffmpeg_plays_is_analysed(
    flipped: dict[str, Path], fmt: str
) -> None:
    path = flipped[fmt]
    decoded = load_windows(str(path), rates=[RATE, 22050], count=3, seconds=3.0, min_seconds=1.0)
    assert decoded.duration == pytest.approx(ffmpeg_seconds(path), abs=0.01)
    assert decoded.windows
    for rate in (RATE, 22050):
        assert [len(w) for w in decoded.audio[rate]] == [3 * rate] * len(decoded.windows)


def test_a_file_cut_short_decodes_what_is_there(tmp_path: Path) -> None:
    good = track(tmp_path / "good.mp3", "rock", 20.0)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert libsndfile_stops(cut)
    decoded = load_windows(str(cut), rates=[RATE], count=3, seconds=3.0, min_seconds=3.0)
    assert 8.0 < decoded.duration < 12.0  # what ffmpeg could decode, windows planned on it


def test_too_little_left_is_still_truncated(tmp_path: Path) -> None:
    good = track(tmp_path / "good.mp3", "rock", 20.0)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 20])
    with pytest.raises(AudioLoadError, match="truncated or corrupt: decoding stops at"):
        load_windows(str(cut), rates=[RATE], count=3, seconds=3.0, min_seconds=3.0)
