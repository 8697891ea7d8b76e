"""``--reblend`` and ``--tune`` over a large library: whole ``beet`` processes, timed.

    PYTHONPATH=. .venv/bin/python benchmarks/reblend.py [--items 10000]

Builds a real beets library (SQLite) of ``--items`` items whose stored evidence is shaped like
the embedded models' (tests/evidence_fixtures.py), half of them with genres of their own, then
times, each as a fresh ``beet`` process: ``beet ls`` over every item (beets' own pass over
the library: the baseline), ``beet genrescore --reblend`` after a change of weights (every
item re-blended and stored), the same again (nothing to do), and ``beet genrescore --tune``.
Prints seconds, seconds per item, the ratio to the baseline and each process's peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from beets.library import Item, Library

from beetsplug.genrescore import library
from beetsplug.genrescore.scoring import evidence as codec
from beetsplug.genrescore.scoring.ensemble import EnsembleConfig, blend
from beetsplug.genrescore.scoring.taxonomy import display_name
from tests.evidence_fixtures import tracks


def _populate(path: Path, count: int) -> None:
    Item._types.update(library.FIELD_TYPES)  # as the plugin registers them
    lib = Library(str(path))
    default = EnsembleConfig()
    with lib.transaction():
        for n, track in enumerate(tracks(count, seed=11)):
            text, read = codec.stored(track.evidence)
            item = Item(path=f"/music/{n}.flac", title=f"t{n}", artist=f"a{n % 300}")
            item.update(library.decision_values(blend(read, default)))
            item[library.EVIDENCE] = text
            item[library.BLEND] = "defaults-of-another-release"
            if n % 2 == 0:
                item.genres = [display_name(track.truth)]
            item.add(lib)
    lib._close()


def _run(folder: Path, *args: str) -> tuple[float, float, str]:
    """Seconds and peak memory (MB) of one ``beet`` process, and its output."""
    env = {**os.environ, "BEETSDIR": str(folder)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "beets", *args], env=env, capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "library.db"
        started = time.perf_counter()
        _populate(db, args.items)
        print(f"library of {args.items} items built in {time.perf_counter() - started:.1f} s; "
              f"{db.stat().st_size / 1e6:.1f} MB")  # fmt: skip
        config = folder / "config.yaml"
        config.write_text(
            f"library: {db}\ndirectory: {folder / 'music'}\nplugins: genrescore\n"
            "import: {write: no}\n"
            "genrescore: {weights: {ml: 0.4, instruments: 0.5, heuristic: 0.1}}\n"
        )
        rows = [
            ("beet ls (baseline)", ("ls", "-f", "$title")),
            ("--reblend (all changed)", ("genrescore", "--reblend")),
            ("--reblend (none changed)", ("genrescore", "--reblend")),
            ("--tune (5 folds)", ("genrescore", "--tune")),
        ]
        baseline = None
        for name, command in rows:
            seconds, peak, out = _run(folder, *command)
            baseline = baseline or seconds
            summary = next(
                (line for line in out.splitlines() if "re-blended" in line or "skipped" in line),
                "",
            )
            print(
                f"{name:26s} {seconds:6.2f} s  {1000 * seconds / args.items:6.3f} ms/item  "
                f"{seconds / baseline:5.2f}x baseline  peak {peak:.0f} MB  {summary.strip()}"
            )
            if command[-1] == "--tune":
                print("\n".join("    " + line for line in out.strip().splitlines()))


if __name__ == "__main__":
    main()
