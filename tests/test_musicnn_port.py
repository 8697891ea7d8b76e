"""The musicnn port against the original TensorFlow taggers, and the backends built on it.

Reference outputs (``tests/data/musicnn/reference_tf.json``) come from musicnn 0.1.0 running
on TensorFlow; the port must reproduce them from the audio files, end to end, to 1e-4 in tag
probability (it reaches about 2e-6).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from safetensors import safe_open
from safetensors.numpy import save_file

from beetsplug.genrescore.backends import musicnn_net
from beetsplug.genrescore.backends.base import (
    Backend,
    BackendOptions,
    Role,
    build_backend,
)
from beetsplug.genrescore.backends.kit import sigmoid
from beetsplug.genrescore.backends.musicnn import WEIGHTS_DIR, MusicnnBackend
from beetsplug.genrescore.errors import ConfigError, ModelLoadError
from beetsplug.genrescore.scoring.taxonomy import instrument_scores

DATA = Path(__file__).resolve().parent / "data" / "musicnn"
CLIPS = ("violin", "rock", "piano", "techno", "tone")
#: Registry name -> name of the original model in the reference file.
MODELS = {"musicnn-mtt": "MTT_musicnn", "musicnn-msd": "MSD_musicnn"}
#: Largest tolerated difference to TensorFlow, in tag probability.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    with (DATA / "reference_tf.json").open(encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    audio = {}
    for name in CLIPS:
        samples, rate = sf.read(DATA / f"{name}.flac", dtype="float32")
        assert rate == musicnn_net.SAMPLE_RATE
        audio[name] = samples
    return audio


@pytest.fixture(scope="module")
def backends() -> dict[str, Backend]:
    options = BackendOptions(device="cpu", precision="auto")
    built = {
        "musicnn-mtt": build_backend("musicnn-mtt", Role.INSTRUMENTS, options),
        "musicnn-msd": build_backend("musicnn-msd", Role.GENRE, options),
    }
    return {name: backend for name, backend in built.items() if backend is not None}


@pytest.fixture(scope="module")
def taggrams(
    backends: dict[str, Backend], clips: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Model -> clip -> (10 patches, 50 tags), each whole clip cut like the original extractor."""
    batch, counts = musicnn_net.stack_patches(
        windows=[
            musicnn_net.patches(spectrogram=musicnn_net.log_mel(audio=clips[c])) for c in CLIPS
        ]
    )
    out = {}
    for name, backend in backends.items():
        assert isinstance(backend, MusicnnBackend)
        assert backend.engine == "onnx"  # the default on the CPU in float32
        probabilities = sigmoid(backend.logits(batch))
        splits = np.split(probabilities, np.cumsum(counts)[:-1])
        out[name] = dict(zip(CLIPS, splits, strict=True))
    return out


def _synthetic_batch() -> np.ndarray:
    """The audio-free input batch of the reference (formula in tests/data/musicnn/README.md)."""
    b, t, f = np.meshgrid(np.arange(4), np.arange(187), np.arange(96), indexing="ij")
    x = (
        1.5
        + 1.2 * np.sin(0.05 * t * (1 + b) + 0.3 * f)
        + 0.8 * np.cos(0.11 * f * (1 + 0.5 * b)) * np.exp(-f / (20 + 10 * b))
        + 0.5 * ((7 * t + 13 * f + 29 * b) % 17) / 17
    )
    return np.clip(x, 0.0, 4.5).astype(np.float16).astype(np.float32)


def _top(scores: Mapping[str, float], count: int) -> list[str]:
    return sorted(scores, key=lambda label: -scores[label])[:count]


def _windows(audio: np.ndarray, seconds: float) -> list[np.ndarray]:
    """Three windows centred at 25, 50 and 75 % of a clip, as the analyzer cuts them."""
    length = round(seconds * musicnn_net.SAMPLE_RATE)
    centres = [len(audio) * k // 4 for k in (1, 2, 3)]
    return [audio[c - length // 2 : c - length // 2 + length] for c in centres]


@pytest.mark.parametrize("name", list(MODELS))
def test_labels_come_from_the_weights_file(
    name: str, backends: dict[str, Backend], reference: dict[str, Any]
) -> None:
    assert backends[name].labels == tuple(reference["labels"][MODELS[name]])


@pytest.mark.parametrize("name", list(MODELS))
def test_probabilities_match_tensorflow_on_every_clip(
    name: str, taggrams: dict[str, dict[str, np.ndarray]], reference: dict[str, Any]
) -> None:
    for clip in CLIPS:
        expected = np.array(reference["clips"][clip][MODELS[name]]["taggram"])
        got = taggrams[name][clip]
        assert got.shape == expected.shape == (10, 50)
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE, err_msg=clip)


@pytest.mark.parametrize("engine", ["onnx", "torch"])
@pytest.mark.parametrize("name", list(MODELS))
def test_network_matches_tensorflow_on_the_synthetic_batch(
    name: str, engine: str, reference: dict[str, Any]
) -> None:
    # Both engines: torch's is the one GPUs and bf16 run, checked here on the CPU.
    backend = MusicnnBackend(name, BackendOptions(device="cpu"), engine=engine)
    assert (backend.model is None) == (engine != "torch")
    expected = reference["synthetic"][MODELS[name]]
    logits = backend.logits(_synthetic_batch())
    # Logits reach magnitude 20, where float32 rounding alone is about 1e-5.
    np.testing.assert_allclose(logits, expected["logits"], rtol=1e-5, atol=TOLERANCE)
    probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(probabilities, expected["probs"], rtol=0, atol=TOLERANCE)


def test_tags_make_sense(
    taggrams: dict[str, dict[str, np.ndarray]], reference: dict[str, Any]
) -> None:
    def mean_tags(name: str, clip: str) -> dict[str, float]:
        labels = reference["labels"][MODELS[name]]
        return dict(zip(labels, taggrams[name][clip].mean(axis=0).tolist(), strict=True))

    violin = mean_tags("musicnn-mtt", "violin")
    assert {"violin", "strings"} <= set(_top(violin, 3))
    techno = mean_tags("musicnn-msd", "techno")
    assert {"electronic", "dance"} <= set(_top(techno, 3))
    assert techno["dance"] > 0.3
    assert techno["electronic"] > 0.3
    assert techno["jazz"] < 0.05
    piano = mean_tags("musicnn-mtt", "piano")
    assert _top(piano, 1) == ["piano"]


def test_backend_detects_the_instruments_that_play(
    backends: dict[str, Backend], clips: dict[str, np.ndarray]
) -> None:
    tagger = backends["musicnn-mtt"]
    thresholds = tagger.instrument_thresholds()
    tracks = [_windows(clips[c], tagger.window_seconds) for c in ("violin", "techno")]
    violin, techno = (instrument_scores(scores) for scores in tagger.predict(tracks))

    def detected(scores: Mapping[str, float]) -> set[str]:
        return {name for name, score in scores.items() if score >= thresholds.get(name, 2.0)}

    assert "violin" in detected(violin)
    assert "violin" not in detected(techno)
    assert {"drums", "synthesizer"} <= detected(techno)
    assert not detected(techno) & {"violin", "strings", "guitar", "piano", "flute"}
    assert backends["musicnn-msd"].instrument_thresholds() == {}


def test_predict_averages_patches_independently_of_the_batch(
    backends: dict[str, Backend],
    clips: dict[str, np.ndarray],
    taggrams: dict[str, dict[str, np.ndarray]],
) -> None:
    genre = backends["musicnn-msd"]
    rock, techno = clips["rock"], clips["techno"]
    # Two tracks in one call: the first has a 3 s and a 9 s window from the start of the clip
    # (one and three patches), the second the whole 30 s clip (ten patches).
    together = genre.predict([[rock[:48_000], rock[:144_000]], [techno]])
    alone = genre.predict([[rock[:48_000], rock[:144_000]]])
    assert together[0] == pytest.approx(alone[0], abs=1e-6)
    # Every patch counts once: the mean over the taggram rows of the original extractor.
    reference = taggrams["musicnn-msd"]
    first = np.array([together[0][label] for label in genre.labels])
    expected = reference["rock"][[0, 0, 1, 2]].mean(axis=0)
    np.testing.assert_allclose(first, expected, atol=1e-6)
    whole = np.array([together[1][label] for label in genre.labels])
    np.testing.assert_allclose(whole, reference["techno"].mean(axis=0), atol=1e-6)


def test_short_and_empty_windows_still_give_every_tag(backends: dict[str, Backend]) -> None:
    genre = backends["musicnn-msd"]
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype(np.float32)
    short, empty = genre.predict([[tone], [np.zeros(0, dtype=np.float32)]])
    assert set(short) == set(empty) == set(genre.labels)
    assert all(0.0 < value < 1.0 for value in [*short.values(), *empty.values()])
    with pytest.raises(ValueError, match="no windows"):
        genre.predict([[]])


def test_fingerprint_names_the_weights(backends: dict[str, Backend]) -> None:
    for name, backend in backends.items():
        digest = hashlib.sha256((WEIGHTS_DIR / f"{name[-3:]}_musicnn.safetensors").read_bytes())
        assert backend.fingerprint.startswith(digest.hexdigest()[:12])
    assert backends["musicnn-mtt"].fingerprint != backends["musicnn-msd"].fingerprint


def test_missing_or_corrupt_weights_raise_model_load_error(tmp_path: Path) -> None:
    # The safetensors file is read on the torch engine (the ONNX one only hashes it:
    # tests/test_onnx_engine.py checks its files).
    options = BackendOptions(device="cpu")
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(ModelLoadError, match=r"missing\.safetensors"):
        MusicnnBackend("musicnn-mtt", options, weights=missing)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((WEIGHTS_DIR / "mtt_musicnn.safetensors").read_bytes()[:100_000])
    with pytest.raises(ModelLoadError, match=r"truncated\.safetensors"):
        MusicnnBackend("musicnn-mtt", options, weights=truncated, engine="torch")
    foreign = tmp_path / "foreign.safetensors"
    shutil.copy(WEIGHTS_DIR / "mtt_musicnn.safetensors", foreign)
    with foreign.open("r+b") as file:  # rename the "format" metadata key
        header = file.read(200)
        file.seek(header.index(b'"format"'))
        file.write(b'"formxt"')
    with pytest.raises(ModelLoadError, match=r"foreign\.safetensors"):
        MusicnnBackend("musicnn-mtt", options, weights=foreign, engine="torch")
    # Right format, wrong architecture: the two timbral kernels swapped.
    shipped = WEIGHTS_DIR / "mtt_musicnn.safetensors"
    with safe_open(str(shipped), framework="np") as file:
        metadata = file.metadata()
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
    tensors["conv2d/kernel"], tensors["conv2d_1/kernel"] = (
        tensors["conv2d_1/kernel"],
        tensors["conv2d/kernel"],
    )
    swapped = tmp_path / "swapped.safetensors"
    save_file(tensors, str(swapped), metadata=metadata)
    with pytest.raises(ModelLoadError, match=r"swapped\.safetensors holds unusable weights"):
        MusicnnBackend("musicnn-mtt", options, weights=swapped, engine="torch")


def test_bad_device_or_precision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="device"):
        build_backend("musicnn-msd", Role.GENRE, BackendOptions(device="gpu"))
    with pytest.raises(ConfigError, match="precision"):
        build_backend("musicnn-msd", Role.GENRE, BackendOptions(device="cpu", precision="fp8"))
