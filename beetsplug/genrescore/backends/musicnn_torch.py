"""The musicnn network as a torch module: run on GPUs and in bf16, and exported to ONNX.

Built from the weights :mod:`.musicnn_net` prepares (batch norms folded, the sign trick
applied), so TensorFlow's file is read in one place; this module only lays the arrays out for
torch. On the CPU in float32 the ONNX file ``tools/export_onnx.py`` exports from this module
runs instead (no torch to import); both compute the same logits to float32 rounding
(tests/test_onnx_engine.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .kit import in_chunks
from .musicnn_net import TIME_PAD, Array, Dense, MidendConv, MusicnnWeights, PooledConv


def _parameter(array: Array) -> nn.Parameter:
    # torch.tensor copies: the module never shares (or writes) the numpy weights.
    return nn.Parameter(torch.tensor(array), requires_grad=False)


class MusicnnNet(nn.Module):
    """The musicnn network; see :class:`.musicnn_net.MusicnnWeights`.

    ``forward`` maps log-mel patches of shape ``(batch, PATCH_FRAMES, N_MELS)`` to tag logits
    of shape ``(batch, tags)``.
    """

    # Inference batch norms as affine maps (buffers, typed here for mypy).
    input_scale: torch.Tensor
    input_shift: torch.Tensor
    pool_scale: torch.Tensor
    pool_shift: torch.Tensor
    dense_scale: torch.Tensor
    dense_shift: torch.Tensor

    def __init__(self, weights: MusicnnWeights) -> None:
        super().__init__()
        self.register_buffer("input_scale", torch.tensor(weights.input_scale))
        self.register_buffer("input_shift", torch.tensor(weights.input_shift))
        self.timbral = nn.ModuleList(_PooledConv(conv) for conv in weights.timbral)
        self.temporal = nn.ModuleList(_PooledConv(conv) for conv in weights.temporal)
        self.midend = nn.ModuleList(_MidendConv(conv) for conv in weights.midend)
        self.register_buffer("pool_scale", torch.tensor(weights.pool_scale))
        self.register_buffer("pool_shift", torch.tensor(weights.pool_shift))
        self.dense = _linear(weights.dense)
        self.register_buffer("dense_scale", torch.tensor(weights.dense_scale))
        self.register_buffer("dense_shift", torch.tensor(weights.dense_shift))
        self.output = _linear(weights.output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tag logits, shape ``(batch, tags)``, of patches ``(batch, PATCH_FRAMES, N_MELS)``."""
        # Zero padding (in each block) comes after the input batch norm, as in models.py.
        normalized = (x * self.input_scale + self.input_shift).unsqueeze(1)  # (B, 1, T, mel)
        front = [block(normalized) for block in (*self.timbral, *self.temporal)]
        features = [torch.cat(front, dim=1)]  # (B, 561, T)
        for index, block in enumerate(self.midend):
            out = block(features[-1])
            # Layers 2 and 3 are residual.
            features.append(out if index == 0 else out + features[-1])
        dense_concat = torch.cat(features, dim=1)  # (B, 753, T)
        # TF concatenates [max, mean] on a trailing axis before flattening: the 1506 features
        # alternate max and mean per feature (not two halves).
        pooled = torch.stack((dense_concat.amax(dim=2), dense_concat.mean(dim=2)), dim=2).flatten(1)
        hidden = F.relu(self.dense(pooled * self.pool_scale + self.pool_shift))
        logits: torch.Tensor = self.output(hidden * self.dense_scale + self.dense_shift)
        return logits


class _PooledConv(nn.Module):
    """conv -> ReLU -> batch norm -> max over mel, with the max taken first (see PooledConv)."""

    sign: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, conv: PooledConv) -> None:
        super().__init__()
        time, mel = conv.kernel_size
        # (time * mel, out) -> OIHW.
        weight = conv.kernel.T.reshape(-1, 1, time, mel)
        self.weight = _parameter(np.ascontiguousarray(weight))
        self.bias = _parameter(conv.bias)
        self.register_buffer("sign", torch.tensor(conv.sign))
        self.register_buffer("scale", torch.tensor(conv.scale))
        self.register_buffer("shift", torch.tensor(conv.shift))
        self.time_padding = conv.time_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape ``(B, 1, T, mel)`` -> ``(B, channels, T)``."""
        x = F.pad(x, (0, 0, *self.time_padding))
        extreme = F.conv2d(x, self.weight, self.bias).amax(dim=3) * self.sign[:, None]
        return F.relu(extreme) * self.scale[:, None] + self.shift[:, None]


class _MidendConv(nn.Module):
    """7-frame convolution over all features -> ReLU -> batch norm."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, conv: MidendConv) -> None:
        super().__init__()
        # (frames * features, out) with the features inner -> Conv1d (out, features, frames).
        weight = conv.kernel.reshape(2 * TIME_PAD + 1, -1, conv.kernel.shape[1]).transpose(2, 1, 0)
        self.weight = _parameter(np.ascontiguousarray(weight))
        self.bias = _parameter(conv.bias)
        self.register_buffer("scale", torch.tensor(conv.scale))
        self.register_buffer("shift", torch.tensor(conv.shift))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape ``(B, features, T)`` -> ``(B, 64, T)``."""
        out = F.conv1d(F.pad(x, (TIME_PAD, TIME_PAD)), self.weight, self.bias)
        return F.relu(out) * self.scale[:, None] + self.shift[:, None]


def _linear(layer: Dense) -> nn.Linear:
    inputs, outputs = layer.kernel.shape
    linear = nn.Linear(inputs, outputs)
    linear.weight = _parameter(np.ascontiguousarray(layer.kernel.T))
    linear.bias = _parameter(layer.bias)
    return linear


def predict_logits(
    *,
    model: MusicnnNet,
    batch: Array,
    max_batch: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Array:
    """Tag logits of log-mel patches on the torch engine: ``model`` is already on
    ``device`` in ``dtype``; each patch needs about 10 MB of activations in fp32."""

    def run(chunk: Array) -> Array:
        x = torch.from_numpy(np.ascontiguousarray(chunk)).to(device=device, dtype=dtype)
        logits: Array = model(x).float().cpu().numpy()
        return logits

    with torch.inference_mode():
        return in_chunks(run, batch, max_batch=max_batch, width=model.output.out_features)
