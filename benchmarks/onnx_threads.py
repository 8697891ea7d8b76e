"""torch and ONNX Runtime in one process: do their thread pools get in each other's way?

A HF checkpoint on the CPU with an embedded model next to it (a checkpoint for one role, the
embedded fallback or default for the other) runs torch and ONNX Runtime one after the other in
the same process, each with the worker's threads. An idle ONNX Runtime pool spins by default
for a while after each run, on the cores torch wants next (an earlier study saw torch slow
down 2-3x next to an untuned session). This times, interleaved, seconds per round of one
torch forward (musicnn's torch module on 3 patches, standing in for a checkpoint) and one
ONNX Runtime run (YAMNet on one track's 27 patches):

- each alone, with ``threads`` threads;
- both in turn, with the sessions as ``backends/onnx.py`` makes them (no spinning) and with
  spinning allowed (ONNX Runtime's default).

    .venv/bin/python benchmarks/onnx_threads.py [--threads 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from beetsplug.genrescore.backends import musicnn, onnx, yamnet
from beetsplug.genrescore.backends.base import BackendOptions


def _session(threads: int, *, spinning: bool) -> onnxruntime.InferenceSession:
    options = onnx.session_options(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return onnxruntime.InferenceSession(
        str(yamnet.ONNX_PATH), sess_options=options, providers=list(onnx.PROVIDERS)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    backend = musicnn.MusicnnBackend(
        "musicnn-msd", BackendOptions(device="cpu", precision="fp32"), engine="torch"
    )
    assert backend.model is not None
    model = backend.model
    rng = np.random.default_rng(0)
    torch_input = torch.from_numpy(rng.standard_normal((3, 187, 96)).astype(np.float32))
    feed = {"patches": rng.standard_normal((27, 96, 64)).astype(np.float32)}
    sessions = {
        "no spinning": _session(args.threads, spinning=False),
        "spinning": _session(args.threads, spinning=True),
    }

    def run_torch() -> None:
        with torch.inference_mode():
            model(torch_input)

    rows = {
        "torch alone": [run_torch],
        "onnx alone (no spinning)": [lambda: sessions["no spinning"].run(None, feed)],
        "onnx alone (spinning)": [lambda: sessions["spinning"].run(None, feed)],
        "torch, then onnx (no spinning)": [
            run_torch,
            lambda: sessions["no spinning"].run(None, feed),
        ],
        "torch, then onnx (spinning)": [run_torch, lambda: sessions["spinning"].run(None, feed)],
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    for steps in rows.values():  # warm-up
        for step in steps:
            step()
    for _ in range(args.repeats):
        for name, steps in rows.items():
            start = time.perf_counter()
            for _ in range(3):
                for step in steps:
                    step()
            times[name].append((time.perf_counter() - start) / 3)
    print(f"{args.threads} threads each; seconds per round, median (fastest) of {args.repeats}")
    for name, measured in times.items():
        print(f"{name:34s} {statistics.median(measured):.4f} ({min(measured):.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
