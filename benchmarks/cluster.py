"""The Ray path against the local process pool on one machine: tracks per second, bytes shipped.

    PYTHONPATH=. .venv/bin/python benchmarks/cluster.py [--tracks 12] [--seconds 60]

Synthesizes ``--tracks`` tracks (flac), then runs the embedded default models over them
(a) with the engine's process pool (models in the workers) and (b) with the workers only
decoding and the models on a local Ray instance (``ray.init`` with the same cores, one
actor per core). Prints tracks per second for both, their ratio, and the bytes one track
costs on the wire (the pickled windows sent, the outputs returned). docs/cluster.md quotes it.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import confuse

from beetsplug.genrescore import cluster
from beetsplug.genrescore.analyzer import Analyzer, load_models
from beetsplug.genrescore.demo import synth
from beetsplug.genrescore.engine import Engine
from beetsplug.genrescore.settings import DEFAULTS, default_jobs, read_settings
from tests.audio_files import encode

EMBEDDED = {"models": {"genre": "musicnn-msd", "instruments": "yamnet"}}
STYLES = ("techno", "rock", "hiphop", "classical")


def _timed(engine: Engine[str], paths: list[Path]) -> float:
    start = time.perf_counter()
    done = list(engine.run((p.name, str(p)) for p in paths))
    elapsed = time.perf_counter() - start
    assert all(d.result is not None for d in done), [d.error for d in done if d.error]
    return len(done) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(EMBEDDED), confuse.ConfigSource.of(DEFAULTS)])
    )
    analyzer = Analyzer(settings, load_models(settings, print))
    cores = default_jobs()
    with tempfile.TemporaryDirectory() as folder:
        paths = [
            encode(synth.STYLES[STYLES[i % 4]](args.seconds), synth.SR, Path(folder) / f"{i}.flac")
            for i in range(args.tracks)
        ]
        prepared = analyzer.prepare(str(paths[0]))
        rates = frozenset(b.sample_rate for b in analyzer.models.backends)
        sent = len(pickle.dumps(cluster.shipped(prepared, rates), protocol=5))
        whole = len(pickle.dumps(prepared, protocol=5))
        returned = len(pickle.dumps(analyzer.evidence([prepared])[0], protocol=5))

        pool: Engine[str] = Engine(analyzer, jobs=cores)
        try:
            _timed(pool, paths[:cores])  # warm: workers forked, models loaded
            local = _timed(pool, paths)
        finally:
            pool.close()

        import ray

        ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False)
        remote = cluster.RayInference(analyzer, "auto", batch_tracks=cluster.BATCH_TRACKS)
        engine: Engine[str] = Engine(
            analyzer, jobs=cores, batch_tracks=remote.batch_tracks, remote=remote
        )
        try:
            _timed(engine, paths[:cores])
            on_ray = _timed(engine, paths)
        finally:
            engine.close()
            remote.close()
            ray.shutdown()

    print(f"{args.tracks} tracks of {args.seconds:g} s, {cores} cores, embedded models")
    print(f"process pool          {local:6.2f} tracks/s")
    print(f"Ray ({len(remote.nodes)} actors)       {on_ray:6.2f} tracks/s")
    print(f"Ray / pool            {on_ray / local:6.2f}x")
    print(f"sent per track        {sent / 1e6:6.2f} MB (the decoded track: {whole / 1e6:.2f} MB)")
    print(f"returned per track    {returned / 1e3:6.1f} kB")


if __name__ == "__main__":
    main()
