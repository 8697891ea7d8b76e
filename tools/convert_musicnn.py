"""Convert the musicnn 0.1.0 taggers' TF checkpoints into the safetensors files genrescore ships.

Usage::

    python tools/convert_musicnn.py [--wheel PATH] [--out DIR]

Without ``--wheel`` it runs ``pip download --no-deps musicnn==0.1.0`` into a temporary
directory. The ``MSD_musicnn`` and ``MTT_musicnn`` checkpoints inside the wheel are read with
:mod:`tfbundle` (every tensor's CRC32C checked) and written to
``DIR/msd_musicnn.safetensors`` and ``DIR/mtt_musicnn.safetensors``, plus ``DIR/LICENSE``.

The files keep the TensorFlow variable names, layouts and bytes unchanged, so each tensor can
still be checked against the CRC in the original ``.index``; the PyTorch layout mapping lives
in ``beetsplug/genrescore/backends/musicnn_net.py``. Only model tensors are kept: the Adam
slots and ``beta1_power``/``beta2_power`` are dropped, and the script fails if anything else
would be dropped. The 50 labels (from the wheel's ``configuration.py``) go into the file's
metadata, as JSON.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Final

import numpy as np
from safetensors.numpy import load_file

# Run as a script, only tools/ is on the path; the repository root makes ``tools`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.tfbundle import TensorBundle

#: The release whose weights are converted; its wheel carries the checkpoints.
MUSICNN_VERSION: Final = "0.1.0"
#: Bumped when the layout or metadata of the written files changes; the backend checks it.
FORMAT_VERSION: Final = "1"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUT: Final = REPO_ROOT / "beetsplug" / "genrescore" / "data" / "musicnn"

#: Checkpoint directory in the wheel -> (output file, label list in configuration.py).
MODELS: Final = {
    "MSD_musicnn": ("msd_musicnn.safetensors", "MSD_LABELS"),
    "MTT_musicnn": ("mtt_musicnn.safetensors", "MTT_LABELS"),
}
# A musicnn checkpoint holds 150 entries: 64 model tensors (11 batch norms x 4, 8 convolutions
# and 2 dense layers x kernel and bias), two Adam slots for each of the 42 trainable ones, and
# Adam's two beta powers.
_OPTIMIZER_SUFFIXES: Final = ("/Adam", "/Adam_1")
_OPTIMIZER_SCALARS: Final = ("beta1_power", "beta2_power")


def _is_optimizer_state(name: str) -> bool:
    return name.endswith(_OPTIMIZER_SUFFIXES) or name in _OPTIMIZER_SCALARS


def _download_wheel(directory: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            f"musicnn=={MUSICNN_VERSION}",
            "-d",
            str(directory),
        ],
        check=True,
    )
    (wheel,) = directory.glob("musicnn-*.whl")
    return wheel


def _labels(configuration_source: str, variable: str) -> list[str]:
    """Read a label list from ``configuration.py`` without importing it."""
    for node in ast.parse(configuration_source).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == variable
        ):
            labels = ast.literal_eval(node.value)
            if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
                raise SystemExit(f"{variable} in configuration.py is not a list of strings")
            return labels
    raise SystemExit(f"{variable} not found in the wheel's configuration.py")


def _model_tensors(bundle: TensorBundle) -> dict[str, np.ndarray]:
    tensors = {}
    for name in sorted(bundle.entries):
        if _is_optimizer_state(name):
            continue
        tensors[name] = bundle.read(name, verify=True)
    dropped = set(bundle.entries) - set(tensors)
    unexpected = sorted(name for name in dropped if not _is_optimizer_state(name))
    assert not unexpected, f"would drop non-optimizer tensors: {unexpected}"
    # Every trainable variable has exactly two Adam slots; a missing one means the checkpoint
    # is not the one this script was written for.
    slots = {name.rsplit("/", 1)[0] for name in dropped if name.endswith(_OPTIMIZER_SUFFIXES)}
    assert slots <= set(tensors), f"Adam slots without a variable: {sorted(slots - set(tensors))}"
    return tensors


# numpy dtype -> safetensors dtype name (only what musicnn checkpoints hold).
_SAFETENSORS_DTYPES: Final = {np.dtype("<f4"): "F32"}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write a safetensors file with sorted keys, so that the same input gives the same bytes.

    ``safetensors.numpy.save_file`` orders the metadata by a Rust hash map, which changes from
    run to run and with it the file's sha256 (the backend's fingerprint).
    """
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + tensor.nbytes],
        }
        offset += tensor.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # The format pads the header with spaces to a multiple of 8 bytes.
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as file:
        file.write(len(encoded).to_bytes(8, "little"))
        file.write(encoded)
        for name in sorted(tensors):
            file.write(np.ascontiguousarray(tensors[name]).tobytes())
    reloaded = load_file(str(path))
    assert sorted(reloaded) == sorted(tensors)
    assert all(np.array_equal(reloaded[name], tensors[name]) for name in tensors)


def convert(wheel: Path, out_dir: Path) -> list[Path]:
    """Write the two safetensors files and the licence; return the paths written."""
    wheel_sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp)
        package = Path(tmp) / "musicnn"
        configuration = (package / "configuration.py").read_text(encoding="utf-8")
        for model, (file_name, label_variable) in MODELS.items():
            # The checkpoint prefix is the empty string: files are "<dir>/.index" etc.
            bundle = TensorBundle(f"{package / model}/")
            tensors = _model_tensors(bundle)
            labels = _labels(configuration, label_variable)
            classes = tensors["dense_1/bias"].shape[0]
            assert len(labels) == classes, f"{model}: {len(labels)} labels, {classes} outputs"
            metadata = {
                "format": "genrescore-musicnn",
                "format_version": FORMAT_VERSION,
                "model": model,
                "labels": json.dumps(labels),
                "layout": "tensorflow",
                "source": f"musicnn {MUSICNN_VERSION} wheel, sha256 {wheel_sha256}",
            }
            path = out_dir / file_name
            write_safetensors(path, tensors, metadata)
            values = sum(tensor.size for tensor in tensors.values())
            print(f"{path}: {len(tensors)} tensors, {values} values, {len(labels)} labels")
            written.append(path)
        dist_info = Path(tmp) / f"musicnn-{MUSICNN_VERSION}.dist-info"
        licence_text = (dist_info / "LICENSE.md").read_text(encoding="utf-8")
    licence = out_dir / "LICENSE"
    licence.write_text(
        licence_text.rstrip("\n")
        + "\n\n---\n"
        + f"The files msd_musicnn.safetensors and mtt_musicnn.safetensors hold the model\n"
        f"tensors of the MSD_musicnn and MTT_musicnn checkpoints shipped in the musicnn\n"
        f"{MUSICNN_VERSION} wheel from PyPI (sha256 {wheel_sha256}),\n"
        "copied byte for byte by tools/convert_musicnn.py; the optimizer state was dropped\n"
        "and the tag lists from musicnn/configuration.py were stored as metadata.\n",
        encoding="utf-8",
    )
    written.append(licence)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="musicnn wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    if args.wheel is not None:
        convert(args.wheel, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        convert(_download_wheel(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
