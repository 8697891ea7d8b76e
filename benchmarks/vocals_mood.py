"""Calibrate the vocals threshold and look at the mood scores, with the embedded YAMNet.

Material (all free, nothing downloaded at run time):

* instrumentals: every ``synth`` style (and the half-time groove), and the development set's
  clips (``devset/``, all instrumental but the ones named in ``VOCAL_CLIPS``), read from
  accuracy.py's cache of YAMNet's outputs when it has them;
* speech: espeak-ng (Debian package) reading a paragraph, mixed over each synth style at
  several levels (speech RMS relative to the music's) and alone;
* singing: any recordings passed with ``--singing`` (the calibration used Karissa Hobbs,
  "Let's Go Fishin'", CC BY 3.0, from github:librosa/data ``audio/Karissa_Hobbs_-_Lets_Go_
  Fishin.ogg``: a country song sung by a woman).

Each track is analysed as the plugin does (three windows, YAMNet's track scores), and the
script prints ``scoring.traits``' vocal score and mood list per track, and the gap between
the loudest instrumental and the quietest vocal.

    .venv/bin/python benchmarks/vocals_mood.py [--singing FILE ...]

``--devset`` calibrates the singing threshold instead (issue 22 item 6): on the dev set's
clips labelled for vocals (``vocals`` column: sung recordings, recorded and sequenced
instrumentals) and the synthesized styles as instrumentals, with the tagger named by
``--tagger`` (YAMNet's or EfficientAT mn04's scores, from accuracy.py's cache or run where
missing), it picks the highest singing threshold of most recall at
``traits.VOCAL_MIN_PRECISION`` precision, speech at its threshold, and prints precision and
recall in-sample (chosen on every clip) and held out (chosen without each artist group, for
that group's clips), and the current rule's figures, as markdown (docs/accuracy.md, "Vocals"):

    .venv/bin/python benchmarks/vocals_mood.py --devset --tagger yamnet
    .venv/bin/python benchmarks/vocals_mood.py --devset --tagger efficientat
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import confuse  # noqa: E402
import soundfile  # noqa: E402

from beetsplug.genrescore.analyzer import Analyzer, load_models  # noqa: E402
from beetsplug.genrescore.demo import synth  # noqa: E402
from beetsplug.genrescore.scoring import traits  # noqa: E402
from beetsplug.genrescore.settings import DEFAULTS, read_settings  # noqa: E402

TEXT = (
    "The river runs down past the old mill, and every morning the baker opens his door "
    "before the sun is up. Nobody in the village remembers when the bridge was built."
)
#: Speech level relative to the music, dB (0: as loud as the music).
LEVELS_DB = (0.0, -6.0, -12.0, -18.0)
#: Development-set clips that have a voice in them (checked by ear and by the manifest notes).
VOCAL_CLIPS: frozenset[str] = frozenset()
RAW_CACHE = ROOT / ".bench-cache" / "accuracy" / "raw"
SECONDS = 30.0


def speech(folder: Path) -> np.ndarray:
    """espeak-ng reading :data:`TEXT`, at synth's rate, looped to :data:`SECONDS`."""
    import librosa

    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is missing: scripts/setup installs it")
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), TEXT], check=True)
    y, _ = librosa.load(wav, sr=synth.SR)
    looped: np.ndarray = np.resize(np.asarray(y, dtype=np.float32), int(SECONDS * synth.SR))
    return looped


def mix(music: np.ndarray, voice: np.ndarray, level_db: float) -> np.ndarray:
    gain = 10.0 ** (level_db / 20.0) * _rms(music) / max(_rms(voice), 1e-9)
    out: np.ndarray = music + gain * voice[: len(music)]
    scaled: np.ndarray = (0.9 * out / np.max(np.abs(out))).astype(np.float32)
    return scaled


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


# --- --devset: the singing threshold on real recordings -----------------------------------

#: A labelled clip: (id, artist group, sung, the tagger's track scores).
Row = tuple[str, str, bool, dict[str, float]]


def devset_rows(tagger: str) -> list[Row]:
    """The dev set's clips labelled for vocals, and the synthesized styles (instrumental)."""
    from benchmarks import accuracy
    from benchmarks.devset import load_manifest

    settings = accuracy.make_settings({"genre": "none", "instruments": tagger}, "cpu", {})
    models = accuracy.build_models(settings)
    analyzer = Analyzer(settings, models)
    runner = accuracy.Runner(analyzer, accuracy.CACHE, reblend_only=False)
    clips = [clip for clip in load_manifest() if clip.vocals is not None]
    raws = runner.raw(models.instruments, clips)
    rows: list[Row] = [
        (clip.id, clip.fold_group, clip.vocals == "vocal", raw)
        for clip, raw in zip(clips, raws, strict=True)
    ]
    assert models.instruments is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "track.wav"
        for style, make in {**synth.STYLES, "halftime": synth.halftime}.items():
            soundfile.write(path, make(SECONDS), synth.SR)
            raw = analyzer._run(models.instruments, [analyzer.prepare(str(path))])[0]
            rows.append((f"synth-{style}", "synth", False, raw))
    return rows


def _sung(raw: dict[str, float], rule: traits.VocalRule) -> bool:
    return traits.vocals(raw, rule).kind == "vocal"


def precision_recall(rows: list[Row], predicted: list[bool]) -> tuple[float, float, int, int]:
    """Precision, recall, true and false positives."""
    tp = sum(1 for row, p in zip(rows, predicted, strict=True) if p and row[2])
    fp = sum(1 for row, p in zip(rows, predicted, strict=True) if p and not row[2])
    sung = sum(1 for row in rows if row[2])
    return tp / max(tp + fp, 1), tp / max(sung, 1), tp, fp


def choose_singing(rows: list[Row], speech: float) -> float:
    """The highest singing threshold of most recall at :data:`VOCAL_MIN_PRECISION`.

    Candidates are the clips' own strongest singing scores; where none reaches the
    precision, the one of highest precision.
    """
    strongest = sorted(
        {max(raw.get(label, 0.0) for label in traits.SINGING_LABELS) for _, _, _, raw in rows}
    )
    best: tuple[bool, float, float, float] | None = None  # (meets, recall or precision, t)
    for t in (value for value in strongest if value > 0.0):
        rule = traits.VocalRule(singing=t, speech=speech)
        p, r, _, _ = precision_recall(rows, [_sung(raw, rule) for *_, raw in rows])
        meets = p >= traits.VOCAL_MIN_PRECISION
        key = (meets, r if meets else p, p, t)
        if best is None or key > best:
            best = key
    assert best is not None
    return round(best[3], 4)


def calibrate(tagger: str) -> int:
    rows = devset_rows(tagger)
    current = traits.vocal_rule(tagger)
    groups = sorted({row[1] for row in rows})
    chosen = choose_singing(rows, current.speech)
    held: list[bool] = [False] * len(rows)
    fold_thresholds = []
    for group in groups:
        train = [row for row in rows if row[1] != group]
        t = choose_singing(train, current.speech)
        fold_thresholds.append(t)
        rule = traits.VocalRule(singing=t, speech=current.speech)
        for i, row in enumerate(rows):
            if row[1] == group:
                held[i] = _sung(row[3], rule)
    in_rule = traits.VocalRule(singing=chosen, speech=current.speech)
    sung = sum(1 for row in rows if row[2])
    print(
        f"{tagger}: {len(rows)} clips ({sung} sung, {len(rows) - sung} instrumental, "
        f"{len(groups)} artist groups); singing threshold chosen {chosen} "
        f"(per held-out fold {min(fold_thresholds)}-{max(fold_thresholds)}), "
        f"speech {current.speech}\n"
    )
    print("| rule | precision | recall | sung found | instrumentals heard as vocal |")
    print("|---|---:|---:|---:|---:|")
    lines = [
        (f"in the code now (singing {current.singing})", [_sung(r[3], current) for r in rows]),
        (f"chosen, in-sample (singing {chosen})", [_sung(r[3], in_rule) for r in rows]),
        ("chosen, held out by artist group", held),
    ]
    for name, predicted in lines:
        p, r, tp, fp = precision_recall(rows, predicted)
        print(f"| {name} | {100 * p:.1f} % | {100 * r:.1f} % | {tp}/{sung} | {fp} |")
    print(
        "\nmissed (held out):",
        ", ".join(r[0] for r, h in zip(rows, held, strict=True) if r[2] and not h),
    )
    print(
        "false (held out):",
        ", ".join(r[0] for r, h in zip(rows, held, strict=True) if h and not r[2]),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singing", type=Path, action="append", default=[])
    parser.add_argument("--devset", action="store_true", help="calibrate on the dev set")
    parser.add_argument("--tagger", default="yamnet", choices=("yamnet", "efficientat"))
    args = parser.parse_args(argv)
    if args.devset:
        return calibrate(args.tagger)
    settings = read_settings(
        confuse.RootView(
            [
                confuse.ConfigSource.of({"models": {"genre": "none", "instruments": "yamnet"}}),
                confuse.ConfigSource.of(DEFAULTS),
            ]
        )
    )
    models = load_models(settings, print)
    analyzer = Analyzer(settings, models)
    assert models.instruments is not None
    rows: list[tuple[str, str, dict[str, float]]] = []  # (kind, name, raw scores)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        voice = speech(folder)

        def analyse(kind: str, name: str, y: np.ndarray) -> None:
            path = folder / "track.wav"
            soundfile.write(path, y, synth.SR)
            prepared = analyzer.prepare(str(path))
            raw = analyzer._run(models.instruments, [prepared])[0]
            rows.append((kind, name, raw))

        generators = {**synth.STYLES, "halftime": synth.halftime}
        for style, make in generators.items():
            music = make(SECONDS)
            analyse("instrumental", f"synth {style}", music)
            for level in LEVELS_DB:
                analyse("vocal", f"speech {level:+.0f} dB over {style}", mix(music, voice, level))
        analyse("vocal", "speech alone", voice)
        for path in args.singing:
            raw = analyzer._run(models.instruments, [analyzer.prepare(str(path))])[0]
            rows.append(("vocal", f"singing {path.name}", raw))
    cache = RAW_CACHE / models.instruments.fingerprint
    clips: dict[str, dict[str, float]] = {}  # one per clip (the cache may hold older keys)
    for path in sorted(cache.glob("*.json")) if cache.is_dir() else []:
        clips[path.stem.rsplit("-", 1)[0]] = json.loads(path.read_text())
    for clip, raw in clips.items():
        kind = "vocal" if clip in VOCAL_CLIPS else "instrumental"
        rows.append((kind, f"devset {clip}", raw))

    print("| kind | track | vocal score | strongest voice class | moods |")
    print("|---|---|---:|---|---|")
    worst: dict[str, float] = {"instrumental": 0.0, "vocal": 1.0}
    for kind, name, raw in sorted(rows, key=lambda row: (row[0], -traits.vocal_score(row[2]))):
        score = traits.vocal_score(raw)
        label = traits.vocals(raw).label
        moods = ", ".join(f"{m} {s:.3f}" for m, s in traits.mood_scores(raw))
        print(f"| {kind} | {name} | {score:.3f} | {label} | {moods} |")
        worst[kind] = max(worst[kind], score) if kind == "instrumental" else min(worst[kind], score)
    print()
    print(
        f"loudest instrumental {worst['instrumental']:.3f}, quietest vocal {worst['vocal']:.3f}, "
        f"decision at {traits.VOCAL_DECISION}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
