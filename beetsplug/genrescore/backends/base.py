"""The one small interface every model backend implements, and the name registry.

A backend turns windows of mono audio into label probabilities in the model's own labels;
mapping labels onto genres and instruments is the scoring core's job (``scoring.taxonomy``).
Each call is preprocess -> forward -> postprocess, and whether scores are a softmax or
independent sigmoids is decided once, by :attr:`Backend.multi_label`.

Backends import torch/transformers inside their own module, which the registry imports only
when one is built, so ``beet ls`` never pays for them.
"""

from __future__ import annotations

import atexit
import enum
import functools
import gc
import hashlib
import importlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ..errors import BackendUnavailable, ConfigError, DeviceUnavailable, ModelLoadError
from ..scoring.ensemble import InstrumentScale

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch

    Waveform = npt.NDArray[np.float32]


class Role(enum.Enum):
    """What a model is used for in the ensemble."""

    GENRE = "genre"
    INSTRUMENTS = "instruments"


@dataclass(frozen=True)
class BackendOptions:
    """Run-time options shared by all backends (from the plugin settings)."""

    #: ``"auto"`` (cuda when present, else cpu), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    device: str = "auto"
    #: ``"auto"`` (bf16 where the CPU or GPU runs it fast, else fp32), ``"fp32"`` or ``"bf16"``.
    precision: str = "auto"
    #: Directory of the HuggingFace cache (``None``: the library's default).
    cache_dir: str | None = None
    #: Most windows sent through a model in one forward pass.
    batch_size: int = 16


class Backend(ABC):
    """A model that scores windows of audio.

    Subclasses set the class attributes and implement :meth:`predict`. Instances are built
    once per process (loading weights is their ``__init__``'s job) and then reused.
    """

    #: Registry name (``"musicnn-msd"``) or, for checkpoints, the model id or path.
    name: str
    #: Family shown in ``genrescore_method``: ``"ml"`` for HuggingFace checkpoints,
    #: ``"musicnn"`` for the embedded models.
    family: ClassVar[str]
    #: Sample rate, in Hz, of the windows :meth:`predict` expects.
    sample_rate: int
    #: Length, in seconds, of one window the model looks at.
    window_seconds: float
    #: ``True`` for independent (sigmoid) tags, ``False`` for a softmax over classes.
    multi_label: bool
    #: The model's labels, from its own metadata (never hard-coded positions).
    labels: tuple[str, ...]

    @abstractmethod
    def predict(self, tracks: Sequence[Sequence[Waveform]]) -> list[dict[str, float]]:
        """Score tracks.

        Parameters
        ----------
        tracks
            For each track, its windows: mono float32 arrays at :attr:`sample_rate`, each up
            to :attr:`window_seconds` long (a shorter one is padded by the backend).

        Returns
        -------
        list of dict
            For each track, label -> probability, averaged over its windows.
        """

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """A short stable id of the weights and settings; changes when results may change."""

    @property
    def accelerated(self) -> bool:
        """Whether the model runs on an accelerator (a GPU) rather than the CPU."""
        return False

    #: Share of the strongest instrument's score-over-threshold another instrument needs to be
    #: shown (``InstrumentEvidence.relative``); 0 shows all over their thresholds.
    instrument_relative: ClassVar[float] = 0.0

    def instrument_thresholds(self) -> Mapping[str, float]:
        """Canonical instrument -> detection threshold on this model's score scale.

        Only instrument taggers need this; the default says "no instruments".
        """
        return {}

    def instrument_scales(self) -> Mapping[str, InstrumentScale]:
        """Canonical instrument -> how to read its score (display threshold, boost range).

        The default turns :meth:`instrument_thresholds` into yes/no scales: shown, and the
        rule fully on, from the threshold. A tagger calibrated on a continuous scale
        overrides this.
        """
        return {name: InstrumentScale.step(t) for name, t in self.instrument_thresholds().items()}


#: Bytes read at a time when hashing a weights file.
_HASH_CHUNK = 1 << 20


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


#: A factory builds a backend from the configured model value, its role and the options.
BackendFactory = Callable[[str, Role, BackendOptions], Backend]

# Registry of embedded backends, by name -> "module:factory". Modules are imported lazily.
EMBEDDED: dict[str, str] = {
    "musicnn-msd": "beetsplug.genrescore.backends.musicnn:build",
    "musicnn-mtt": "beetsplug.genrescore.backends.musicnn:build",
    "yamnet": "beetsplug.genrescore.backends.yamnet:build",
}

# Any configured value that is not ``none`` nor an embedded name is a HuggingFace model id
# or a local directory, found by this factory (without torch or transformers) and then
# loaded by the transformers backend (backends/hf.py).
CHECKPOINT_FACTORY = "beetsplug.genrescore.backends.hub:build"

#: The embedded model each role falls back to when the configured one is not available.
EMBEDDED_DEFAULTS: Mapping[Role, str] = {
    Role.GENRE: "musicnn-msd",
    Role.INSTRUMENTS: "yamnet",
}

NONE = "none"


def load_factory(target: str) -> BackendFactory:
    """Import a ``module:factory`` target; a missing dependency makes it unavailable."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            module_name.rsplit(".", 1)[-1], f"cannot import its dependencies: {exc}"
        ) from exc
    _quick_exit()
    factory: BackendFactory = getattr(module, attr)
    return factory


@functools.cache
def _quick_exit() -> None:
    # With torch imported, the interpreter's last garbage collection at exit walks its
    # objects: 0.45 s more to leave a process that imported torch (1.1 s to import it, on two
    # cores), every `beet` command and import that ran a model. Freezing them first (at exit,
    # so a process that goes on is not affected) skips that walk. What the run writes is
    # committed, flushed and closed before then (beets' library, tags, --report).
    atexit.register(gc.freeze)


def is_embedded(value: str) -> bool:
    """Whether a configured model value names an embedded backend."""
    return value in EMBEDDED


def build_backend(value: str, role: Role, options: BackendOptions) -> Backend | None:
    """Build the backend a configured model value names; ``"none"`` gives ``None``.

    Raises
    ------
    BackendUnavailable
        The model cannot run here (not downloaded, a dependency missing, a bad directory).
    """
    if value == NONE:
        return None
    target = EMBEDDED.get(value, CHECKPOINT_FACTORY)
    return load_factory(target)(value, role, options)


#: The shape of a HuggingFace hub id, ``owner/name``.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def validate_model_value(value: str, role: Role) -> None:
    """Reject values that cannot name a model for ``role`` (checked when settings are read).

    A value names a model when it is ``none``, an embedded name, an existing directory or
    shaped like a hub id (``owner/name``). Anything else, a typo of an embedded name
    (``musicnn-msb``) among them, would only be found missing at run time and reported as
    "not downloaded", so it is refused here with the names that work.
    """
    valid = (
        f"one of {', '.join(sorted(EMBEDDED))}, a HuggingFace id (owner/name), "
        "a local model directory, or 'none'"
    )
    if not value.strip():
        raise ConfigError(f"genrescore.models.{role.value} is empty; use {valid}")
    if value == NONE or value in EMBEDDED or HUB_ID.fullmatch(value):
        return
    if os.path.isdir(os.path.expanduser(value)):
        return
    raise ConfigError(f"genrescore.models.{role.value}: {value!r} is not a model; expected {valid}")


def resolve_device(spec: str) -> torch.device:
    """Turn the ``device`` setting into a torch device (torch is imported here, lazily).

    ``auto`` is the GPU when there is one, else the CPU. A device named explicitly must be
    there: running elsewhere would quietly store other results than the user asked for.

    Raises
    ------
    ConfigError
        Not a device torch knows.
    DeviceUnavailable
        A GPU was asked for by name and torch sees none (or not that one).
    """
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"device {spec!r} is not valid; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index is not None and device.index >= count):
            seen = f"{count} GPU{'s' if count != 1 else ''}" if count else "no GPU"
            raise DeviceUnavailable(
                f"genrescore.device: {spec!r} was asked for, but torch sees {seen}; "
                "use device: auto (GPU when there is one, else CPU) or cpu"
            )
    return device


def resolve_dtype(precision: str) -> torch.dtype:
    """Turn the ``precision`` setting into a dtype for the embedded models.

    ``auto`` is float32 everywhere. bf16 moves tag probabilities by up to 0.016 on the
    reference clips, but on CPUs without AVX512-BF16/AMX it is emulated: 17x slower than
    float32 on the 2-core AMD EPYC (AVX2) this was measured on (benchmarks/musicnn_speed.py).
    The model is small enough that float32 is no burden on a GPU either.

    Raises
    ------
    ConfigError
        Not one of ``auto``, ``fp32``, ``bf16``.
    """
    import torch

    choices = {"auto": torch.float32, "fp32": torch.float32, "bf16": torch.bfloat16}
    if precision not in choices:
        raise ConfigError(f"precision {precision!r} is not valid; use auto, fp32 or bf16")
    return choices[precision]


def check_device(spec: str) -> None:
    """Stop early when the configured device is named explicitly but is not there.

    Cheap for ``auto`` and ``cpu`` (torch is not imported).

    Raises
    ------
    DeviceUnavailable
        See :func:`resolve_device`.
    """
    if spec not in ("auto", "cpu"):
        resolve_device(spec)
