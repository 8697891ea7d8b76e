"""The ensemble's weights chosen by cross-validation grouped by artist (issue 22 item 4).

For one pair of models (genre model, instrument tagger), every weighting of a small grid
re-blends the dev set's cached evidence (``benchmarks/accuracy.py``'s cache: run it once
first); then, for each of 5 folds split by the manifest's ``group`` (one artist never on
both sides), the weighting that scores best on the other four folds is measured on the held
one. Prints each component alone, the grid's best in-sample, today's weights, and the
weighting chosen by grouped CV held out, recorded and sequenced clips apart.

The score a weighting is chosen by: recorded top-1 plus half the recorded top-3, with the
sequenced clips' top-1 counted at a quarter (30 clips, and the rules were tuned on them by hand).

    .venv/bin/python benchmarks/accuracy.py --configs default,musicnn-msd+yamnet  # the cache
    .venv/bin/python benchmarks/blend_cv.py --config default \
        --genre-oof .bench-cache/genre-head/oof.json
    .venv/bin/python benchmarks/blend_cv.py --config musicnn-msd+yamnet
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.analyzer import Analyzer  # noqa: E402
from beetsplug.genrescore.errors import UnusableAudio  # noqa: E402
from beetsplug.genrescore.scoring.ensemble import Weights  # noqa: E402
from benchmarks import accuracy  # noqa: E402
from benchmarks.devset import MANIFEST, load_manifest  # noqa: E402

GRID: Mapping[str, Sequence[float]] = {
    "ml": (0.2, 0.5, 1.0, 2.0),
    "instruments": (0.0, 0.3, 0.6),
    "heuristic": (0.0, 0.1, 0.2),
    "tagger_genres": (0.0, 0.1, 0.3),
}
ALONE: Mapping[str, dict[str, float]] = {
    "genre model alone": {"ml": 1.0, "instruments": 0.0, "heuristic": 0.0, "tagger_genres": 0.0},
    "instruments alone": {"ml": 0.0, "instruments": 1.0, "heuristic": 0.0, "tagger_genres": 0.0},
    "heuristics alone": {"ml": 0.0, "instruments": 0.0, "heuristic": 1.0, "tagger_genres": 0.0},
    "tagger genres alone": {"ml": 0.0, "instruments": 0.0, "heuristic": 0.0, "tagger_genres": 1.0},
}
FOLDS = 5


def outcomes(
    runner: accuracy.Runner, clips: Sequence[Any], weights: Mapping[str, float], models: Any
) -> list[tuple[bool, bool]]:
    """(top-1 right, top-3 right) per clip with a genre, blended with ``weights``."""
    settings = accuracy.make_settings(models, "cpu", {"weights": dict(weights)})
    runner.analyzer.settings = settings
    genre_out = runner.raw(runner.analyzer.models.genre, clips)
    if runner.genre_oof:
        genre_out = [
            {**g, **runner.genre_oof.get(c.id, {})} for c, g in zip(clips, genre_out, strict=True)
        ]
    tagger_out = runner.raw(runner.analyzer.models.instruments, clips)
    out = []
    for clip, g, t in zip(clips, genre_out, tagger_out, strict=True):
        try:
            result = runner.analyzer._decide(runner.prepared(clip, full=False), g, t)
        except UnusableAudio:  # no component said anything: wrong
            out.append((False, False))
            continue
        out.append(accuracy.right(list(result.decision.top), clip.genre))
    return out


def figures(rows: Sequence[tuple[bool, bool]], mask: Sequence[bool]) -> tuple[float, float]:
    chosen = [r for r, m in zip(rows, mask, strict=True) if m]
    if not chosen:
        return 0.0, 0.0
    return sum(a for a, _ in chosen) / len(chosen), sum(b for _, b in chosen) / len(chosen)


def objective(rows: Sequence[tuple[bool, bool]], recorded: Sequence[bool]) -> float:
    rec = figures(rows, recorded)
    seq = figures(rows, [not r for r in recorded])
    return rec[0] + 0.5 * rec[1] + 0.25 * seq[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="default", choices=sorted(accuracy.CONFIGS))
    parser.add_argument("--genre-oof", type=Path, help="the genre head's held-out outputs")
    parser.add_argument("--json", type=Path, help="write every weighting's figures here")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    args = parser.parse_args()
    models = accuracy.CONFIGS[args.config]
    clips = [c for c in load_manifest(args.manifest) if c.genre]
    settings = accuracy.make_settings(models, "cpu", {})
    runner = accuracy.Runner(
        Analyzer(settings, accuracy.build_models(settings)),
        accuracy.CACHE,
        reblend_only=True,
        genre_oof=json.loads(args.genre_oof.read_text()) if args.genre_oof else None,
    )
    recorded = [c.origin == "recorded" for c in clips]
    sequenced = [not r for r in recorded]
    groups = [c.fold_group for c in clips]

    def line(name: str, rows: Sequence[tuple[bool, bool]]) -> str:
        rec, seq = figures(rows, recorded), figures(rows, sequenced)
        return (
            f"{name:38s} recorded {100 * rec[0]:5.1f} / {100 * rec[1]:5.1f}   "
            f"sequenced {100 * seq[0]:5.1f} / {100 * seq[1]:5.1f}"
        )

    for name, weights in ALONE.items():
        print(line(name, outcomes(runner, clips, weights, models)), flush=True)
    today = {k: float(v) for k, v in vars(Weights()).items()}
    print(line(f"today's weights {today}", outcomes(runner, clips, today, models)), flush=True)
    grid = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    table = [outcomes(runner, clips, w, models) for w in grid]
    best = max(range(len(grid)), key=lambda i: objective(table[i], recorded))
    print(line(f"best in-sample {grid[best]}", table[best]))
    held: list[tuple[bool, bool]] = [(False, False)] * len(clips)
    chosen = []
    for test in accuracy.group_folds(groups, FOLDS):
        train = set(range(len(clips))) - set(test)
        rec_train = [recorded[i] and i in train for i in range(len(clips))]
        seq_train = [(not recorded[i]) and i in train for i in range(len(clips))]

        def score(
            i: int, rec_train: list[bool] = rec_train, seq_train: list[bool] = seq_train
        ) -> float:
            rec, seq = figures(table[i], rec_train), figures(table[i], seq_train)
            return rec[0] + 0.5 * rec[1] + 0.25 * seq[0]

        pick = max(range(len(grid)), key=score)
        chosen.append(grid[pick])
        for i in test:
            held[i] = table[pick][i]
    print(line("chosen by grouped CV, held out", held))
    for weights in chosen:
        print(f"  fold's choice {weights}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "weights": w,
                        "recorded": figures(t, recorded),
                        "sequenced": figures(t, sequenced),
                    }
                    for w, t in zip(grid, table, strict=True)
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
