"""How the embedded YAMNet's instrument scores are read: the tables behind its constants.

``beetsplug/genrescore/backends/yamnet.py`` reads a track score (each window's strongest patch,
averaged over windows) through a display threshold per instrument, a relative share of the
strongest instrument, and a soft boost range (a floor below the display threshold, full
strength above it). This script shows where those numbers come from, on the dev set
(devset/, real recordings; run scripts/build_devset first):

1. per instrument, the scores of the clips that have it and of the clips whose complete
   instrument list lacks it (the highest ones named), and a ROC AUC;
2. a grid over the global display threshold and the relative share: solo-instrument recall,
   recall over every labelled instrument, false instruments per clip;
3. a grid over the boost range (floor share, full multiple) and the instrument prior: genre
   top-1 / top-3 of the default configuration (musicnn-msd + yamnet + heuristics).

Models run once and are cached (benchmarks/accuracy.py's cache), so a second run takes seconds.
The constants are chosen on the same clips they are measured on, so the dev-set figures are
optimistic; ``--folds`` reports the display grid's choice cross-validated (chosen on k-1
folds, measured on the held-out fold) so the optimism can be seen.

    .venv/bin/python benchmarks/yamnet_calibrate.py [--folds 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.analyzer import Analyzer  # noqa: E402
from beetsplug.genrescore.backends import yamnet  # noqa: E402
from beetsplug.genrescore.scoring.taxonomy import instrument_scores  # noqa: E402
from benchmarks.accuracy import (  # noqa: E402
    CACHE,
    CONFIGS,
    Runner,
    Summary,
    build_models,
    clip_record,
    instrument_false,
    instrument_found,
    make_settings,
)
from benchmarks.devset import MANIFEST, Clip, load_manifest  # noqa: E402

DISPLAY_GRID = (0.03, 0.05, 0.07, 0.1, 0.15, 0.2)
RELATIVE_GRID = (0.0, 0.05, 0.1, 0.2)
FLOOR_GRID = (0.005, 0.01, 0.02, 0.03, 0.05)
FULL_GRID = (0.1, 0.2, 0.4)
PRIOR_GRID = (1.0, 2.0, 4.0)


@contextmanager
def constants(
    display: float | None = None,
    relative: float | None = None,
    floor: float | None = None,
    full: float | None = None,
) -> Iterator[None]:
    """Set the backend's reading constants for the duration of a block."""
    saved = (
        yamnet.YAMNET_INSTRUMENT_THRESHOLDS,
        yamnet.YamnetBackend.instrument_relative,
        yamnet.BOOST_FLOOR,
        yamnet.BOOST_FULL,
    )
    if display is not None:
        yamnet.YAMNET_INSTRUMENT_THRESHOLDS = {  # type: ignore[misc]
            name: yamnet.DISPLAY_OVERRIDES.get(name, display) for name in yamnet.INSTRUMENTS
        }
    if relative is not None:
        yamnet.YamnetBackend.instrument_relative = relative
    if floor is not None:
        yamnet.BOOST_FLOOR = floor  # type: ignore[misc]
    if full is not None:
        yamnet.BOOST_FULL = full  # type: ignore[misc]
    try:
        yield
    finally:
        yamnet.YAMNET_INSTRUMENT_THRESHOLDS = saved[0]  # type: ignore[misc]
        yamnet.YamnetBackend.instrument_relative = saved[1]
        yamnet.BOOST_FLOOR = saved[2]  # type: ignore[misc]
        yamnet.BOOST_FULL = saved[3]  # type: ignore[misc]


def runner_for(config: str, override: Mapping[str, Any] | None = None) -> Runner:
    settings = make_settings(CONFIGS[config], "cpu", override or {})
    return Runner(Analyzer(settings, build_models(settings)), CACHE, reblend_only=False)


def figures(runner: Runner, clips: Sequence[Clip]) -> dict[str, Any]:
    results = runner.run(clips)
    records = [clip_record(c, r) for c, r in zip(clips, results, strict=True)]
    return Summary("", {}, records, {}).figures()


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def instrument_table(runner: Runner, clips: Sequence[Clip]) -> None:
    tagger = runner.analyzer.models.instruments
    raw = runner.raw(tagger, clips)
    scores = {clip.id: instrument_scores(r) for clip, r in zip(clips, raw, strict=True)}
    print("## 1. Instrument scores (track score: strongest patch per window, mean of windows)\n")
    print("| instrument | clips with it: scores | highest without it (clip) | AUC |")
    print("|---|---|---|---|")
    for name in yamnet.INSTRUMENTS:
        pos = sorted(scores[c.id].get(name, 0.0) for c in clips if name in c.instruments)
        neg = sorted(
            (scores[c.id].get(name, 0.0), c.id)
            for c in clips
            if c.complete and instrument_false(name, c.instruments)
        )
        top_neg = ", ".join(f"{v:.3f} ({cid})" for v, cid in neg[-2:][::-1])
        pos_text = " ".join(f"{v:.3f}" for v in pos) or "-"
        value = auc(pos, [v for v, _ in neg])
        print(f"| {name} | {pos_text} | {top_neg} | {value:.2f} |")
    print()


def display_grid(
    runner: Runner, clips: Sequence[Clip], *, show: bool = True
) -> dict[tuple[float, float], dict[str, Any]]:
    out = {}
    for display, relative in itertools.product(DISPLAY_GRID, RELATIVE_GRID):
        with constants(display=display, relative=relative):
            out[display, relative] = figures(runner, clips)
    if show:
        print("## 2. Display threshold x relative share (yamnet-only)\n")
        print("| threshold | relative | solo recall | recall, all | false per clip |")
        print("|---|---|---|---|---|")
        for (display, relative), f in out.items():
            print(
                f"| {display} | {relative} | {f['solo_recall']:.3f} | "
                f"{f['instrument_recall']:.3f} | {f['false_per_clip']:.2f} |"
            )
        print()
    return out


def display_score(f: Mapping[str, Any]) -> float:
    """What the display is chosen for: recall, paying for every false instrument."""
    return float(f["solo_recall"] + f["instrument_recall"] - 0.5 * f["false_per_clip"])


def cross_validate(runner: Runner, clips: Sequence[Clip], folds: int) -> None:
    """Choose (threshold, relative) on k-1 folds, measure on the held-out one."""
    totals = {"solo": [0, 0], "all": [0, 0], "false": [0, 0]}
    for k in range(folds):
        train = [c for i, c in enumerate(clips) if i % folds != k]
        test = [c for i, c in enumerate(clips) if i % folds == k]
        grid = display_grid(runner, train, show=False)
        display, relative = max(grid, key=lambda key: display_score(grid[key]))
        with constants(display=display, relative=relative):
            results = runner.run(test)
        for clip, result in zip(test, results, strict=True):
            detected = {name for name, _ in result.decision.instruments}
            found = sum(instrument_found(n, detected) for n in clip.instruments)
            if clip.solo:
                totals["solo"][0] += found
                totals["solo"][1] += 1
            totals["all"][0] += found
            totals["all"][1] += len(clip.instruments)
            if clip.complete:
                totals["false"][0] += sum(instrument_false(n, clip.instruments) for n in detected)
                totals["false"][1] += 1
        print(f"fold {k}: chose threshold {display}, relative {relative}")
    solo, every, false = (totals[key] for key in ("solo", "all", "false"))
    print(
        f"\n{folds}-fold cross-validated display: solo recall {solo[0] / max(1, solo[1]):.3f}, "
        f"recall {every[0] / max(1, every[1]):.3f}, "
        f"false per clip {false[0] / max(1, false[1]):.2f}\n"
    )


def boost_grid(clips: Sequence[Clip]) -> None:
    print("## 3. Boost range x instrument prior (default configuration)\n")
    print("| boost floor | boost full | prior | top-1 | top-3 |")
    print("|---|---|---|---|---|")
    runners: dict[float, Runner] = {}
    for prior in PRIOR_GRID:
        runners[prior] = runner_for("default", {"instrument_prior": prior})
    for floor, full, prior in itertools.product(FLOOR_GRID, FULL_GRID, PRIOR_GRID):
        with constants(floor=floor, full=full):
            f = figures(runners[prior], clips)
        print(f"| {floor} | {full} | {prior} | {f['top1']:.3f} | {f['top3']:.3f} |")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--skip", action="append", default=[], choices=("1", "2", "3", "cv"))
    args = parser.parse_args()
    clips = load_manifest(args.manifest)
    tagger_only = runner_for("yamnet-only")
    steps: dict[str, Callable[[], object]] = {
        "1": lambda: instrument_table(tagger_only, clips),
        "2": lambda: display_grid(tagger_only, clips),
        "cv": lambda: cross_validate(tagger_only, clips, args.folds),
        "3": lambda: boost_grid(clips),
    }
    for key, step in steps.items():
        if key not in args.skip:
            step()
    return 0


if __name__ == "__main__":
    sys.exit(main())
