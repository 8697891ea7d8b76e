"""The numpy-only TF checkpoint reader, on the real musicnn checkpoint indexes.

The two ``.index`` files of the musicnn 0.1.0 wheel are kept in ``tests/data/musicnn`` (5 kB
each); their entries record each tensor's CRC32C, which the shipped safetensors weights are
checked against. Reading tensors is tested on a data file rebuilt from those weights at the
recorded offsets, so neither the 9.5 MB data files nor a download are needed.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

# tools/ is a folder of scripts, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.tfbundle import CheckpointError, TensorBundle, crc32c, mask_crc

REPO = Path(__file__).resolve().parent.parent

DATA = REPO / "tests" / "data" / "musicnn"
WEIGHTS = REPO / "beetsplug" / "genrescore" / "data" / "musicnn"
MODELS = ("mtt_musicnn", "msd_musicnn")


def _is_optimizer_state(name: str) -> bool:
    return name.endswith(("/Adam", "/Adam_1")) or name in ("beta1_power", "beta2_power")


@pytest.fixture(params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bundle(model: str) -> TensorBundle:
    return TensorBundle(DATA / model)


def test_crc32c_matches_published_check_values() -> None:
    # The catalogue check value, and the RFC 3720 (iSCSI) B.4 test vectors.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


def _bitwise_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_crc32c_of_long_buffers_matches_the_definition() -> None:
    # Long buffers are split into stripes that are hashed side by side and joined; the result
    # must be the plain CRC, for any length (here 625 stripes and a 17-byte tail).
    data = np.random.default_rng(7).integers(0, 256, size=40_017, dtype=np.uint8).tobytes()
    assert crc32c(data) == _bitwise_crc32c(data)


def test_index_lists_every_tensor_with_shape_and_dtype(bundle: TensorBundle) -> None:
    entries = bundle.entries
    assert len(entries) == 150
    assert entries["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert entries["conv2d_1/kernel"].shape == (7, 67, 1, 204)
    assert entries["conv2d_2/kernel"].shape == (128, 1, 1, 51)
    assert entries["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert entries["dense/kernel"].shape == (1506, 200)
    assert entries["dense_1/bias"].shape == (50,)
    assert entries["batch_normalization_9/moving_variance"].shape == (1506,)
    assert entries["beta1_power"].shape == ()
    assert {entry.dtype for entry in entries.values()} == {np.dtype("<f4")}
    model_tensors = [name for name in entries if not _is_optimizer_state(name)]
    assert len(model_tensors) == 64
    # One data shard; entries do not overlap and each size matches its shape.
    spans = sorted((e.offset, e.offset + e.size) for e in entries.values())
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert sum(e.size for e in entries.values()) == 2_366_399 * 4


def test_shipped_weights_match_the_checkpoint_crcs(model: str, bundle: TensorBundle) -> None:
    shipped = load_file(str(WEIGHTS / f"{model}.safetensors"))
    expected = {name for name in bundle.entries if not _is_optimizer_state(name)}
    assert set(shipped) == expected
    for name, tensor in shipped.items():
        entry = bundle.entries[name]
        assert tensor.shape == entry.shape
        assert mask_crc(crc32c(tensor.tobytes())) == entry.crc32c, name


@pytest.fixture
def rebuilt(model: str, tmp_path: Path) -> TensorBundle:
    """The checkpoint with a data file holding the shipped tensors (optimizer state zeroed)."""
    bundle = TensorBundle(DATA / model)
    prefix = tmp_path / model
    (tmp_path / f"{model}.index").write_bytes((DATA / f"{model}.index").read_bytes())
    data = bytearray(max(e.offset + e.size for e in bundle.entries.values()))
    for name, tensor in load_file(str(WEIGHTS / f"{model}.safetensors")).items():
        entry = bundle.entries[name]
        data[entry.offset : entry.offset + entry.size] = tensor.tobytes()
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    return TensorBundle(prefix)


def test_read_returns_tensors_in_tf_layout(model: str, rebuilt: TensorBundle) -> None:
    shipped = load_file(str(WEIGHTS / f"{model}.safetensors"))
    kernel = rebuilt.read("conv2d/kernel", verify=True)
    assert kernel.shape == (7, 38, 1, 204)
    assert kernel.dtype == np.float32
    np.testing.assert_array_equal(kernel, shipped["conv2d/kernel"])
    np.testing.assert_array_equal(rebuilt.read("dense_1/bias"), shipped["dense_1/bias"])


def test_read_detects_corrupt_tensor_data(model: str, rebuilt: TensorBundle) -> None:
    # The optimizer slots were zeroed when rebuilding: their CRC no longer matches.
    with pytest.raises(CheckpointError, match=r"conv2d/kernel/Adam: CRC32C mismatch"):
        rebuilt.read("conv2d/kernel/Adam", verify=True)
    # One flipped byte inside a model tensor is caught too...
    entry = rebuilt.entries["dense/kernel"]
    raw = bytearray(rebuilt.data_path.read_bytes())
    raw[entry.offset + entry.size // 2] ^= 0x01
    rebuilt.data_path.write_bytes(bytes(raw))
    corrupted = TensorBundle(rebuilt.prefix)
    with pytest.raises(CheckpointError, match=r"dense/kernel: CRC32C mismatch"):
        corrupted.read("dense/kernel", verify=True)
    # ...and reading without verification hands exactly one changed value back.
    shipped = load_file(str(WEIGHTS / f"{model}.safetensors"))["dense/kernel"]
    changed = corrupted.read("dense/kernel", verify=False) != shipped
    assert changed.sum() == 1


def test_corrupt_index_is_rejected(model: str, tmp_path: Path) -> None:
    original = (DATA / f"{model}.index").read_bytes()
    flipped = bytearray(original)
    flipped[100] ^= 0x40  # inside the data block, among the entry keys
    (tmp_path / "flipped.index").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="CRC32C mismatch"):
        TensorBundle(tmp_path / "flipped")

    (tmp_path / "truncated.index").write_bytes(original[:-10])
    with pytest.raises(CheckpointError, match="footer magic"):
        TensorBundle(tmp_path / "truncated")

    with pytest.raises(CheckpointError, match=r"missing\.index"):
        TensorBundle(tmp_path / "missing")
