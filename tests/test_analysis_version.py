"""The heuristic features a library stores change only with ``ANALYSIS_VERSION``.

A library keeps each track's features (its stored evidence) and re-analyses a track only
when the analysis version it was analysed with is not the plugin's. A change to the features'
code that moved their values without a new version would leave every library blending the
old values, and ``--reblend`` would disagree with a fresh analysis, silently. (It happened
once inside a working session: the distortion descriptor came after the bump to version 5.)

This pins the features of three fixed signals (the demo synthesizer's styles, at their default
seeds) for the current version: a change that moves them must bump ``ANALYSIS_VERSION`` and
record its values again::

    .venv/bin/python tests/test_analysis_version.py --record
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.analyzer import ANALYSIS_VERSION  # noqa: E402
from beetsplug.genrescore.demo import synth  # noqa: E402
from beetsplug.genrescore.scoring import features  # noqa: E402

DATA = ROOT / "tests" / "data" / "analysis"
STYLES = ("rock", "hiphop", "reel")
SECONDS = 10.0
# Loose enough for another CPU's last bits (SIMD kernels, BLAS; the suite's lowered-dispatch
# pass runs this file too), tight enough for a changed method or constant.
REL, ABS = 1e-3, 1e-5


def computed() -> dict[str, dict[str, Any]]:
    return {
        style: dataclasses.asdict(
            features.extract_features(y=getattr(synth, style)(SECONDS), sr=synth.SR)
        )
        for style in STYLES
    }


def recorded_path() -> Path:
    return DATA / f"features-v{ANALYSIS_VERSION}.json"


def test_this_analysis_version_has_its_features_recorded() -> None:
    assert recorded_path().exists(), (
        f"ANALYSIS_VERSION {ANALYSIS_VERSION} has no recorded features: run "
        "`python tests/test_analysis_version.py --record` once the features are final"
    )


@pytest.mark.parametrize("style", STYLES)
def test_features_are_those_recorded_for_this_analysis_version(style: str) -> None:
    recorded = json.loads(recorded_path().read_text())
    assert recorded["analysis_version"] == ANALYSIS_VERSION
    now = computed()[style]
    then = recorded["features"][style]
    assert set(now) == set(then), "a feature was added or removed: bump ANALYSIS_VERSION"
    moved = {
        name: (then[name], value)
        for name, value in now.items()
        if value != pytest.approx(then[name], rel=REL, abs=ABS)
    }
    assert not moved, (
        f"features of the {style!r} signal moved under ANALYSIS_VERSION {ANALYSIS_VERSION} "
        f"(recorded, now): {moved}. Stored libraries would keep the old values: bump "
        "ANALYSIS_VERSION and record again (--record)."
    )


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    DATA.mkdir(parents=True, exist_ok=True)
    recorded_path().write_text(
        json.dumps(
            {
                "analysis_version": ANALYSIS_VERSION,
                "seconds": SECONDS,
                "sample_rate": synth.SR,
                "made_by": "tests/test_analysis_version.py --record: the demo synthesizer's "
                "styles at their default seeds, features.extract_features",
                "features": computed(),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"recorded {recorded_path()}")  # noqa: T201
