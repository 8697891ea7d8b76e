"""Per-track model time of the embedded genre models and the tagger, side by side.

Each backend's ``predict`` on one track of three analysis windows of noise (the plugin's
default: 3 windows; each model hears its own window length), on one ONNX Runtime thread,
the models interleaved round by round so that a busy machine slows them alike; the fastest
and the median of the rounds. Also mn04's numpy front end alone (3 x 10 s).

    .venv/bin/python benchmarks/efficientat_speed.py [--rounds 25]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.backends import efficientat, onnx  # noqa: E402
from beetsplug.genrescore.backends.base import BackendOptions, Role, build_backend  # noqa: E402

MODELS = (
    ("musicnn-msd", Role.GENRE),
    ("efficientat-genre", Role.GENRE),
    ("yamnet", Role.INSTRUMENTS),
)
WINDOWS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    onnx.set_threads(args.threads)
    options = BackendOptions(device="cpu")
    backends = {}
    for name, role in MODELS:
        backend = build_backend(name, role, options)
        assert backend is not None
        backends[name] = backend
    rng = np.random.default_rng(0)

    def track(rate: int, seconds: float) -> list[np.ndarray]:
        n = int(rate * seconds)
        return [(0.1 * rng.standard_normal(n)).astype(np.float32) for _ in range(WINDOWS)]

    times: dict[str, list[float]] = {name: [] for name in [*backends, "mn04 front end"]}
    for _ in range(args.rounds):
        for name, backend in backends.items():
            windows = track(backend.sample_rate, backend.window_seconds)
            started = time.perf_counter()
            backend.predict([windows])
            times[name].append(time.perf_counter() - started)
        windows = track(efficientat.SAMPLE_RATE, efficientat.WINDOW_SECONDS)
        started = time.perf_counter()
        for window in windows:
            efficientat.log_mel(window)
        times["mn04 front end"].append(time.perf_counter() - started)
    print(f"per track ({WINDOWS} windows), {args.threads} thread(s), {args.rounds} rounds:")
    for name, spent in times.items():
        fastest, median = 1000 * min(spent), 1000 * float(np.median(spent))
        print(f"  {name:18s} fastest {fastest:6.0f} ms, median {median:6.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
