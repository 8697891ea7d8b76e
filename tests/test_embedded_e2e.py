"""The embedded models with their real trained weights, through the whole analysis path."""

from __future__ import annotations

from pathlib import Path

import confuse
import pytest

from beetsplug.genrescore import synth
from beetsplug.genrescore.analyzer import Analyzer, TrackResult, load_models
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import encode

EMBEDDED = {"models": {"genre": "musicnn-msd", "instruments": "musicnn-mtt"}, "jobs": 0}


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    view = confuse.RootView([confuse.ConfigSource.of(EMBEDDED), confuse.ConfigSource.of(DEFAULTS)])
    settings = read_settings(view)
    notes: list[str] = []
    analyzer = Analyzer(settings, load_models(settings, notes.append))
    assert notes == []  # embedded models need nothing from anywhere
    return analyzer


@pytest.fixture(scope="module")
def results(analyzer: Analyzer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrackResult]:
    folder = tmp_path_factory.mktemp("embedded")
    out = {}
    for style in ("reel", "classical", "techno", "rock"):
        path = encode(synth.STYLES[style](40.0), synth.SR, folder / f"{style}.flac")
        out[style] = analyzer.analyze(str(path))
    return out


def test_the_method_says_the_embedded_models_decided(results: dict[str, TrackResult]) -> None:
    assert {r.method for r in results.values()} == {
        "embedded_hybrid_ml_instrument:musicnn-msd+musicnn-mtt"
    }


def test_a_fiddle_and_banjo_reel_is_country_bluegrass_or_folk(
    results: dict[str, TrackResult],
) -> None:
    reel = results["reel"].decision
    assert set(reel.top) & {"country", "bluegrass", "folk"}
    assert reel.genre in {"country", "bluegrass", "folk"}
    assert "violin" in dict(reel.instruments)


def test_a_slow_string_piece_stays_classical(results: dict[str, TrackResult]) -> None:
    piece = results["classical"].decision
    assert piece.genre == "classical"
    assert "violin" in dict(piece.instruments)
    violin = [b for b in piece.boosts if b.instrument == "violin"]
    assert violin
    assert all(b.gate < 0.2 for b in violin)


def test_techno_is_electronic_with_a_synthesizer(results: dict[str, TrackResult]) -> None:
    techno = results["techno"].decision
    assert techno.genre == "electronic"
    assert "synthesizer" in dict(techno.instruments)


def test_power_chords_are_rock_with_a_guitar(results: dict[str, TrackResult]) -> None:
    rock = results["rock"].decision
    assert rock.genre in {"rock", "heavy metal", "punk rock"}
    assert "guitar" in dict(rock.instruments)


def test_the_reference_violin_clip_is_heard_as_violin(analyzer: Analyzer) -> None:
    clip = Path(__file__).parent / "data" / "musicnn" / "violin.flac"
    result = analyzer.analyze(str(clip))
    assert "violin" in dict(result.decision.instruments)
