"""The beat-synchronous heuristic cues (issue 22, must-have 4), cross-validated by artist.

Each candidate is a set of options, the first "no change": a term added to a heuristic rule
at a weight from :data:`GRID` (the others make room for it), a descriptor or a term's target
swapped, a gate on an instrument rule (over the defaults, as a user's config would), or every
adopted change on or off together. The option is chosen by the default blend's objective plus
the heuristics-alone one on four of five folds split by the manifest's ``group`` (one artist
never on both sides) and measured on the fifth: the no-change, in-sample (the best option on
all clips) and held-out figures side by side, per genre, recorded and sequenced clips apart,
for the embedded default's blend (the genre head's held-out outputs) and the heuristics
alone. A change is adopted only where neither held-out top-1 drops.

The clips' features are recomputed from the decoded windows benchmarks/accuracy.py cached
(``.bench-cache/accuracy/prepared``; run it once first), with today's ``features.py``, and
cached by that file's hash under ``.bench-cache/beat``.

    .venv/bin/python benchmarks/beat_rules_cv.py --stats        # the features per genre
    .venv/bin/python benchmarks/beat_rules_cv.py                # every candidate
    .venv/bin/python benchmarks/beat_rules_cv.py --baseline     # the shipped rules only
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import pickle
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from beetsplug.genrescore.analyzer import HEURISTIC_RATE, Analyzer  # noqa: E402
from beetsplug.genrescore.errors import UnusableAudio  # noqa: E402
from beetsplug.genrescore.scoring import features as feature_mod  # noqa: E402
from beetsplug.genrescore.scoring import heuristics  # noqa: E402
from beetsplug.genrescore.scoring.heuristics import Rule, Term  # noqa: E402
from benchmarks import accuracy  # noqa: E402
from benchmarks.devset import MANIFEST, Clip, load_manifest  # noqa: E402

CACHE = ROOT / ".bench-cache" / "beat"
OOF = ROOT / ".bench-cache" / "genre-head" / "oof.json"
FOLDS = 5
#: Weights a new term is tried at (0: the rule as shipped).
GRID = (0.0, 0.1, 0.2, 0.3)
HEURISTICS_ALONE = {"ml": 0.0, "instruments": 0.0, "heuristic": 1.0, "tagger_genres": 0.0}
STAT_FIELDS = ("tempo", "beat_strength", "swing")


def features_of(clip: Clip, runner: accuracy.Runner) -> feature_mod.AudioFeatures:
    """The clip's features by today's features.py (and the dsp.py it calls), from its cached
    decoded windows."""
    digest = accuracy._source_hash(accuracy.FEATURE_SOURCES)
    path = CACHE / f"{clip.id}-{runner._prepared_key(clip)}-{digest[:12]}.pkl"
    if path.exists():
        cached: feature_mod.AudioFeatures = pickle.loads(path.read_bytes())
        return cached
    track = runner.prepared(clip, full=True)
    windows = []
    for y in track.audio[HEURISTIC_RATE]:
        try:
            windows.append(feature_mod.extract_features(y=y, sr=HEURISTIC_RATE))
        except ValueError:
            continue
    combined = feature_mod.combine(windows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(combined))
    return combined


def with_term(rules: Sequence[Rule], genre: str, term: Term) -> tuple[Rule, ...]:
    """``rules`` with ``term`` added to ``genre``'s rule, the others scaled to make room."""
    out = []
    for rule in rules:
        if rule.genre == genre and term.weight > 0.0:
            keep = 1.0 - term.weight
            terms = tuple(dataclasses.replace(t, weight=t.weight * keep) for t in rule.terms)
            tempo = (
                dataclasses.replace(rule.tempo, weight=rule.tempo.weight * keep)
                if rule.tempo
                else None
            )
            rule = dataclasses.replace(rule, terms=(*terms, term), tempo=tempo)
        out.append(rule)
    return tuple(out)


#: Candidate -> (genre, weight -> the term added to its rule). Measured and left out with
#: their code (docs/accuracy.md, "Beat-synchronous cues"): band-wise onset patterns, a kick
#: on every beat (disco, electronic; its absence for reggae and hip hop), off-beat hi-hats
#: (disco), a mid-band chop (reggae).
CANDIDATES: Mapping[str, tuple[str, Callable[[float], Term]]] = {
    "jazz: swing": ("jazz", lambda w: Term("swing", w, "swing")),
    "hip hop: straight": ("hip hop", lambda w: Term("straight, not swung", w, "swing", 0.0)),
    "blues: shuffle": ("blues", lambda w: Term("shuffle", w, "swing")),
    "disco: straight": ("disco", lambda w: Term("straight, not swung", w, "swing", 0.0)),
    "reggae: swung": ("reggae", lambda w: Term("swung", w, "swing")),
}


#: Rule terms that hear distortion through ``noisiness`` (any noise-like spectrum, cymbals
#: included): (genre, term label).
DISTORTION_TERMS = (
    ("heavy metal", "distorted"),
    ("punk rock", "crunchy guitars"),
    ("rock", "guitar grit"),
    ("hip hop", "clean, not distorted"),
)
#: Ramps (log10 of the flatness) the distortion descriptor is tried with.
DISTORTION_RAMPS = {
    "0.005-0.2": (math.log10(0.005), math.log10(0.2)),
    "0.002-0.2": (math.log10(0.002), math.log10(0.2)),
    "0.005-0.1": (math.log10(0.005), math.log10(0.1)),
}


def hearing_distortion(rules: Sequence[Rule], descriptor: str) -> tuple[Rule, ...]:
    """``rules`` with the :data:`DISTORTION_TERMS` reading ``descriptor``."""
    out = []
    for rule in rules:
        terms = tuple(
            dataclasses.replace(t, descriptor=descriptor)
            if (rule.genre, t.label) in DISTORTION_TERMS
            else t
            for t in rule.terms
        )
        out.append(dataclasses.replace(rule, terms=terms))
    return tuple(out)


#: Candidates whose weights are also chosen together.
JOINT = ("jazz: swing", "hip hop: straight")


class Bench:
    def __init__(self, clips: Sequence[Clip]) -> None:
        self.clips = clips
        settings = accuracy.make_settings(accuracy.CONFIGS["default"], "cpu", {})
        self.runner = accuracy.Runner(
            Analyzer(settings, accuracy.build_models(settings)),
            accuracy.CACHE,
            reblend_only=True,
            genre_oof=json.loads(OOF.read_text()) if OOF.exists() else None,
        )
        self.features = {c.id: features_of(c, self.runner) for c in clips}
        self.models = accuracy.CONFIGS["default"]
        runner = self.runner
        genre_out = runner.raw(runner.analyzer.models.genre, clips)
        if runner.genre_oof:
            genre_out = [
                {**g, **runner.genre_oof.get(c.id, {})}
                for c, g in zip(clips, genre_out, strict=True)
            ]
        self.genre_out = genre_out
        self.tagger_out = runner.raw(runner.analyzer.models.instruments, clips)

    def tops(
        self,
        rules: Sequence[Rule],
        weights: Mapping[str, float] | None,
        ramp: tuple[float, float] | None = None,
        instrument_rules: Mapping[str, Any] | None = None,
    ) -> list[list[str]]:
        """Each clip's top genres with ``rules`` as the heuristics' rules (``ramp`` as the
        distortion descriptor's, ``instrument_rules`` over the default instrument rules)."""
        override: dict[str, Any] = {"weights": dict(weights)} if weights else {}
        if instrument_rules:
            override["instrument_rules"] = dict(instrument_rules)
        self.runner.analyzer.settings = accuracy.make_settings(self.models, "cpu", override)
        saved, saved_ramp = heuristics.RULES, heuristics.DISTORTION_RAMP_LOG10
        heuristics.RULES = tuple(rules)  # type: ignore[misc]
        if ramp is not None:
            heuristics.DISTORTION_RAMP_LOG10 = ramp  # type: ignore[misc]
        try:
            out: list[list[str]] = []
            for clip, g, t in zip(self.clips, self.genre_out, self.tagger_out, strict=True):
                track = self.runner.prepared(clip, full=False)
                track = dataclasses.replace(track, features=self.features[clip.id])
                try:
                    result = self.runner.analyzer._decide(track, g, t)
                except UnusableAudio:
                    out.append([])
                    continue
                out.append(list(result.decision.top))
            return out
        finally:
            heuristics.RULES = saved  # type: ignore[misc]
            heuristics.DISTORTION_RAMP_LOG10 = saved_ramp  # type: ignore[misc]


def rights(bench: Bench, tops: Sequence[Sequence[str]]) -> list[tuple[bool, bool]]:
    return [
        accuracy.right(top, clip.genre or "") for clip, top in zip(bench.clips, tops, strict=True)
    ]


def share(rows: Sequence[tuple[bool, bool]], mask: Sequence[bool], k: int = 0) -> float:
    chosen = [r[k] for r, m in zip(rows, mask, strict=True) if m]
    return sum(chosen) / len(chosen) if chosen else 0.0


def objective(rows: Sequence[tuple[bool, bool]], recorded: Sequence[bool]) -> float:
    """As benchmarks/blend_cv.py: recorded top-1 + half its top-3 + a quarter sequenced top-1."""
    sequenced = [not r for r in recorded]
    return share(rows, recorded) + 0.5 * share(rows, recorded, 1) + 0.25 * share(rows, sequenced)


def line(name: str, rows: Sequence[tuple[bool, bool]], recorded: Sequence[bool]) -> str:
    sequenced = [not r for r in recorded]
    return (
        f"{name:34s} recorded {100 * share(rows, recorded):5.1f} / "
        f"{100 * share(rows, recorded, 1):5.1f}   sequenced {100 * share(rows, sequenced):5.1f} / "
        f"{100 * share(rows, sequenced, 1):5.1f}"
    )


def per_genre(bench: Bench, rows: Sequence[tuple[bool, bool]], origin: str) -> dict[str, str]:
    hits: dict[str, list[bool]] = defaultdict(list)
    for clip, (top1, _) in zip(bench.clips, rows, strict=True):
        if clip.origin == origin:
            hits[clip.genre or ""].append(top1)
    return {g: f"{sum(h)}/{len(h)}" for g, h in sorted(hits.items())}


def without_swing(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """``rules`` before this benchmark's cues: swing terms removed, the others scaled back."""
    out = []
    for rule in rules:
        added = sum(t.weight for t in rule.terms if t.descriptor == "swing")
        if added:
            scale = 1.0 / (1.0 - added)
            terms = tuple(
                dataclasses.replace(t, weight=t.weight * scale)
                for t in rule.terms
                if t.descriptor != "swing"
            )
            tempo = (
                dataclasses.replace(rule.tempo, weight=rule.tempo.weight * scale)
                if rule.tempo
                else None
            )
            rule = dataclasses.replace(rule, terms=terms, tempo=tempo)
        out.append(rule)
    return tuple(out)


#: The heuristics' rules, the distortion ramp (None: as shipped) and instrument rules over
#: the defaults (None: as shipped).
Option = tuple[Sequence[Rule], tuple[float, float] | None, Mapping[str, Any] | None]


def cross_validate(bench: Bench, options: Mapping[Any, Option]) -> dict[str, Any]:
    """One of ``options`` (rules, distortion ramp; the first is "no change") chosen per fold
    by the objective of the default blend plus that of the heuristics alone on the other
    folds; both outcomes of the best option in-sample, and held out."""
    recorded = [c.origin == "recorded" for c in bench.clips]
    groups = [c.fold_group for c in bench.clips]
    keys = list(options)
    tables = {
        label: {
            k: rights(bench, bench.tops(options[k][0], weights, options[k][1], options[k][2]))
            for k in keys
        }
        for label, weights in (("blend", None), ("alone", HEURISTICS_ALONE))
    }
    blend, alone = tables["blend"], tables["alone"]

    def total(k: Any, rec: Sequence[bool], seq: Sequence[bool]) -> float:
        # The shipped product is the blend, and the heuristics alone its fallback: both count.
        return sum(
            share(rows, rec) + 0.5 * share(rows, rec, 1) + 0.25 * share(rows, seq)
            for rows in (blend[k], alone[k])
        )

    sequenced = [not r for r in recorded]
    # Ties go to the earlier option: no change first, then the smaller weights.
    best = max(keys, key=lambda k: (total(k, recorded, sequenced), -keys.index(k)))
    held: dict[str, list[tuple[bool, bool]]] = {
        k: [(False, False)] * len(bench.clips) for k in tables
    }
    chosen = []
    for test in accuracy.group_folds(groups, FOLDS):
        train = [i not in set(test) for i in range(len(bench.clips))]
        rec_train = [r and t for r, t in zip(recorded, train, strict=True)]
        seq_train = [(not r) and t for r, t in zip(recorded, train, strict=True)]
        pick = max(keys, key=lambda k: (total(k, rec_train, seq_train), -keys.index(k)))
        chosen.append(pick)
        for label, table in tables.items():
            for i in test:
                held[label][i] = table[pick][i]
    return {"tables": tables, "best": best, "held": held, "chosen": chosen}


def weight_options(
    before: Sequence[Rule], changes: Sequence[tuple[str, Callable[[float], Term]]]
) -> dict[Any, Option]:
    """Every grid point of the terms' weights, as rules."""
    options: dict[Any, Option] = {}
    for point in sorted(itertools.product(GRID, repeat=len(changes)), key=sum):
        rules = tuple(before)
        for (genre, make), w in zip(changes, point, strict=True):
            rules = with_term(rules, genre, make(w))
        options[point] = (rules, None, None)
    return options


def distortion_options(rules: Sequence[Rule]) -> dict[Any, Option]:
    """The rules as they are, and their distortion terms on ``distortion`` at each ramp."""
    options: dict[Any, Option] = {"noisiness": (before_distortion(rules), None, None)}
    for name, ramp in DISTORTION_RAMPS.items():
        options[f"distortion {name}"] = (hearing_distortion(rules, "distortion"), ramp, None)
    return options


def joint_options(rules: Sequence[Rule]) -> dict[Any, Option]:
    """Every combination of the adopted changes, from the rules before them: the guitar terms
    on ``noisiness`` or ``distortion`` (0.005-0.2), and the :data:`JOINT` weights."""
    original = before_distortion(without_swing(rules))
    changes = [CANDIDATES[name] for name in JOINT]
    options: dict[Any, Option] = {}
    for heard in ("noisiness", "distortion"):
        ramp = DISTORTION_RAMPS["0.005-0.2"] if heard == "distortion" else None
        for point, (weighted, _, _) in weight_options(original, changes).items():
            options[(heard, *point)] = (hearing_distortion(weighted, heard), ramp, None)
    return dict(
        sorted(options.items(), key=lambda item: (item[0][0] != "noisiness", sum(item[0][1:])))
    )


#: A term's target tried at other values: name -> (genre, term label, targets; the first as
#: shipped).
TARGET_CANDIDATES: Mapping[str, tuple[str, str, tuple[float, ...]]] = {
    # Punk's guitars have less gain than metal's: on the distortion descriptor, metal reads
    # 0.97, punk and rock about 0.75-0.8 (dev-set medians).
    "punk: crunch below metal's": ("punk rock", "crunchy guitars", (0.7, 0.6, 0.5)),
    "rock: grit below metal's": ("rock", "guitar grit", (0.7, 0.6, 0.5)),
}


def target_options(
    rules: Sequence[Rule], genre: str, label: str, targets: Sequence[float]
) -> dict[Any, Option]:
    options: dict[Any, Option] = {}
    for target in targets:
        changed = tuple(
            dataclasses.replace(
                rule,
                terms=tuple(
                    dataclasses.replace(t, target=target) if t.label == label else t
                    for t in rule.terms
                ),
            )
            if rule.genre == genre
            else rule
            for rule in rules
        )
        options[f"{label} at {target}"] = (changed, None, None)
    return options


#: Instrument rules tried over the defaults: name -> options (the first, no change).
INSTRUMENT_CANDIDATES: Mapping[str, Mapping[str, Mapping[str, Any] | None]] = {
    # A synthesizer under a hip-hop beat is its keys or pads, not electronic music.
    "synthesizer: unless the votes say hip hop": {
        "as shipped": None,
        **{
            f"unless hip hop {share}": {"synthesizer": {"unless": {"hip hop": share}}}
            for share in (0.05, 0.1, 0.2, 0.3)
        },
    },
    # A drum machine pulls towards hip hop (2.0) and electronic (0.8): a digital reggae riddim
    # or a disco track with a machine beat is pulled away from what the votes say. Tried on
    # the 237 clips of 2026-12-07 (batches 6 and 7 in): hip hop 1.0 held out 58.0 / 77.8
    # against 58.0 / 78.3 as shipped; "unless 0.1" 58.5 / 77.8 (one reggae clip right, one
    # top-3 lost), heuristics alone unchanged: one clip either way, neither adopted.
    "drum machine: hip hop boost": {
        "as shipped": None,
        **{
            f"hip hop {amount}": {"drum machine": {"boost": {"hip hop": amount, "electronic": 0.8}}}
            for amount in (1.5, 1.0, 0.5)
        },
    },
    "drum machine: unless the votes say reggae or disco": {
        "as shipped": None,
        **{
            f"unless {share}": {"drum machine": {"unless": {"reggae": share, "disco": share}}}
            for share in (0.1, 0.2)
        },
    },
}


def instrument_options(
    rules: Sequence[Rule], overrides: Mapping[str, Mapping[str, Any] | None]
) -> dict[Any, Option]:
    return {name: (tuple(rules), None, override) for name, override in overrides.items()}


#: What this benchmark adopted, for :func:`adopted_options`: punk's crunch and the
#: synthesizer's hip-hop gate, each as shipped and as before.
PUNK_CRUNCH = (0.7, 0.6)
SYNTHESIZER_GATE = (0.0, 0.1)


def adopted_options(rules: Sequence[Rule]) -> dict[Any, Option]:
    """Every adopted change on or off, from the rules before all of them: distortion,
    jazz's swing (0.1), hip hop's straight beat (0.2), punk's crunch (0.6), the synthesizer's
    hip-hop gate (0.1). The first option is none of them; ties go to fewer changes."""
    original = before_distortion(without_swing(rules))
    options: dict[Any, Option] = {}
    for heard, jazz, hip_hop, crunch, gate in itertools.product(
        ("noisiness", "distortion"), (0.0, 0.1), (0.0, 0.2), PUNK_CRUNCH, SYNTHESIZER_GATE
    ):
        changed = with_term(original, "jazz", CANDIDATES["jazz: swing"][1](jazz))
        changed = with_term(changed, "hip hop", CANDIDATES["hip hop: straight"][1](hip_hop))
        changed = hearing_distortion(changed, heard)
        changed = tuple(
            dataclasses.replace(
                rule,
                terms=tuple(
                    dataclasses.replace(t, target=crunch) if t.label == "crunchy guitars" else t
                    for t in rule.terms
                ),
            )
            for rule in changed
        )
        ramp = DISTORTION_RAMPS["0.005-0.2"] if heard == "distortion" else None
        override = {"synthesizer": {"unless": {"hip hop": gate}}}
        options[(heard, jazz, hip_hop, crunch, gate)] = (changed, ramp, override)

    def changes(key: tuple[Any, ...]) -> int:
        return sum((key[0] == "distortion", key[1] > 0, key[2] > 0, key[3] != 0.7, key[4] > 0))

    return dict(sorted(options.items(), key=lambda item: changes(item[0])))


def before_distortion(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    return hearing_distortion(rules, "noisiness")


def stats(bench: Bench) -> None:
    by: dict[tuple[str, str], list[feature_mod.AudioFeatures]] = defaultdict(list)
    for clip in bench.clips:
        by[(clip.genre or "", clip.origin)].append(bench.features[clip.id])
    print(f"{'genre':24s}" + "".join(f"{f:>14s}" for f in STAT_FIELDS))
    for (genre, origin), items in sorted(by.items()):
        medians = [np.median([getattr(f, name) for f in items]) for name in STAT_FIELDS]
        print(
            f"{genre[:12]:12s} {origin[:3]} {len(items):3d}     "
            + "".join(f"{m:14.3f}" for m in medians)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stats", action="store_true", help="the features' medians per genre")
    parser.add_argument("--baseline", action="store_true", help="the shipped rules only")
    parser.add_argument("--only", action="append", default=[], help="candidate (repeatable)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    args = parser.parse_args()
    clips = [c for c in load_manifest(args.manifest) if c.genre]
    bench = Bench(clips)
    print(f"{len(clips)} clips with a genre; genre head held out: {bench.runner.genre_oof != {}}")
    if args.stats:
        stats(bench)
        return 0
    recorded = [c.origin == "recorded" for c in clips]
    before = without_swing(heuristics.RULES)
    for name, rules in (("shipped rules", heuristics.RULES), ("rules without swing", before)):
        for label, weights in (("blend", None), ("alone", HEURISTICS_ALONE)):
            rows = rights(bench, bench.tops(rules, weights))
            print(line(f"{name}, {label}", rows, recorded))
            print("   recorded per genre:", per_genre(bench, rows, "recorded"))
    if args.baseline:
        return 0
    runs = {name: weight_options(before, [change]) for name, change in CANDIDATES.items()}
    runs[" + ".join(JOINT)] = weight_options(before, [CANDIDATES[name] for name in JOINT])
    runs["distortion for metal, punk, rock, hip hop"] = distortion_options(heuristics.RULES)
    runs["all: distortion x jazz swing x hip hop straight"] = joint_options(heuristics.RULES)
    runs["every adopted change, on or off"] = adopted_options(heuristics.RULES)
    for name, (genre, label, targets) in TARGET_CANDIDATES.items():
        runs[name] = target_options(heuristics.RULES, genre, label, targets)
    for name, overrides in INSTRUMENT_CANDIDATES.items():
        runs[name] = instrument_options(heuristics.RULES, overrides)
    for name, options in runs.items():
        if args.only and name not in args.only:
            continue
        cv = cross_validate(bench, options)
        best = cv["best"]
        print(f"\n== {name}: in-sample {best}, held-out folds chose {cv['chosen']}")
        print("   (genres that moved: against the first option, no change)")
        for label in ("blend", "alone"):
            print(line(f"  {label}, no change", cv["tables"][label][next(iter(options))], recorded))
            ins, held = cv["tables"][label][best], cv["held"][label]
            print(line(f"  {label}, in-sample", ins, recorded))
            print(line(f"  {label}, held out", held, recorded))
            base_g = per_genre(bench, cv["tables"][label][next(iter(options))], "recorded")
            ins_g = per_genre(bench, ins, "recorded")
            held_g = per_genre(bench, held, "recorded")
            moved = {
                g: f"{base_g[g]} -> {ins_g[g]} in-sample, {held_g[g]} held out"
                for g in base_g
                if ins_g[g] != base_g[g] or held_g[g] != base_g[g]
            }
            print(f"    {label}, recorded genres that moved: {moved}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
