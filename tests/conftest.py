"""Shared fixtures: real audio in several formats, generated once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .audio_files import bad_files, track

FORMATS = ("mp3", "flac", "ogg", "opus", "m4a")


def pytest_configure(config: pytest.Config) -> None:
    if shutil.which("ffmpeg") is None:
        raise pytest.UsageError("the tests need ffmpeg (apt-get install ffmpeg)")


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 20 s synthesized track per format, each a different style."""
    folder = tmp_path_factory.mktemp("audio")
    styles = ("techno", "reel", "rock", "hiphop", "classical")
    for fmt, style in zip(FORMATS, styles, strict=True):
        track(folder / f"{style}.{fmt}", style, 20.0, title=f"{style} song")
    return folder


@pytest.fixture(scope="session")
def bad_dir(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    bad_files(folder, audio_dir / "techno.mp3")
    return folder


@pytest.fixture(scope="session")
def format_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short intact track in every supported format (wav too), to be damaged."""
    from .damage import FORMATS as ALL_FORMATS

    folder = tmp_path_factory.mktemp("sources")
    styles = ("techno", "reel", "rock", "hiphop", "classical", "techno")
    return {
        fmt: track(folder / f"good.{fmt}", style, 6.0)
        for fmt, style in zip(ALL_FORMATS, styles, strict=True)
    }
