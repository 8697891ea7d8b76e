"""YAMNet as a torch module: run on GPUs and in bf16, and exported to ONNX.

Built from the weights :mod:`.yamnet_net` prepares, so the weights file is read in one place;
this module only lays the arrays out for torch (NCHW weights). On the CPU in float32 the ONNX
file ``tools/export_onnx.py`` exports from this module runs instead (no torch to import);
both compute the same scores to float32 rounding (tests/test_onnx_engine.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .kit import in_chunks
from .yamnet_net import EMBEDDING_SIZE, KERNEL, N_CLASSES, Array, Conv, YamnetWeights, same_padding


def _parameter(array: Array) -> nn.Parameter:
    # torch.tensor copies: the module never shares (or writes) the numpy weights.
    return nn.Parameter(torch.tensor(np.ascontiguousarray(array)), requires_grad=False)


class _Conv(nn.Module):
    """A 3 x 3 convolution (full or depthwise) with TF "same" padding, then ReLU."""

    def __init__(self, layer: Conv) -> None:
        super().__init__()
        if layer.kind == "full":  # (in * 3 * 3, out) -> (out, in, 3, 3)
            weight = layer.kernel.T.reshape(len(layer.bias), -1, KERNEL, KERNEL)
            self.groups = 1
        else:  # (3, 3, channels) -> (channels, 1, 3, 3)
            weight = layer.kernel.transpose(2, 0, 1)[:, None]
            self.groups = len(layer.bias)
        self.weight = _parameter(weight)
        self.bias = _parameter(layer.bias)
        self.stride = layer.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            out = F.conv2d(x, self.weight, self.bias, padding=1, groups=self.groups)
        else:
            top, bottom = same_padding(x.shape[2], self.stride)
            left, right = same_padding(x.shape[3], self.stride)
            x = F.pad(x, (left, right, top, bottom))
            out = F.conv2d(x, self.weight, self.bias, stride=self.stride, groups=self.groups)
        return F.relu(out)


class _Pointwise(nn.Module):
    """1 x 1 convolution, then ReLU."""

    def __init__(self, layer: Conv) -> None:
        super().__init__()
        self.weight = _parameter(layer.kernel.T[:, :, None, None])  # (in, out) -> OIHW
        self.bias = _parameter(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.weight, self.bias))


def torch_layer(layer: Conv) -> nn.Module:
    """One prepared convolution as a module on NCHW tensors."""
    return _Pointwise(layer) if layer.kind == "pointwise" else _Conv(layer)


class YamnetNet(nn.Module):
    """The YAMNet network, built from :class:`.yamnet_net.YamnetWeights`.

    ``forward`` maps log-mel patches ``(batch, PATCH_FRAMES, N_MELS)`` to logits
    ``(batch, N_CLASSES)``. ``layers`` holds the 27 convolutions in order (layer 1, then
    depthwise and pointwise of layers 2-14) so tests can run them one at a time.
    """

    def __init__(self, weights: YamnetWeights) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(torch_layer(layer) for layer in weights.layers))
        self.dense = nn.Linear(EMBEDDING_SIZE, N_CLASSES)
        self.dense.weight = _parameter(weights.dense_kernel.T)
        self.dense.bias = _parameter(weights.dense_bias)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The 1024-d embedding (global average of the last layer), ``(batch, 1024)``."""
        features: torch.Tensor = self.layers(x.unsqueeze(1))
        return features.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, N_CLASSES)``; ``sigmoid`` gives the class scores."""
        logits: torch.Tensor = self.dense(self.embedding(x))
        return logits


def to_channels_last(model: YamnetNet) -> None:
    """Store the convolution weights NHWC, oneDNN's native layout on the CPU."""
    for parameter in model.parameters():
        if parameter.ndim == 4:
            parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)


def predict_patches(
    *,
    model: YamnetNet,
    batch: Array,
    max_batch: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> Array:
    """Sigmoid scores of log-mel patches on the torch engine: ``model`` is already on
    ``device`` in ``dtype``; ``channels_last`` runs the convolutions in NHWC memory layout."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def run(chunk: Array) -> Array:
        x = torch.from_numpy(np.ascontiguousarray(chunk)).to(device=device, dtype=dtype)
        features = model.layers(x.unsqueeze(1).contiguous(memory_format=memory_format))
        scores: Array = torch.sigmoid(model.dense(features.mean(dim=(2, 3)))).float().cpu().numpy()
        return scores

    with torch.inference_mode():
        return in_chunks(run, batch, max_batch=max_batch, width=N_CLASSES)
