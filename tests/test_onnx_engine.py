"""The embedded models' ONNX engine against their torch engine, and that it needs no torch.

On the CPU in float32 (the default) musicnn and YAMNet run in ONNX Runtime, from the ``.onnx``
files tools/export_onnx.py exported from their torch modules; torch serves GPUs and bf16.
Both engines come from the same weights, so they must give the same scores, to float32
rounding, on the reference clips the port tests use (measured: 2e-7 to 8e-7, as against the
numpy engine they replaced, before it went); and a CPU run must not pay torch's import
(2.5-3 s on two cores). The reference outputs of the original models (TF musicnn, TFLite
YAMNet) are checked on the ONNX engine in tests/test_musicnn_port.py and
tests/test_yamnet_port.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from beetsplug.genrescore.backends import musicnn, musicnn_net, onnx, yamnet, yamnet_net
from beetsplug.genrescore.backends.base import (
    BackendOptions,
    EmbeddedBackend,
    Role,
    build_backend,
)
from beetsplug.genrescore.backends.kit import sigmoid
from beetsplug.genrescore.backends.musicnn import MusicnnBackend
from beetsplug.genrescore.backends.placement import Placement, default_engine, planned_engine
from beetsplug.genrescore.backends.yamnet import YamnetBackend
from beetsplug.genrescore.errors import ModelLoadError

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
    onnx_engine = MusicnnBackend(name, CPU)
    other_engine = MusicnnBackend(name, CPU, engine="torch")
    assert (onnx_engine.engine, other_engine.engine) == ("onnx", "torch")
    assert onnx_engine.labels == other_engine.labels
    assert onnx_engine.fingerprint == other_engine.fingerprint
    batch, _ = musicnn_net.stack_patches(
        windows=[
            musicnn_net.patches(spectrogram=musicnn_net.log_mel(audio=a)) for a in clips.values()
        ]
    )
    assert batch.shape == (50, musicnn_net.PATCH_FRAMES, musicnn_net.N_MELS)
    by_onnx = sigmoid(onnx_engine.logits(batch))
    by_other = sigmoid(other_engine.logits(batch))
    assert np.max(np.abs(by_onnx - by_other)) < TOLERANCE
    # And through predict, as the analyzer calls it.
    tracks = [[audio[:48_000], audio[-144_000:]] for audio in clips.values()]
    for ours, theirs in zip(onnx_engine.predict(tracks), other_engine.predict(tracks), strict=True):
        assert max(abs(ours[label] - theirs[label]) for label in ours) < TOLERANCE


def _yamnet_signals(clips: dict[str, np.ndarray]) -> list[np.ndarray]:
    with np.load(YAMNET_DATA / "tflite_layers.npz") as layers:
        fixtures = [layers[f"{s}/waveform"] for s in ("noise", "chirp", "sine440")]
    return [*fixtures, *(audio[: 5 * yamnet_net.SAMPLE_RATE] for audio in clips.values())]


def test_yamnet_engines_agree_on_the_reference_clips(clips: dict[str, np.ndarray]) -> None:
    onnx_engine = YamnetBackend(CPU)
    other_engine = YamnetBackend(CPU, engine="torch")
    assert (onnx_engine.engine, other_engine.engine) == ("onnx", "torch")
    assert onnx_engine.labels == other_engine.labels
    assert onnx_engine.fingerprint == other_engine.fingerprint
    tracks = [[signal] for signal in _yamnet_signals(clips)]
    by_onnx = onnx_engine.predict_patches(tracks)
    by_other = other_engine.predict_patches(tracks)
    assert sum(len(p) for p in by_onnx) == 3 + 5 * 10
    for ours, theirs in zip(by_onnx, by_other, strict=True):
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
        (Placement("cpu"), "onnx"),
        (Placement("cpu", bf16=True), "torch"),
        (Placement("cuda"), "torch"),
        (Placement("cuda:1"), "torch"),
    ],
)
def test_the_engine_follows_the_placement(placement: Placement, engine: str) -> None:
    assert default_engine(placement) == engine


@pytest.mark.parametrize(
    ("device", "precision", "engine"),
    [
        ("auto", "auto", "onnx"),  # auto is the CPU until a model is loaded
        ("cpu", "fp32", "onnx"),
        ("cpu", "bf16", "torch"),
        ("cuda", "auto", "torch"),
        ("cuda:1", "fp32", "torch"),
    ],
)
def test_a_plan_made_before_loading_expects_the_same_engine(
    device: str, precision: str, engine: str
) -> None:
    assert planned_engine(device, precision) == engine


def test_onnx_is_refused_where_it_cannot_honour_the_precision() -> None:
    with pytest.raises(ValueError, match="float32 on the CPU only"):
        YamnetBackend(BackendOptions(device="cpu", precision="bf16"), engine="onnx")
    with pytest.raises(ValueError, match="not one of onnx, torch"):
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
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    assert fresh_python(code) == "False True"


def test_building_an_embedded_model_makes_no_session() -> None:
    # The main process builds the models for their fingerprint while the workers run them:
    # it neither imports onnxruntime nor holds a session; the first run makes it.
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from beetsplug.genrescore.backends.base import BackendOptions, Role, build_backend\n"
        "backend = build_backend('yamnet', Role.INSTRUMENTS, BackendOptions(device='cpu'))\n"
        "print(len(backend.labels), backend.fingerprint[:3], 'onnxruntime' in sys.modules)\n"
        "backend.predict([[np.zeros(16000, np.float32)]])\n"
        "print('onnxruntime' in sys.modules)\n"
    )
    fingerprint = YamnetBackend(CPU).fingerprint[:3]
    assert fresh_python(code).split() == ["521", fingerprint, "False", "True"]


@pytest.mark.parametrize("name", ["musicnn-msd", "musicnn-mtt", "yamnet"])
def test_each_onnx_file_was_exported_from_the_shipped_weights(name: str) -> None:
    backend = build_backend(name, Role.GENRE, CPU)
    assert isinstance(backend, EmbeddedBackend)
    assert backend.session is not None
    metadata = backend.session.metadata
    assert metadata["model"] == name
    assert metadata["source_weights_id"] == backend.fingerprint.split("-port")[0]


def test_sessions_take_the_planned_threads_and_one_inter_op_thread() -> None:
    model = onnx.OnnxModel(YamnetBackend(CPU).session.path, "yamnet")  # type: ignore[union-attr]
    try:
        for threads in (1, 2, 1):
            onnx.set_threads(threads)
            options = model.session.get_session_options()
            assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, 1)
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
            scores = model.run(np.zeros((3, 96, 64), np.float32), max_batch=2, width=521)
            assert scores.shape == (3, 521)
    finally:
        onnx._threads = None


def test_an_onnx_file_that_is_not_the_shipped_models_is_refused(tmp_path: Path) -> None:
    data = Path(yamnet.WEIGHTS_PATH).parent
    weights = tmp_path / "yamnet.safetensors"
    shutil.copy(data / "yamnet.safetensors", weights)
    # Another model's file in its place: refused by its metadata, with the reinstall hint.
    shutil.copy(musicnn.WEIGHTS_DIR / "msd_musicnn.onnx", tmp_path / "yamnet.onnx")
    with pytest.raises(ModelLoadError, match=r"not a yamnet ONNX file.*reinstall"):
        YamnetBackend(CPU, weights)
    # A truncated file, found when its metadata is read; one with its metadata intact but
    # its graph damaged, when onnxruntime loads it (at the first run).
    whole = (data / "yamnet.onnx").read_bytes()
    (tmp_path / "yamnet.onnx").write_bytes(whole[:5000])
    with pytest.raises(ModelLoadError, match=r"yamnet\.onnx is not an ONNX model \(truncated"):
        YamnetBackend(CPU, weights)
    # An operator no runtime has (same length: the protobuf framing stays intact).
    (tmp_path / "yamnet.onnx").write_bytes(whole.replace(b"Conv", b"Cxnv"))
    damaged = YamnetBackend(CPU, weights)
    with pytest.raises(ModelLoadError, match=r"cannot load .*yamnet\.onnx"):
        damaged.predict([[np.zeros(16000, np.float32)]])
    # The right file next to other weights: not what was exported from them.
    shutil.copy(data / "yamnet.onnx", tmp_path / "yamnet.onnx")
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelLoadError, match="not exported from the shipped weights"):
        YamnetBackend(CPU, weights)


@pytest.mark.parametrize(
    ("name", "layout"), [("musicnn-msd", False), ("musicnn-mtt", False), ("yamnet", True)]
)
def test_only_the_families_that_gain_get_the_layout_optimisations(name: str, layout: bool) -> None:
    # musicnn ran 1.5x slower in the blocked layout (onnx.LAYOUT_OPTIMISED says why).
    import onnxruntime

    backend = build_backend(name, Role.GENRE, CPU)
    assert isinstance(backend, EmbeddedBackend)
    assert backend.session is not None
    level = backend.session.session.get_session_options().graph_optimization_level
    expected = onnxruntime.GraphOptimizationLevel
    assert level == (expected.ORT_ENABLE_ALL if layout else expected.ORT_ENABLE_EXTENDED)


def test_a_shared_session_is_the_one_a_one_thread_model_runs() -> None:
    path = yamnet.ONNX_PATH
    try:
        onnx.share([path, path.with_name("missing.onnx")])  # a file that fails is skipped
        assert list(onnx._shared) == [(path.resolve(), 1)]
        onnx.set_threads(1)
        model = onnx.OnnxModel(path, "yamnet")
        assert model.session is onnx._shared[path.resolve(), 1]
        onnx.set_threads(2)  # more threads: a session of its own
        assert model.session is not onnx._shared[path.resolve(), 1]
        assert model.session.get_session_options().intra_op_num_threads == 2
    finally:
        onnx._shared.clear()
        onnx._threads = None
