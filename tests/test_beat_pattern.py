"""The swing of the beat (``features.swing_ratio``): generated drum patterns that have or lack
it, directly and through a real encoder and decoder, and the rules that hear it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from beetsplug.genrescore import audio
from beetsplug.genrescore.demo import synth
from beetsplug.genrescore.scoring import features as feature_mod
from beetsplug.genrescore.scoring.features import AudioFeatures, combine, extract_features
from beetsplug.genrescore.scoring.heuristics import RULES, describe, score, score_descriptors

from . import audio_files, signals

BPM = 120.0
SECONDS = 10.0
N = round(SECONDS * signals.SR)


def _at(hit: np.ndarray, beats: list[float]) -> np.ndarray:
    """``hit`` at each position, counted in beats of :data:`BPM` from the start."""
    return signals._place(N, hit, [b * 60.0 / BPM for b in beats])


def _every(step: float, offset: float = 0.0) -> list[float]:
    count = int(SECONDS * BPM / 60.0 / step) + 1
    return [offset + k * step for k in range(count)]


def _mix(*parts: np.ndarray) -> np.ndarray:
    return signals._normalise(np.sum(parts, axis=0), 0.9)


KICKS = _at(0.9 * signals.kick_drum(), _every(1.0))


def pattern(y: np.ndarray) -> AudioFeatures:
    return extract_features(y=y, sr=signals.SR)


def test_long_short_pairs_swing_and_even_eighths_do_not() -> None:
    hats = 0.3 * signals.hi_hat()
    shuffle = pattern(_mix(KICKS, _at(hats, _every(1.0)), _at(hats, _every(1.0, 2.0 / 3.0))))
    straight = pattern(_mix(KICKS, _at(hats, _every(0.5))))
    assert shuffle.swing > 0.7
    assert straight.swing < 0.3
    assert describe(shuffle).swing > 0.7
    assert describe(straight).swing == 0.0  # below the ramp's start


def test_swing_is_counted_only_as_far_as_there_is_a_beat() -> None:
    noise = describe(pattern(signals.white_noise()))
    assert noise.pulse == 0.0
    assert noise.swing == 0.0


def test_no_tempo_or_too_few_beats_is_no_swing() -> None:
    # A shuffle's envelope, 23 frames a beat: the beat, then a weaker onset 16/23 of the way
    # (in the bin from two thirds to three quarters of the beat).
    envelope = np.tile([1.0] + [0.0] * 15 + [0.6] + [0.0] * 6, 40)
    fold = {"onset_envelope": envelope, "sr": signals.SR, "hop_length": 512}
    bpm = 60.0 * signals.SR / 512 / 23
    assert feature_mod.swing_ratio(**fold, tempo=bpm) > 0.9
    assert feature_mod.swing_ratio(**fold, tempo=0.0) == 0.0
    # Three beats' worth of frames: under the bar a fold needs.
    short = {**fold, "onset_envelope": envelope[: 3 * 23]}
    assert feature_mod.swing_ratio(**short, tempo=bpm) == 0.0


def _through_a_codec(
    made: dict[str, np.ndarray], folder: Path, fmt: str
) -> dict[str, AudioFeatures]:
    """Each signal encoded as ``fmt`` by ffmpeg, decoded by the plugin, and its features."""
    read = {}
    for name, y in made.items():
        path = audio_files.encode(y, signals.SR, folder / f"{name}.{fmt}")
        decoded = audio.load_windows(
            str(path), rates=(signals.SR,), count=1, seconds=SECONDS, min_seconds=1.0
        )
        read[name] = extract_features(y=decoded.audio[signals.SR][0], sr=signals.SR)
    return read


@pytest.mark.parametrize("fmt", ["ogg", "mp3"])
def test_swing_survives_a_real_encoder_and_decoder(tmp_path: Path, fmt: str) -> None:
    hats = 0.3 * signals.hi_hat()
    made = {
        "shuffle": _mix(KICKS, _at(hats, _every(1.0)), _at(hats, _every(1.0, 2.0 / 3.0))),
        "straight": _mix(KICKS, _at(hats, _every(0.5))),
    }
    read = _through_a_codec(made, tmp_path, fmt)
    assert read["shuffle"].swing > 0.7
    assert read["straight"].swing < 0.3


def test_explain_names_the_swing_for_jazz_and_the_straight_beat_for_hip_hop() -> None:
    """The reasons ``--explain`` prints for each rule name the cue when it holds."""
    hats = 0.3 * signals.hi_hat()
    shuffle = score(pattern(_mix(KICKS, _at(hats, _every(1.0)), _at(hats, _every(1.0, 2 / 3)))))
    why = {hit.genre: hit.why for hit in shuffle.hits}
    assert "swung" in why["jazz"]
    assert "straight, not swung" not in why["hip hop"]
    boom_bap = score(pattern(signals.boom_bap()))
    why = {hit.genre: hit.why for hit in boom_bap.hits}
    assert "straight, not swung" in why["hip hop"]
    assert "swung" not in why["jazz"]


def test_a_straight_beat_counts_for_hip_hop_and_a_swung_one_against_it() -> None:
    straight = describe(pattern(signals.boom_bap()))
    swung = dataclasses.replace(straight, swing=1.0)
    hip_hop = {r.genre: r for r in RULES}["hip hop"]
    before, after = (
        next(h for h in score_descriptors(d).hits if h.genre == hip_hop.genre).score
        for d in (straight, swung)
    )
    assert after < 0.75 * before


# --- Distortion: the flatness of the sustained part, drum hits masked out. ---------------------


def _power_chord(drive: float) -> np.ndarray:
    """Power chords on E2 (root and fifth, a saw each) through a clipper driven ``drive``
    times over full scale: a distorted guitar."""
    t = np.arange(N) / signals.SR
    root = signals._hz(-29)
    chord = signals._saw(root, t) + signals._saw(1.5 * root, t)
    return np.clip(drive * chord / np.max(np.abs(chord)), -1.0, 1.0)


def _clean_chord() -> np.ndarray:
    """The same notes as sines (root, fifth, octave): a clean tone."""
    t = np.arange(N) / signals.SR
    root = signals._hz(-29)
    return sum(np.sin(2 * np.pi * f * t) for f in (root, 1.5 * root, 2 * root))


HATS = _at(signals.hi_hat(), _every(0.25))


def test_a_clipped_chord_is_distorted_and_a_clean_one_under_busy_hats_is_not() -> None:
    distorted = pattern(_mix(_power_chord(drive=20.0)))
    clean_with_hats = pattern(_mix(0.2 * _clean_chord(), HATS))
    # The whole spectrum's flatness hears the hats as noise; the distortion does not.
    assert clean_with_hats.spectral_flatness > 5 * clean_with_hats.distortion
    assert clean_with_hats.distortion < 0.001
    assert distorted.distortion > 0.015
    assert describe(distorted).distortion > 0.3
    assert describe(clean_with_hats).distortion == 0.0


def test_distortion_survives_a_real_encoder_and_decoder(tmp_path: Path) -> None:
    made = {
        "distorted": _mix(_power_chord(drive=20.0)),
        "clean": _mix(0.2 * _clean_chord(), HATS),
    }
    read = _through_a_codec(made, tmp_path, "mp3")
    assert read["distorted"].distortion > 0.015
    assert read["clean"].distortion < 0.001


def test_the_demos_boom_bap_is_clean_and_the_metal_sketch_is_not(tmp_path: Path) -> None:
    """The demo's Boom Bap (through its real encoder and decoder): its hats and snare, alone
    in the flatness band over an 808, make the whole spectrum noise-like, but its sustained
    part is the 808 and keys; the heuristics no longer hear it as distorted."""
    path = audio_files.encode(synth.hiphop(30.0), synth.SR, tmp_path / "boom-bap.ogg")
    decoded = audio.load_windows(
        str(path), rates=(signals.SR,), count=3, seconds=SECONDS, min_seconds=1.0
    )
    boom_bap = combine([extract_features(y=y, sr=signals.SR) for y in decoded.audio[signals.SR]])
    assert describe(boom_bap).noisiness > 0.9
    assert describe(boom_bap).distortion == 0.0
    result = score(boom_bap)
    assert result.hits[0].genre == "hip hop", [(h.genre, round(h.score, 2)) for h in result.hits]
    assert "distorted" not in {hit.genre: hit.why for hit in result.hits}["heavy metal"]
    metal = pattern(signals.metal())
    assert describe(metal).distortion > 0.4
    assert "heavy metal" in [hit.genre for hit in score(metal).hits[:3]]


def test_distortion_with_nothing_sustained_is_zero() -> None:
    clicks = np.zeros((feature_mod.N_MELS, 100))
    clicks[:, ::10] = 1e-3  # struck in every band at once: all percussive
    mask = feature_mod._percussive_mask(clicks)
    assert feature_mod._distortion(clicks, mask, signals.SR) == 0.0


def test_mel_frequencies_are_librosas() -> None:
    import librosa

    ours = feature_mod.dsp.mel_frequencies(n_mels=130, fmax=signals.SR / 2.0)
    np.testing.assert_allclose(ours, librosa.mel_frequencies(n_mels=130, fmax=signals.SR / 2.0))
