"""Seconds per track of the embedded musicnn path, both models, on this CPU.

Runs ``musicnn-msd`` and ``musicnn-mtt`` the way the analyzer does: every track's windows of
both models in one ``predict`` call each, several tracks batched together, float32, two
threads. Reports the median wall time per track for 1, 2 and 3 windows of 3 s and of 9 s
(the ``windows`` setting and the backend's window length are the knobs), and the process's
peak RSS after each. With ``--bf16`` it also times bfloat16 and reports its largest
probability difference to float32 on the reference clips.

Usage::

    python benchmarks/musicnn_speed.py [--tracks N] [--repeats N] [--bf16]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from beetsplug.genrescore.backends.base import Backend, BackendOptions
from beetsplug.genrescore.backends.musicnn import MusicnnBackend

Waveform = npt.NDArray[np.float32]

#: The brief's measuring conditions: the project's 2-core machine, both cores.
THREADS: Final = 2
CLIPS: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "musicnn"
NAMES: Final = ("violin", "rock", "piano", "techno", "tone")
SR: Final = 16000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def _windows(audio: Waveform, count: int, seconds: float) -> list[Waveform]:
    """``count`` windows of ``seconds`` centred at 1/(count+1), 2/(count+1)... of the track."""
    length = int(seconds * SR)
    centres = [len(audio) * k // (count + 1) for k in range(1, count + 1)]
    return [audio[c - length // 2 : c - length // 2 + length] for c in centres]


def _time_predict(
    backends: Sequence[Backend], tracks: list[list[Waveform]], repeats: int
) -> tuple[float, float]:
    """Median and min wall seconds of one predict call per backend over all tracks."""
    for backend in backends:  # warm-up: allocator, oneDNN primitive cache
        backend.predict(tracks)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for backend in backends:
            backend.predict(tracks)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=4, help="tracks batched per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="also time bf16 and check accuracy")
    args = parser.parse_args()

    torch.set_num_threads(THREADS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ", end="")
    print(f"cpu capability {torch.backends.cpu.get_cpu_capability()}, ", end="")
    print(f"load average {os.getloadavg()[0]:.2f} at start")
    clips = [sf.read(CLIPS / f"{name}.flac", dtype="float32")[0] for name in NAMES]
    tracks_audio = [clips[i % len(clips)] for i in range(args.tracks)]

    start = time.perf_counter()
    fp32 = [
        MusicnnBackend(name, BackendOptions(device="cpu", precision="fp32"))
        for name in ("musicnn-msd", "musicnn-mtt")
    ]
    print(
        f"load both models: {time.perf_counter() - start:.3f} s, peak RSS {_peak_rss_mb():.0f} MB"
    )

    print(f"\n{args.tracks} tracks per call, both models, fp32, median of {args.repeats}")
    print("window  windows  patches/track/model  s/track (median)  s/track (min)  peak RSS MB")
    for seconds in (3.0, 9.0):
        for count in (1, 2, 3):
            tracks = [_windows(audio, count, seconds) for audio in tracks_audio]
            median, best = _time_predict(fp32, tracks, args.repeats)
            patches = count * int(seconds // 3)
            print(
                f"{seconds:4.0f} s  {count:7d}  {patches:19d}  {median / args.tracks:16.3f}"
                f"  {best / args.tracks:13.3f}  {_peak_rss_mb():11.0f}"
            )
    print(f"load average {os.getloadavg()[0]:.2f} at end")

    print(f"\npatches per forward pass, 3 windows of 9 s, {args.tracks} tracks, both models")
    print("patches/forward  wall s/track  user s/track  sys s/track  page faults/track")
    tracks = [_windows(audio, 3, 9.0) for audio in tracks_audio]
    default_chunk = fp32[0].max_batch
    for chunk in (default_chunk, 9 * args.tracks, default_chunk):
        for backend in fp32:
            backend.max_batch = chunk
            backend.predict(tracks)
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        for backend in fp32:
            backend.predict(tracks)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"{chunk:15d}  {wall / args.tracks:12.3f}"
            f"  {(after.ru_utime - before.ru_utime) / args.tracks:12.3f}"
            f"  {(after.ru_stime - before.ru_stime) / args.tracks:11.3f}"
            f"  {(after.ru_minflt - before.ru_minflt) / args.tracks:17.0f}"
        )

    if args.bf16:
        bf16 = [
            MusicnnBackend(name, BackendOptions(device="cpu", precision="bf16"))
            for name in ("musicnn-msd", "musicnn-mtt")
        ]
        tracks = [_windows(audio, 1, 3.0) for audio in tracks_audio]
        fp32_time, _ = _time_predict(fp32, tracks, 1)
        bf16_time, _ = _time_predict(bf16, tracks, 1)
        print(f"\n1 window of 3 s: fp32 {fp32_time / args.tracks:.3f} s/track, ", end="")
        print(f"bf16 {bf16_time / args.tracks:.3f} s/track ({bf16_time / fp32_time:.1f}x)")
        # Accuracy: three 3 s windows of every reference clip, per track and per tag.
        clip_tracks = [_windows(audio, 3, 3.0) for audio in clips]
        for exact, approx in zip(fp32, bf16, strict=True):
            worst = 0.0
            for a, b in zip(exact.predict(clip_tracks), approx.predict(clip_tracks), strict=True):
                worst = max(worst, max(abs(a[label] - b[label]) for label in a))
            print(f"{exact.name}: bf16 vs fp32 max |probability difference| {worst:.4f}")


if __name__ == "__main__":
    main()
