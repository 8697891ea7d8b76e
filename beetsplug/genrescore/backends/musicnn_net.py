"""The musicnn taggers (Pons & Serra, 2019) in PyTorch, with their exact preprocessing.

A faithful port of ``MTT_musicnn`` and ``MSD_musicnn`` from the ``musicnn`` 0.1.0 package
(ISC licence), loaded from the safetensors files that ``tools/convert_musicnn.py`` writes
(TensorFlow names and layouts, unchanged bytes). It agrees with the original TensorFlow model
to 2e-6 in tag probability on the reference clips; the details that make this so are the ones
commented below.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError
from .base import REINSTALL_HINT, read_weights

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
# power 2, and the Slaney mel scale and area normalisation from 0 Hz to Nyquist.
MEL_FMIN: Final = 0.0  # Hz
MEL_FMAX: Final = SAMPLE_RATE / 2  # Hz
# Slaney's Auditory Toolbox mel scale (librosa.hz_to_mel, htk=False): linear below 1 kHz at
# 200/3 Hz per mel, logarithmic above with 27 mels per factor 6.4.
_SLANEY_HZ_PER_MEL: Final = 200.0 / 3
_SLANEY_LOG_HZ: Final = 1000.0
_SLANEY_LOG_MEL: Final = _SLANEY_LOG_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP: Final = float(np.log(6.4) / 27.0)
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


def hann_window() -> npt.NDArray[np.float64]:
    """The periodic Hann window of :data:`N_FFT` samples, float64.

    The same numbers as ``scipy.signal.get_window("hann", N_FFT)``, librosa's ``"hann"``.
    """
    phase = np.linspace(-np.pi, np.pi, N_FFT + 1)
    window: npt.NDArray[np.float64] = (0.5 + 0.5 * np.cos(phase))[:-1]
    return window


def _hz_to_mel(hz: float) -> float:
    if hz < _SLANEY_LOG_HZ:
        return hz / _SLANEY_HZ_PER_MEL
    return _SLANEY_LOG_MEL + float(np.log(hz / _SLANEY_LOG_HZ)) / _SLANEY_LOG_STEP


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    logarithmic = _SLANEY_LOG_HZ * np.exp(_SLANEY_LOG_STEP * (mels - _SLANEY_LOG_MEL))
    hz: npt.NDArray[np.float64] = np.where(
        mels >= _SLANEY_LOG_MEL, logarithmic, _SLANEY_HZ_PER_MEL * mels
    )
    return hz


@functools.cache
def mel_basis() -> Array:
    """Triangular mel filters, as ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)``.

    Written out in numpy, in librosa's order of operations, so that musicnn's first call
    does not import librosa (1.8-2.5 s on a cold start; the values are identical).

    Returns
    -------
    numpy.ndarray
        Shape ``(N_MELS, 1 + N_FFT // 2)``, float32; read-only (it is cached).
    """
    bin_hz = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    # N_MELS + 2 edges, evenly spaced in mels: filter i rises from edge i to i + 1 and falls
    # to i + 2.
    edges = _mel_to_hz(np.linspace(_hz_to_mel(MEL_FMIN), _hz_to_mel(MEL_FMAX), N_MELS + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bin_hz)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    basis: Array = np.maximum(0, np.minimum(rising, falling)).astype(np.float32)
    # Slaney normalisation: each filter has the same area (2 / its width in Hz).
    basis *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    basis.flags.writeable = False
    return basis


#: Frames per FFT call in :func:`mel_power`.
_STFT_BLOCK = 128


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
    padded = np.pad(np.asarray(audio, dtype=np.float32), N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    # As librosa.stft: the window product and the FFT in float64, the result kept as
    # complex64, the power in float32. In blocks of frames, as librosa does too: the float64
    # intermediates stay in cache (about 2x faster than one pass over 30 s; same numbers).
    window = hann_window()
    spectrum = np.empty((len(frames), N_FFT // 2 + 1), dtype=np.complex64)
    for start in range(0, len(frames), _STFT_BLOCK):
        block = frames[start : start + _STFT_BLOCK]
        spectrum[start : start + _STFT_BLOCK] = np.fft.rfft(block * window, axis=-1)
    power = np.abs(spectrum).T ** 2  # (bins, frames)
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


def _bn_affine(tensors: dict[str, torch.Tensor], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference batch norm as ``x * scale + shift``."""
    scale = tensors[f"{name}/gamma"] / torch.sqrt(tensors[f"{name}/moving_variance"] + BN_EPSILON)
    shift = tensors[f"{name}/beta"] - tensors[f"{name}/moving_mean"] * scale
    return scale, shift


def _check_kernels(tensors: dict[str, torch.Tensor]) -> None:
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


class MusicnnNet(nn.Module):
    """The musicnn network (``build_musicnn`` with 64 mid-end filters and 200 dense units).

    Build it with :func:`load_musicnn`. ``forward`` maps log-mel patches of shape
    ``(batch, PATCH_FRAMES, N_MELS)`` to tag logits of shape ``(batch, tags)``.

    Each front-end convolution is followed by ReLU, batch norm and a max over mel bins. ReLU
    and inference batch norm are monotone per channel, so the max is taken first, on the raw
    convolution output: for channels whose batch-norm scale is negative the max of the result
    is the *min* of the convolution, so those channels' weights are stored negated and their
    max is negated back. The result is identical and skips two passes over the largest
    activations.
    """

    # Inference batch norms as affine maps (buffers, typed here for mypy).
    input_scale: torch.Tensor
    input_shift: torch.Tensor
    pool_scale: torch.Tensor
    pool_shift: torch.Tensor
    dense_scale: torch.Tensor
    dense_shift: torch.Tensor

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        _check_kernels(tensors)
        in_scale, in_shift = _bn_affine(tensors, _INPUT_BN)
        self.register_buffer("input_scale", in_scale.reshape(()))
        self.register_buffer("input_shift", in_shift.reshape(()))

        self.timbral = nn.ModuleList(
            _PooledConv(tensors, conv, bn, temporal=False) for conv, bn in _TIMBRAL
        )
        self.temporal = nn.ModuleList(
            _PooledConv(tensors, conv, bn, temporal=True) for conv, bn in _TEMPORAL
        )
        self.midend = nn.ModuleList(_MidendConv(tensors, conv, bn) for conv, bn in _MIDEND)

        pool_scale, pool_shift = _bn_affine(tensors, _POOL_BN)
        self.register_buffer("pool_scale", pool_scale)
        self.register_buffer("pool_shift", pool_shift)
        self.dense = _linear(tensors, _DENSE)
        dense_scale, dense_shift = _bn_affine(tensors, _DENSE_BN)
        self.register_buffer("dense_scale", dense_scale)
        self.register_buffer("dense_shift", dense_shift)
        self.output = _linear(tensors, _OUTPUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tag logits.

        Parameters
        ----------
        x
            Log-mel patches, shape ``(batch, PATCH_FRAMES, N_MELS)``.

        Returns
        -------
        torch.Tensor
            Logits, shape ``(batch, tags)``; ``sigmoid`` gives the tag probabilities.
        """
        normalized = (x * self.input_scale + self.input_shift).unsqueeze(1)  # (B, 1, T, mel)
        # Zero padding comes after the input batch norm, as in models.py.
        padded = F.pad(normalized, (0, 0, TIME_PAD, TIME_PAD))
        front = [block(padded) for block in self.timbral]
        front += [block(normalized) for block in self.temporal]
        features = [torch.cat(front, dim=1)]  # (B, 561, T)
        for index, block in enumerate(self.midend):
            out = block(features[-1])
            # Layers 2 and 3 are residual.
            features.append(out if index == 0 else out + features[-1])
        dense_concat = torch.cat(features, dim=1)  # (B, 753, T)
        # TF concatenates [max, mean] on a trailing axis before flattening, so the 1506
        # features alternate max and mean per feature (not two halves: that costs 0.9).
        pooled = torch.stack((dense_concat.amax(dim=2), dense_concat.mean(dim=2)), dim=2).flatten(1)
        hidden = F.relu(self.dense(pooled * self.pool_scale + self.pool_shift))
        logits: torch.Tensor = self.output(hidden * self.dense_scale + self.dense_shift)
        return logits


class _PooledConv(nn.Module):
    """conv -> ReLU -> batch norm -> max over mel, with the max taken first (see MusicnnNet)."""

    sign: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self, tensors: dict[str, torch.Tensor], conv: str, bn: str, *, temporal: bool
    ) -> None:
        super().__init__()
        scale, shift = _bn_affine(tensors, bn)
        sign = torch.where(scale < 0, -1.0, 1.0)
        # TF HWIO (time, mel, in, out) -> torch OIHW.
        weight = tensors[f"{conv}/kernel"].permute(3, 2, 0, 1) * sign[:, None, None, None]
        self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
        self.bias = nn.Parameter(tensors[f"{conv}/bias"] * sign, requires_grad=False)
        self.register_buffer("sign", sign)
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)
        self.time_padding = _same_padding(weight.shape[2]) if temporal else (0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape ``(B, 1, T', mel)`` -> ``(B, channels, T)``."""
        if self.time_padding != (0, 0):
            x = F.pad(x, (0, 0, *self.time_padding))
        extreme = F.conv2d(x, self.weight, self.bias).amax(dim=3) * self.sign[:, None]
        return F.relu(extreme) * self.scale[:, None] + self.shift[:, None]


class _MidendConv(nn.Module):
    """7-frame convolution over all features -> ReLU -> batch norm."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, tensors: dict[str, torch.Tensor], conv: str, bn: str) -> None:
        super().__init__()
        # TF (time, features, 1, out) -> torch Conv1d (out, features, time).
        kernel = tensors[f"{conv}/kernel"][:, :, 0, :].permute(2, 1, 0)
        self.weight = nn.Parameter(kernel.contiguous(), requires_grad=False)
        self.bias = nn.Parameter(tensors[f"{conv}/bias"], requires_grad=False)
        scale, shift = _bn_affine(tensors, bn)
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape ``(B, features, T)`` -> ``(B, 64, T)``."""
        out = F.conv1d(F.pad(x, (TIME_PAD, TIME_PAD)), self.weight, self.bias)
        return F.relu(out) * self.scale[:, None] + self.shift[:, None]


def _linear(tensors: dict[str, torch.Tensor], name: str) -> nn.Linear:
    kernel = tensors[f"{name}/kernel"]  # TF (in, out)
    layer = nn.Linear(kernel.shape[0], kernel.shape[1])
    layer.weight = nn.Parameter(kernel.T.contiguous(), requires_grad=False)
    layer.bias = nn.Parameter(tensors[f"{name}/bias"], requires_grad=False)
    return layer


def load_musicnn(*, path: Path, name: str = "musicnn") -> tuple[MusicnnNet, tuple[str, ...]]:
    """Build a musicnn model from a file ``tools/convert_musicnn.py`` wrote: the network (eval
    mode, float32, on the CPU) and the tag of each output, from the file's metadata. Errors
    name the backend ``name``.

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
        model = MusicnnNet({key: tensor.float() for key, tensor in tensors.items()})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            name, f"{path} holds unusable weights ({exc})", REINSTALL_HINT
        ) from exc
    outputs = model.output.out_features
    if len(labels) != outputs:
        raise ModelLoadError(
            name, f"{path} has {len(labels)} labels for {outputs} outputs", REINSTALL_HINT
        )
    return model.eval(), labels


def predict_logits(
    *,
    model: MusicnnNet,
    batch: Array,
    max_batch: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Array:
    """Tag logits of many patches, ``max_batch`` at a time.

    Parameters
    ----------
    model
        From :func:`load_musicnn`, already on ``device`` and in ``dtype``.
    batch
        Log-mel patches, shape ``(patches, PATCH_FRAMES, N_MELS)``.
    max_batch
        Most patches per forward pass. Each patch needs about 10 MB of activations in fp32.
    device, dtype
        Where and in what precision the model runs.

    Returns
    -------
    numpy.ndarray
        Logits, shape ``(patches, tags)``, float32.
    """
    outputs: list[Array] = [np.zeros((0, model.output.out_features), dtype=np.float32)]
    with torch.inference_mode():
        for start in range(0, len(batch), max_batch):
            chunk = torch.from_numpy(np.ascontiguousarray(batch[start : start + max_batch]))
            logits = model(chunk.to(device=device, dtype=dtype))
            outputs.append(logits.float().cpu().numpy())
    return np.concatenate(outputs)


def predict_patches(
    *,
    model: MusicnnNet,
    batch: Array,
    max_batch: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Array:
    """Tag probabilities of many patches: the sigmoid of :func:`predict_logits`.

    Returns
    -------
    numpy.ndarray
        Probabilities in [0, 1], shape ``(patches, tags)``, float32.
    """
    logits = predict_logits(
        model=model, batch=batch, max_batch=max_batch, device=device, dtype=dtype
    )
    probabilities: Array = torch.sigmoid(torch.from_numpy(logits)).numpy()
    return probabilities


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
