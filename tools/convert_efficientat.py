"""Convert EfficientAT's ``mn04_as`` PyTorch state dict into the ONNX file genrescore ships.

Usage::

    python tools/convert_efficientat.py [--weights PT] [--labels CSV] [--out DIR]
    python tools/convert_efficientat.py --record-fixtures UPSTREAM   # tests/data/efficientat/

The inputs are the files of ``reference/efficientat/`` in the shared folder (README there):
``mn04_as_mAP_432.pt`` (a ``torch.save`` state dict, read here with
``torch.load(weights_only=True)``, the only place it is ever read) and
``class_labels_indices.csv`` (AudioSet's 527 display names, in output order). The state dict
loads into ``tools/efficientat_mn.py`` (the architecture written out from upstream's
``models/mn``, MIT), which is exported with ``torch.onnx.export`` in float32:

* input ``mel``: ``(batch, 1, 128, frames)``, the log-mel front end's output
  (``backends/efficientat.py`` computes it in numpy), batch and frames dynamic;
* outputs ``logits`` ``(batch, 527)`` (sigmoid gives the tag probabilities) and
  ``embedding`` ``(batch, 384)``, the pooled features upstream returns next to them.

The metadata holds the labels (JSON), the source file's SHA-256 and the format version the
backend checks. The export is checked in onnxruntime against the torch module on random
input (float32 rounding). ``DIR/LICENSE`` is upstream's MIT licence.

``--record-fixtures UPSTREAM`` runs upstream's own code once on a few test signals
(UPSTREAM: an extracted snapshot of github.com/fschmid56/EfficientAT, ``git archive HEAD
models helpers metadata`` of the ``fetch`` mirror at commit a425fdc, into /tmp) and writes
what it computed (the mel front end's output, the model's logits and embedding) to
``tests/data/efficientat/upstream.npz``, with the signals as 16-bit PCM. Upstream imports
two packages this environment does not have; their pieces are supplied here:
torchvision's ``ConvNormActivation`` (conv, batch norm, activation; written out in
:func:`_torchvision_shim`) and torchaudio, of which eval mode uses only
``compliance.kaldi.get_mel_banks``, supplied by the plugin's numpy port
(``backends/efficientat.kaldi_mel_banks``, which ``tests/test_efficientat.py`` checks
against Kaldi's formula written out bin by bin); the masking transforms are training only.

Needs torch and ``onnx`` (tools only); the plugin needs only onnxruntime to run the file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from beetsplug.genrescore.backends import efficientat  # noqa: E402

REFERENCE: Final = ROOT.parent / "shared" / "reference" / "efficientat"
DEFAULT_OUT: Final = ROOT / "beetsplug" / "genrescore" / "data" / "efficientat"
FIXTURES: Final = ROOT / "tests" / "data" / "efficientat"
#: ONNX opset (onnxruntime 1.17+ runs up to 20; HardSwish needs 14).
OPSET: Final = 17
#: Export check tolerance against the torch module: float32 rounding of a deep net.
ATOL: Final = 1e-4
#: The width of ``mn04`` (upstream ``NAME_TO_WIDTH``).
WIDTH_MULT: Final = 0.4
#: The signals whose whole mel spectrogram goes into the fixture (the others: their outputs).
MEL_FIXTURES: Final = ("chirp", "short")
SHA256: Final = "899a8c6217063f6941793102a2780b3dd788ab11fce468d9cf5f0577c453321c"


def read_labels(path: Path) -> list[str]:
    """AudioSet's display names in output order (the csv's ``index`` column)."""
    with path.open(newline="") as file:
        rows = sorted(csv.DictReader(file), key=lambda row: int(row["index"]))
    return [row["display_name"] for row in rows]


def load_module(weights: Path) -> Any:
    """The torch module with the state dict loaded (strict), in eval mode."""
    import torch
    from efficientat_mn import MN

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{weights}: sha256 {digest} is not the known mn04_as file's")
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    module = MN(width_mult=WIDTH_MULT, num_classes=efficientat.N_CLASSES)
    module.load_state_dict(state, strict=True)
    return module.eval()


def export(weights: Path, labels_csv: Path, out: Path) -> Path:
    """Write ``out/mn04_as.onnx`` and ``out/LICENSE``; return the ONNX path."""
    import onnx
    import onnxruntime
    import torch

    labels = read_labels(labels_csv)
    if len(labels) != efficientat.N_CLASSES:
        raise SystemExit(f"{labels_csv}: {len(labels)} labels, expected {efficientat.N_CLASSES}")
    module = load_module(weights)
    example = torch.zeros(2, 1, efficientat.N_MELS, 300)
    out.mkdir(parents=True, exist_ok=True)
    target = out / efficientat.ONNX_NAME
    torch.onnx.export(
        module,
        (example,),
        str(target),
        input_names=["mel"],
        output_names=["logits", "embedding"],
        dynamic_axes={
            "mel": {0: "batch", 3: "frames"},
            "logits": {0: "batch"},
            "embedding": {0: "batch"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    proto = onnx.load(str(target))
    metadata = {
        "format": "genrescore-efficientat",
        "format_version": efficientat.FORMAT_VERSION,
        "model": "mn04_as",
        "source_sha256": SHA256,
        "labels": json.dumps(labels),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(target))
    (out / "LICENSE").write_text((REFERENCE / "LICENSE-EfficientAT").read_text())

    rng = np.random.default_rng(0)
    for frames in (101, 1001):
        mel = rng.normal(-0.5, 0.6, size=(3, 1, efficientat.N_MELS, frames)).astype(np.float32)
        with torch.no_grad():
            logits, embedding = module(torch.from_numpy(mel))
        session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        got_logits, got_embedding = session.run(None, {"mel": mel})
        for name, want, got in (
            ("logits", logits.numpy(), got_logits),
            ("embedding", embedding.numpy(), got_embedding),
        ):
            error = float(np.abs(want - got).max())
            print(f"export check, {frames} frames, {name}: max |torch - onnx| = {error:.2e}")
            if error > ATOL:
                raise SystemExit(f"the exported graph differs from the module by {error}")
    return target


def test_signals() -> dict[str, np.ndarray]:
    """Mono 32 kHz test signals, as int16 PCM (the fixture stores these exact samples)."""
    rate = efficientat.SAMPLE_RATE
    rng = np.random.default_rng(22)
    t = np.arange(int(4.0 * rate)) / rate
    # A chord (A minor) with a 2 Hz tremolo, a kick every 0.5 s and a little noise.
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 3
    chord *= 0.6 + 0.4 * np.sin(2 * np.pi * 2 * t)
    kick = np.zeros_like(t)
    for start in range(0, len(t), rate // 2):
        n = min(rate // 10, len(t) - start)
        tt = np.arange(n) / rate
        kick[start : start + n] += np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 30)
    music = 0.35 * chord + 0.5 * kick + 0.02 * rng.standard_normal(len(t))
    t3 = np.arange(int(3.0 * rate)) / rate
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t3 + (8000 - 100) / (2 * 3.0) * t3**2))
    noise = 0.1 * rng.standard_normal(int(1.0 * rate))
    short = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(int(0.7 * rate)) / rate)
    signals = {"music": music, "chirp": chirp, "noise": noise, "short": short}
    return {
        name: np.clip(np.round(y * 32767), -32768, 32767).astype(np.int16)
        for name, y in signals.items()
    }


def _torchvision_shim() -> None:
    """``torchvision.ops.misc.ConvNormActivation`` as torchvision defines it (the part
    upstream's mn models use: conv without bias before a norm, "same" padding, inplace act)."""
    from torch import nn

    class ConvNormActivation(nn.Sequential):
        def __init__(
            self,
            in_channels: int,
            out_channels: int,
            kernel_size: int = 3,
            stride: int = 1,
            padding: int | None = None,
            groups: int = 1,
            norm_layer: Any = nn.BatchNorm2d,
            activation_layer: Any = nn.ReLU,
            dilation: int = 1,
            inplace: bool = True,
        ) -> None:
            if padding is None:
                padding = (kernel_size - 1) // 2 * dilation
            layers: list[nn.Module] = [
                nn.Conv2d(
                    in_channels,
                    out_channels,
                    kernel_size,
                    stride,
                    padding,
                    dilation=dilation,
                    groups=groups,
                    bias=norm_layer is None,
                )
            ]
            if norm_layer is not None:
                layers.append(norm_layer(out_channels))
            if activation_layer is not None:
                layers.append(activation_layer(inplace=inplace))
            super().__init__(*layers)

    torchvision = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    misc = types.ModuleType("torchvision.ops.misc")
    misc.ConvNormActivation = ConvNormActivation  # type: ignore[attr-defined]
    torchvision.ops = ops  # type: ignore[attr-defined]
    ops.misc = misc  # type: ignore[attr-defined]
    sys.modules.update(
        {"torchvision": torchvision, "torchvision.ops": ops, "torchvision.ops.misc": misc}
    )


def _torchaudio_shim() -> None:
    """The torchaudio pieces upstream's ``AugmentMelSTFT`` touches in eval mode."""
    import torch
    from torch import nn

    def get_mel_banks(
        num_bins: int,
        window_length_padded: int,
        sample_freq: float,
        low_freq: float,
        high_freq: float,
        vtln_low: float,
        vtln_high: float,
        vtln_warp_factor: float,
    ) -> tuple[Any, Any]:
        if vtln_warp_factor != 1.0:
            raise NotImplementedError("VTLN warping is not used by EfficientAT")
        banks = efficientat.kaldi_mel_banks(
            n_mels=num_bins,
            n_fft=window_length_padded,
            sr=sample_freq,
            fmin=low_freq,
            fmax=high_freq,
        )
        return torch.from_numpy(banks[:, :-1].copy()), None

    class Masking(nn.Identity):  # training-time augmentation only
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__()

    torchaudio = types.ModuleType("torchaudio")
    compliance = types.ModuleType("torchaudio.compliance")
    kaldi = types.ModuleType("torchaudio.compliance.kaldi")
    transforms = types.ModuleType("torchaudio.transforms")
    kaldi.get_mel_banks = get_mel_banks  # type: ignore[attr-defined]
    transforms.FrequencyMasking = Masking  # type: ignore[attr-defined]
    transforms.TimeMasking = Masking  # type: ignore[attr-defined]
    compliance.kaldi = kaldi  # type: ignore[attr-defined]
    torchaudio.compliance = compliance  # type: ignore[attr-defined]
    torchaudio.transforms = transforms  # type: ignore[attr-defined]
    sys.modules.update(
        {
            "torchaudio": torchaudio,
            "torchaudio.compliance": compliance,
            "torchaudio.compliance.kaldi": kaldi,
            "torchaudio.transforms": transforms,
        }
    )


def record_fixtures(upstream: Path, weights: Path, out: Path) -> Path:
    """Run upstream's front end and model on :func:`test_signals`; write the fixture."""
    import torch

    _torchvision_shim()
    _torchaudio_shim()
    sys.path.insert(0, str(upstream))
    os.chdir(upstream)  # upstream's helpers/utils.py reads metadata/ relative to the cwd
    from models.mn.model import get_model
    from models.preprocess import AugmentMelSTFT

    model = get_model(width_mult=WIDTH_MULT, head_type="mlp", strides=(2, 2, 2, 2))
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    mel = AugmentMelSTFT(n_mels=128, sr=32000, win_length=800, hopsize=320)  # inference.py's
    mel.eval()
    arrays: dict[str, np.ndarray] = {}
    for name, pcm in test_signals().items():
        waveform = torch.from_numpy(pcm.astype(np.float32) / 32768.0)[None, :]
        with torch.no_grad():
            spec = mel(waveform)
            logits, features = model(spec.unsqueeze(0))
        arrays[f"{name}_pcm"] = pcm
        if name in MEL_FIXTURES:  # the front end's whole output, for two of them (size)
            arrays[f"{name}_mel"] = spec[0].numpy().astype(np.float32)
        arrays[f"{name}_logits"] = logits[0].numpy().astype(np.float32)
        arrays[f"{name}_embedding"] = features[0].numpy().astype(np.float32)
        top = np.argsort(-arrays[f"{name}_logits"])[:3]
        print(f"{name}: {len(pcm)} samples, mel {tuple(spec.shape)}, top classes {top.tolist()}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "upstream.npz"
    np.savez_compressed(target, **arrays)  # type: ignore[arg-type, unused-ignore]
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=REFERENCE / "mn04_as_mAP_432.pt")
    parser.add_argument("--labels", type=Path, default=REFERENCE / "class_labels_indices.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--record-fixtures", type=Path, metavar="UPSTREAM", default=None)
    args = parser.parse_args(argv)
    if args.record_fixtures is not None:
        print(record_fixtures(args.record_fixtures, args.weights, FIXTURES))
        return 0
    path = export(args.weights, args.labels, args.out)
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
