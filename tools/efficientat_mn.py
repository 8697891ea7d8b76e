"""EfficientAT's MobileNetV3 audio tagger (``mn`` models) as a plain torch module, for
``tools/convert_efficientat.py`` only (the plugin runs the exported ONNX graph).

Adapted from ``models/mn/model.py`` and ``models/mn/block_types.py`` of
github.com/fschmid56/EfficientAT (itself adapted from torchvision's MobileNetV3), reduced to
what ``get_model(width_mult=w, head_type="mlp", strides=(2, 2, 2, 2))`` with the default
channel-wise squeeze-excitation (``se_dims="c"``, one SE layer, so ``se_agg`` is the identity)
builds. Module names and nesting are upstream's, so its state dicts load unchanged
(``features.N.block.M.0.weight``, ``...conc_se_layers.0.fc1.weight``, ``classifier.5.bias``);
torchvision's ``ConvNormActivation`` is written out as :class:`ConvNormAct` with the same
child indices (0 conv, 1 batch norm, 2 activation). ``forward`` returns upstream's pair:
the 527 logits and the 384-wide pooled features (the embedding) for mn04.

Licence of the code this is adapted from:

    MIT License

    Copyright (c) 2022 Florian Schmid

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

#: Batch norm epsilon of every layer (upstream's ``partial(nn.BatchNorm2d, eps=0.001)``).
BN_EPS = 0.001
#: Squeeze-excitation bottleneck divisor (upstream ``se_r``).
SE_R = 4


def make_divisible(value: float, divisor: int = 8) -> int:
    """Upstream's (TF slim's) channel rounding: nearest multiple of ``divisor``, never more
    than 10 % below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class BlockConfig:
    """One inverted residual block (MobileNetV3 paper, tables 1-2), channels already scaled."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    use_hs: bool
    stride: int


#: input, kernel, expanded, output, squeeze-excitation, activation, stride
#: (upstream ``_mobilenet_v3_conf``; strides (2, 2, 2, 2), no reduced tail, no dilation).
_SETTING = (
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)


def block_configs(width_mult: float) -> list[BlockConfig]:
    """The 15 blocks of a model of width ``width_mult``."""
    return [
        BlockConfig(
            make_divisible(i * width_mult),
            k,
            make_divisible(e * width_mult),
            make_divisible(o * width_mult),
            se,
            act == "HS",
            s,
        )
        for i, k, e, o, se, act, s in _SETTING
    ]


class ConvNormAct(nn.Sequential):
    """Conv2d (no bias, "same" padding) -> BatchNorm2d -> optional activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        groups: int = 1,
        activation: type[nn.Module] | None = None,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels, eps=BN_EPS),
        ]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel squeeze-excitation: mean over frequency and time, two dense layers, sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeeze = make_divisible(channels // SE_R)
        self.fc1 = nn.Linear(channels, squeeze)
        self.fc2 = nn.Linear(squeeze, channels)

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean(dim=(2, 3))
        scale = torch.sigmoid(self.fc2(torch.relu(self.fc1(scale))))
        return x * scale[:, :, None, None]


class ConcurrentSE(nn.Module):
    """Upstream's container of SE layers; with one layer (``se_dims="c"``) just that one."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conc_se_layers = nn.ModuleList([SqueezeExcitation(channels)])

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conc_se_layers[0](x)
        return out


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise -> optional SE -> project (1x1), residual when shapes match."""

    def __init__(self, cnf: BlockConfig) -> None:
        super().__init__()
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(ConvNormAct(cnf.input_channels, cnf.expanded_channels, 1, activation=act))
        layers.append(
            ConvNormAct(
                cnf.expanded_channels,
                cnf.expanded_channels,
                cnf.kernel,
                stride=cnf.stride,
                groups=cnf.expanded_channels,
                activation=act,
            )
        )
        if cnf.use_se:
            layers.append(ConcurrentSE(cnf.expanded_channels))
        layers.append(ConvNormAct(cnf.expanded_channels, cnf.out_channels, 1))
        self.block = nn.Sequential(*layers)
        self.residual = cnf.stride == 1 and cnf.input_channels == cnf.out_channels

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.block(x)
        return out + x if self.residual else out


class MN(nn.Module):
    """The tagger: log-mel ``(batch, 1, 128, frames)`` -> (logits ``(batch, classes)``,
    pooled features ``(batch, 6 x last block width)``)."""

    def __init__(self, width_mult: float = 0.4, num_classes: int = 527) -> None:
        super().__init__()
        configs = block_configs(width_mult)
        first = configs[0].input_channels
        last_in = configs[-1].out_channels
        last_out = 6 * last_in
        hidden = make_divisible(1280 * width_mult)
        layers: list[nn.Module] = [ConvNormAct(1, first, 3, stride=2, activation=nn.Hardswish)]
        layers.extend(InvertedResidual(cnf) for cnf in configs)
        layers.append(ConvNormAct(last_in, last_out, 1, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(start_dim=1),
            nn.Linear(last_out, hidden),
            nn.Hardswish(),
            nn.Dropout(p=0.2),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.features(x)
        pooled = x.mean(dim=(2, 3))
        return self.classifier(x), pooled
