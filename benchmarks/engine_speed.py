"""The embedded models' two engines, ONNX Runtime and torch, on this CPU: seconds per track.

Each embedded backend runs on ONNX Runtime for float32 on the CPU and on torch elsewhere
(``backends.placement.default_engine``); this shows what each costs on the CPU (and so what a GPU
could save at most). It times, interleaved in one process:

- ``predict`` per track of musicnn-msd (three 3 s windows: 3 patches) and YAMNet (three
  4.815 s windows: 27 patches), one track per call and 8 tracks batched, with 1 and 2
  intra-op threads (``backends.onnx.set_threads``, ``torch.set_num_threads``); the median and
  the fastest of ``--repeats`` (other load on a shared machine only ever adds time);
- building each backend on each engine (torch already imported, so its import is not
  counted);
- ``import torch`` in a fresh interpreter, what the ONNX engine saves a CPU run.

Usage::

    python benchmarks/engine_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from beetsplug.genrescore.backends import onnx
from beetsplug.genrescore.backends.base import Backend, BackendOptions
from beetsplug.genrescore.backends.musicnn import MusicnnBackend
from beetsplug.genrescore.backends.yamnet import YamnetBackend

Waveform = npt.NDArray[np.float32]

CLIPS: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "musicnn"
NAMES: Final = ("violin", "rock", "piano", "techno", "tone")
#: Windows per track, as the analyzer cuts them by default.
WINDOWS: Final = 3
ENGINES: Final = ("onnx", "torch")
THREADS: Final = (1, 2)
BATCHED_TRACKS: Final = 8


def _windows(audio: Waveform, seconds: float) -> list[Waveform]:
    length = round(seconds * 16000)
    centres = [len(audio) * k // (WINDOWS + 1) for k in range(1, WINDOWS + 1)]
    return [audio[c - length // 2 : c - length // 2 + length] for c in centres]


def _build(model: str, engine: str) -> Backend:
    options = BackendOptions(device="cpu", precision="fp32")
    if model == "yamnet":
        return YamnetBackend(options, engine=engine)
    return MusicnnBackend(model, options, engine=engine)


def _median_min(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), min(times)


def _import_torch_seconds(repeats: int) -> tuple[float, float]:
    code = "import time; t = time.perf_counter(); import torch; print(time.perf_counter() - t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeats)
    ]
    return _median_min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    models = ("musicnn-msd", "yamnet")

    build: dict[tuple[str, str], list[float]] = {}
    backends: dict[tuple[str, str], Backend] = {}
    for _ in range(args.repeats):
        for model in models:
            for engine in ENGINES:
                start = time.perf_counter()
                backends[model, engine] = _build(model, engine)
                build.setdefault((model, engine), []).append(time.perf_counter() - start)

    clips = [sf.read(CLIPS / f"{name}.flac", dtype="float32")[0] for name in NAMES]
    workloads: dict[tuple[str, int], list[list[Waveform]]] = {}
    for model in models:
        seconds = backends[model, "onnx"].window_seconds
        for tracks in (1, BATCHED_TRACKS):
            workloads[model, tracks] = [
                _windows(clips[i % len(clips)], seconds) for i in range(tracks)
            ]

    runs: list[tuple[str, int, int, str]] = [
        (model, tracks, threads, engine)
        for model in models
        for tracks in (1, BATCHED_TRACKS)
        for threads in THREADS
        for engine in ENGINES
    ]

    def timed(run: tuple[str, int, int, str]) -> Callable[[], float]:
        model, tracks, threads, engine = run

        def once() -> float:
            torch.set_num_threads(threads)
            onnx.set_threads(threads)  # the session is remade when the count changes
            with threadpool_limits(limits=threads):
                start = time.perf_counter()
                backends[model, engine].predict(workloads[model, tracks])
                return (time.perf_counter() - start) / tracks

        return once

    times: dict[tuple[str, int, int, str], list[float]] = {run: [] for run in runs}
    for run in runs:  # warm-up: allocators, oneDNN's primitive cache
        timed(run)()
    for _ in range(args.repeats):
        for run in runs:
            times[run].append(timed(run)())

    print(f"seconds per track, median (fastest) of {args.repeats}, interleaved")
    print(
        f"{'model':12s} {'tracks':>6s} {'threads':>7s} {'onnx':>15s} {'torch':>15s} "
        f"{'onnx/torch':>11s}"
    )
    for model in models:
        for tracks in (1, BATCHED_TRACKS):
            for threads in THREADS:
                onnx_times = _median_min(times[model, tracks, threads, "onnx"])
                torch_times = _median_min(times[model, tracks, threads, "torch"])
                print(
                    f"{model:12s} {tracks:6d} {threads:7d}"
                    f" {onnx_times[0]:7.4f} ({onnx_times[1]:.4f})"
                    f" {torch_times[0]:7.4f} ({torch_times[1]:.4f})"
                    f" {onnx_times[0] / torch_times[0]:6.2f}"
                    f" ({onnx_times[1] / torch_times[1]:.2f})"
                )
    print("\nbuilding a backend, seconds, median (fastest); torch's import not counted")
    for model in models:
        onnx_build = _median_min(build[model, "onnx"])
        torch_build = _median_min(build[model, "torch"])
        print(
            f"{model:12s} onnx {onnx_build[0]:.4f} ({onnx_build[1]:.4f})"
            f"  torch {torch_build[0]:.4f} ({torch_build[1]:.4f})"
        )
    imported = _import_torch_seconds(min(args.repeats, 5))
    print(f"\nimport torch in a fresh interpreter: {imported[0]:.2f} s ({imported[1]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
