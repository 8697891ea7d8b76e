"""What the audio identity costs per track (audio.file_identity, library.file_state).

    PYTHONPATH=. .venv/bin/python benchmarks/identity_cost.py [--seconds 180] [--repeats 200]

Encodes one track of ``--seconds`` of noise per README format with ffmpeg, then times per
file: the identity read from the file (size and three 64 KiB blocks hashed) with the file in
the page cache, the same after the file was dropped from it (``posix_fadvise DONTNEED``: the
read goes to the disk), and the check a run makes of an unchanged file (one ``stat``, the
stored identity reused). Prints milliseconds per track, the median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beetsplug.genrescore import library
from beetsplug.genrescore.audio import file_identity

FORMATS = {"mp3": [], "flac": [], "ogg": ["-c:a", "libvorbis"], "m4a": [], "wav": []}


def _encode(folder: Path, seconds: float) -> list[Path]:
    paths = []
    for fmt, codec in FORMATS.items():
        path = folder / f"noise.{fmt}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:a=0.3",
             "-ac", "2", "-ar", "44100", *codec, str(path)],
            check=True,
        )  # fmt: skip
        paths.append(path)
    return paths


def _drop_cache(path: Path) -> None:
    with open(path, "rb") as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _nothing() -> None:
    pass


def _median_ms(call: Callable[[], Any], repeats: int, before: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


class _Item(dict[str, Any]):
    """What library.file_state reads of an item: its path and two stored fields."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = os.fsencode(path)
        state = library.file_state(self.path)
        assert state is not None
        self[library.FINGERPRINT] = f"analysis-{state.identity}"
        self[library.AUDIO_FILE] = state.stat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.path.expanduser("~")) as tmp:
        paths = _encode(Path(tmp), args.seconds)
        print(f"{args.seconds:.0f} s of stereo noise per format; median of {args.repeats}")
        print(f"{'file':12s} {'MB':>6s} {'cached':>9s} {'uncached':>9s} {'unchanged':>10s}")
        for path in paths:
            item = _Item(path)
            identity = functools.partial(file_identity, str(path))
            warm = _median_ms(identity, args.repeats, _nothing)
            cold = _median_ms(identity, args.repeats, functools.partial(_drop_cache, path))
            check = functools.partial(library.file_state, item.path, item)
            same = _median_ms(check, args.repeats, _nothing)
            print(
                f"{path.name:12s} {path.stat().st_size / 1e6:6.1f} {warm:7.3f}ms "
                f"{cold:7.3f}ms {same:8.3f}ms"
            )


if __name__ == "__main__":
    main()
