"""Decoding only the windows needed, from real files in several formats, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from beetsplug.genrescore.audio import Window, load_windows, plan_windows, sniff_container
from beetsplug.genrescore.errors import AudioLoadError, TrackError, UnusableAudio

from .audio_files import track
from .conftest import FORMATS

RATES = (16000, 22050)


def load(path: Path, count: int = 3, seconds: float = 5.0):
    return load_windows(str(path), rates=RATES, count=count, seconds=seconds, min_seconds=3.0)


def test_windows_are_spread_over_the_track_away_from_intro_and_outro() -> None:
    assert plan_windows(240.0, 3, 10.0) == (
        Window(55.0, 10.0),
        Window(115.0, 10.0),
        Window(175.0, 10.0),
    )
    assert plan_windows(8.0, 3, 10.0) == (Window(0.0, 8.0),)
    # A short track gets no more windows than fit in it side by side.
    assert len(plan_windows(10.5, 3, 10.0)) == 1
    assert len(plan_windows(25.0, 3, 10.0)) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_mono_windows_at_each_rate(audio_dir: Path, fmt: str) -> None:
    path = next(audio_dir.glob(f"*.{fmt}"))
    decoded = load(path)
    assert decoded.duration == pytest.approx(20.0, abs=0.1)
    assert len(decoded.windows) == 3
    for rate in RATES:
        for window in decoded.audio[rate]:
            assert window.dtype == np.float32
            assert window.ndim == 1
            assert len(window) == pytest.approx(5.0 * rate, abs=0.02 * rate)
            assert 0.05 < np.max(np.abs(window)) <= 1.5


def test_a_window_is_the_same_audio_as_the_whole_file_decoded(audio_dir: Path) -> None:
    path = audio_dir / "techno.mp3"
    full, rate = soundfile.read(path, dtype="float32", always_2d=True)
    decoded = load_windows(str(path), rates=(rate,), count=1, seconds=5.0, min_seconds=3.0)
    window = decoded.windows[0]
    start = round(window.start * rate)
    reference = full[start : start + len(decoded.audio[rate][0])].mean(axis=1)
    correlation = np.corrcoef(reference, decoded.audio[rate][0])[0, 1]
    assert correlation > 0.99


def test_a_long_file_costs_only_its_windows(tmp_path: Path) -> None:
    # 20 minutes of audio; only 3 x 5 s come back.
    y = np.tile(np.sin(np.linspace(0, 2000 * np.pi, 22050)).astype(np.float32), 1200) * 0.5
    path = tmp_path / "long.flac"
    soundfile.write(path, y, 22050)
    decoded = load(path)
    assert decoded.duration == pytest.approx(1200.0)
    assert [round(w.start) for w in decoded.windows] == [298, 598, 898]
    assert sum(len(w) for w in decoded.audio[22050]) == 3 * 5 * 22050


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("empty", AudioLoadError, "the file is empty (0 bytes)"),
        ("random", AudioLoadError, "not a valid MP3 file"),
        ("ogg_as_mp3", AudioLoadError, "holds Ogg data but its name ends in .mp3"),
        ("truncated", AudioLoadError, "truncated or corrupt"),
        ("short", UnusableAudio, "too short to analyse (0.5 s"),
        ("silence", UnusableAudio, "silent"),
    ],
)
def test_bad_input_gets_one_clear_reason_with_its_path(
    bad_dir: Path, name: str, error: type[TrackError], reason: str
) -> None:
    path = {
        "empty": "empty.mp3",
        "random": "random.mp3",
        "ogg_as_mp3": "ogg-inside.mp3",
        "truncated": "truncated.mp3",
        "short": "short.mp3",
        "silence": "silence.flac",
    }[name]
    with pytest.raises(error) as raised:
        load(bad_dir / path)
    assert reason in raised.value.reason
    assert raised.value.path == str(bad_dir / path)
    assert str(bad_dir / path) in str(raised.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match="file not found"):
        load(tmp_path / "gone.mp3")


def test_names_that_are_not_ascii_decode(tmp_path: Path) -> None:
    path = track(tmp_path / "Ünïcödé — 日本語 ♫.ogg", "techno", 6.0)
    assert len(load(path).windows) >= 1


def test_without_ffmpeg_an_m4a_gets_a_clear_reason(
    audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.devnull)  # no ffmpeg to be found
    with pytest.raises(AudioLoadError, match="needs ffmpeg, which is not installed"):
        load(next(audio_dir.glob("*.m4a")))


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (b"ID3\x04\x00", "MP3"),
        (b"\xff\xfb\x90\x00", "MP3"),
        (b"\xff\xf1\x50\x80", "AAC"),
        (b"fLaC\x00\x00", "FLAC"),
        (b"OggS\x00\x02", "Ogg"),
        (b"\x00\x00\x00\x20ftypM4A ", "MP4"),
        (b"RIFF\x24\x00\x00\x00WAVE", "WAV"),
        (b"\x12\x34\x56\x78", None),
    ],
)
def test_containers_are_recognised_by_their_first_bytes(head: bytes, container: str | None) -> None:
    assert sniff_container(head) == container


def test_one_ffmpeg_process_decodes_what_one_process_per_window_did(audio_dir: Path) -> None:
    # The m4a windows come from one ffmpeg with an input and an output pipe per window; each
    # must hold the bytes a process of its own for that window writes.
    import shutil
    import subprocess

    from beetsplug.genrescore.audio import _ffmpeg_windows

    path = str(next(audio_dir.glob("*.m4a")))
    binary = shutil.which("ffmpeg")
    assert binary is not None
    windows = plan_windows(20.0, 3, 5.0)
    alone = [
        subprocess.run(
            [binary, "-nostdin", "-v", "error", "-ss", f"{w.start:.3f}", "-t", f"{w.length:.3f}",
             "-i", path, "-vn", "-ac", "1", "-ar", "22050", "-f", "f32le", "pipe:1"],
            capture_output=True, check=True,
        ).stdout
        for w in windows
    ]  # fmt: skip
    open_before = len(os.listdir("/proc/self/fd"))
    together = _ffmpeg_windows(binary, path, windows, 22050)
    assert [len(chunk) for chunk in together] == [5 * 22050 * 4] * 3
    assert together == alone
    assert len(os.listdir("/proc/self/fd")) == open_before  # the pipes are all closed


def test_ffmpeg_failing_on_a_window_is_the_files_error(tmp_path: Path) -> None:
    import shutil

    from beetsplug.genrescore.audio import _ffmpeg_windows

    binary = shutil.which("ffmpeg")
    assert binary is not None
    missing = str(tmp_path / "gone.m4a")
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(AudioLoadError, match=r"cannot decode: .*gone\.m4a") as raised:
        _ffmpeg_windows(binary, missing, plan_windows(20.0, 2, 5.0), 22050)
    assert raised.value.path == missing
    assert len(os.listdir("/proc/self/fd")) == open_before


def test_ffmpeg_hanging_on_a_file_times_out_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A named pipe nobody writes to: ffmpeg blocks opening it, as on a stalled network
    # share. The decode gives up after FFMPEG_TIMEOUT, kills ffmpeg and leaks no pipe.
    import shutil

    from beetsplug.genrescore import audio
    from beetsplug.genrescore.audio import _ffmpeg_windows

    binary = shutil.which("ffmpeg")
    assert binary is not None
    stalled = tmp_path / "stalled.m4a"
    os.mkfifo(stalled)
    monkeypatch.setattr(audio, "FFMPEG_TIMEOUT", 1)
    open_before = len(os.listdir("/proc/self/fd"))
    children_before = _children()
    with pytest.raises(AudioLoadError, match="ffmpeg timed out") as raised:
        _ffmpeg_windows(binary, str(stalled), plan_windows(20.0, 2, 5.0), 22050)
    assert raised.value.path == str(stalled)
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert _children() == children_before  # killed and reaped


def _children() -> set[int]:
    """This process's child processes (a zombie included: it is not reaped yet)."""
    me = os.getpid()
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.add(int(pid))
    return found
