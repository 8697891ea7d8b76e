"""The musicnn taggers (Pons & Serra, 2019): their exact preprocessing, and their weights
prepared for the network.

A faithful port of ``MTT_musicnn`` and ``MSD_musicnn`` from the ``musicnn`` 0.1.0 package
(ISC licence), loaded from the safetensors files that ``tools/convert_musicnn.py`` writes
(TensorFlow names and layouts, unchanged bytes). It agrees with the original TensorFlow model
to 2e-6 in tag probability on the reference clips; the details that make this so are the ones
commented below.

The front end (log-mel patches) runs here, in numpy. The weights are read into
:class:`MusicnnWeights` (batch norms folded, kernels laid out for matrix products), from which
``musicnn_torch`` builds the network as a torch module: on a GPU or in bf16 that module runs,
on the CPU the ONNX file ``tools/export_onnx.py`` exported from it (``backends/onnx.py``).

Pipeline, as in ``musicnn.extractor``::

    16 kHz mono -> mel power (as librosa: n_fft 512, hop 256, 96 slaney mels)
                -> float16 -> log10(10000 x + 1) -> 187-frame patches (3 s, no overlap)
                -> network -> 50 sigmoid tags per patch

Network: input batch norm; a "musically motivated" front end of two timbral convolutions
(7 x 38 and 7 x 67 on time x mel) and three temporal ones (128, 64, 32 x 1), each followed by
ReLU, batch norm and a max over the mel axis (561 features per frame); a mid end of three
7-frame convolutions with residual connections, densely concatenated (753 features); a back
end of max and mean over time, batch norm, dense 200 + ReLU, batch norm, dense 50.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import ModelLoadError
from ..scoring import dsp
from .kit import REINSTALL_HINT, read_weights

# Signal processing, from musicnn/configuration.py (SR, FFT_SIZE, FFT_HOP, N_MELS).
SAMPLE_RATE: Final = 16000  # Hz
N_FFT: Final = 512  # samples
HOP_LENGTH: Final = 256  # samples
N_MELS: Final = 96
# musicnn.extractor: librosa.time_to_frames(3, sr, n_fft, hop) + 1 frames, the length the
# models were trained on (config.json "n_frames": 187).
PATCH_FRAMES: Final = 187
PATCH_SECONDS: Final = 3.0
# Samples whose mel spectrogram (librosa centres frames: 1 + samples // hop) has exactly
# PATCH_FRAMES frames; shorter input is repeated up to this length.
PATCH_SAMPLES: Final = (PATCH_FRAMES - 1) * HOP_LENGTH
# librosa.feature.melspectrogram's defaults, which musicnn.extractor leaves alone: frames
# centred on t * HOP_LENGTH with N_FFT // 2 zeros padded at each end, a periodic Hann window,
# power 2, and the Slaney mel scale and area normalisation from 0 Hz to Nyquist
# (scoring/dsp.py writes them out).
# The "logC" compression: log10(LOG_GAIN * mel_power + 1), musicnn.extractor.batch_data.
LOG_GAIN: Final = 10000.0
# The extractor casts mel power to float16 first; values past float16's range would become
# inf there, so they are clipped to its largest finite value instead.
FLOAT16_MAX: Final = float(np.finfo(np.float16).max)

# tf.compat.v1.layers.batch_normalization's default epsilon (torch's 1e-5 costs 0.3 in
# probability).
BN_EPSILON: Final = 1e-3
# Front end, models.py frontend(): 1.6 * 128 timbral and 1.6 * 32 temporal filters; timbral
# kernels span int(0.4 * 96) and int(0.7 * 96) mel bins.
TIMBRAL_KERNELS: Final = ((7, 38), (7, 67))
TEMPORAL_KERNELS: Final = (128, 64, 32)
# Padding in time that the timbral and mid-end convolutions get (models.py pads 3 + 3
# frames before each 7-frame 'valid' convolution).
TIME_PAD: Final = 3

# TF variable names, numbered in the order models.py creates the layers.
_TIMBRAL = (("conv2d", "batch_normalization_1"), ("conv2d_1", "batch_normalization_2"))
_TEMPORAL = (
    ("conv2d_2", "batch_normalization_3"),
    ("conv2d_3", "batch_normalization_4"),
    ("conv2d_4", "batch_normalization_5"),
)
_MIDEND = (
    ("conv2d_5", "batch_normalization_6"),
    ("conv2d_6", "batch_normalization_7"),
    ("conv2d_7", "batch_normalization_8"),
)
_INPUT_BN = "batch_normalization"
_POOL_BN = "batch_normalization_9"
_DENSE_BN = "batch_normalization_10"
_DENSE = "dense"
_OUTPUT = "dense_1"

#: The safetensors layout this module reads (``format_version`` in the file metadata).
FORMAT_VERSION: Final = "1"

Array = npt.NDArray[np.float32]


@functools.cache
def mel_basis() -> Array:
    """Triangular mel filters, as ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)``
    (:func:`.scoring.dsp.mel_filters`: the same numbers, without importing librosa).

    Returns
    -------
    numpy.ndarray
        Shape ``(N_MELS, 1 + N_FFT // 2)``, float32; read-only (it is cached).
    """
    basis = dsp.mel_filters(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    basis.flags.writeable = False
    return basis


def mel_power(*, audio: Array) -> Array:
    """The mel power spectrogram, as ``librosa.feature.melspectrogram`` computes it here.

    Parameters
    ----------
    audio
        Mono samples at :data:`SAMPLE_RATE`, shape ``(samples,)``, at least :data:`N_FFT`
        (shorter input is zero-padded alike, but librosa warns about it).

    Returns
    -------
    numpy.ndarray
        Shape ``(N_MELS, 1 + samples // HOP_LENGTH)`` (mel bins, frames), float32.
    """
    # Centred frames: N_FFT // 2 zeros at each end, then librosa's STFT of whole frames.
    padded = np.pad(np.asarray(audio, dtype=np.float32), N_FFT // 2)
    power = np.abs(dsp.stft(padded, n_fft=N_FFT, hop_length=HOP_LENGTH)) ** 2  # (bins, frames)
    # librosa's own contraction; another summation order moves the last bit.
    mel: Array = np.einsum("ft,mf->mt", power, mel_basis(), optimize=True)
    return mel


def log_mel(*, audio: Array) -> Array:
    """The log-compressed mel spectrogram musicnn feeds its models.

    Parameters
    ----------
    audio
        Mono samples at :data:`SAMPLE_RATE`, shape ``(samples,)``, nominally in [-1, 1].

    Returns
    -------
    numpy.ndarray
        ``log10(10000 * power + 1)`` of the mel power spectrogram, shape
        ``(1 + samples // HOP_LENGTH, N_MELS)`` (frames, mel bins), float32.
    """
    power = mel_power(audio=audio).T
    # The models were trained on mel power stored as float16; the rounding is part of the
    # input (numpy 1.x then promoted to float32 for the log, which numpy 2 no longer does).
    rounded = np.minimum(power, FLOAT16_MAX).astype(np.float16).astype(np.float32)
    compressed: Array = np.log10(np.float32(LOG_GAIN) * rounded + np.float32(1.0))
    return compressed


def patches(*, spectrogram: Array) -> Array:
    """Cut a log-mel spectrogram into the model's non-overlapping 3 s patches.

    Parameters
    ----------
    spectrogram
        Shape ``(frames, N_MELS)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(frames // PATCH_FRAMES, PATCH_FRAMES, N_MELS)``; trailing frames that do not
        fill a patch are dropped, as in the original extractor.
    """
    count = spectrogram.shape[0] // PATCH_FRAMES
    return spectrogram[: count * PATCH_FRAMES].reshape(count, PATCH_FRAMES, N_MELS)


def window_patches(*, audio: Array) -> Array:
    """The patches of one analysis window, repeating audio shorter than one patch.

    Parameters
    ----------
    audio
        Mono samples at :data:`SAMPLE_RATE`, shape ``(samples,)``. Shorter than
        :data:`PATCH_SAMPLES` (3 s), it is repeated to that length (the training setup's
        ``repeat-pad``); empty, it is treated as silence.

    Returns
    -------
    numpy.ndarray
        Shape ``(max(1, frames // PATCH_FRAMES), PATCH_FRAMES, N_MELS)``.
    """
    samples = np.asarray(audio, dtype=np.float32)
    if samples.size == 0:
        samples = np.zeros(PATCH_SAMPLES, dtype=np.float32)
    elif samples.size < PATCH_SAMPLES:
        samples = np.resize(samples, PATCH_SAMPLES)  # np.resize repeats the input
    return patches(spectrogram=log_mel(audio=samples))


# --- the network's weights ----------------------------------------------------------------------
#
# Laid out for matrix products with the features last, as the numpy port that came first ran
# them; ``musicnn_torch`` reshapes them for torch.


@dataclass(frozen=True)
class PooledConv:
    """A front-end convolution -> ReLU -> batch norm -> max over mel bins, prepared.

    ReLU and inference batch norm are monotone per channel, so the max over mel is taken
    first, on the raw convolution: for channels whose batch-norm scale is negative the max of
    the result is the *min* of the convolution, so those channels' weights are stored negated
    (``sign``) and their max is negated back. The result is identical and skips two passes
    over the largest activations.
    """

    #: ``(kernel_time * kernel_mel, channels)``: TF's HWIO kernel flattened, times ``sign``.
    kernel: Array
    #: ``(kernel_time, kernel_mel)``.
    kernel_size: tuple[int, int]
    #: ``(channels,)``, times ``sign``.
    bias: Array
    #: ``(channels,)``: -1 where the batch-norm scale is negative, else 1.
    sign: Array
    #: The batch norm as ``x * scale + shift``, ``(channels,)`` each.
    scale: Array
    shift: Array
    #: Zeros before and after in time (TF 'same' for the temporal kernels; the timbral ones
    #: get the network's own TIME_PAD before, as models.py pads them).
    time_padding: tuple[int, int]


@dataclass(frozen=True)
class MidendConv:
    """A 7-frame convolution over all features -> ReLU -> batch norm, prepared."""

    #: ``(7 * features, channels)``: the frames outer, the input features inner.
    kernel: Array
    bias: Array
    scale: Array
    shift: Array


@dataclass(frozen=True)
class Dense:
    """A dense layer: ``x @ kernel + bias`` with ``kernel`` of shape ``(inputs, outputs)``."""

    kernel: Array
    bias: Array


@dataclass(frozen=True)
class MusicnnWeights:
    """The musicnn network (``build_musicnn``, 64 mid-end filters, 200 dense units), prepared
    once from a weights file (:func:`load_musicnn`) for ``musicnn_torch``; float32 throughout.

    The one place that reads TF's names and layouts: ``musicnn_torch`` builds its module from
    these arrays.
    """

    #: The input batch norm, 0-d each.
    input_scale: Array
    input_shift: Array
    timbral: tuple[PooledConv, ...]
    #: Longest first, as the numpy port gathered their columns.
    temporal: tuple[PooledConv, ...]
    midend: tuple[MidendConv, ...]
    #: The batch norm after pooling, ``(2 * 753,)`` each.
    pool_scale: Array
    pool_shift: Array
    dense: Dense
    #: The batch norm after the dense layer, ``(200,)`` each.
    dense_scale: Array
    dense_shift: Array
    output: Dense

    @property
    def tags(self) -> int:
        """Outputs of the network."""
        return int(self.output.kernel.shape[1])


def _float(tensors: Mapping[str, npt.NDArray[np.generic]], key: str) -> Array:
    # Widened once here: a file may store float16.
    return np.ascontiguousarray(tensors[key], dtype=np.float32)


def _bn_affine(tensors: Mapping[str, npt.NDArray[np.generic]], name: str) -> tuple[Array, Array]:
    """Inference batch norm as ``x * scale + shift``."""
    variance = _float(tensors, f"{name}/moving_variance")
    scale = _float(tensors, f"{name}/gamma") / np.sqrt(variance + np.float32(BN_EPSILON))
    shift = _float(tensors, f"{name}/beta") - _float(tensors, f"{name}/moving_mean") * scale
    return scale, shift


def _check_kernels(tensors: Mapping[str, npt.NDArray[np.generic]]) -> None:
    """Refuse weights of another architecture (raises ``ValueError``)."""
    for (conv, _), expected in zip(_TIMBRAL, TIMBRAL_KERNELS, strict=True):
        if tuple(tensors[f"{conv}/kernel"].shape[:2]) != expected:
            raise ValueError(f"{conv}/kernel is not a {expected} timbral kernel")
    for (conv, _), length in zip(_TEMPORAL, TEMPORAL_KERNELS, strict=True):
        if tuple(tensors[f"{conv}/kernel"].shape[:3]) != (length, 1, 1):
            raise ValueError(f"{conv}/kernel is not a {length}-frame temporal kernel")


def _same_padding(kernel: int) -> tuple[int, int]:
    # TF 'same' puts the odd extra row at the end (putting it first costs 0.24 in probability).
    total = kernel - 1
    return total // 2, total - total // 2


def _pooled_conv(
    tensors: Mapping[str, npt.NDArray[np.generic]], conv: str, bn: str, *, temporal: bool
) -> PooledConv:
    scale, shift = _bn_affine(tensors, bn)
    sign = np.where(scale < 0, np.float32(-1.0), np.float32(1.0)).astype(np.float32)
    kernel = _float(tensors, f"{conv}/kernel")  # TF HWIO: (time, mel, 1, channels)
    time, mel = kernel.shape[:2]
    return PooledConv(
        kernel=np.ascontiguousarray(kernel.reshape(time * mel, -1) * sign),
        kernel_size=(time, mel),
        bias=_float(tensors, f"{conv}/bias") * sign,
        sign=sign,
        scale=scale,
        shift=shift,
        time_padding=_same_padding(time) if temporal else (TIME_PAD, TIME_PAD),
    )


def _midend_conv(tensors: Mapping[str, npt.NDArray[np.generic]], conv: str, bn: str) -> MidendConv:
    kernel = _float(tensors, f"{conv}/kernel")[:, :, 0, :]  # TF (time, features, 1, out)
    time, features, out = kernel.shape
    scale, shift = _bn_affine(tensors, bn)
    return MidendConv(
        kernel=np.ascontiguousarray(kernel.reshape(time * features, out)),
        bias=_float(tensors, f"{conv}/bias"),
        scale=scale,
        shift=shift,
    )


def _dense(tensors: Mapping[str, npt.NDArray[np.generic]], name: str) -> Dense:
    return Dense(kernel=_float(tensors, f"{name}/kernel"), bias=_float(tensors, f"{name}/bias"))


def prepare_weights(tensors: Mapping[str, npt.NDArray[np.generic]]) -> MusicnnWeights:
    """Fold and lay out a weights file's tensors (TF names and layouts) for the network.

    Raises
    ------
    KeyError
        A tensor is missing.
    ValueError
        The kernels are of another architecture.
    """
    _check_kernels(tensors)
    input_scale, input_shift = _bn_affine(tensors, _INPUT_BN)
    pool_scale, pool_shift = _bn_affine(tensors, _POOL_BN)
    dense_scale, dense_shift = _bn_affine(tensors, _DENSE_BN)
    return MusicnnWeights(
        input_scale=input_scale.reshape(()),
        input_shift=input_shift.reshape(()),
        timbral=tuple(_pooled_conv(tensors, c, bn, temporal=False) for c, bn in _TIMBRAL),
        temporal=tuple(_pooled_conv(tensors, c, bn, temporal=True) for c, bn in _TEMPORAL),
        midend=tuple(_midend_conv(tensors, c, bn) for c, bn in _MIDEND),
        pool_scale=pool_scale,
        pool_shift=pool_shift,
        dense=_dense(tensors, _DENSE),
        dense_scale=dense_scale,
        dense_shift=dense_shift,
        output=_dense(tensors, _OUTPUT),
    )


def load_musicnn(*, path: Path, name: str = "musicnn") -> tuple[MusicnnWeights, tuple[str, ...]]:
    """Read a file ``tools/convert_musicnn.py`` wrote: the prepared network and the tag of each
    output, from the file's metadata. Errors name the backend ``name``.

    Raises
    ------
    ModelLoadError
        The file is missing or corrupt, of another format version, or lacks a tensor.
    """
    metadata, tensors = read_weights(
        path, name, kind="musicnn", title="musicnn", version=FORMAT_VERSION
    )
    try:
        labels = tuple(json.loads(metadata["labels"]))
        weights = prepare_weights(tensors)
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(
            name, f"{path} holds unusable weights ({exc})", REINSTALL_HINT
        ) from exc
    if len(labels) != weights.tags:
        raise ModelLoadError(
            name, f"{path} has {len(labels)} labels for {weights.tags} outputs", REINSTALL_HINT
        )
    return weights, labels


def stack_patches(*, windows: Sequence[Array]) -> tuple[Array, list[int]]:
    """Concatenate per-window patch arrays into one batch.

    Parameters
    ----------
    windows
        Each of shape ``(patches_i, PATCH_FRAMES, N_MELS)``.

    Returns
    -------
    batch
        Shape ``(sum of patches_i, PATCH_FRAMES, N_MELS)``.
    counts
        ``patches_i`` of each window, to split the model's output again.
    """
    counts = [len(w) for w in windows]
    if not windows:
        return np.zeros((0, PATCH_FRAMES, N_MELS), dtype=np.float32), counts
    return np.concatenate(windows), counts
