"""YAMNet (Google's AudioSet tagger) in PyTorch, with its exact front end.

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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError
from .base import REINSTALL_HINT, read_weights

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
WEIGHT_DTYPES: Final = (torch.float16, torch.float32)

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


def hann_window() -> torch.Tensor:
    """The periodic Hann window of features.py's TFLite-compatible path, float32 ``(400,)``.

    Computed in float64 as numpy does there (tf.signal.hann_window's float32 cosine differs
    by up to 1.2e-7; one TFLite file holds each).
    """
    n = np.arange(STFT_WINDOW_SAMPLES, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / STFT_WINDOW_SAMPLES)
    return torch.from_numpy(window.astype(np.float32))


def _hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    mel: npt.NDArray[np.float64] = _MEL_HIGH_Q * np.log1p(
        np.asarray(hz, dtype=np.float64) / _MEL_BREAK_HZ
    )
    return mel


def mel_matrix() -> torch.Tensor:
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
    matrix = np.concatenate([np.zeros((1, N_MELS)), weights])
    return torch.from_numpy(matrix.astype(np.float32))


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


class LogMel:
    """The log-mel front end, with its window and mel matrix built once."""

    def __init__(self) -> None:
        self.window = hann_window()
        self.mel = mel_matrix()

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel spectrogram of float32 samples ``(samples,)`` -> ``(frames, N_MELS)``.

        Frames start every 160 samples with no centring (``frames = 1 + (samples - 400) //
        160``). TFLite pads each windowed frame to 512 with 56 zeros on both sides, TF's
        ``stft`` with 112 at the end: a shift, which leaves the DFT magnitude unchanged.
        """
        frames = audio.unfold(0, STFT_WINDOW_SAMPLES, STFT_HOP_SAMPLES) * self.window
        magnitude = torch.fft.rfft(frames, n=FFT_LENGTH).abs()
        return torch.log(magnitude @ self.mel + LOG_OFFSET)


_LOG_MEL: LogMel | None = None


def log_mel(*, audio: Array) -> Array:
    """The log-mel spectrogram YAMNet sees (no padding: see :func:`pad_waveform`).

    Parameters
    ----------
    audio
        Mono samples at :data:`SAMPLE_RATE`, shape ``(samples,)``, at least 400.

    Returns
    -------
    numpy.ndarray
        Shape ``(1 + (samples - 400) // 160, N_MELS)``, natural log, float32.
    """
    global _LOG_MEL
    if _LOG_MEL is None:
        _LOG_MEL = LogMel()
    with torch.inference_mode():
        spectrogram = _LOG_MEL(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
    result: Array = spectrogram.numpy()
    return result


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
    # A copy: the view is read-only and torch refuses to wrap read-only memory.
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


def _same_padding(size: int, stride: int) -> tuple[int, int]:
    """TF "same" padding of one axis: the odd extra row goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + KERNEL - size, 0)
    return total // 2, total - total // 2


class _Conv(nn.Module):
    """A 3 x 3 convolution (full or depthwise) with TF "same" padding, then ReLU."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, stride: int, groups: int):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.stride = stride
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            out = F.conv2d(x, self.weight, self.bias, padding=1, groups=self.groups)
        else:
            top, bottom = _same_padding(x.shape[2], self.stride)
            left, right = _same_padding(x.shape[3], self.stride)
            x = F.pad(x, (left, right, top, bottom))
            out = F.conv2d(x, self.weight, self.bias, stride=self.stride, groups=self.groups)
        return F.relu(out)


class _Pointwise(nn.Module):
    """1 x 1 convolution, then ReLU."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.weight, self.bias))


class YamnetNet(nn.Module):
    """The YAMNet network; build it with :func:`load_yamnet`.

    ``forward`` maps log-mel patches ``(batch, PATCH_FRAMES, N_MELS)`` to logits
    ``(batch, N_CLASSES)``. ``layers`` holds the 27 convolutions in order (layer 1, then
    depthwise and pointwise of layers 2-14) so tests can run them one at a time.
    """

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        modules: list[nn.Module] = [
            _Conv(tensors["layer1.conv.weight"], tensors["layer1.conv.bias"], LAYERS[0][0], 1)
        ]
        for number, (stride, _) in enumerate(LAYERS[1:], start=2):
            depthwise = tensors[f"layer{number}.depthwise.weight"]
            modules.append(
                _Conv(depthwise, tensors[f"layer{number}.depthwise.bias"], stride, len(depthwise))
            )
            modules.append(
                _Pointwise(
                    tensors[f"layer{number}.pointwise.weight"],
                    tensors[f"layer{number}.pointwise.bias"],
                )
            )
        self.layers = nn.Sequential(*modules)
        self.dense = nn.Linear(EMBEDDING_SIZE, N_CLASSES)
        self.dense.weight = nn.Parameter(tensors["dense.weight"], requires_grad=False)
        self.dense.bias = nn.Parameter(tensors["dense.bias"], requires_grad=False)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The 1024-d embedding (global average of the last layer), ``(batch, 1024)``."""
        features: torch.Tensor = self.layers(x.unsqueeze(1))
        return features.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, N_CLASSES)``; ``sigmoid`` gives the class scores."""
        logits: torch.Tensor = self.dense(self.embedding(x))
        return logits


def check_tensors(tensors: dict[str, torch.Tensor]) -> None:
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


def load_yamnet(*, path: Path, name: str = "yamnet") -> tuple[YamnetNet, tuple[str, ...]]:
    """Build YAMNet from a file ``tools/convert_yamnet.py`` wrote: the network (eval mode,
    float32, on the CPU) and the AudioSet display name of each output, from the file's
    metadata. Errors name the backend ``name``.

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
        check_tensors(tensors)
        labels = tuple(str(label) for label in json.loads(metadata["labels"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelLoadError(name, f"{path} holds unusable weights: {exc}", REINSTALL_HINT) from exc
    if len(labels) != N_CLASSES:
        raise ModelLoadError(
            name, f"{path} has {len(labels)} labels for {N_CLASSES} outputs", REINSTALL_HINT
        )
    model = YamnetNet({key: tensor.float().contiguous() for key, tensor in tensors.items()})
    return model.eval(), labels


def predict_patches(
    *,
    model: YamnetNet,
    batch: Array,
    max_batch: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> Array:
    """Sigmoid class scores of many patches, ``max_batch`` at a time.

    Parameters
    ----------
    model
        From :func:`load_yamnet`, already on ``device`` and in ``dtype``.
    batch
        Log-mel patches, shape ``(patches, PATCH_FRAMES, N_MELS)``.
    max_batch
        Most patches per forward pass.
    device, dtype
        Where and in what precision the model runs.
    channels_last
        Run the convolutions in NHWC memory layout.

    Returns
    -------
    numpy.ndarray
        Scores in [0, 1], shape ``(patches, N_CLASSES)``, float32.
    """
    outputs: list[Array] = [np.zeros((0, N_CLASSES), dtype=np.float32)]
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    with torch.inference_mode():
        for start in range(0, len(batch), max_batch):
            chunk = torch.from_numpy(np.ascontiguousarray(batch[start : start + max_batch]))
            x = chunk.to(device=device, dtype=dtype).unsqueeze(1)
            features = model.layers(x.contiguous(memory_format=memory_format))
            logits = model.dense(features.mean(dim=(2, 3)))
            outputs.append(torch.sigmoid(logits).float().cpu().numpy())
    return np.concatenate(outputs)
