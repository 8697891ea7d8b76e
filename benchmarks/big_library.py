"""A query on a genrescore field over a big library: whole ``beet`` processes, old vs new.

    PYTHONPATH=. .venv/bin/python benchmarks/big_library.py [--items 100000] [--against DIR]

Builds a real beets library (SQLite, beets' Python API) of ``--items`` items carrying the
fields the plugin stores (stored evidence shaped like the embedded models',
tests/evidence_fixtures.py, its blend, a fingerprint), of which ``--matches`` have a genre no
other item has; only those have an audio file (a short WAV), since only they are looked at.
Then, for this tree and for ``--against`` (an older checkout of the plugin, e.g.
``mkdir OLD && git archive 05a235d | tar -x -C OLD``), each as a fresh ``beet`` process with
PYTHONPATH pointing at it:

- ``beet ls QUERY``: beets' own pass over the query (the baseline);
- ``beet genrescore QUERY`` with every match up to date (a no-op run);
- ``beet genrescore --reblend -f QUERY`` (every match blended again and stored).

Before each tree's rows, the matches are marked up to date with that tree's own
fingerprint (``Run.fingerprint``), so the no-op row analyses nothing in either. Prints
seconds, the ratio to ``beet ls`` and the run's summary line; rows are repeated
``--repeats`` times, interleaved, and the median is shown.

Measured (issue 20), one run each, 2 shared cores, old = 05a235d in the same run:

=========================================  =========  =========  =========  =========
row (3 matches of a genrescore_genre query)  20k new    20k old    100k new   100k old
=========================================  =========  =========  =========  =========
beet ls QUERY                               8.2 s      12.2 s     151.0 s    142.8 s
beet genrescore QUERY (no-op)               8.5 s      > 500 s    57.5 s     > 300 s
beet genrescore --reblend -f QUERY          8.2 s      262.8 s    49.7 s     > 300 s
=========================================  =========  =========  =========  =========

Building the 100,000-item library took 1,245 s (beets' ``Item.add``, on the loaded machine);
the 20,000-item one 99 s. The old rows were stopped at the timeout. A second 100k run of the
new tree alone on a quieter machine (built in 207 s, median of 2): beet ls 35.8 s, no-op
32.8 s, --reblend -f 25.7 s; the first run's beet ls rows were slowed by other jobs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
from beets import config
from beets.library import Item, Library

from beetsplug.genrescore import library
from beetsplug.genrescore.scoring import evidence as codec
from beetsplug.genrescore.scoring.ensemble import blend
from beetsplug.genrescore.settings import DEFAULTS, read_settings
from tests.evidence_fixtures import tracks

HERE = Path(__file__).resolve().parent.parent
#: Distinct evidences generated, then reused round-robin (generating 100,000 costs minutes).
POOL = 2000
#: The matches' WAV files: 5 s of noise at 22.05 kHz.
RATE, SECONDS = 22050, 5


def _write_wav(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    samples = (rng.uniform(-0.3, 0.3, RATE * SECONDS) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(samples.tobytes())


def _populate(db: Path, music: Path, count: int, matches: int) -> str:
    """The library; returns the query that matches the ``matches`` items."""
    Item._types.update(library.FIELD_TYPES)  # as the plugin registers them
    # The blend the plugin's default config gives, so that a re-blend keeps each genre.
    config["genrescore"].add(DEFAULTS)
    default = read_settings(config["genrescore"]).ensemble
    pool = []
    for track in tracks(POOL, seed=11):
        text, read = codec.stored(track.evidence)
        pool.append((text, library.decision_values(blend(read, default))))
    genres = sorted({values[library.GENRE] for _, values in pool})
    counts = {g: sum(v[library.GENRE] == g for _, v in pool) for g in genres}
    # A genre named by some evidences, not a substring of any other genre's name.
    rare = next(
        g
        for g in sorted(genres, key=lambda g: counts[g])
        if counts[g] >= 1 and not any(g.lower() in o.lower() for o in genres if o != g)
    )
    chosen = [entry for entry in pool if entry[1][library.GENRE] == rare]
    others = [entry for entry in pool if entry[1][library.GENRE] != rare]
    lib = Library(str(db), str(music))
    step = max(1, count // matches)
    with lib.transaction():
        for n in range(count):
            match = n % step == step // 2 and n // step < matches
            text, values = chosen[n % len(chosen)] if match else others[n % len(others)]
            path = music / f"{n}.wav"
            if match:
                _write_wav(path, n)
            item = Item(path=str(path), title=f"t{n}", artist=f"a{n % 300}", album=f"b{n % 9000}")
            item.update(values)
            item[library.EVIDENCE] = text
            item[library.METHOD] = "ensemble"
            item[library.BLEND] = "defaults-of-another-release"
            item[library.FINGERPRINT] = "stored-by-another-release"
            item.add(lib)
    lib._close()
    return f"{library.GENRE}:{rare}"


#: Run under each tree's PYTHONPATH: marks the matches current with that tree's fingerprint.
MARK = textwrap.dedent(
    """
    import logging, sys
    from beets import config, library as beets_library, plugins
    config.read()
    plugins.load_plugins()
    lib = beets_library.Library(config["library"].as_filename(), config["directory"].as_filename())
    plugin = next(iter(plugins.find_plugins()))
    from beetsplug.genrescore import library
    from beetsplug.genrescore.run import Run, RunOptions
    print(library.__file__)
    run = Run(plugin.settings, logging.getLogger("bench"), RunOptions())
    for item in lib.items([sys.argv[1]]):
        item[library.FINGERPRINT] = run.fingerprint(item)
        item[library.BLEND] = run.blend_fingerprint
        item.store()
    """
)


def _env(folder: Path, tree: Path) -> dict[str, str]:
    return {**os.environ, "BEETSDIR": str(folder), "PYTHONPATH": str(tree)}


def _mark(folder: Path, tree: Path, query: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MARK, query],
        env=_env(folder, tree),
        cwd=folder,  # not the checkout: `python -c`/`-m` put the working directory first
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"marking the matches current failed:\n{done.stderr}")
    where = done.stdout.strip().splitlines()[0]
    assert where.startswith(str(tree)), f"{where} is not under {tree}"


def _run(folder: Path, tree: Path, timeout: float, *args: str) -> tuple[float, str]:
    """Seconds and summary of one ``beet`` process (stopped after ``timeout`` s: the old
    code's quadratic rows take over an hour on 100,000 items)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "beets", *args],
            env=_env(folder, tree),
            cwd=folder,  # not the checkout: `python -c`/`-m` put the working directory first
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return float("inf"), f"stopped after {timeout:.0f} s"
    seconds = time.perf_counter() - start
    out = done.stdout + done.stderr
    if done.returncode:
        raise SystemExit(f"beet {' '.join(args)} failed under {tree}:\n{out}")
    summary = next((line for line in out.splitlines() if "skipped" in line), "")
    return seconds, summary.strip() or f"{len(done.stdout.splitlines())} lines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--matches", type=int, default=3)
    parser.add_argument("--against", type=Path, default=None, help="an older checkout")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600, help="per beet process (s)")
    args = parser.parse_args()
    trees = [("new", HERE)] + ([("old", args.against.resolve())] if args.against else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db, music = folder / "library.db", folder / "music"
        music.mkdir()
        started = time.perf_counter()
        query = _populate(db, music, args.items, args.matches)
        print(
            f"library of {args.items} items ({args.matches} matching {query}) built in "
            f"{time.perf_counter() - started:.0f} s; {db.stat().st_size / 1e6:.0f} MB; "
            f"{os.cpu_count()} CPUs"
        )
        (folder / "config.yaml").write_text(
            f"library: {db}\ndirectory: {music}\nplugins: genrescore\nimport: {{write: no}}\n"
        )
        rows = [
            ("beet ls QUERY", ("ls", query)),
            ("beet genrescore QUERY (no-op)", ("genrescore", query)),
            ("beet genrescore --reblend -f QUERY", ("genrescore", "--reblend", "-f", query)),
        ]
        times: dict[tuple[str, str], list[float]] = {}
        summaries: dict[tuple[str, str], str] = {}
        for _ in range(args.repeats):
            for label, tree in trees:
                _mark(folder, tree, query)
                for name, command in rows:
                    seconds, summary = _run(folder, tree, args.timeout, *command)
                    times.setdefault((label, name), []).append(seconds)
                    summaries[label, name] = summary
        for label, _ in trees:
            baseline = statistics.median(times[label, rows[0][0]])
            for name, _ in rows:
                seconds = statistics.median(times[label, name])
                shown = f"{seconds:7.1f} s" if seconds < float("inf") else f"> {args.timeout:.0f} s"
                print(
                    f"{label:4s} {name:36s} {shown}  {seconds / baseline:5.1f}x ls  "
                    f"{summaries[label, name]}"
                )


if __name__ == "__main__":
    main()
