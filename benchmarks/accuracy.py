"""Genre and instrument accuracy on the labelled dev set of real recordings (devset/).

Runs each configuration through the project's own analysis (``Analyzer.prepare``, the
backends' ``predict``, the ensemble's blend) and prints, per configuration:

* genre top-1 and top-3 accuracy: a sub-genre counts for its parent and the parent for the
  sub-genre (``bluegrass`` is right for a ``country`` clip, and ``country`` for a
  ``bluegrass`` one), through ``scoring.taxonomy.ancestors``; per-genre recall; a confusion
  table (labelled genre x top-1 genre);
* instrument recall on solo clips, on all clips with labelled instruments, false instruments
  per clip (detected but not labelled; only on clips whose instrument list is complete), and
  per-instrument recall and false-positive counts. A labelled generic name (``guitar``,
  ``strings``, ``brass``) is found by any member of its family (``electric guitar``,
  ``violin``, ``trumpet``...); a specific name needs itself, and a detection of its generic
  family name (``strings`` on a violin clip) is not counted as false.

Every clip's decoded windows and heuristic features (``Analyzer.prepare``) and every
backend's raw output are cached under ``.bench-cache/accuracy/``, keyed by the clip's audio
hash and the decode plan or the backend's fingerprint, so changing weights, rules or
thresholds re-blends without running a model (``--reblend-only`` insists on that).

    .venv/bin/python scripts/build_devset
    .venv/bin/python benchmarks/accuracy.py --configs musicnn-only
    .venv/bin/python benchmarks/accuracy.py --reblend-only --override '{"weights": {"ml": 0.5}}'
    .venv/bin/python benchmarks/accuracy.py --markdown docs/accuracy.md --json acc.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import hashlib
import json
import os
import pickle
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import confuse  # noqa: E402

from beetsplug.genrescore import analyzer as analyzer_mod  # noqa: E402
from beetsplug.genrescore.analyzer import Analyzer, Models, Prepared  # noqa: E402
from beetsplug.genrescore.backends.base import (  # noqa: E402
    EMBEDDED,
    NONE,
    Backend,
    Role,
    build_backend,
)
from beetsplug.genrescore.errors import BackendUnavailable, ConfigError  # noqa: E402
from beetsplug.genrescore.scoring import evaluate, genre_head  # noqa: E402
from beetsplug.genrescore.scoring.calibration import fit_platt  # noqa: E402
from beetsplug.genrescore.scoring.taxonomy import ancestors  # noqa: E402
from beetsplug.genrescore.settings import DEFAULTS, Settings, read_settings  # noqa: E402
from benchmarks.devset import MANIFEST, Clip, load_manifest  # noqa: E402

#: Configuration name -> models (genre, instruments).
CONFIGS: dict[str, dict[str, str]] = {
    "musicnn-only": {"genre": "musicnn-msd", "instruments": "musicnn-mtt"},
    "yamnet-only": {"genre": NONE, "instruments": "yamnet"},
    # The embedded default since issue 22: EfficientAT mn04_as's learned genre head (the genre
    # model) and YAMNet (the instruments).
    "default": {"genre": "efficientat-genre", "instruments": "yamnet"},
    # The embedded default before it.
    "musicnn-msd+yamnet": {"genre": "musicnn-msd", "instruments": "yamnet"},
    # mn04 as the tagger in YAMNet's place; the tagger alone (its AudioSet genre classes);
    # mn04 in both roles.
    "efficientat-tagger": {"genre": "musicnn-msd", "instruments": "efficientat"},
    "efficientat-only": {"genre": NONE, "instruments": "efficientat"},
    "efficientat": {"genre": "efficientat-genre", "instruments": "efficientat"},
}
#: The genre model whose raw outputs ``--genre-oof`` replaces by held-out ones.
HEAD_MODEL = "efficientat-genre"
CACHE = ROOT / ".bench-cache" / "accuracy"
#: Generic instrument -> the specific names that count as hearing it.
FAMILIES: dict[str, frozenset[str]] = {
    "guitar": frozenset({"acoustic guitar", "electric guitar", "steel guitar"}),
    "strings": frozenset({"violin", "cello"}),
    "brass": frozenset({"trumpet", "trombone"}),
}
BATCH = 8
#: How a clip was made (``Clip.origin``): reported apart in the summary.
ORIGINS = ("recorded", "sequenced")
COMMENTARY = re.compile(
    r"<!-- commentary:(?P<name>[\w.+-]+) -->\n(?P<body>.*?)<!-- /commentary -->", re.S
)


# --- settings and models ------------------------------------------------------------------


def make_settings(models: Mapping[str, str], device: str, override: Mapping[str, Any]) -> Settings:
    """Settings as beets would read them: the defaults, the user's overlay, the models."""
    user = {**override, "models": dict(models), "device": device, "jobs": 0}
    view = confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    return read_settings(view)


def build_models(settings: Settings) -> Models:
    """The configured backends, exactly: no silent fallback to another model.

    Raises
    ------
    BackendUnavailable
        A backend is not registered here or cannot run.
    """
    built: dict[Role, Backend | None] = {}
    for role in Role:
        value = settings.models[role]
        if value != NONE and value not in EMBEDDED:
            raise BackendUnavailable(value, "is not an embedded backend in this version")
        built[role] = build_backend(value, role, settings.backend)
    return Models(genre=built[Role.GENRE], instruments=built[Role.INSTRUMENTS])


# --- caches -------------------------------------------------------------------------------


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


_PACKAGE = ROOT / "beetsplug" / "genrescore"
#: The code the cached decoded windows and the cached heuristic features come from.
DECODING_SOURCES = (_PACKAGE / "audio.py",)
FEATURE_SOURCES = (_PACKAGE / "scoring" / "features.py", _PACKAGE / "scoring" / "dsp.py")


@functools.cache
def _source_hash(paths: tuple[Path, ...]) -> str:
    return _key(*(_file_hash(path) for path in paths))


@dataclass
class Timings:
    prepare: float = 0.0
    models: dict[str, float] = field(default_factory=dict)
    blend: float = 0.0
    prepared_hits: int = 0
    raw_hits: int = 0


class Runner:
    """Prepared tracks and raw model outputs for one configuration, cached on disk."""

    def __init__(
        self,
        analyzer: Analyzer,
        cache: Path,
        *,
        reblend_only: bool,
        genre_oof: Mapping[str, dict[str, float]] | None = None,
    ) -> None:
        self.analyzer = analyzer
        #: Clip id -> the learned genre head's held-out output (``--genre-oof``).
        self.genre_oof = genre_oof or {}
        self.cache = cache
        self.reblend_only = reblend_only
        self.timings = Timings()
        for name in ("_run", "_decide"):
            if not hasattr(analyzer, name):
                raise SystemExit(f"Analyzer.{name} is gone: update benchmarks/accuracy.py")

    def _prepared_key(self, clip: Clip) -> str:
        """What the decoded windows depend on: the analysis version and plan, the clip's
        bytes and the decoding code (``audio.py``)."""
        return _key(
            analyzer_mod.ANALYSIS_VERSION,
            self.analyzer.plan,
            _file_hash(clip.path),
            _source_hash(DECODING_SOURCES),
        )

    def _features_key(self, clip: Clip) -> str:
        """What a prepared track (windows and heuristic features) depends on: the decoded
        windows' key and the features' code. ``ANALYSIS_VERSION`` alone was not enough: a
        change to the features made after a version bump, within the same version, left
        the cache serving the features of the code before it (found 2026-12-07: 54 of 280
        clips ranked otherwise, recorded top-1 read 59.4 % instead of 58.0 %)."""
        return _key(self._prepared_key(clip), _source_hash(FEATURE_SOURCES))

    def _raw_path(self, backend: Backend, clip: Clip) -> Path:
        return (
            self.cache / "raw" / backend.fingerprint / f"{clip.id}-{self._prepared_key(clip)}.json"
        )

    def _features_path(self, clip: Clip, full: bool) -> Path:
        kind = "prepared" if full else "features"
        return self.cache / kind / f"{clip.id}-{self._features_key(clip)}.pkl"

    def prepared(self, clip: Clip, *, full: bool) -> Prepared:
        """The clip's prepared track; ``full=False`` may omit the audio (blending only)."""
        light = self._features_path(clip, False)
        heavy = self._features_path(clip, True)
        if not full and light.exists():
            self.timings.prepared_hits += 1
            loaded: Prepared = pickle.loads(light.read_bytes())
            return loaded
        if heavy.exists():
            self.timings.prepared_hits += 1
            loaded = pickle.loads(heavy.read_bytes())
            return loaded
        if self.reblend_only:
            raise SystemExit(f"{clip.id}: not prepared yet; run once without --reblend-only")
        started = time.perf_counter()
        track = self.analyzer.prepare(str(clip.path))
        self.timings.prepare += time.perf_counter() - started
        heavy.parent.mkdir(parents=True, exist_ok=True)
        light.parent.mkdir(parents=True, exist_ok=True)
        heavy.write_bytes(pickle.dumps(track))
        light.write_bytes(pickle.dumps(dataclasses.replace(track, audio={})))
        return track

    def raw(self, backend: Backend | None, clips: Sequence[Clip]) -> list[dict[str, float]]:
        """Each clip's raw output of one backend, running the model only where not cached."""
        if backend is None:
            return [{} for _ in clips]
        out: dict[str, dict[str, float]] = {}
        missing = []
        for clip in clips:
            path = self._raw_path(backend, clip)
            if path.exists():
                out[clip.id] = json.loads(path.read_text())
                self.timings.raw_hits += 1
            else:
                missing.append(clip)
        if missing and self.reblend_only:
            raise SystemExit(
                f"{missing[0].id}: no cached {backend.name} output; run once without --reblend-only"
            )
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            tracks = [self.prepared(clip, full=True) for clip in batch]
            started = time.perf_counter()
            results = self.analyzer._run(backend, tracks)
            spent = time.perf_counter() - started
            self.timings.models[backend.name] = self.timings.models.get(backend.name, 0.0) + spent
            for clip, result in zip(batch, results, strict=True):
                scores = {label: float(score) for label, score in result.items()}
                path = self._raw_path(backend, clip)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(scores))
                out[clip.id] = scores
            print(f"  {backend.name}: {start + len(batch)}/{len(missing)} clips", flush=True)
        return [out[clip.id] for clip in clips]

    def run(self, clips: Sequence[Clip]) -> list[Any]:
        """The TrackResult of every clip."""
        models = self.analyzer.models
        genre_out = self.raw(models.genre, clips)
        if models.genre is not None and models.genre.name == HEAD_MODEL and self.genre_oof:
            # The head was trained on these clips: use what it said with each clip's group
            # held out (tools/train_genre_head.py), so the figures are cross-validated. The
            # voice classes the head's output carries (for the vocals) stay.
            genre_out = [
                {**g, **self.genre_oof.get(c.id, {})} for c, g in zip(clips, genre_out, strict=True)
            ]
        tagger_out = self.raw(models.instruments, clips)
        started = time.perf_counter()
        results = [
            self.analyzer._decide(self.prepared(clip, full=False), g, t)
            for clip, g, t in zip(clips, genre_out, tagger_out, strict=True)
        ]
        self.timings.blend += time.perf_counter() - started
        return results


# --- metrics ------------------------------------------------------------------------------


def genre_matches(predicted: str, labelled: str) -> bool:
    """Right when equal, or when one is the other's ancestor (bluegrass <-> country)."""
    return (
        predicted == labelled
        or predicted in ancestors(labelled)
        or labelled in ancestors(predicted)
    )


def right(top: Sequence[str], label: str) -> tuple[bool, bool]:
    """(top-1 right, top-3 right) for a clip labelled ``label``, ``top`` best first."""
    return (
        bool(top) and genre_matches(top[0], label),
        any(genre_matches(g, label) for g in top[:3]),
    )


def instrument_found(labelled: str, detected: set[str]) -> bool:
    return labelled in detected or bool(FAMILIES.get(labelled, frozenset()) & detected)


def instrument_false(detected: str, labelled: Sequence[str]) -> bool:
    """A detection that names nothing labelled (nor the family of something labelled)."""
    for name in labelled:
        if detected == name or detected in FAMILIES.get(name, ()):
            return False
        if name in FAMILIES.get(detected, ()):  # "strings" on a violin clip
            return False
    return True


def clip_record(clip: Clip, result: Any) -> dict[str, Any]:
    decision = result.decision
    detected = {name for name, _ in decision.instruments}
    top = list(decision.top)
    record: dict[str, Any] = {
        "id": clip.id,
        "label_genre": clip.genre,
        "label_instruments": list(clip.instruments),
        "solo": clip.solo,
        "complete": clip.complete,
        "origin": clip.origin,
        "group": clip.fold_group,
        "top": top,
        "share": round(decision.ranking[0][1], 6) if decision.ranking else 0.0,
        "runner_up": round(decision.ranking[1][1], 6) if len(decision.ranking) > 1 else 0.0,
        "confidence": round(decision.confidence, 6),
        "ranking": {g: round(s, 4) for g, s in decision.ranking},
        "instruments": {n: round(s, 4) for n, s in decision.instruments},
        "weights": {k: round(v, 4) for k, v in decision.effective_weights.items()},
        "boosts": [dataclasses.asdict(b) for b in decision.boosts],
        "components": {
            r.component: {label: round(score, 4) for label, score in r.raw}
            for r in result.components
        },
    }
    if clip.genre is not None:
        record["top1_ok"], record["top3_ok"] = right(top, clip.genre)
    record["found"] = [n for n in clip.instruments if instrument_found(n, detected)]
    record["missed"] = [n for n in clip.instruments if not instrument_found(n, detected)]
    # Missed, but the generic name of its family was detected (MTT's "guitar" on an electric
    # guitar): reported apart, not counted as found.
    record["family_only"] = [
        n for n in record["missed"] if any(n in FAMILIES[g] for g in detected if g in FAMILIES)
    ]
    record["false"] = (
        sorted(n for n in detected if instrument_false(n, clip.instruments))
        if clip.complete
        else None
    )
    return record


@dataclass
class Summary:
    name: str
    models: dict[str, str]
    records: list[dict[str, Any]]
    seconds: dict[str, float]

    def genre_records(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["label_genre"]]

    def figures(self) -> dict[str, Any]:
        genre = self.genre_records()
        solo = [r for r in self.records if r["solo"]]
        labelled = [r for r in self.records if r["label_instruments"]]
        complete = [r for r in self.records if r["complete"]]
        pairs = sum(len(r["label_instruments"]) for r in labelled)
        found = sum(len(r["found"]) for r in labelled)
        return {
            "genre_clips": len(genre),
            "top1": _ratio(sum(r["top1_ok"] for r in genre), len(genre)),
            "top3": _ratio(sum(r["top3_ok"] for r in genre), len(genre)),
            "solo_clips": len(solo),
            "solo_recall": _ratio(sum(len(r["found"]) for r in solo), len(solo)),
            "instrument_pairs": pairs,
            "instrument_recall": _ratio(found, pairs),
            "complete_clips": len(complete),
            "false_per_clip": (
                sum(len(r["false"]) for r in complete) / len(complete) if complete else 0.0
            ),
        }


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table (also readable as plain text)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def report(summary: Summary) -> list[str]:
    f = summary.figures()
    models = ", ".join(f"{k} {v}" for k, v in summary.models.items())
    lines = [f"### {summary.name} ({models})", ""]
    lines += table(
        ["metric", "value", "over"],
        [
            ["genre top-1", _pct(f["top1"]), f"{f['genre_clips']} clips with a genre"],
            ["genre top-3", _pct(f["top3"]), f"{f['genre_clips']} clips with a genre"],
            ["instrument recall, solo clips", _pct(f["solo_recall"]), f"{f['solo_clips']} clips"],
            [
                "instrument recall, all labelled",
                _pct(f["instrument_recall"]),
                f"{f['instrument_pairs']} labelled instruments",
            ],
            [
                "false instruments per clip",
                f"{f['false_per_clip']:.2f}",
                f"{f['complete_clips']} clips with a complete list",
            ],
        ],
    )
    genre = summary.genre_records()
    per_genre: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in genre:
        per_genre[r["label_genre"]].append(r)
    lines += ["", "Per genre (recall):", ""]
    lines += table(
        ["genre", "clips", "top-1", "top-3", "most often predicted"],
        [
            [
                g,
                len(rs),
                _pct(_ratio(sum(r["top1_ok"] for r in rs), len(rs))),
                _pct(_ratio(sum(r["top3_ok"] for r in rs), len(rs))),
                ", ".join(f"{p} {n}" for p, n in Counter(r["top"][0] for r in rs).most_common(3)),
            ]
            for g, rs in sorted(per_genre.items())
        ],
    )
    predicted = sorted({r["top"][0] for r in genre})
    lines += ["", "Confusion (rows: labelled genre; columns: top-1 prediction):", ""]
    counts = Counter((r["label_genre"], r["top"][0]) for r in genre)
    lines += table(
        ["labelled \\ predicted", *predicted],
        [[g, *(counts.get((g, p), "") or "." for p in predicted)] for g in sorted(per_genre)],
    )
    labelled: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    false: Counter[str] = Counter()
    detected_all: Counter[str] = Counter()
    family: Counter[str] = Counter()
    for r in summary.records:
        labelled.update(r["label_instruments"])
        hits.update(r["found"])
        detected_all.update(list(r["instruments"]))
        family.update(r["family_only"])
        if r["false"] is not None:
            false.update(r["false"])
    names = sorted(set(labelled) | set(false))
    complete = sum(1 for r in summary.records if r["complete"])
    lines += [
        "",
        f"Per instrument (recall over clips labelled with it; false positives over the "
        f"{complete} clips with a complete list; detections over all {len(summary.records)}):",
        "",
    ]
    lines += table(
        [
            "instrument",
            "labelled",
            "found",
            "recall",
            "family name only",
            "false positives",
            "detected (all clips)",
        ],
        [
            [
                n,
                labelled[n],
                hits[n],
                _pct(_ratio(hits[n], labelled[n])) if labelled[n] else "-",
                family[n],
                false[n],
                detected_all[n],
            ]
            for n in names
        ],
    )
    return lines


# --- calibration (issue 22 item 5) --------------------------------------------------------

#: Bins of the reliability diagram and the expected calibration error.
CALIBRATION_BINS = 10
CALIBRATION_FOLDS = 5


def group_folds(groups: Sequence[str], folds: int) -> list[list[int]]:
    """Indices per fold, whole groups (artist, album or source) dealt largest first to the
    smallest fold: one artist is never on both sides (``--tune``'s dealing, which
    tools/train_genre_head.py uses too)."""
    return [fold.tolist() for fold in genre_head.group_folds(groups, folds)]


def platt(
    share: float, slope: float, intercept: float, margin: float = 0.0, second: float = 0.0
) -> float:
    from beetsplug.genrescore.scoring.ensemble import ConfidenceMap

    return ConfidenceMap(slope, intercept, margin)(share, second)


def reliability(
    confidence: Sequence[float], right: Sequence[bool]
) -> tuple[float, list[list[object]]]:
    """Expected calibration error and the diagram's rows (bin, clips, mean confidence,
    share right)."""
    # The plugin's own binning and error (scoring/evaluate.py; the --html report draws it).
    bins = evaluate.reliability(confidence, right, CALIBRATION_BINS)
    rows: list[list[object]] = []
    for b in bins:
        bar = "#" * round(20 * b.accuracy)
        rows.append(
            [
                f"{b.low:.1f}-{b.high:.1f}",
                b.items,
                f"{b.confidence:.2f}",
                f"{b.accuracy:.2f}",
                f"`{bar:<20}`",
            ]
        )
    return evaluate.calibration_error(bins) or 0.0, rows


def calibration_report(summary: Summary) -> tuple[tuple[float, ...], list[str]]:
    """The confidence map of the top share and the runner-up's (:class:`ConfidenceMap`),
    fitted on all clips with a genre; its expected calibration error in-sample and held out
    (folds by group), next to plain Platt scaling's, and the held-out reliability diagram."""
    records = summary.genre_records()
    shares = [r["share"] for r in records]
    seconds = [r.get("runner_up", 0.0) for r in records]
    right = [bool(r["top1_ok"]) for r in records]
    groups = [r["group"] for r in records]
    held = [0.0] * len(records)
    held_plain = [0.0] * len(records)
    for test in group_folds(groups, CALIBRATION_FOLDS):
        train = [i for i in range(len(records)) if i not in set(test)]
        a, b, m = fit_platt(
            [shares[i] for i in train], [right[i] for i in train], [seconds[i] for i in train]
        )
        a0, b0 = fit_platt([shares[i] for i in train], [right[i] for i in train])
        for i in test:
            held[i] = platt(shares[i], a, b, m, seconds[i])
            held_plain[i] = platt(shares[i], a0, b0)
    a, b, m = fit_platt(shares, right, seconds)
    a0, b0 = fit_platt(shares, right)
    fitted = [platt(x, a, b, m, y) for x, y in zip(shares, seconds, strict=True)]
    raw_ece, _ = reliability(shares, right)
    in_ece, _ = reliability(fitted, right)
    plain_in, _ = reliability([platt(x, a0, b0) for x in shares], right)
    plain_held, _ = reliability(held_plain, right)
    held_ece, rows = reliability(held, right)
    lines = [
        f"Calibration of {summary.name} ({len(records)} clips with a genre): confidence = "
        f"sigmoid({a:.3f} x logit(share) + {m:.3f} x log(share / runner-up) + {b:.3f}). "
        f"Expected calibration error ({CALIBRATION_BINS} bins): raw share {raw_ece:.3f}; "
        f"mapped, in-sample {in_ece:.3f}, held out ({CALIBRATION_FOLDS} folds by "
        f"artist/source) {held_ece:.3f} (the share alone, sigmoid({a0:.3f} x logit(share) + "
        f"{b0:.3f}): {plain_in:.3f} and {plain_held:.3f}).",
        "",
        "Reliability diagram (held out): among the clips shown with a confidence in the bin,",
        "the share whose top genre is right.",
        "",
        *table(["confidence", "clips", "mean confidence", "right", "right (bar)"], rows),
    ]
    return (a, b), lines


# --- Markdown -----------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {cores} cores usable, {system}, Python {platform.python_version()}"


def write_markdown(
    path: Path,
    summaries: list[Summary],
    skipped: list[str],
    clips: list[Clip],
    calibration: Mapping[str, list[str]] | None = None,
) -> None:
    """Regenerate the tables; keep the hand-written commentary blocks already in the file."""
    kept: dict[str, str] = {}
    if path.exists():
        kept = {m["name"]: m["body"] for m in COMMENTARY.finditer(path.read_text())}
    genres = Counter(c.genre for c in clips if c.genre)
    instruments = Counter(n for c in clips for n in c.instruments)
    sources = Counter(c.source.split("@")[0] for c in clips)
    lines = [
        "# Accuracy on the dev set",
        "",
        "Generated by `benchmarks/accuracy.py --markdown docs/accuracy.md`; the tables are",
        "rewritten on each run, the commentary blocks are kept. Dev set: `devset/manifest.csv`",
        "(built by `scripts/build_devset`; sources, licences and label rules in",
        "`devset/README.md`).",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {machine()}.",
        "",
        "## The dev set",
        "",
        f"{len(clips)} clips of real instruments: "
        f"{sum(1 for c in clips if c.origin == 'recorded')} cut from recordings, "
        f"{sum(1 for c in clips if c.origin == 'sequenced')} sequenced note by note from "
        f"sampled real instruments; {sum(genres.values())} with a genre, "
        f"{sum(1 for c in clips if c.instruments)} with instruments "
        f"({sum(1 for c in clips if c.solo)} solo, "
        f"{sum(1 for c in clips if c.complete)} with a complete instrument list).",
        "",
        "Genres: " + ", ".join(f"{g} {n}" for g, n in sorted(genres.items())) + ".",
        "",
        "Instruments: " + ", ".join(f"{g} {n}" for g, n in sorted(instruments.items())) + ".",
        "",
        "Sources: " + ", ".join(f"{s} {n}" for s, n in sorted(sources.items())) + ".",
        "",
        "Scoring: a sub-genre counts for its parent and the parent for the sub-genre; a",
        "labelled generic instrument (guitar, strings, brass) is found by any instrument of",
        "its family; false instruments are counted only on clips whose list is complete.",
        "",
        "## Summary",
        "",
    ]
    rows = []
    parts = [(s, s.name) for s in summaries]
    for s in summaries:
        for origin in ORIGINS:
            subset = [r for r in s.records if r["origin"] == origin]
            if subset and len(subset) < len(s.records):
                parts.append((dataclasses.replace(s, records=subset), f"{s.name}, {origin} only"))
    for s, label in parts:
        f = s.figures()
        spent = f"{s.seconds.get('total', 0):.0f} s" if label == s.name else "-"
        rows.append(
            [
                label,
                _pct(f["top1"]),
                _pct(f["top3"]),
                _pct(f["solo_recall"]),
                _pct(f["instrument_recall"]),
                f"{f['false_per_clip']:.2f}",
                spent,
            ]
        )
    lines += table(
        [
            "configuration",
            "top-1",
            "top-3",
            "solo instr. recall",
            "instr. recall",
            "false instr./clip",
            "time (this run)",
        ],
        rows,
    )
    for line in skipped:
        lines += ["", f"Skipped: {line}"]
    if calibration:
        lines += ["", "## Confidence as a probability", ""]
        # Written by hand (what the figures below mean for min_confidence), kept like the rest.
        note = kept.get("calibration", "_(no commentary yet on the calibration)_\n")
        lines += ["<!-- commentary:calibration -->", note.rstrip("\n"), "<!-- /commentary -->", ""]
        for name, calibrated in calibration.items():
            lines += [f"### {name}", "", *calibrated, ""]
    lines += ["", "## Where it is weak", ""]
    for name in [*CONFIGS, *(s.name for s in summaries if s.name not in CONFIGS)]:
        body = kept.get(name, "_(no commentary yet for this configuration)_\n")
        lines += [
            f"### {name}",
            "",
            f"<!-- commentary:{name} -->",
            body.rstrip("\n"),
            "<!-- /commentary -->",
            "",
        ]
    lines += ["## Tables", ""]
    for s in summaries:
        lines += report(s)
        lines += [""]
    # Written by hand from benchmarks/vocals_mood.py --devset, kept like the commentary.
    vocals = kept.get("vocals", "_(run benchmarks/vocals_mood.py --devset)_\n")
    lines += ["## Vocals", "", "<!-- commentary:vocals -->", vocals.rstrip("\n")]
    lines += ["<!-- /commentary -->", ""]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


# --- main ---------------------------------------------------------------------------------


def tune_report(clips: Sequence[Clip], results: Sequence[Any], settings: Settings) -> list[str]:
    """What ``--tune`` would find on the dev set: the clips' labels as a user's own genres."""
    from beetsplug.genrescore.insight import lastgenre_tree
    from beetsplug.genrescore.scoring import evidence as codec
    from beetsplug.genrescore.scoring import tune
    from beetsplug.genrescore.scoring.evaluate import accepted

    tree = lastgenre_tree()
    labelled = [(c.genre, r) for c, r in zip(clips, results, strict=True) if c.genre]
    stored = [codec.decode(r.evidence) for _, r in labelled]
    labels = [accepted([genre], tree) for genre, _ in labelled]
    # Folds deal whole artists (the manifest's group), as --tune deals albums: a clip whose
    # artist is on the training side would make the held-out figure optimistic.
    groups = [c.fold_group for c in clips if c.genre]
    lines = []
    for folds in (5, 10):
        found = tune.tune(stored, labels, settings.ensemble, groups=groups, folds=folds, seed=0)
        lines.append(
            f"--tune on {found.labelled} clips ({len(set(groups))} artist groups), "
            f"{folds}-fold held-out top-1: "
            f"{found.held_out_before:.1%} -> {found.held_out_after:.1%} "
            f"(in-sample {found.before:.1%} -> {found.after:.1%})"
        )
    lines += ["  " + line for line in tune.as_yaml(found, settings.ensemble)]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}"
    )
    parser.add_argument("--reblend-only", action="store_true", help="never run a model or decode")
    parser.add_argument(
        "--override", default="{}", help="JSON overlay of genrescore settings (weights, rules...)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--only", action="append", default=[], help="clip id (repeatable)")
    parser.add_argument("--markdown", type=Path, help="regenerate this Markdown report")
    parser.add_argument("--json", type=Path, help="write every per-clip prediction here")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument(
        "--tune",
        action="store_true",
        help="also run --tune's search on the clips' stored evidence (5-fold held-out figures)",
    )
    parser.add_argument(
        "--genre-oof",
        type=Path,
        help="held-out outputs of the learned genre head (tools/train_genre_head.py's oof.json)",
    )
    args = parser.parse_args()
    genre_oof = json.loads(args.genre_oof.read_text()) if args.genre_oof else None

    clips = load_manifest(args.manifest)
    if args.only:
        clips = [c for c in clips if c.id in set(args.only)]
    override = json.loads(args.override)
    summaries: list[Summary] = []
    skipped: list[str] = []
    calibration: dict[str, list[str]] = {}
    for name in [n.strip() for n in args.configs.split(",") if n.strip()]:
        if name not in CONFIGS:
            raise SystemExit(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
        started = time.perf_counter()
        try:
            settings = make_settings(CONFIGS[name], args.device, override)
            models = build_models(settings)
        except (BackendUnavailable, ConfigError) as exc:
            line = f"{name}: cannot build its models here ({exc})"
            print(f"skip {line}", flush=True)
            skipped.append(line)
            continue
        load_seconds = time.perf_counter() - started
        print(f"{name}: {len(clips)} clips", flush=True)
        runner = Runner(
            Analyzer(settings, models),
            args.cache,
            reblend_only=args.reblend_only,
            genre_oof=genre_oof,
        )
        results = runner.run(clips)
        t = runner.timings
        seconds = {
            "load_models": load_seconds,
            "prepare": t.prepare,
            **{f"model {k}": v for k, v in t.models.items()},
            "blend": t.blend,
            "total": time.perf_counter() - started,
        }
        summary = Summary(
            name=name,
            models=dict(CONFIGS[name]),
            records=[clip_record(c, r) for c, r in zip(clips, results, strict=True)],
            seconds=seconds,
        )
        summaries.append(summary)
        print("\n".join(["", *report(summary), ""]))
        if summary.genre_records():
            _, calibration[name] = calibration_report(summary)
            print("\n".join([*calibration[name], ""]))
        if args.tune:
            print("\n".join(tune_report(clips, results, settings)), flush=True)
        print(
            f"time: {', '.join(f'{k} {v:.1f} s' for k, v in seconds.items())}; "
            f"cache hits: prepared {t.prepared_hits}, raw {t.raw_hits}\n",
            flush=True,
        )
    if args.json:
        payload = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(),
            "override": override,
            "skipped": skipped,
            "configurations": [
                {
                    "name": s.name,
                    "models": s.models,
                    "figures": s.figures(),
                    "seconds": s.seconds,
                    "clips": s.records,
                }
                for s in summaries
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    if args.markdown:
        write_markdown(args.markdown, summaries, skipped, clips, calibration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
