"""Mood and vocals: the pure rules on label tables, and the embedded YAMNet on real sound.

The speech is espeak-ng's (a Debian package that scripts/setup installs): without it these
tests fail rather than skip, since the setup provides it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import confuse
import librosa
import numpy as np
import pytest

from beetsplug.genrescore.analyzer import Analyzer, TrackResult, load_models
from beetsplug.genrescore.demo import synth
from beetsplug.genrescore.scoring import traits
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import encode


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param({}, [], id="nothing"),
        pytest.param({"Tender music": 0.044, "Sad music": 0.01}, ["tender"], id="one-clear"),
        pytest.param(
            {"Happy music": 0.08, "Exciting music": 0.05, "Sad music": 0.011},
            ["happy", "exciting"],
            id="two-close",
        ),
        pytest.param({"Angry music": 0.005}, [], id="too-faint"),
        pytest.param({"Scary music": 0.02, "Sad music": 0.02}, ["sad", "scary"], id="tie-by-name"),
    ],
)
def test_moods_best_first_above_the_floor(scores: dict[str, float], expected: list[str]) -> None:
    assert traits.moods(scores) == expected


@pytest.mark.parametrize(
    ("scores", "kind", "label"),
    [
        pytest.param({"Speech": 0.99}, "vocal", "Speech", id="speech"),
        pytest.param({"Singing": 0.095}, "vocal", "Singing", id="quiet-singing"),
        # The dev set's YAMNet scores: sung reggae under a band, a church organ (the
        # threshold lowered for real singing gives up this one), instrumental jazz.
        pytest.param({"Singing": 0.049, "Rapping": 0.044}, "vocal", "Singing", id="sung-reggae"),
        pytest.param({"Singing": 0.057, "Chant": 0.092}, "vocal", "Singing", id="organ"),
        pytest.param({"Singing": 0.013, "Speech": 0.002}, "instrumental", "Singing", id="jazz"),
        pytest.param({"Speech": 0.134}, "instrumental", "Speech", id="arco-bass"),
        pytest.param({"Female singing": 0.3}, "vocal", "Female singing", id="ast-only-label"),
        pytest.param({"Guitar": 0.9}, "instrumental", None, id="no-voice-class"),
    ],
)
def test_vocals_by_class_threshold(scores: dict[str, float], kind: str, label: str | None) -> None:
    result = traits.vocals(scores)
    assert result.kind == kind
    assert (result.score >= traits.VOCAL_DECISION) == (kind == "vocal")
    assert 0.0 <= result.score < 1.0
    if label is not None:
        assert result.label == label


@pytest.mark.parametrize(
    ("singing", "yamnet", "efficientat"),
    [
        pytest.param(0.02, "instrumental", "vocal", id="between-the-thresholds"),
        pytest.param(0.0352, "vocal", "vocal", id="above-both"),
        pytest.param(0.018, "instrumental", "instrumental", id="under-both"),
    ],
)
def test_each_tagger_has_its_own_singing_threshold(
    singing: float, yamnet: str, efficientat: str
) -> None:
    scores = {"Singing": singing, "Speech": 0.01}
    assert traits.vocals(scores, traits.vocal_rule("yamnet")).kind == yamnet
    assert traits.vocals(scores, traits.vocal_rule("efficientat")).kind == efficientat
    # A tagger not calibrated (AST) is read with YAMNet's rule.
    assert traits.vocal_rule("ast") == traits.YAMNET_VOCALS
    assert traits.vocals(scores).kind == yamnet


def test_the_vocal_score_is_one_half_at_a_threshold() -> None:
    assert traits.vocal_score({"Singing": traits.SINGING_THRESHOLD}) == pytest.approx(0.5)
    assert traits.vocal_score({"Speech": traits.SPEECH_THRESHOLD}) == pytest.approx(0.5)
    rule = traits.EFFICIENTAT_VOCALS
    assert traits.vocal_score({"Singing": rule.singing}, rule) == pytest.approx(0.5)


def test_only_an_audioset_vocabulary_has_moods() -> None:
    assert traits.has_audioset_vocabulary(("Speech", *traits.MOOD_LABELS))
    assert not traits.has_audioset_vocabulary(("guitar", "violin", "rock"))


# --- The embedded YAMNet on synthesized instrumentals and espeak-ng's speech. -------------

SPOKEN = (
    "The river runs down past the old mill, and every morning the baker opens his door "
    "before the sun is up."
)
SECONDS = 20.0


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    user = {"models": {"genre": "none", "instruments": "yamnet"}, "jobs": 0}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    return Analyzer(settings, load_models(settings, print))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: scripts/setup installs it (apt-get install espeak-ng)")
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SPOKEN], check=True)
    y, _ = librosa.load(wav, sr=synth.SR)
    return np.resize(y, int(SECONDS * synth.SR)).astype(np.float32)


def _analyse(analyzer: Analyzer, y: np.ndarray, path: Path) -> TrackResult:
    return analyzer.analyze(str(encode(y, synth.SR, path)))


def _mix(music: np.ndarray, voice: np.ndarray) -> np.ndarray:
    """Speech as loud (RMS) as the music."""
    gain = np.sqrt(np.mean(music**2) / np.mean(voice**2))
    out = music + gain * voice[: len(music)]
    return (0.9 * out / np.max(np.abs(out))).astype(np.float32)


@pytest.mark.parametrize("style", [*synth.STYLES, "halftime"])
def test_synthesized_instrumentals_are_never_vocal(
    analyzer: Analyzer, tmp_path: Path, style: str
) -> None:
    make = synth.halftime if style == "halftime" else synth.STYLES[style]
    result = _analyse(analyzer, make(SECONDS), tmp_path / f"{style}.flac")
    assert result.vocals is not None
    assert result.vocals.kind == "instrumental"
    assert result.mood is not None  # an AudioSet tagger ran: a list, maybe empty


@pytest.mark.parametrize("style", [None, "hiphop", "classical", "techno"])
def test_speech_alone_or_over_music_is_vocal(
    analyzer: Analyzer, speech: np.ndarray, tmp_path: Path, style: str | None
) -> None:
    y = speech if style is None else _mix(synth.STYLES[style](SECONDS), speech)
    result = _analyse(analyzer, y, tmp_path / "speech.flac")
    assert result.vocals is not None
    assert result.vocals.kind == "vocal", result.vocals


def test_a_piano_piece_is_tender(analyzer: Analyzer, tmp_path: Path) -> None:
    result = _analyse(analyzer, synth.solo_piano(SECONDS), tmp_path / "piano.flac")
    assert result.mood is not None
    assert result.mood[:1] == ("tender",)


def test_without_an_audioset_tagger_mood_and_vocals_are_absent(tmp_path: Path) -> None:
    user = {"models": {"genre": "none", "instruments": "musicnn-mtt"}, "jobs": 0}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    analyzer = Analyzer(settings, load_models(settings, print))
    result = _analyse(analyzer, synth.solo_piano(SECONDS), tmp_path / "piano.flac")
    assert result.mood is None
    assert result.vocals is None


@pytest.mark.parametrize("tagger", ["yamnet", "efficientat"])
def test_the_analyzer_reads_vocals_with_its_taggers_rule(tagger: str, tmp_path: Path) -> None:
    user = {"models": {"genre": "none", "instruments": tagger}, "jobs": 0}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    models = load_models(settings, print)
    analyzer = Analyzer(settings, models)
    path = encode(synth.solo_piano(SECONDS), synth.SR, tmp_path / "piano.flac")
    result = analyzer.analyze(str(path))
    assert models.instruments is not None
    raw = analyzer._run(models.instruments, [analyzer.prepare(str(path))])[0]
    rule = traits.vocal_rule(tagger)
    assert (
        rule == {"yamnet": traits.YAMNET_VOCALS, "efficientat": traits.EFFICIENTAT_VOCALS}[tagger]
    )
    assert result.vocals is not None
    assert result.vocals.score == pytest.approx(traits.vocal_score(raw, rule))
    # The other tagger's rule would read the same scores differently (the thresholds differ).
    other = traits.EFFICIENTAT_VOCALS if tagger == "yamnet" else traits.YAMNET_VOCALS
    assert traits.vocal_score(raw, other) != pytest.approx(result.vocals.score)
