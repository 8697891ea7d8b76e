"""Accuracy guard: the embedded default's genre top-1/top-3 on dev-set clips it was not tuned on.

The embedded default's constants were fitted on the dev set (devset/manifest.csv): the blend's
weights, the instrument prior and the instrument rules' boosts by hand and by ``--tune``, the
learned genre head (when it is the default genre model) by tools/train_genre_head.py. A
figure measured on the same clips flatters them. This check cross-validates instead:

* folds are split by the manifest's ``group`` (an artist, album or source), whole groups
  dealt to ``--folds`` folds (``accuracy.group_folds``), so one artist is never on both sides;
* for each fold, the blend's knobs (weights, prior, one scale per rule: what ``--tune``
  searches, ``scoring/tune.py``) are searched again from the shipped values on the other
  folds' clips only, and the held-out fold is ranked with what that search found;
* the learned genre head's outputs are its held-out ones (``tools/train_genre_head.py``'s
  ``oof.json``: each clip scored by a head trained without its group).

A top genre counts as right as in benchmarks/accuracy.py (equal, or one the other's
ancestor: ``bluegrass`` for a ``country`` clip). The figures are compared with the floors in
``benchmarks/accuracy_floors.json``; the check exits 1 when one is below its floor, 0
otherwise. The floors are today's figures less a small margin: when the default, the head or
the dev set change on purpose, rerun with ``--write-floors`` (today's figures less
``--margin``) and commit the file with the change that moved them.

It reads the models' outputs from benchmarks/accuracy.py's cache (``.bench-cache/accuracy``,
filled by a run of accuracy.py or of this script without ``--reblend-only``; running the
models takes minutes, the guard on a filled cache about 10 s).

    .venv/bin/python scripts/build_devset
    .venv/bin/python benchmarks/accuracy_guard.py                 # run models where not cached
    .venv/bin/python benchmarks/accuracy_guard.py --reblend-only  # cached outputs only
    .venv/bin/python benchmarks/accuracy_guard.py --write-floors --margin 0.03
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from beetsplug.genrescore.analyzer import Analyzer  # noqa: E402
from beetsplug.genrescore.backends.base import EMBEDDED_DEFAULTS, Role  # noqa: E402
from beetsplug.genrescore.scoring import evidence as codec  # noqa: E402
from beetsplug.genrescore.scoring import tune  # noqa: E402
from benchmarks.accuracy import (  # noqa: E402
    CACHE,
    HEAD_MODEL,
    Runner,
    build_models,
    genre_matches,
    group_folds,
    make_settings,
    right,
)
from benchmarks.devset import MANIFEST, Clip, load_manifest  # noqa: E402

FLOORS = ROOT / "benchmarks" / "accuracy_floors.json"
OOF = ROOT / ".bench-cache" / "genre-head" / "oof.json"
#: Where the learned genre head's record (``genre_head.json``: the clips it was trained on) is.
HEAD_DATA = ROOT / "beetsplug" / "genrescore" / "data" / "efficientat"
#: The figures a floor can be set on (shares of the clips with a genre).
FIGURES = ("top1", "top3")
FOLDS = 5


@dataclass(frozen=True)
class Figures:
    """Top-1 and top-3 (shares right) over ``clips`` clips with a genre."""

    clips: int
    top1: float
    top3: float

    def of(self, name: str) -> float:
        value: float = getattr(self, name)
        return value


def ranked(scores: np.ndarray[Any, Any], genres: Sequence[str], count: int) -> list[str]:
    """The ``count`` best genres of one row of scores, best first; equal scores in the
    genres' (alphabetical) order, as the blend ranks them; none scored above 0: none."""
    order = sorted(range(len(genres)), key=lambda g: (-scores[g], g))
    return [genres[g] for g in order[:count] if scores[g] > 0.0]


def cross_validate(
    evidence: Sequence[Any],
    labels: Sequence[str],
    groups: Sequence[str],
    config: Any,
    folds: int = FOLDS,
) -> tuple[Figures, Figures]:
    """(shipped knobs on every clip, knobs searched on the other folds for each held-out
    fold): top-1/top-3 of each."""
    matrix = tune.EvidenceMatrix(evidence, config)
    accepted = [frozenset(g for g in matrix.genres if genre_matches(g, x)) for x in labels]
    agreement = tune.Agreement(matrix, accepted)
    start = tune.Knobs.of(config)
    everything = np.arange(matrix.size)
    shipped = matrix.scores(start)
    held_out = np.zeros_like(shipped)
    for test in group_folds(groups, folds):
        rows = np.array(test, dtype=np.intp)
        train = np.setdiff1d(everything, rows)
        fitted = tune.search(agreement, start, train)
        held_out[rows] = matrix.scores(fitted)[rows]
    return _figures(shipped, matrix.genres, labels), _figures(held_out, matrix.genres, labels)


def _figures(scores: np.ndarray[Any, Any], genres: Sequence[str], labels: Sequence[str]) -> Figures:
    hits = [right(ranked(row, genres, 3), label) for row, label in zip(scores, labels, strict=True)]
    count = len(labels)
    return Figures(
        count,
        sum(one for one, _ in hits) / count if count else 0.0,
        sum(three for _, three in hits) / count if count else 0.0,
    )


def read_floors(path: Path) -> dict[str, float]:
    """The floors file: ``{"top1": 0.55, "top3": 0.70, ...}`` (other keys are notes).

    Raises
    ------
    SystemExit
        The file is missing, not JSON, or a floor is not a number between 0 and 1.
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read the floors ({exc})") from exc
    floors: dict[str, float] = {}
    for name in FIGURES:
        value = data.get(name) if isinstance(data, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise SystemExit(f"{path}: {name!r} must be a share between 0 and 1, not {value!r}")
        floors[name] = float(value)
    return floors


def below(figures: Figures, floors: Mapping[str, float]) -> list[str]:
    """One line per figure under its floor (empty: the guard passes)."""
    return [
        f"{name} {figures.of(name):.1%} is below its floor {floor:.1%}"
        for name, floor in floors.items()
        if figures.of(name) < floor
    ]


def evidence_of(
    clips: Sequence[Clip], cache: Path, reblend_only: bool
) -> tuple[str, Any, list[Any], list[str], list[str]]:
    """(the models' description, the ensemble config, evidence, labels, groups) of the
    embedded default on the clips with a genre."""
    models = {role.value: EMBEDDED_DEFAULTS[role] for role in Role}
    settings = make_settings(models, "cpu", {})
    oof: dict[str, dict[str, float]] | None = None
    if models[Role.GENRE.value] == HEAD_MODEL:
        if not OOF.exists():
            raise SystemExit(
                f"{OOF}: the learned genre head's held-out outputs are missing; "
                "run tools/train_genre_head.py"
            )
        oof = json.loads(OOF.read_text())
        # A clip the head was trained on, scored in-sample, would flatter the figure.
        trained = json.loads((HEAD_DATA / "genre_head.json").read_text())["clips"]
        stale = sorted({clip["id"] for clip in trained} - set(oof))
        if stale:
            raise SystemExit(
                f"{OOF}: no held-out output for {len(stale)} clips the genre head was trained "
                f"on ({', '.join(stale[:3])}...); rerun tools/train_genre_head.py"
            )
    runner = Runner(
        Analyzer(settings, build_models(settings)), cache, reblend_only=reblend_only, genre_oof=oof
    )
    labelled = [clip for clip in clips if clip.genre]
    results = runner.run(labelled)
    described = f"genre {models['genre']}, instruments {models['instruments']}"
    if oof is not None:
        described += " (the head's held-out outputs)"
    return (
        described,
        settings.ensemble,
        [codec.decode(result.evidence) for result in results],
        [clip.genre or "" for clip in labelled],
        [clip.fold_group for clip in labelled],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floors", type=Path, default=FLOORS)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--reblend-only", action="store_true", help="never run a model or decode")
    parser.add_argument(
        "--write-floors", action="store_true", help="set the floors to today's figures - margin"
    )
    parser.add_argument("--margin", type=float, default=0.03, help="for --write-floors")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    clips = load_manifest(args.manifest)
    described, config, evidence, labels, groups = evidence_of(clips, args.cache, args.reblend_only)
    shipped, held = cross_validate(evidence, labels, groups, config, args.folds)
    print(f"embedded default ({described}), {held.clips} clips with a genre:")
    print(
        f"  the shipped blend, not searched again: top-1 {shipped.top1:.1%}, "
        f"top-3 {shipped.top3:.1%}"
    )
    print(
        f"  cross-validated ({args.folds} folds by group): "
        f"top-1 {held.top1:.1%}, top-3 {held.top3:.1%}"
    )
    if args.write_floors:
        floors = {name: round(max(0.0, held.of(name) - args.margin), 3) for name in FIGURES}
        note = (
            f"cross-validated figures of {time.strftime('%Y-%m-%d')} "
            f"({described}, {held.clips} clips) less {args.margin:g}"
        )
        record = {**floors, "models": described, "note": note}
        args.floors.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.floors}: {floors}")
        return 0
    failures = below(held, read_floors(args.floors))
    noted = json.loads(args.floors.read_text()).get("models")
    if noted is not None and noted != described:
        print(
            f"note: the floors were set for {noted}; the default is now {described}: "
            "rerun with --write-floors when the change is meant"
        )
    print(f"  ({time.perf_counter() - started:.1f} s)")
    for line in failures:
        print(f"FAIL: {line} ({args.floors})")
    if not failures:
        print(f"ok: at or above the floors of {args.floors}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
