"""Export the embedded models' torch modules to the ONNX files genrescore runs on the CPU.

Usage::

    python tools/export_onnx.py [--out DIR] [MODEL ...]

MODEL is ``musicnn-msd``, ``musicnn-mtt`` or ``yamnet`` (default: all three). Each torch
module is built from the shipped safetensors file (``tools/convert_musicnn.py`` and
``tools/convert_yamnet.py`` made those) exactly as the torch engine builds it, and exported
with ``torch.onnx.export`` in float32: input ``patches`` ``(batch, frames, mels)`` with a
dynamic batch axis, output ``logits`` ``(batch, labels)``. The file's metadata holds the
labels (JSON), the safetensors file it came from and that file's weights id (the first 12
hex digits of its SHA-256, the id in the backend's fingerprint), and the format version the
backend checks. The script then runs the file in onnxruntime on random patches and fails
unless it matches the torch module to float32 rounding.

Needs torch (the ``hf`` extra) and ``onnx`` (the ``tools`` extra); the plugin only needs
onnxruntime to run the files.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Final

import numpy as np

# Run as a script, only tools/ is on the path; the repository root makes the package importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from beetsplug.genrescore.backends import base, kit, musicnn, onnx, yamnet

#: ONNX opset of the exported graphs (onnxruntime 1.17+ runs up to 20; 17 is enough).
OPSET: Final = 17
#: Tolerance of the export check against the torch module: float32 rounding of a deep net.
ATOL: Final = 1e-4
RTOL: Final = 1e-4
#: Patches in the check's random batch (and in the example the graph is traced with).
CHECK_PATCHES: Final = 5


def export(model_name: str, out_dir: Path | None = None) -> Path:
    """Export one embedded model; return the path written."""
    import onnx as onnx_lib
    import torch

    options = base.BackendOptions(device="cpu", precision="fp32")
    backend: musicnn.MusicnnBackend | yamnet.YamnetBackend
    if model_name == yamnet.NAME:
        backend = yamnet.YamnetBackend(options, engine="torch")
        frames, mels = yamnet.PATCH_FRAMES, yamnet.N_MELS
        weights_path = yamnet.WEIGHTS_PATH
        target = yamnet.ONNX_PATH
    else:
        backend = musicnn.MusicnnBackend(model_name, options, engine="torch")
        frames, mels = musicnn.PATCH_FRAMES, musicnn.N_MELS
        weights_path = musicnn.WEIGHTS_DIR / musicnn.WEIGHT_FILES[model_name]
        target = musicnn.WEIGHTS_DIR / musicnn.ONNX_FILES[model_name]
    if out_dir is not None:
        target = out_dir / target.name
    module = backend.model
    assert module is not None
    module = module.float().eval()
    rng = np.random.default_rng(0)
    example = rng.standard_normal((CHECK_PATCHES, frames, mels)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module,
            (torch.from_numpy(example),),
            str(raw),
            input_names=["patches"],
            output_names=["logits"],
            dynamic_axes={"patches": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        proto = onnx_lib.load(str(raw))
    metadata = {
        "format": f"genrescore-onnx-{backend.family}",
        "format_version": onnx.FORMAT_VERSION,
        "model": model_name,
        "labels": json.dumps(list(backend.labels)),
        "source": weights_path.name,
        "source_weights_id": kit.weights_id(weights_path, model_name),
        "exported_with": f"torch {torch.__version__}, opset {OPSET}",
    }
    del proto.metadata_props[:]
    for key, value in sorted(metadata.items()):
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"genrescore embedded model {model_name} (tools/export_onnx.py)"
    onnx_lib.checker.check_model(proto)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx_lib.save(proto, str(target))
    _check(module, target, example, model_name, width=len(backend.labels))
    return target


def _check(module: object, path: Path, example: np.ndarray, name: str, *, width: int) -> None:
    import torch

    assert isinstance(module, torch.nn.Module)
    with torch.inference_mode():
        expected = module(torch.from_numpy(example)).numpy()
    got = onnx.OnnxModel(path, name).run(example, max_batch=len(example), width=width)
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)
    # A batch of one patch, and more than were traced: the batch axis is dynamic.
    got_one = onnx.OnnxModel(path, name).run(example, max_batch=1, width=width)
    np.testing.assert_allclose(got_one, expected, atol=ATOL, rtol=RTOL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=["musicnn-msd", "musicnn-mtt", "yamnet"])
    parser.add_argument("--out", type=Path, help="directory (default: the package's data/)")
    args = parser.parse_args(argv)
    for name in args.models:
        path = export(name, args.out)
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
