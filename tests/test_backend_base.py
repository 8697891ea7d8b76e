"""What every backend gets from the base: options checked, device and precision resolved once,
one cache of built backends, and the embedded models' fingerprints."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from beetsplug.genrescore.backends import musicnn, placement, yamnet
from beetsplug.genrescore.backends.base import (
    BackendOptions,
    EmbeddedBackend,
    Role,
    build_backend,
)
from beetsplug.genrescore.backends.placement import resolve_bf16, resolve_device
from beetsplug.genrescore.errors import BackendUnavailable, ConfigError, DeviceUnavailable

from .interpreter import fresh_python


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_options_take_every_device_setting(device: str) -> None:
    assert BackendOptions(device=device).device == device


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "gpu0"}, "genrescore.device: 'gpu0' is not valid; expected one of auto, cpu"),
        ({"device": "cuda:"}, "expected one of auto, cpu, cuda, cuda:N"),
        ({"precision": "fp8"}, "genrescore.precision: 'fp8' is not valid; expected one of auto"),
    ],
)
def test_options_refuse_what_no_backend_could_resolve(
    options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        BackendOptions(**options)


@pytest.mark.parametrize(
    ("precision", "auto_bf16", "native", "expected"),
    [
        pytest.param("fp32", True, True, False, id="fp32-is-fp32"),
        pytest.param("bf16", False, False, True, id="bf16-even-emulated"),
        pytest.param("auto", False, True, False, id="auto-embedded-fp32-everywhere"),
        pytest.param("auto", True, True, True, id="auto-checkpoint-native-bf16"),
        pytest.param("auto", True, False, False, id="auto-checkpoint-emulated-fp32"),
    ],
)
def test_precision_resolves_per_model_and_cpu(
    monkeypatch: pytest.MonkeyPatch,
    precision: str,
    auto_bf16: bool,
    native: bool,
    expected: bool,
) -> None:
    flags = frozenset({"avx2", "amx_bf16"} if native else {"avx2"})
    monkeypatch.setattr(placement, "_cpu_flags", lambda: flags)

    assert resolve_bf16(precision, "cpu", auto_bf16=auto_bf16) is expected


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:1"])
def test_a_gpu_asked_for_by_name_must_be_there(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    monkeypatch.setattr(placement, "gpu_possible", lambda: True)  # ask torch, which sees none

    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailable, match=f"'{spec}' was asked for, but torch sees no GPU"):
        resolve_device(spec)


@pytest.mark.parametrize(
    ("name", "weights", "port"),
    [
        ("musicnn-msd", musicnn.WEIGHTS_DIR / musicnn.WEIGHT_FILES["musicnn-msd"], "1"),
        ("musicnn-mtt", musicnn.WEIGHTS_DIR / musicnn.WEIGHT_FILES["musicnn-mtt"], "1"),
        ("yamnet", yamnet.WEIGHTS_PATH, "2"),
    ],
)
@pytest.mark.parametrize(("precision", "suffix"), [("fp32", ""), ("auto", ""), ("bf16", "-bf16")])
def test_embedded_fingerprints_keep_their_form(
    name: str, weights: Path, port: str, precision: str, suffix: str
) -> None:
    # Stored results carry these strings: a new form would have every library re-analysed.
    backend = build_backend(name, Role.INSTRUMENTS, BackendOptions("cpu", precision))

    assert isinstance(backend, EmbeddedBackend)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    assert backend.fingerprint == f"{digest}-port{port}{suffix}"
    assert backend.dtype == (torch.bfloat16 if suffix else torch.float32)
    # float32 on the CPU runs on ONNX Runtime, bf16 on torch; the engine is not in the
    # fingerprint.
    assert backend.engine == ("torch" if suffix else "onnx")
    if backend.model is not None:
        assert next(backend.model.parameters()).dtype == backend.dtype
        assert {array.dtype for array in _arrays(backend.weights)} == {np.dtype(np.float32)}
    else:
        assert backend.session is not None
        (model_input,) = backend.session.session.get_inputs()
        assert model_input.type == "tensor(float)"
    assert not backend.accelerated


def _arrays(value: object) -> list[np.ndarray]:
    """Every array in prepared weights (dataclasses, tuples of them)."""
    if isinstance(value, np.ndarray):
        return [value]
    if dataclasses.is_dataclass(value):
        fields = [getattr(value, field.name) for field in dataclasses.fields(value)]
        return [array for field in fields for array in _arrays(field)]
    if isinstance(value, tuple):
        return [array for item in value for array in _arrays(item)]
    return []


def test_a_model_is_built_once_and_a_missing_one_looked_for_once(tmp_path: Path) -> None:
    options = BackendOptions(device="cpu")
    built = build_backend("yamnet", Role.INSTRUMENTS, options)
    assert build_backend("yamnet", Role.INSTRUMENTS, BackendOptions(device="cpu")) is built

    absent = BackendOptions(cache_dir=str(tmp_path))
    with pytest.raises(BackendUnavailable, match="not downloaded") as first:
        build_backend("genrescore-test/absent", Role.GENRE, absent)
    with pytest.raises(BackendUnavailable) as again:
        build_backend("genrescore-test/absent", Role.GENRE, absent)

    assert again.value is first.value


def test_auto_is_the_cpu_without_importing_torch_where_no_gpu_can_be(tmp_path: Path) -> None:
    # On a machine without GPU device nodes (as if: the list names none that exists),
    # resolving ``auto`` must not cost a torch import: a one-track run on the CPU would pay
    # 2.5-3 s for it.
    script = (
        "import sys\n"
        "from beetsplug.genrescore.backends import placement\n"
        f"placement.GPU_DEVICE_NODES = ({str(tmp_path / 'nvidia0')!r},)\n"
        "assert not placement.gpu_possible()\n"
        "print(placement.resolve_device('auto'),"
        " placement.resolve_bf16('auto', 'cpu', auto_bf16=False),"
        " 'torch' in sys.modules)\n"
    )
    assert fresh_python(script, cwd=tmp_path).split() == ["cpu", "False", "False"]
