"""Where a model runs and in what precision, decided in one place.

The ``device`` and ``precision`` settings (:data:`DEVICES`, :data:`PRECISIONS`) are checked
here (:func:`check_setting`, for the settings, ``--device`` and the backends' options alike),
resolved here (:func:`place`: :func:`resolve_device`, :func:`resolve_bf16`) and turned into
the engine an embedded model runs on (:func:`default_engine`). "Is there a GPU?" has one
answer per question: :func:`names_gpu` (the setting names one: the worker plan, the early
check), :func:`gpu_possible` (could torch see one, without importing it) and
:func:`resolve_device` (torch's answer, only where one may be there).

Knows nothing of beets; imports torch only where a GPU may be there or is named.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DeviceUnavailable

if TYPE_CHECKING:
    import torch

#: The values of the ``device`` setting: ``auto`` (cuda when present, else cpu), ``cpu``,
#: ``cuda`` or ``cuda:N``.
DEVICES = "auto, cpu, cuda, cuda:N"
#: The values of the ``precision`` setting: ``auto`` (what suits the model and the device,
#: :attr:`Backend.auto_bf16`), ``fp32`` or ``bf16``.
PRECISIONS = ("auto", "fp32", "bf16")
#: /proc/cpuinfo flags of CPUs that run bf16 matrix products natively. On an AMX CPU AST in
#: bf16 weights is 2.9x fp32 (3.7x batched) with logits within ~1 % (perf-anchors); without
#: these instructions bf16 is emulated and slower than fp32.
FAST_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


#: What installs torch and transformers: HuggingFace checkpoints, GPUs and bf16 need them;
#: the embedded models on the CPU (ONNX Runtime) do not.
HF_EXTRA_HINT = "pip install 'beets-genrescore[hf]'"
#: The modules that extra brings (huggingface_hub comes with transformers).
HF_MODULES = ("torch", "transformers", "huggingface_hub")


def hf_installed(modules: Sequence[str] = HF_MODULES) -> bool:
    """Whether ``modules`` (default: the ``hf`` extra's) can be imported; imports none."""
    import importlib.util

    return all(importlib.util.find_spec(module) is not None for module in modules)


def is_device(value: object) -> bool:
    """Whether ``value`` is one of :data:`DEVICES`."""
    return isinstance(value, str) and (
        value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())
    )


def check_setting(device: str, precision: str) -> None:
    """Refuse a ``device`` or ``precision`` value that is not one of :data:`DEVICES` or
    :data:`PRECISIONS`.

    Raises
    ------
    ConfigError
        Naming the option and the valid values.
    """
    if not is_device(device):
        raise ConfigError(f"genrescore.device: {device!r} is not valid; expected one of {DEVICES}")
    if precision not in PRECISIONS:
        raise ConfigError(
            f"genrescore.precision: {precision!r} is not valid; "
            f"expected one of {', '.join(PRECISIONS)}"
        )


def names_gpu(spec: str) -> bool:
    """Whether the ``device`` setting names a GPU outright (``cuda``, ``cuda:N``); ``auto``
    is taken for the CPU until the models are loaded (finding out may import torch)."""
    return spec not in ("auto", "cpu")


@dataclass(frozen=True)
class Placement:
    """Where a model runs and in what precision: the ``device`` and ``precision`` settings
    resolved (:func:`resolve_device`, :func:`resolve_bf16`)."""

    #: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    device: str
    #: Weights and inputs in bfloat16 (else float32).
    bf16: bool = False

    @property
    def accelerated(self) -> bool:
        """On a GPU rather than the CPU."""
        return self.device != "cpu"

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        import torch

        return torch.bfloat16 if self.bf16 else torch.float32


def place(device: str, precision: str, *, auto_bf16: bool) -> Placement:
    """The ``device`` and ``precision`` settings resolved for a model that asks for bf16 under
    ``precision: auto`` or not (``auto_bf16``).

    Raises
    ------
    DeviceUnavailable
        See :func:`resolve_device`.
    """
    resolved = resolve_device(device)
    return Placement(resolved, resolve_bf16(precision, resolved, auto_bf16=auto_bf16))


#: The engines an embedded model runs on: ``onnx`` (ONNX Runtime, float32 on the CPU, no
#: torch) and ``torch`` (any device and precision; the ``hf`` extra).
ENGINES = ("onnx", "torch")


def default_engine(placement: Placement) -> str:
    """The engine an embedded model runs on where it is placed: ONNX Runtime for float32 on
    the CPU, torch elsewhere (GPUs, bf16).

    On the CPU ONNX Runtime computes the same numbers (to float32 rounding) several times
    faster than torch or numpy, and skips importing torch (2.5-3 s on two cores, more than a
    one-track run takes; benchmarks/engine_speed.py).
    """
    return "onnx" if placement.device == "cpu" and not placement.bf16 else "torch"


def planned_engine(device: str, precision: str) -> str:
    """:func:`default_engine` as a plan made before any model is loaded sees it, from the
    ``device`` and ``precision`` settings: ``auto`` taken for the CPU (:func:`names_gpu`),
    so ONNX Runtime unless the settings name a GPU or bf16 outright."""
    return "torch" if names_gpu(device) or precision == "bf16" else "onnx"


#: Device nodes that a GPU driver torch can use creates on Linux: NVIDIA's, AMD's (ROCm, which
#: torch also reaches as ``cuda``) and WSL's. With none of them torch sees no GPU, so
#: ``auto`` is the CPU without importing torch (2.5-3 s of a one-track run on two cores).
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def gpu_possible() -> bool:
    """Whether torch might see a GPU here; ``False`` only where it certainly cannot."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.path.exists(node) for node in GPU_DEVICE_NODES)


def resolve_device(spec: str) -> str:
    """Turn the ``device`` setting into the device a model runs on: ``cpu``, ``cuda`` or
    ``cuda:N``.

    ``auto`` is the GPU when there is one, else the CPU; torch is asked (and imported) only
    where a GPU may be there (:func:`gpu_possible`). A device named explicitly must be
    there: running elsewhere would quietly store other results than the user asked for.

    Raises
    ------
    DeviceUnavailable
        A GPU was asked for by name and torch sees none (or not that one).
    """
    if spec == "cpu" or (spec == "auto" and not gpu_possible()):
        return "cpu"
    if not hf_installed(("torch",)):
        if spec == "auto":  # no torch, no GPU to run on: the CPU is what auto means here
            return "cpu"
        raise DeviceUnavailable(
            f"genrescore.device: {spec!r} runs the models with torch, which is not installed "
            f"({HF_EXTRA_HINT}); or use device: cpu"
        )
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index is not None and device.index >= count):
            seen = f"{count} GPU{'s' if count != 1 else ''}" if count else "no GPU"
            raise DeviceUnavailable(
                f"genrescore.device: {spec!r} was asked for, but torch sees {seen}; "
                "use device: auto (GPU when there is one, else CPU) or cpu"
            )
    return spec


def resolve_bf16(precision: str, device: str, *, auto_bf16: bool) -> bool:
    """Whether a model runs in bfloat16 on ``device`` under the ``precision`` setting.

    ``fp32`` and ``bf16`` are what they say; ``auto`` is bf16 for a model that asks for it
    (``auto_bf16``) where ``device`` runs it natively, else float32. On CPUs without
    AVX512-BF16/AMX bf16 is emulated: musicnn ran 17x slower than in float32 on the 2-core
    AMD EPYC (AVX2) this was measured on (benchmarks/musicnn_speed.py).
    """
    return precision == "bf16" or (precision == "auto" and auto_bf16 and native_bf16(device))


def native_bf16(device: str) -> bool:
    """Whether ``device`` runs bf16 matrix products natively (:data:`FAST_BF16_CPU_FLAGS`)."""
    if device == "cpu":
        return bool(_cpu_flags() & FAST_BF16_CPU_FLAGS)
    import torch

    return bool(torch.cuda.is_bf16_supported())


@functools.cache
def _cpu_flags() -> frozenset[str]:
    # Linux only; elsewhere (macOS, Windows) no flags, hence fp32, which is never slow.
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def check_device(spec: str) -> None:
    """Stop early when the configured device is named explicitly but is not there.

    Cheap for ``auto`` and ``cpu`` (torch is not imported).

    Raises
    ------
    DeviceUnavailable
        See :func:`resolve_device`.
    """
    if names_gpu(spec):
        resolve_device(spec)
