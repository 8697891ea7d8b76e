"""Milliseconds per analysis window of the embedded YAMNet, against musicnn-mtt, on this CPU.

YAMNet replaces musicnn-mtt as the embedded instrument tagger; the default path (musicnn-msd
+ instrument tagger + heuristics) may cost at most 1.2x what it did. This times one
``predict`` call over the five reference clips x 3 windows (centred at 25/50/75 %, as the
analyzer cuts them) for YAMNet at several window lengths and for musicnn-mtt and
musicnn-msd at their own (3 s), on 1 and 2 threads, float32. Each configuration runs in a
fresh process, so the peak RSS printed is that configuration's own (torch and the model
included). Window lengths: 3, 5 and 10 s, and 2.895, 4.815 and 9.615 s, which fill whole
YAMNet patches (0.975 s + k x 0.48 s) so no zero padding is scored.

Usage::

    python benchmarks/yamnet_speed.py [--repeats N] [--no-channels-last-check]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

Waveform = npt.NDArray[np.float32]

CLIPS: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "musicnn"
NAMES: Final = ("violin", "rock", "piano", "techno", "tone")
WINDOWS_PER_TRACK: Final = 3
YAMNET_SECONDS: Final = (2.895, 3.0, 4.815, 5.0, 9.615, 10.0)
THREADS: Final = (1, 2)


def _windows(audio: Waveform, seconds: float, rate: int) -> list[Waveform]:
    length = round(seconds * rate)
    centres = [len(audio) * k // (WINDOWS_PER_TRACK + 1) for k in range(1, WINDOWS_PER_TRACK + 1)]
    return [audio[c - length // 2 : c - length // 2 + length] for c in centres]


def _measure(
    model: str, seconds: float | None, threads: int, repeats: int, channels_last: bool
) -> tuple[float, float, float]:
    """Fastest and median ms per window, and peak RSS in MB, in this (fresh) process.

    The fastest of the repeats is the figure to compare on a shared machine: other load only
    ever adds time.
    """
    import soundfile as sf
    import torch

    from beetsplug.genrescore.backends import yamnet
    from beetsplug.genrescore.backends.base import BackendOptions, Role, build_backend

    torch.set_num_threads(threads)
    backend = build_backend(model, Role.INSTRUMENTS, BackendOptions(device="cpu"))
    assert backend is not None
    if isinstance(backend, yamnet.YamnetBackend):
        # The layouts compared are torch's (benchmarks/engine_speed.py times numpy's engine).
        backend = yamnet.YamnetBackend(BackendOptions(device="cpu"), engine="torch")
        assert backend.model is not None
        backend.channels_last = channels_last
        if not channels_last:
            for parameter in backend.model.parameters():
                parameter.data = parameter.data.contiguous()
    length = seconds if seconds is not None else backend.window_seconds
    tracks = []
    for name in NAMES:
        audio, rate = sf.read(CLIPS / f"{name}.flac", dtype="float32")
        tracks.append(_windows(audio, length, rate))
    backend.predict(tracks)  # warm-up: allocator, oneDNN primitive cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.predict(tracks)
        times.append(time.perf_counter() - start)
    windows = len(tracks) * WINDOWS_PER_TRACK
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return 1000 * min(times) / windows, 1000 * statistics.median(times) / windows, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-channels-last-check", action="store_true")
    args = parser.parse_args(argv)
    runs: list[tuple[str, float | None, int, bool]] = []
    for threads in THREADS:
        runs += [("musicnn-mtt", None, threads, True), ("musicnn-msd", None, threads, True)]
        runs += [("yamnet", seconds, threads, True) for seconds in YAMNET_SECONDS]
        if not args.no_channels_last_check:
            runs += [("yamnet", seconds, threads, False) for seconds in (3.0, 10.0)]
    context = multiprocessing.get_context("spawn")
    header = ("model", "window s", "threads", "layout", "min ms", "median", "peak MB")
    print("{:12s} {:>8s} {:>7s} {:>6s} {:>7s} {:>7s} {:>8s}".format(*header))
    with context.Pool(1, maxtasksperchild=1) as pool:
        for model, seconds, threads, channels_last in runs:
            fastest, median, peak = pool.apply(
                _measure, (model, seconds, threads, args.repeats, channels_last)
            )
            shown = f"{seconds:.3f}" if seconds is not None else "own"
            layout = ("NHWC" if channels_last else "NCHW") if model == "yamnet" else "-"
            row = f"{model:12s} {shown:>8s} {threads:7d} {layout:>6s}"
            print(f"{row} {fastest:7.1f} {median:7.1f} {peak:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
