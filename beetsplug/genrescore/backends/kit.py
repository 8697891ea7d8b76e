"""The kit every embedded port shares: reading its shipped weights, their digest, running a
forward pass in chunks, and the logistic function.

Imported by the ports and the ONNX engine alike (``onnx.py``), below the interface and the
registry (``base.py``), so neither imports the other back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


#: What to do about a shipped weights file that cannot be used.
REINSTALL_HINT = "reinstall beets-genrescore to restore it"
#: Bytes read at a time when hashing a weights file.
_HASH_CHUNK = 1 << 20


def read_weights(
    path: Path, name: str, *, kind: str, title: str, version: str
) -> tuple[Mapping[str, str], dict[str, npt.NDArray[np.generic]]]:
    """The metadata and arrays of a shipped safetensors file, of format ``genrescore-<kind>``
    at ``version`` (``tools/convert_<kind>.py`` writes them).

    The arrays keep the file's dtypes (float16 or float32); the ports widen them to float32
    when they prepare them.

    Raises
    ------
    ModelLoadError
        The file cannot be read, or it is not of that format and version (``title`` names the
        model in the message).
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            metadata = weights.metadata() or {}
            tensors = {key: weights.get_tensor(key) for key in weights.keys()}  # noqa: SIM118
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(name, f"cannot read {path}: {exc}", REINSTALL_HINT) from exc
    if metadata.get("format") != f"genrescore-{kind}" or metadata.get("format_version") != version:
        reason = f"{path} is not a {title} weights file of format {version}"
        raise ModelLoadError(name, reason, REINSTALL_HINT)
    return metadata, tensors


def in_chunks(
    forward: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]],
    batch: npt.NDArray[np.float32],
    *,
    max_batch: int,
    width: int,
) -> npt.NDArray[np.float32]:
    """``forward`` over the rows of ``batch``, at most ``max_batch`` at a time, the outputs
    stacked: shape ``(len(batch), width)``, float32 (an empty batch gives ``(0, width)``).

    Every port runs its patches this way, on either engine: the chunk bounds the memory of
    one forward pass."""
    import numpy as np

    outputs = [np.zeros((0, width), dtype=np.float32)]
    for start in range(0, len(batch), max_batch):
        outputs.append(forward(batch[start : start + max_batch]))
    return np.concatenate(outputs)


def sigmoid(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The logistic function of float32 logits, without overflow for large negative ones."""
    import numpy as np

    decay = np.exp(-np.abs(logits))
    probabilities: npt.NDArray[np.float32] = np.where(logits >= 0, 1, decay) / (1 + decay)
    return probabilities.astype(np.float32, copy=False)


def weights_id(path: Path, name: str) -> str:
    """The first 12 hex digits of a weights file's SHA-256: the part of an embedded backend's
    fingerprint that changes when its weights do.

    Raises
    ------
    ModelLoadError
        The file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while chunk := file.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise ModelLoadError(name, f"cannot read {path}: {exc}") from exc
    return digest.hexdigest()[:12]
