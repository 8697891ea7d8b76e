"""The embedded models' numpy engine against their torch engine, and that it needs no torch.

On the CPU in float32 (the default) musicnn and YAMNet run in numpy; torch serves GPUs and
bf16. Both engines are built from the same prepared weights, so they must give the same
scores, to float32 rounding, on the reference clips the port tests use; and a CPU run must
not pay torch's import (2.5-3 s on two cores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from beetsplug.genrescore.backends import musicnn_net, yamnet_net
from beetsplug.genrescore.backends.base import BackendOptions, Placement, default_engine
from beetsplug.genrescore.backends.musicnn import MusicnnBackend
from beetsplug.genrescore.backends.yamnet import YamnetBackend

from .interpreter import fresh_python

MUSICNN_DATA = Path(__file__).resolve().parent / "data" / "musicnn"
YAMNET_DATA = Path(__file__).resolve().parent / "data" / "yamnet"
CLIPS = ("violin", "rock", "piano", "techno", "tone")
#: Largest tolerated difference between the engines, in probability (measured: 1e-6).
TOLERANCE = 1e-5
CPU = BackendOptions(device="cpu")


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {c: sf.read(MUSICNN_DATA / f"{c}.flac", dtype="float32")[0] for c in CLIPS}


@pytest.mark.parametrize("name", ["musicnn-msd", "musicnn-mtt"])
def test_musicnn_engines_agree_on_the_reference_clips(
    name: str, clips: dict[str, np.ndarray]
) -> None:
    numpy_engine = MusicnnBackend(name, CPU)
    torch_engine = MusicnnBackend(name, CPU, engine="torch")
    assert (numpy_engine.engine, torch_engine.engine) == ("numpy", "torch")
    batch, _ = musicnn_net.stack_patches(
        windows=[
            musicnn_net.patches(spectrogram=musicnn_net.log_mel(audio=a)) for a in clips.values()
        ]
    )
    assert batch.shape == (50, musicnn_net.PATCH_FRAMES, musicnn_net.N_MELS)
    by_numpy = musicnn_net.sigmoid(numpy_engine.logits(batch))
    by_torch = torch.sigmoid(torch.from_numpy(torch_engine.logits(batch))).numpy()
    assert np.max(np.abs(by_numpy - by_torch)) < TOLERANCE
    # And through predict, as the analyzer calls it.
    tracks = [[audio[:48_000], audio[-144_000:]] for audio in clips.values()]
    for ours, theirs in zip(
        numpy_engine.predict(tracks), torch_engine.predict(tracks), strict=True
    ):
        assert max(abs(ours[label] - theirs[label]) for label in ours) < TOLERANCE


def _yamnet_signals(clips: dict[str, np.ndarray]) -> list[np.ndarray]:
    with np.load(YAMNET_DATA / "tflite_layers.npz") as layers:
        fixtures = [layers[f"{s}/waveform"] for s in ("noise", "chirp", "sine440")]
    return [*fixtures, *(audio[: 5 * yamnet_net.SAMPLE_RATE] for audio in clips.values())]


def test_yamnet_engines_agree_on_the_reference_clips(clips: dict[str, np.ndarray]) -> None:
    numpy_engine = YamnetBackend(CPU)
    torch_engine = YamnetBackend(CPU, engine="torch")
    assert (numpy_engine.engine, torch_engine.engine) == ("numpy", "torch")
    tracks = [[signal] for signal in _yamnet_signals(clips)]
    by_numpy = numpy_engine.predict_patches(tracks)
    by_torch = torch_engine.predict_patches(tracks)
    assert sum(len(p) for p in by_numpy) == 3 + 5 * 10
    for ours, theirs in zip(by_numpy, by_torch, strict=True):
        assert np.max(np.abs(ours - theirs)) < TOLERANCE


def _torch_log_mel(audio: np.ndarray) -> np.ndarray:
    """The torch front end the numpy one replaced (yamnet_net before the numpy engine)."""
    window = torch.from_numpy(yamnet_net.hann_window().copy())
    mel = torch.from_numpy(yamnet_net.mel_matrix().copy())
    frames = torch.from_numpy(audio).unfold(0, 400, 160) * window
    magnitude = torch.fft.rfft(frames, n=yamnet_net.FFT_LENGTH).abs()
    result: np.ndarray = torch.log(magnitude @ mel + yamnet_net.LOG_OFFSET).numpy()
    return result


def test_yamnet_front_end_matches_the_torch_one(clips: dict[str, np.ndarray]) -> None:
    for signal in _yamnet_signals(clips):
        ours = yamnet_net.log_mel(audio=signal)
        assert ours.dtype == np.float32
        theirs = _torch_log_mel(signal)
        # Both are float32 FFTs, rounded differently: the mel energies agree to float32
        # precision relative to each frame's loudest bin; so do their logs where the energy
        # is above 1 (most of every signal here; the interpreter test's line too). Near
        # LOG_OFFSET the same absolute rounding moves the log by up to 1e-2.
        peak = np.exp(theirs).max(axis=1, keepdims=True)
        assert np.max(np.abs(np.exp(ours) - np.exp(theirs)) / peak) < 1e-5
        strong = theirs > 0
        assert np.max(np.abs(ours - theirs)[strong]) < 1e-4


@pytest.mark.parametrize(
    ("placement", "engine"),
    [
        (Placement("cpu"), "numpy"),
        (Placement("cpu", bf16=True), "torch"),
        (Placement("cuda"), "torch"),
        (Placement("cuda:1"), "torch"),
    ],
)
def test_the_engine_follows_the_placement(placement: Placement, engine: str) -> None:
    assert default_engine(placement) == engine


def test_numpy_is_refused_where_it_cannot_honour_the_precision() -> None:
    with pytest.raises(ValueError, match="float32 on the CPU only"):
        YamnetBackend(BackendOptions(device="cpu", precision="bf16"), engine="numpy")
    with pytest.raises(ValueError, match="not one of numpy, torch"):
        YamnetBackend(CPU, engine="jax")


def test_a_cpu_run_of_the_embedded_models_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from beetsplug.genrescore.backends.base import BackendOptions, Role, build_backend\n"
        "options = BackendOptions(device='cpu')\n"
        "noise = np.random.default_rng(0).standard_normal(80000).astype(np.float32) * 0.1\n"
        "for name, role in (('musicnn-msd', Role.GENRE), ('yamnet', Role.INSTRUMENTS)):\n"
        "    backend = build_backend(name, role, options)\n"
        "    (scores,) = backend.predict([[noise]])\n"
        "    assert len(scores) == len(backend.labels), name\n"
        "print('torch' in sys.modules)\n"
    )
    assert fresh_python(code) == "False"
