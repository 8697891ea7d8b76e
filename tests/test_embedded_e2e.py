"""The default install's models (EfficientAT mn04's learned genre head + the YAMNet port,
real trained weights, no download) through the whole analysis path, on synthesized tracks
and on real-instrument arrangements from the dev set (devset/clips: phrases sequenced from
recorded notes of real instruments, committed as Opus; sources and licences in
devset/README.md).

These are the behaviours the instrument tagger exists for: a fiddle band says country and
bluegrass, a horn section never gets a fiddle's country boost, a solo piano is classical, a
harmonica shuffle is the blues.

They are *calibration regressions*, not accuracy tests: the dev-set clips here
(``ARRANGED``, ``RECORDED``) are among those YAMNet's thresholds and the rules' constants were
tuned on (benchmarks/yamnet_calibrate.py), and one passes by a small margin (a country share
of 0.2374 against 0.2324); the tests that use them are named ``test_calibration_*``. A
failure says a change moved the tuned behaviour, not that accuracy dropped: docs/accuracy.md
(benchmarks/accuracy.py) reports accuracy, and benchmarks/accuracy_guard.py guards it with a
floor on cross-validated figures (folds split by artist, each fold held out of the blend's
tuning and the genre head's training; tests/MUTATION.md).

Known misses, marked ``xfail(strict=True)`` so that they fail the day they pass: since the dev
set was re-cut at full band and the default became mn04's head (issue 22), two of the three
sequenced fiddle tunes read folk first (the head's folk, 0.40-0.59, outweighs the fiddle's
country; country and bluegrass stay in the top 3), and the sequenced trumpet-and-sax combo,
still jazz with no fiddle boost, has country third from the head and the tagger's genre
classes. The label says country and jazz; the default is wrong there, so the expectations
stay (docs/accuracy.md: the sequenced clips lose one clip of top-1 with the new default).
"""

from __future__ import annotations

from pathlib import Path

import confuse
import pytest

from beetsplug.genrescore.analyzer import Analyzer, TrackResult, load_models
from beetsplug.genrescore.demo import synth
from beetsplug.genrescore.explain import explain
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import encode

DEVSET_CLIPS = Path(__file__).resolve().parent.parent / "devset" / "clips"
SYNTHESIZED = ("reel", "techno", "rock", "piano", "jazz", "blues", "hiphop")
#: Dev-set clips the constants were tuned on (calibration regressions, see above).
ARRANGED = ("seq-old-time-fiddle", "seq-bluegrass-fiddle-b", "seq-jazz-trumpet-sax")
RECORDED = ("lib-brahms-a", "jl-doromusis-veraenderung-a")


def _analyzer(models: dict[str, str]) -> Analyzer:
    user = {"models": models, "jobs": 0}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    notes: list[str] = []
    analyzer = Analyzer(settings, load_models(settings, notes.append))
    assert notes == []  # embedded models need nothing from anywhere
    return analyzer


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return _analyzer({"genre": "efficientat-genre", "instruments": "yamnet"})


@pytest.fixture(scope="module")
def results(analyzer: Analyzer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrackResult]:
    folder = tmp_path_factory.mktemp("embedded")
    out = {}
    for style in SYNTHESIZED:
        path = encode(synth.STYLES[style](30.0), synth.SR, folder / f"{style}.flac")
        out[style] = analyzer.analyze(str(path))
    for clip in (*ARRANGED, *RECORDED):
        out[clip] = analyzer.analyze(str(DEVSET_CLIPS / f"{clip}.opus"))
    return out


def _boost(result: TrackResult, instrument: str, genre: str) -> float:
    return sum(
        b.amount for b in result.decision.boosts if b.instrument == instrument and b.genre == genre
    )


def test_the_default_fallback_chain_is_the_efficientat_head_and_yamnet() -> None:
    # The configured HF models are not downloaded here: each role falls back to its
    # embedded model, and genrescore_method names them.
    user = {"jobs": 0, "cache_dir": "/nonexistent/genrescore-test-cache"}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    notes: list[str] = []
    models = load_models(settings, notes.append)
    assert [b.name for b in models.backends] == ["efficientat-genre", "yamnet"]
    assert len(notes) == 2
    assert models.method == "embedded_hybrid_ml_instrument:efficientat-genre+yamnet"


FOLK_NOT_COUNTRY = pytest.mark.xfail(
    strict=True, reason="known miss: the head's folk outweighs the fiddle (module docstring)"
)


@pytest.mark.parametrize(
    "track",
    [
        "reel",
        pytest.param("seq-old-time-fiddle", marks=FOLK_NOT_COUNTRY),
        pytest.param("seq-bluegrass-fiddle-b", marks=FOLK_NOT_COUNTRY),
    ],
)
def test_calibration_a_fiddle_band_is_country_with_bluegrass_in_the_top3(
    results: dict[str, TrackResult], track: str
) -> None:
    result = results[track]
    # What holds for every fiddle band: the fiddle is heard and boosts country, and country
    # and bluegrass are in the top 3.
    assert "violin" in dict(result.decision.instruments)
    assert _boost(result, "violin", "country") > 1.0
    assert {"country", "bluegrass"} <= set(result.decision.top)
    assert result.genre == "country"


@pytest.mark.parametrize(
    "track",
    [
        "jazz",
        pytest.param(
            "seq-jazz-trumpet-sax",
            marks=pytest.mark.xfail(
                strict=True, reason="known miss: country third from the head (module docstring)"
            ),
        ),
    ],
)
def test_calibration_a_jazz_band_with_trumpet_and_sax_gets_no_fiddle_boost(
    results: dict[str, TrackResult], track: str
) -> None:
    result = results[track]
    assert result.genre == "jazz"
    assert _boost(result, "violin", "country") == 0.0
    assert "country" not in result.decision.top


def test_the_synthesized_combo_is_heard_as_a_trumpet(results: dict[str, TrackResult]) -> None:
    assert "trumpet" in dict(results["jazz"].decision.instruments)
    assert "violin" not in dict(results["jazz"].decision.instruments)


@pytest.mark.parametrize("track", ["piano", "lib-brahms-a"])
def test_calibration_solo_piano_and_an_orchestra_are_classical_not_rock(
    results: dict[str, TrackResult], track: str
) -> None:
    result = results[track]
    assert result.genre == "classical"
    assert "rock" not in result.decision.top[:2]


def test_calibration_a_fiddle_with_a_cello_and_an_orchestra_is_gated(
    results: dict[str, TrackResult],
) -> None:
    brahms = results["lib-brahms-a"]
    assert {"strings", "cello"} <= set(dict(brahms.decision.instruments))
    assert _boost(brahms, "violin", "country") == 0.0


def test_a_harmonica_shuffle_has_blues_in_the_top3(results: dict[str, TrackResult]) -> None:
    blues = results["blues"]
    assert "blues" in blues.decision.top
    assert next(iter(dict(blues.decision.instruments))) == "harmonica"
    assert _boost(blues, "harmonica", "blues") > 0.5


def test_calibration_singing_under_a_band_is_vocal(results: dict[str, TrackResult]) -> None:
    # A sung pop song with a full band (Jamendo, dev set): YAMNet's "Singing" is too faint
    # there (it read instrumental); the default takes the vocals from mn04's voice classes.
    sung = results["jl-doromusis-veraenderung-a"].vocals
    assert sung is not None
    assert sung.kind == "vocal"
    for track in ("piano", "reel", "lib-brahms-a"):
        instrumental = results[track].vocals
        assert instrumental is not None
        assert instrumental.kind == "instrumental", track


def test_techno_is_electronic_and_power_chords_are_rock(
    results: dict[str, TrackResult],
) -> None:
    assert results["techno"].genre == "electronic"
    assert results["rock"].genre in {"rock", "heavy metal", "punk rock"}
    assert "guitar" in dict(results["rock"].decision.instruments)


def test_the_demos_boom_bap_is_hip_hop_not_electronic(results: dict[str, TrackResult]) -> None:
    """The demo's Boom Bap: the heuristics hear a clean, straight beat at a hip-hop tempo over
    an 808 (not the distortion its hats make of the whole spectrum), so the votes say hip hop
    and YAMNet's "Synthesizer" (its keys) no longer boosts electronic (issue 22)."""
    boom_bap = results["hiphop"]
    assert boom_bap.genre == "hip hop", boom_bap.decision.ranking[:3]
    assert boom_bap.heuristics.hits[0].genre == "hip hop"
    assert "straight, not swung" in boom_bap.heuristics.hits[0].why
    assert _boost(boom_bap, "synthesizer", "electronic") == 0.0
    assert _boost(boom_bap, "drum machine", "hip hop") > 1.0
    shown = explain(boom_bap)  # what --explain prints
    because = next(line for line in shown if line.strip().startswith("because"))
    assert "heavy_bass_beat:" in because
    assert "straight, not swung" in because.split("heavy_bass_beat:")[1].split(";")[0]
    assert "  boost synthesizer -> Electronic +0.00 (gated to 0%), Pop +0.00 (gated to 0%)" in shown


def test_a_solo_instrument_shows_few_false_instruments(
    results: dict[str, TrackResult],
) -> None:
    # The display is the precise view: a solo piano shows the piano and at most one more.
    shown = [name for name, _ in results["piano"].decision.instruments]
    assert shown[0] == "piano"
    assert len(shown) <= 2


def test_musicnn_mtt_stays_selectable_and_hears_the_reference_violin() -> None:
    mtt = _analyzer({"genre": "musicnn-msd", "instruments": "musicnn-mtt"})
    clip = Path(__file__).parent / "data" / "musicnn" / "violin.flac"
    result = mtt.analyze(str(clip))
    assert result.method == "embedded_hybrid_ml_instrument:musicnn-msd+musicnn-mtt"
    assert "violin" in dict(result.decision.instruments)
