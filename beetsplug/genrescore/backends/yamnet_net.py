"""YAMNet (Google's AudioSet tagger): its exact front end, and its weights prepared for the
network.

A port of ``research/audioset/yamnet`` from the TensorFlow models repository (Apache-2.0,
Copyright 2019 The TensorFlow Authors), loaded from the safetensors file that
``tools/convert_yamnet.py`` writes from two TFLite conversions of the trained model. Layer by
layer it matches the TFLite interpreter's kernels once their int8 activation rounding is
reproduced (``tests/test_yamnet_port.py``).

Pipeline, as in ``features.py`` and ``yamnet.py`` (constants from ``params.py``)::

    16 kHz mono -> zero-pad the end to 0.975 s + a whole number of 0.48 s hops
                -> 25 ms Hann frames every 10 ms -> |512-point DFT|
                -> 64 HTK mel bins (125-7500 Hz) -> log(mel + 0.001)
                -> 96-frame patches (0.96 s) every 48 frames -> network -> 521 sigmoid scores

Network (MobileNetV1): a 3 x 3 convolution (32 channels, stride 2), 13 depthwise-separable
blocks (3 x 3 depthwise + 1 x 1 pointwise), each convolution with batch norm folded into its
bias and followed by ReLU; TF "same" padding; global average pool (the 1024-d embedding);
dense 1024 -> 521.

The front end (log-mel patches) runs here, in numpy. The weights are read into
:class:`YamnetWeights` (float32, laid out for NHWC), from which ``yamnet_torch`` builds the
network as a torch module: on a GPU or in bf16 that module runs, on the CPU the ONNX file
``tools/export_onnx.py`` exported from it (``backends/onnx.py``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ModelLoadError
from .kit import REINSTALL_HINT, read_weights

# Front end, params.py.
SAMPLE_RATE: Final = 16000  # Hz
STFT_WINDOW_SAMPLES: Final = 400  # 25 ms
STFT_HOP_SAMPLES: Final = 160  # 10 ms
FFT_LENGTH: Final = 512  # 2 ** ceil(log2(400))
N_MELS: Final = 64
MEL_MIN_HZ: Final = 125.0
MEL_MAX_HZ: Final = 7500.0
#: Added to the mel magnitudes before the log (params.log_offset).
LOG_OFFSET: Final = 0.001
PATCH_FRAMES: Final = 96  # 0.96 s
PATCH_HOP_FRAMES: Final = 48  # 0.48 s
#: Fewest samples that make one patch: 96 frames of 400 samples every 160 (0.975 s); the
#: TFLite models take exactly this many.
PATCH_SAMPLES: Final = (PATCH_FRAMES - 1) * STFT_HOP_SAMPLES + STFT_WINDOW_SAMPLES
#: Samples between the starts of consecutive patches (0.48 s).
PATCH_HOP_SAMPLES: Final = PATCH_HOP_FRAMES * STFT_HOP_SAMPLES
# HTK mel scale, as tf.signal.linear_to_mel_weight_matrix computes it.
_MEL_BREAK_HZ: Final = 700.0
_MEL_HIGH_Q: Final = 1127.0

N_CLASSES: Final = 521
EMBEDDING_SIZE: Final = 1024
#: (stride, output channels) of the 14 layers, yamnet.py ``_YAMNET_LAYER_DEFS``; layer 1 is a
#: full convolution, the others depthwise-separable.
LAYERS: Final = (
    (2, 32),
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
)
KERNEL: Final = 3

#: The safetensors layout this module reads (``format_version`` in the file metadata).
FORMAT_VERSION: Final = "1"
#: Storage dtypes a weights file may use (widened to float32 on loading).
WEIGHT_DTYPES: Final = (np.dtype(np.float16), np.dtype(np.float32))

Array = npt.NDArray[np.float32]


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of every weight a YAMNet file must hold (PyTorch layouts)."""
    shapes: dict[str, tuple[int, ...]] = {
        "layer1.conv.weight": (LAYERS[0][1], 1, KERNEL, KERNEL),
        "layer1.conv.bias": (LAYERS[0][1],),
    }
    channels = LAYERS[0][1]
    for number, (_, out) in enumerate(LAYERS[1:], start=2):
        shapes[f"layer{number}.depthwise.weight"] = (channels, 1, KERNEL, KERNEL)
        shapes[f"layer{number}.depthwise.bias"] = (channels,)
        shapes[f"layer{number}.pointwise.weight"] = (out, channels, 1, 1)
        shapes[f"layer{number}.pointwise.bias"] = (out,)
        channels = out
    shapes["dense.weight"] = (N_CLASSES, EMBEDDING_SIZE)
    shapes["dense.bias"] = (N_CLASSES,)
    return shapes


@functools.cache
def hann_window() -> Array:
    """The periodic Hann window of features.py's TFLite-compatible path, float32 ``(400,)``.

    Computed in float64 as numpy does there (tf.signal.hann_window's float32 cosine differs
    by up to 1.2e-7; one TFLite file holds each).
    """
    n = np.arange(STFT_WINDOW_SAMPLES, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / STFT_WINDOW_SAMPLES)
    result: Array = window.astype(np.float32)
    result.flags.writeable = False
    return result


def _hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    mel: npt.NDArray[np.float64] = _MEL_HIGH_Q * np.log1p(
        np.asarray(hz, dtype=np.float64) / _MEL_BREAK_HZ
    )
    return mel


@functools.cache
def mel_matrix() -> Array:
    """tf.signal.linear_to_mel_weight_matrix for YAMNet's parameters, float32 ``(257, 64)``.

    Triangles on the HTK mel scale between MEL_MIN_HZ and MEL_MAX_HZ; the DC bin gets no
    weight. Both TFLite files hold this matrix rounded to int8.
    """
    bins = FFT_LENGTH // 2 + 1
    linear_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins)[1:])[:, None]
    edges = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), N_MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (linear_mel - lower) / (center - lower)
    falling = (upper - linear_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    matrix: Array = np.concatenate([np.zeros((1, N_MELS)), weights]).astype(np.float32)
    matrix.flags.writeable = False
    return matrix


def pad_waveform(*, audio: Array) -> Array:
    """Zero-pad the end as features.py's ``pad_waveform`` does.

    To at least :data:`PATCH_SAMPLES`, then up to a whole number of patch hops after the
    first patch, so the last patch covers the end of the audio.

    Parameters
    ----------
    audio
        Mono samples at :data:`SAMPLE_RATE`, shape ``(samples,)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(PATCH_SAMPLES + k * PATCH_HOP_SAMPLES,)``, float32.
    """
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    after_first = max(samples.size, PATCH_SAMPLES) - PATCH_SAMPLES
    hops = -(-after_first // PATCH_HOP_SAMPLES)  # ceil
    padded = np.zeros(PATCH_SAMPLES + hops * PATCH_HOP_SAMPLES, dtype=np.float32)
    padded[: samples.size] = samples
    return padded


def log_mel(*, audio: Array) -> Array:
    """The log-mel spectrogram YAMNet sees (no padding: see :func:`pad_waveform`).

    Frames start every 160 samples with no centring. TFLite pads each windowed frame to 512
    with 56 zeros on both sides, TF's ``stft`` with 112 at the end: a shift, which leaves the
    DFT magnitude unchanged. In float32 throughout, as the torch front end this replaced
    (numpy's float32 FFT; the two agree to 2e-6, tests/test_onnx_engine.py).

    Parameters
    ----------
    audio
        Mono samples at :data:`SAMPLE_RATE`, shape ``(samples,)``, at least 400.

    Returns
    -------
    numpy.ndarray
        Shape ``(1 + (samples - 400) // 160, N_MELS)``, natural log, float32.
    """
    samples = np.asarray(audio, dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(samples, STFT_WINDOW_SAMPLES)
    windowed = frames[::STFT_HOP_SAMPLES] * hann_window()
    magnitude = np.abs(np.fft.rfft(windowed, n=FFT_LENGTH))
    spectrogram: Array = np.log(magnitude @ mel_matrix() + np.float32(LOG_OFFSET))
    return spectrogram


def patches(*, spectrogram: Array) -> Array:
    """Cut a log-mel spectrogram into 96-frame patches every 48 frames.

    Parameters
    ----------
    spectrogram
        Shape ``(frames, N_MELS)``, at least :data:`PATCH_FRAMES` frames.

    Returns
    -------
    numpy.ndarray
        Shape ``(1 + (frames - 96) // 48, PATCH_FRAMES, N_MELS)``; trailing frames that do
        not fill a patch are dropped, as tf.signal.frame does.
    """
    windows = np.lib.stride_tricks.sliding_window_view(spectrogram, PATCH_FRAMES, axis=0)
    # sliding_window_view puts the window axis last: (count, N_MELS, PATCH_FRAMES).
    # A copy: the view is read-only, and torch refuses to wrap read-only memory.
    selected: Array = np.array(windows[::PATCH_HOP_FRAMES].transpose(0, 2, 1), order="C")
    return selected


def waveform_patches(*, audio: Array) -> Array:
    """All patches of a waveform, padded as the original model pads it.

    Returns
    -------
    numpy.ndarray
        Shape ``(patches, PATCH_FRAMES, N_MELS)``, float32; at least one patch (silence
        for empty input).
    """
    return patches(spectrogram=log_mel(audio=pad_waveform(audio=audio)))


# --- the network's weights ----------------------------------------------------------------------
#
# Laid out for NHWC activations, (batch, frames, mel bins, channels), as the numpy port that
# came first ran them; ``yamnet_torch`` reshapes them for torch.


@dataclass(frozen=True)
class Conv:
    """One of the 27 convolutions, each followed by ReLU, prepared for ``yamnet_torch``."""

    #: ``full``: a 3 x 3 convolution over all input channels (layer 1); ``depthwise``: 3 x 3
    #: per channel; ``pointwise``: 1 x 1.
    kind: Literal["full", "depthwise", "pointwise"]
    #: ``full``: ``(in_channels * 3 * 3, out)``; ``depthwise``: ``(3, 3, channels)``;
    #: ``pointwise``: ``(in_channels, out)``.
    kernel: Array
    #: ``(out,)``: batch norm folded in.
    bias: Array
    #: 1 or 2 (``full`` and ``depthwise`` only); TF "same" padding.
    stride: int = 1


@dataclass(frozen=True)
class YamnetWeights:
    """YAMNet prepared once from a weights file (:func:`load_yamnet`); float32 throughout.
    ``yamnet_torch`` builds its module from these arrays."""

    #: The 27 convolutions in order: layer 1, then depthwise and pointwise of layers 2-14.
    layers: tuple[Conv, ...]
    #: The classifier: ``(EMBEDDING_SIZE, N_CLASSES)`` and ``(N_CLASSES,)``.
    dense_kernel: Array
    dense_bias: Array


def check_tensors(tensors: Mapping[str, npt.NDArray[np.generic]]) -> None:
    """Refuse weights of another architecture.

    Raises
    ------
    ValueError
        A tensor is missing, unexpected, of another shape or of a non-float dtype; the
        message names it.
    """
    wanted = expected_shapes()
    missing = sorted(set(wanted) - set(tensors))
    if missing:
        raise ValueError(f"missing tensors {', '.join(missing[:4])}")
    extra = sorted(set(tensors) - set(wanted))
    if extra:
        raise ValueError(f"unexpected tensors {', '.join(extra[:4])}")
    for key, shape in wanted.items():
        tensor = tensors[key]
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{key} has shape {tuple(tensor.shape)}, expected {shape}")
        if tensor.dtype not in WEIGHT_DTYPES:
            raise ValueError(f"{key} is {tensor.dtype}, expected float16 or float32")


def prepare_weights(tensors: Mapping[str, npt.NDArray[np.generic]]) -> YamnetWeights:
    """Lay out a weights file's tensors (PyTorch names and layouts, float16 or float32) for
    the network, in float32.

    Raises
    ------
    ValueError
        See :func:`check_tensors`.
    """
    check_tensors(tensors)

    def array(key: str) -> Array:
        return np.asarray(tensors[key], dtype=np.float32)

    first = array("layer1.conv.weight")  # (out, in, 3, 3)
    layers = [
        Conv(
            "full",
            np.ascontiguousarray(first.reshape(len(first), -1).T),
            array("layer1.conv.bias"),
            LAYERS[0][0],
        )
    ]
    for number, (stride, _) in enumerate(LAYERS[1:], start=2):
        depthwise = array(f"layer{number}.depthwise.weight")  # (channels, 1, 3, 3)
        pointwise = array(f"layer{number}.pointwise.weight")  # (out, in, 1, 1)
        layers.append(
            Conv(
                "depthwise",
                np.ascontiguousarray(depthwise[:, 0].transpose(1, 2, 0)),
                array(f"layer{number}.depthwise.bias"),
                stride,
            )
        )
        layers.append(
            Conv(
                "pointwise",
                np.ascontiguousarray(pointwise[:, :, 0, 0].T),
                array(f"layer{number}.pointwise.bias"),
            )
        )
    return YamnetWeights(
        layers=tuple(layers),
        dense_kernel=np.ascontiguousarray(array("dense.weight").T),
        dense_bias=array("dense.bias"),
    )


def same_padding(size: int, stride: int) -> tuple[int, int]:
    """TF "same" padding of one axis for a 3-tap kernel: the odd extra row goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + KERNEL - size, 0)
    return total // 2, total - total // 2


def load_yamnet(*, path: Path, name: str = "yamnet") -> tuple[YamnetWeights, tuple[str, ...]]:
    """Read a file ``tools/convert_yamnet.py`` wrote: the prepared network and the AudioSet
    display name of each output, from the file's metadata. Errors name the backend ``name``.

    Raises
    ------
    ModelLoadError
        The file is missing or corrupt, of another format, or holds weights of another
        architecture (a tensor missing, extra, of another shape or dtype).
    """
    metadata, tensors = read_weights(
        path, name, kind="yamnet", title="YAMNet", version=FORMAT_VERSION
    )
    try:
        weights = prepare_weights(tensors)
        labels = tuple(str(label) for label in json.loads(metadata["labels"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelLoadError(name, f"{path} holds unusable weights: {exc}", REINSTALL_HINT) from exc
    if len(labels) != N_CLASSES:
        raise ModelLoadError(
            name, f"{path} has {len(labels)} labels for {N_CLASSES} outputs", REINSTALL_HINT
        )
    return weights, labels
