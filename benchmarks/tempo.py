"""Tempo benchmark: the BPM genrescore reads against the true tempo of synthesized tracks.

Each case is one of ``synth``'s styles rendered at a known tempo (the styles' own grooves:
four-on-the-floor, boom-bap, rock backbeat, jazz swing, a blues shuffle, a half-time trap
groove, and undrummed fiddle, piano and string pieces), decoded and analysed as the plugin
does (``analyzer.prepare``: three 10 s windows, the median of their tempi). A reading counts
as right within 2 % of the truth ("accuracy 1" in the tempo literature, Gouyon et al. 2006);
an octave error (half, double, or a third/triple for swing) is counted apart ("accuracy 2").

    .venv/bin/python benchmarks/tempo.py            # prints the table (Markdown)

Speed: about a minute on two cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.analyzer import HEURISTIC_RATE, DecodePlan, prepare  # noqa: E402
from beetsplug.genrescore.demo import synth  # noqa: E402
from beetsplug.genrescore.scoring.heuristics import choose_tempo  # noqa: E402

#: Style -> tempi it is rendered at (BPM). Each style is played at tempi it is played at in
#: music, together spanning 60-180 BPM.
CASES: dict[str, tuple[float, ...]] = {
    "techno": (120.0, 128.0, 135.0, 150.0),
    "hiphop": (70.0, 80.0, 90.0, 100.0),
    "rock": (80.0, 100.0, 120.0, 140.0, 160.0, 180.0),
    "jazz": (90.0, 120.0, 150.0, 180.0),
    "blues": (60.0, 75.0, 90.0, 110.0),
    "halftime": (130.0, 140.0, 150.0),
    "reel": (90.0, 110.0, 120.0),
    "piano": (60.0, 66.0, 80.0),
    "quartet": (60.0, 72.0, 90.0),
    "classical": (60.0, 70.0),
}
GENERATORS = {**synth.STYLES, "halftime": synth.halftime}
SECONDS = 30.0
#: Within this relative error a reading is the tempo.
TOLERANCE = 0.02
#: Ratios that count as an octave (or swing-triplet) error.
OCTAVES = (0.5, 2.0, 1.0 / 3.0, 3.0, 2.0 / 3.0, 1.5)


def measure(case: tuple[str, float]) -> tuple[str, float, float, str]:
    import soundfile

    style, bpm = case
    y = GENERATORS[style](SECONDS, bpm=bpm)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "track.wav")
        soundfile.write(path, y, synth.SR)
        plan = DecodePlan(rates=(HEURISTIC_RATE,), windows=3, window_seconds=10.0)
        features = prepare(path, plan).features
    choice = choose_tempo(features)
    return style, bpm, choice.bpm, choice.why


def verdict(truth: float, read: float) -> str:
    if abs(read - truth) <= TOLERANCE * truth:
        return "ok"
    for ratio in OCTAVES:
        if abs(read - truth * ratio) <= TOLERANCE * truth * ratio:
            return f"octave x{ratio:.2g}"
    return "wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    cases = [(style, bpm) for style, tempi in CASES.items() for bpm in tempi]
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        rows = pool.map(measure, cases)
    print("| style | true BPM | read | error | verdict | octave choice |")
    print("|---|---:|---:|---:|---|---|")
    right = octave = 0
    for style, truth, read, why in rows:
        result = verdict(truth, read)
        right += result == "ok"
        octave += result.startswith("octave")
        error = 100.0 * (read - truth) / truth
        print(f"| {style} | {truth:.0f} | {read:.1f} | {error:+.1f} % | {result} | {why} |")
    total = len(rows)
    print()
    print(
        f"within 2 %: {right}/{total} ({100.0 * right / total:.1f} %); "
        f"octave errors: {octave}; within 2 % or an octave off: "
        f"{100.0 * (right + octave) / total:.1f} %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
