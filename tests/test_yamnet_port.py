"""The YAMNet port against the TFLite interpreter, layer by layer, and the backend built on it.

Fixtures (``tests/data/yamnet/``, written by ``tools/convert_yamnet.py --record-fixtures``
from ``yamnet_b.tflite``; no interpreter is needed here): for 0.975 s of noise and of a
chirp, each recorded layer's input and output *as the interpreter computed them*, and for
those and a sine the log-mel patch, the pooled embedding, the logits and the scores.

The interpreter's kernels are not float: before every int8-weight convolution or matmul they
round the activation to asymmetric int8 ("hybrid" kernels). Fed the interpreter's own input,
each port layer is compared twice:

- *reproduced*: the input rounded as the interpreter rounds it (one scale and zero point per
  tensor before a depthwise conv, per pixel or row before a pointwise conv or matmul) and
  the weights rounded back to file b's int8 grid. This isolates the port's arithmetic
  (layout, padding, strides, bias, ReLU); the residue left is float16 storage (a weight on
  the edge of b's rounding interval can land one step off) and summation order.
- *plain*: the port's float layer as shipped. The gap is the interpreter's rounding, the
  honest bound on how far the port can ever agree with it.

Tolerances are relative to the largest output value of the layer and were measured on the
fixtures, with headroom.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from beetsplug.genrescore.backends import yamnet, yamnet_net, yamnet_torch
from beetsplug.genrescore.backends.base import BackendOptions, Role, build_backend
from beetsplug.genrescore.backends.yamnet import (
    WEIGHTS_PATH,
    YAMNET_INSTRUMENT_THRESHOLDS,
    YamnetBackend,
)
from beetsplug.genrescore.errors import ModelLoadError
from beetsplug.genrescore.scoring.taxonomy import instrument_for_label

DATA = Path(__file__).resolve().parent / "data" / "yamnet"
SR = yamnet_net.SAMPLE_RATE
#: Fixture layer -> index into ``YamnetWeights.layers``.
LAYERS = {
    "layer1": 0,
    "layer2_pointwise": 2,
    "layer8_depthwise": 13,
    "layer8_pointwise": 14,
    "layer14_pointwise": 26,
}
LAYERED_SIGNALS = ("noise", "chirp")
SIGNALS = ("noise", "chirp", "sine440")
#: Largest tolerated error relative to the layer's largest output: (reproduced, plain).
#: Measured (noise, chirp): reproduced 1e-7 to 3e-7 everywhere except layer 8's pointwise
#: (3.4e-4, 1.7e-3: a float16 weight on the edge of b's rounding interval rounds to the
#: neighbouring int8 step); plain 1e-7 (layer 1, float weights stored float32), 3.6e-3 to
#: 8e-3 (layers 2 and 8), 6-7e-2 (layer 14, b's coarsest scales), 1e-3 (dense).
TOLERANCES = {
    "layer1": (1e-6, 1e-6),
    "layer2_pointwise": (1e-5, 2e-2),
    "layer8_depthwise": (1e-5, 2e-2),
    "layer8_pointwise": (5e-3, 2e-2),
    "layer14_pointwise": (1e-5, 1.5e-1),
    "dense": (1e-5, 5e-3),
}
# int8 range of TFLite's asymmetric activation quantization.
QMIN, QMAX = -128, 127


@pytest.fixture(scope="module")
def model() -> yamnet_net.YamnetWeights:
    weights, _ = yamnet_net.load_yamnet(path=WEIGHTS_PATH)
    return weights


@pytest.fixture(scope="module")
def layers() -> dict[str, np.ndarray]:
    with np.load(DATA / "tflite_layers.npz") as loaded:
        return dict(loaded)


@pytest.fixture(scope="module")
def backend() -> YamnetBackend:
    built = build_backend("yamnet", Role.INSTRUMENTS, BackendOptions(device="cpu"))
    assert isinstance(built, YamnetBackend)
    return built


def asymmetric_round(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``x`` rounded as tflite ``tensor_utils::AsymmetricQuantizeFloats`` does, dequantized.

    The range always includes 0; the zero point is nudged to an integer from whichever end
    loses less.
    """
    rmin, rmax = min(0.0, float(low)), max(0.0, float(high))
    if rmin == rmax:
        return np.zeros_like(x)
    scale = (rmax - rmin) / (QMAX - QMIN)
    from_min, from_max = QMIN - rmin / scale, QMAX - rmax / scale
    error_min, error_max = abs(QMIN) + abs(rmin / scale), abs(QMAX) + abs(rmax / scale)
    zero = from_min if error_min < error_max else from_max
    zero = float(np.clip(np.round(zero), QMIN, QMAX))
    q = np.clip(np.round(x / scale) + zero, QMIN, QMAX)
    return ((q - zero) * scale).astype(np.float32)


def round_rows(x: np.ndarray) -> np.ndarray:
    """Asymmetric rounding with one scale per row of the last axis (pixel or frame)."""
    rows = x.reshape(-1, x.shape[-1])
    out = [asymmetric_round(row, row.min(), row.max()) for row in rows]
    return np.stack(out).reshape(x.shape)


def on_b_grid(weight: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The first ``len(scales)`` output channels' weights (the last axis, as the numpy port
    lays them out) rounded to file b's int8 grid."""
    s = scales.astype(np.float64)
    rounded = weight.astype(np.float64)
    cut = rounded[..., : len(s)]
    rounded[..., : len(s)] = np.clip(np.round(cut / s), -127, 127) * s
    return rounded.astype(np.float32)


def run_layer(layer: yamnet_net.Conv, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """A port layer (as the torch module runs it, and the ONNX file exported from that) on a
    cut NHWC fixture input, zero-filled back to the full ``shape``.

    The kept output rows and channels depend only on the kept input (see the recorder).
    """
    fill = ((0, 0), (0, int(shape[1]) - x.shape[1]), (0, 0), (0, int(shape[3]) - x.shape[3]))
    full = np.pad(x, fill).astype(np.float32)
    with torch.inference_mode():
        tensor = torch.from_numpy(np.ascontiguousarray(full.transpose(0, 3, 1, 2)))
        out: np.ndarray = yamnet_torch.torch_layer(layer)(tensor).numpy().transpose(0, 2, 3, 1)
    return out


def _relative(port: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(port - reference)) / np.max(np.abs(reference)))


def _rank(scores: np.ndarray, labels: tuple[str, ...], label: str) -> int:
    return int(np.sum(scores > scores[labels.index(label)])) + 1


# --- op by op against the interpreter --------------------------------------------------------


@pytest.mark.parametrize("signal", SIGNALS)
def test_log_mel_matches_the_interpreter(signal: str, layers: dict[str, np.ndarray]) -> None:
    waveform = layers[f"{signal}/waveform"]
    reference = layers[f"{signal}/log_mel"]
    plain = yamnet_net.log_mel(audio=waveform)
    assert plain.shape == reference.shape == (yamnet_net.PATCH_FRAMES, yamnet_net.N_MELS)
    # The interpreter rounds each frame's magnitudes to int8 before the (int8) mel matmul:
    # in a tonal frame everything under 1/255 of the peak becomes 0, and its log falls to
    # log(0.001). Where the interpreter's mel energy is above 1 (log > 0: 99.9 % of the noise
    # bins, 7-11 % of the chirp and sine ones) the float front end agrees to 0.36 (median
    # 0.002-0.004); below, the two may differ by up to 6 (measured).
    strong = reference > 0
    assert np.max(np.abs(plain - reference)[strong]) < 0.5
    assert np.median(np.abs(plain - reference)[strong]) < 0.01
    frames = np.lib.stride_tricks.sliding_window_view(waveform, 400)[::160]
    magnitude = np.abs(np.fft.rfft(frames * yamnet_net.hann_window(), n=yamnet_net.FFT_LENGTH))
    (scale,) = layers["log_mel/weight_scales"]
    mel = on_b_grid(yamnet_net.mel_matrix(), np.full(64, scale))
    reproduced = np.log(round_rows(magnitude) @ mel + yamnet_net.LOG_OFFSET)
    error = np.abs(reproduced - reference)
    # A magnitude lying on a rounding boundary may round the other way (one bin in 6144 at
    # most moves by up to 3e-3); everything else agrees to float32 precision.
    assert np.quantile(error, 0.999) < 1e-5
    assert np.max(error) < 1e-2


@pytest.mark.parametrize("signal", LAYERED_SIGNALS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_the_interpreter(
    name: str,
    signal: str,
    model: yamnet_net.YamnetWeights,
    layers: dict[str, np.ndarray],
) -> None:
    layer = model.layers[LAYERS[name]]
    x = layers[f"{signal}/{name}/input"]
    reference = layers[f"{signal}/{name}/output"]
    shape = layers[f"{signal}/{name}/input_shape"]
    low, high = layers[f"{signal}/{name}/input_range"]
    rows, channels = reference.shape[1], reference.shape[3]
    plain = run_layer(layer, x, shape)[:, :rows, :, :channels]
    reproduced_tolerance, plain_tolerance = TOLERANCES[name]
    assert _relative(plain, reference) < plain_tolerance
    if f"{name}/weight_scales" not in layers:  # float weights: nothing to reproduce
        return
    rounded = dataclasses.replace(
        layer, kernel=on_b_grid(layer.kernel, layers[f"{name}/weight_scales"])
    )
    # Depthwise: one scale for the whole tensor; pointwise: one per pixel.
    x = asymmetric_round(x, low, high) if "depthwise" in name else round_rows(x)
    reproduced = run_layer(rounded, x, shape)[:, :rows, :, :channels]
    assert _relative(reproduced, reference) < reproduced_tolerance


@pytest.mark.parametrize("signal", SIGNALS)
def test_dense_head_matches_the_interpreter(
    signal: str, model: yamnet_net.YamnetWeights, layers: dict[str, np.ndarray]
) -> None:
    embedding = layers[f"{signal}/embedding"]
    reference = layers[f"{signal}/logits"]
    plain = embedding @ model.dense_kernel + model.dense_bias
    reproduced_tolerance, plain_tolerance = TOLERANCES["dense"]
    assert _relative(plain, reference) < plain_tolerance
    (scale,) = layers["dense/weight_scales"]
    weight = on_b_grid(model.dense_kernel, np.full(yamnet_net.N_CLASSES, scale))
    reproduced = round_rows(embedding) @ weight + model.dense_bias
    assert _relative(reproduced, reference) < reproduced_tolerance


@pytest.mark.parametrize("signal", SIGNALS)
def test_whole_network_stays_near_the_interpreter(
    signal: str,
    model: yamnet_net.YamnetWeights,
    layers: dict[str, np.ndarray],
    backend: YamnetBackend,
) -> None:
    """End to end the roundings accumulate; the float port stays within these bounds.

    Measured: the embedding from the interpreter's own log-mel patch differs by 0.02 (sine),
    0.04 (chirp) and 0.74 (noise) relative to its largest value; scores by up to 0.07, 0.21
    and 0.36. The interpreter's best class is the port's first (sine, chirp) or second
    (noise: it says "Noise", the port "White noise", then "Noise"). With tensors preserved
    and with its default XNNPACK delegate the interpreter gives identical scores.
    """
    with torch.inference_mode():
        log_mel = torch.from_numpy(layers[f"{signal}/log_mel"][None])
        embedding = yamnet_torch.YamnetNet(model).embedding(log_mel).numpy()
    assert _relative(embedding, layers[f"{signal}/embedding"]) < 1.0
    with np.load(DATA / "tflite_xnnpack_scores.npz") as fast:
        xnnpack = fast[signal]
    # The scores as the default engine computes them: ONNX Runtime, from the whole waveform.
    assert backend.engine == "onnx"
    (port,) = backend.predict_patches([[layers[f"{signal}/waveform"]]])
    for reference in (layers[f"{signal}/scores"], xnnpack):
        assert np.max(np.abs(port - reference)) < 0.45
        best = int(np.argmax(reference))
        assert int(np.sum(port > port[0, best])) < 2


# --- the official sanity checks (yamnet_test.py), through the backend -------------------------


def _zeros() -> np.ndarray:
    return np.zeros(3 * SR, dtype=np.float32)


def _noise() -> np.ndarray:
    np.random.seed(51773)  # as yamnet_test.py: the legacy global generator
    return np.random.uniform(-1.0, +1.0, (3 * SR,)).astype(np.float32)


def _sine() -> np.ndarray:
    return np.sin(2 * np.pi * 440 * np.arange(0, 3, 1 / SR)).astype(np.float32)


@pytest.mark.parametrize(
    ("make", "label"),
    [(_zeros, "Silence"), (_noise, "White noise"), (_sine, "Sine wave")],
    ids=["zeros", "noise", "sine"],
)
def test_official_sanity_checks(
    make: Callable[[], np.ndarray], label: str, backend: YamnetBackend
) -> None:
    (scores,) = backend.predict([[make()]])
    values = np.array([scores[name] for name in backend.labels])
    assert _rank(values, backend.labels, label) <= 10


# --- loader guards ---------------------------------------------------------------------------


def _tensors() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safe_open(str(WEIGHTS_PATH), framework="numpy") as weights:
        return {key: weights.get_tensor(key) for key in weights.keys()}, weights.metadata()  # noqa: SIM118


def _broken(
    tmp_path: Path, change: Callable[[dict[str, np.ndarray], dict[str, str]], None]
) -> Path:
    tensors, metadata = _tensors()
    change(tensors, metadata)
    path = tmp_path / "broken.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


def _wrong_shape(tensors: dict[str, np.ndarray], _: dict[str, str]) -> None:
    tensors["layer8.pointwise.weight"] = np.zeros((256, 512, 1, 1), dtype=np.float32)


def _missing(tensors: dict[str, np.ndarray], _: dict[str, str]) -> None:
    del tensors["layer5.depthwise.bias"]


def _wrong_dtype(tensors: dict[str, np.ndarray], _: dict[str, str]) -> None:
    tensors["dense.weight"] = tensors["dense.weight"].astype(np.int8)


def _extra(tensors: dict[str, np.ndarray], _: dict[str, str]) -> None:
    tensors["layer15.pointwise.weight"] = np.zeros(1, dtype=np.float32)


def _other_format(_: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    metadata["format"] = "genrescore-musicnn"


def _few_labels(_: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    metadata["labels"] = '["Speech"]'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_wrong_shape, "layer8.pointwise.weight has shape (256, 512, 1, 1)"),
        (_missing, "missing tensors layer5.depthwise.bias"),
        (_wrong_dtype, "dense.weight is int8"),
        (_extra, "unexpected tensors layer15.pointwise.weight"),
        (_other_format, "not a YAMNet weights file"),
        (_few_labels, "1 labels for 521 outputs"),
    ],
    ids=["shape", "missing", "dtype", "extra", "format", "labels"],
)
def test_weights_of_another_architecture_are_refused(
    change: Callable[[dict[str, np.ndarray], dict[str, str]], None],
    message: str,
    tmp_path: Path,
) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(ModelLoadError, match="yamnet") as info:
        yamnet_net.load_yamnet(path=path)
    assert message in str(info.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot read"):
        YamnetBackend(BackendOptions(device="cpu"), weights=tmp_path / "absent.safetensors")


# --- the backend -----------------------------------------------------------------------------


def _track(seed: int, seconds: float = 2.895) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = np.sin(2 * np.pi * (220 + 110 * seed) * t) * (0.3 + 0.2 * rng.random())
    return [(tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32) for _ in range(2)]


def test_batching_two_tracks_equals_each_alone(backend: YamnetBackend) -> None:
    first, second = _track(1), _track(2, seconds=4.0)
    together = backend.predict_patches([first, second])
    alone = [backend.predict_patches([first])[0], backend.predict_patches([second])[0]]
    for joint, single in zip(together, alone, strict=True):
        np.testing.assert_allclose(joint, single, atol=1e-5)
    assert not np.allclose(together[0].mean(axis=0), together[1].mean(axis=0), atol=1e-3)


def test_predict_averages_each_windows_strongest_patch(backend: YamnetBackend) -> None:
    track = _track(3)
    (windows,) = backend.window_patches([track])
    # 2.895 s fills five patches exactly; two windows.
    assert [w.shape for w in windows] == [(5, yamnet_net.N_CLASSES)] * 2
    assert windows[0].dtype == np.float32
    (patches,) = backend.predict_patches([track])
    np.testing.assert_array_equal(patches, np.concatenate(windows))
    (scores,) = backend.predict([track])
    assert list(scores) == list(backend.labels)
    peaks = (windows[0].max(axis=0) + windows[1].max(axis=0)) / 2
    np.testing.assert_allclose(list(scores.values()), peaks, atol=1e-6)
    # A sound in one patch of a window counts fully for that window, unlike a plain mean.
    assert np.all(peaks >= patches.mean(axis=0) - 1e-6)


def test_window_length_fills_whole_patches(backend: YamnetBackend) -> None:
    samples = round(backend.window_seconds * SR)
    padded = yamnet_net.pad_waveform(audio=np.zeros(samples, dtype=np.float32))
    assert padded.size == samples


def test_short_and_empty_windows_are_padded(backend: YamnetBackend) -> None:
    short, empty = np.zeros(100, dtype=np.float32), np.zeros(0, dtype=np.float32)
    patches = backend.predict_patches([[short], [empty]])
    assert [len(p) for p in patches] == [1, 1]


def test_bad_windows_are_refused(backend: YamnetBackend) -> None:
    with pytest.raises(ValueError, match="no windows"):
        backend.predict([[]])
    with pytest.raises(ValueError, match="mono"):
        backend.predict([[np.zeros((2, SR), dtype=np.float32)]])


def test_registry_builds_it_with_labels_from_the_weights(backend: YamnetBackend) -> None:
    assert backend.family == "yamnet"
    assert backend.sample_rate == SR
    assert backend.multi_label
    assert len(backend.labels) == yamnet_net.N_CLASSES
    assert backend.labels[:3] == ("Speech", "Child speech, kid speaking", "Conversation")
    assert backend.labels[-1] == "Field recording"
    assert backend.fingerprint.endswith(f"-port{yamnet.PORT_VERSION}")
    assert not backend.accelerated


def test_instrument_thresholds_cover_every_mapped_instrument(backend: YamnetBackend) -> None:
    mapped = {instrument_for_label(label) for label in backend.labels} - {None}
    assert set(backend.instrument_thresholds()) == mapped
    assert backend.instrument_thresholds() is YAMNET_INSTRUMENT_THRESHOLDS


def test_front_end_constants() -> None:
    mel = yamnet_net.mel_matrix()
    assert mel.shape == (257, 64)
    assert float(np.abs(mel[0]).max()) == 0.0  # the DC bin carries no weight
    assert yamnet_net.PATCH_SAMPLES == 15600
    assert yamnet_net.PATCH_HOP_SAMPLES == 7680
    # 3 s pads to 15600 + 5 hops: six patches, as the original makes of yamnet_test's clips.
    assert yamnet_net.waveform_patches(audio=_zeros()).shape == (6, 96, 64)
