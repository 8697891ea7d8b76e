"""The one small interface every model backend implements, and the name registry.

A backend turns windows of mono audio into label probabilities in the model's own labels;
mapping labels onto genres and instruments is the scoring core's job (``scoring.taxonomy``).
Each call is preprocess -> forward -> postprocess, and whether scores are a softmax or
independent sigmoids is decided once, by :attr:`Backend.multi_label`.

Decided here for every backend: which model a configured value names (the registry of
embedded models, :data:`EMBEDDED_MODELS`, else a checkpoint) and that each model is built once
per process (:func:`build_backend`). Where a model runs and in what precision is
``placement.py``'s to decide (:class:`Backend` asks it once, at its start).

Backends import torch/transformers inside their own module, which the registry imports only
when one is built, so ``beet ls`` never pays for them.
"""

from __future__ import annotations

import atexit
import enum
import functools
import gc
import importlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from ..errors import BackendUnavailable, ConfigError, DeviceUnavailable, ModelLoadError
from ..scoring.ensemble import InstrumentScale

# Where a model runs is decided in placement.py; what the embedded ports share (weights,
# digests, chunks) is kit.py, which onnx.py imports without coming back here.
from .kit import REINSTALL_HINT, weights_id
from .placement import (
    ENGINES,
    HF_EXTRA_HINT,
    check_setting,
    default_engine,
    hf_installed,
    place,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import torch

    from .onnx import OnnxModel

    Waveform = npt.NDArray[np.float32]


class Role(enum.Enum):
    """What a model is used for in the ensemble."""

    GENRE = "genre"
    INSTRUMENTS = "instruments"


@dataclass(frozen=True)
class BackendOptions:
    """Run-time options shared by all backends (from the plugin settings).

    Raises
    ------
    ConfigError
        A device or precision that is not one of :data:`DEVICES` or :data:`PRECISIONS`;
        checked here, where the values are held, so no backend meets one it cannot resolve.
    """

    #: One of :data:`DEVICES`.
    device: str = "auto"
    #: One of :data:`PRECISIONS`.
    precision: str = "auto"
    #: Directory of the HuggingFace cache (``None``: the library's default).
    cache_dir: str | None = None
    #: Most windows sent through a model in one forward pass.
    batch_size: int = 16

    def __post_init__(self) -> None:
        check_setting(self.device, self.precision)


class Backend(ABC):
    """A model that scores windows of audio.

    Subclasses set the class attributes and implement :meth:`predict`. Instances are built
    once per process (loading weights is their ``__init__``'s job, after this one's) and then
    reused.

    Parameters
    ----------
    options
        Resolved here, once: the subclass finds the model's place in :attr:`device`,
        :attr:`dtype` and :attr:`batch_size`.

    Raises
    ------
    DeviceUnavailable
        A GPU was asked for by name and torch sees none (see :func:`resolve_device`).
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
    #: What ``precision: auto`` means for this model: bf16 where the device runs it natively
    #: (:func:`native_bf16`), or float32 everywhere. float32 for the embedded models: bf16
    #: moves musicnn's tag probabilities by up to 0.016 on the reference clips, and the models
    #: are small enough that float32 is no burden on a GPU either.
    auto_bf16: ClassVar[bool] = False
    #: A genre model whose :meth:`predict` also returns AudioSet's voice classes (``Singing``,
    #: ``Speech``...) next to its labels names the tagger whose vocal rule reads them
    #: (``scoring.traits.VOCAL_RULES``); the analyzer then takes the vocals from it rather
    #: than from the instrument tagger. ``None``: it carries none.
    voices: ClassVar[str | None] = None

    def __init__(self, options: BackendOptions) -> None:
        #: Where the model runs and in what precision (torch is not imported to find out
        #: where it need not be: :func:`.placement.resolve_device`).
        self.placement = place(options.device, options.precision, auto_bf16=self.auto_bf16)
        #: Most windows sent through the model in one forward pass.
        self.batch_size = options.batch_size

    @property
    def device(self) -> torch.device:
        """:attr:`placement`'s device, for torch (imports it)."""
        return self.placement.torch_device

    @property
    def dtype(self) -> torch.dtype:
        """:attr:`placement`'s precision as the dtype of the weights and inputs, for torch."""
        return self.placement.torch_dtype

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
        return self.placement.accelerated

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


WeightsT = TypeVar("WeightsT")
ModuleT = TypeVar("ModuleT", bound="torch.nn.Module")


class EmbeddedBackend(Backend, Generic[WeightsT, ModuleT]):
    """A model whose weights ship with the plugin (``data/<name>/``): an ONNX file for the
    CPU, and the safetensors file its torch module (GPUs, bf16) is built from.

    This hashes the safetensors file for the fingerprint and chooses the engine once
    (:func:`default_engine`). On the ONNX engine it loads the ``.onnx`` file
    (:class:`.onnx.OnnxModel`: :attr:`session`), whose metadata gives the labels and must name
    the shipped safetensors file's weights id (the file was exported from it). On the torch
    engine it reads the safetensors file into the port's prepared weights and builds the torch
    module from them on the resolved device and precision (:attr:`model`). A subclass sets
    :attr:`port_version`, implements :meth:`torch_module` and runs :attr:`session` or
    :attr:`model`.

    Parameters
    ----------
    name
        The registry name (``base.EMBEDDED``), under which errors are reported.
    options
        Device, precision and batch size.
    weights
        The safetensors file.
    load
        The port's loader: ``load(path=weights, name=name)`` gives the prepared weights and
        the labels.
    onnx_path
        The ONNX file exported from ``weights`` (``tools/export_onnx.py``).
    engine
        One of :data:`ENGINES` to override :func:`default_engine` (tests, benchmarks).

    Raises
    ------
    ModelLoadError
        A weights file is missing or corrupt, or the ONNX file was not exported from the
        shipped weights.
    ValueError
        An engine that is not one of :data:`ENGINES`, or onnx asked for where the model is
        placed on a GPU or in bf16.
    """

    #: Bumped whenever the port computes different numbers from the same weights
    #: (preprocessing, patching, averaging); part of :attr:`fingerprint`.
    port_version: ClassVar[str]

    def __init__(
        self,
        name: str,
        options: BackendOptions,
        weights: Path,
        load: Callable[..., tuple[WeightsT, tuple[str, ...]]],
        onnx_path: Path,
        *,
        engine: str | None = None,
    ) -> None:
        super().__init__(options)
        self.name = name
        if engine is None:
            engine = default_engine(self.placement)
        elif engine not in ENGINES:
            raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
        elif engine == "onnx" and default_engine(self.placement) != "onnx":
            raise ValueError(f"the onnx engine runs float32 on the CPU only, not {self.placement}")
        #: One of :data:`ENGINES`; not part of :attr:`fingerprint`: all compute the same
        #: numbers, to float32 rounding.
        self.engine = engine
        self._weights_id = weights_id(weights, name)
        #: The ONNX Runtime session; ``None`` on the other engines.
        self.session: OnnxModel | None = None
        #: The prepared weights (float32 numpy arrays) on the torch engine, else ``None``.
        self.weights: WeightsT | None = None
        #: The torch module on :attr:`device` in :attr:`dtype`; ``None`` on the ONNX engine.
        self.model: ModuleT | None = None
        if engine == "onnx":
            from .onnx import OnnxModel

            self.session = OnnxModel(onnx_path, name)
            self.labels = self._onnx_labels(onnx_path)
        else:
            if not hf_installed(("torch",)):
                raise DeviceUnavailable(
                    f"genrescore: {name} runs on {self.placement.device} in "
                    f"{'bf16' if self.placement.bf16 else 'fp32'} with torch, which is not "
                    f"installed ({HF_EXTRA_HINT}); or use device: cpu, precision: fp32"
                )
            prepared, self.labels = load(path=weights, name=name)
            self.weights = prepared
            if engine == "torch":
                module = self.torch_module(prepared)
                self.model = module.to(device=self.device, dtype=self.dtype)

    def _onnx_labels(self, path: Path) -> tuple[str, ...]:
        """The labels of :attr:`session`'s file, once its metadata is checked."""
        import json

        from .onnx import FORMAT_VERSION

        assert self.session is not None
        metadata = self.session.metadata
        if (
            metadata.get("format") != f"genrescore-onnx-{self.family}"
            or metadata.get("format_version") != FORMAT_VERSION
        ):
            reason = f"{path} is not a {self.family} ONNX file of format {FORMAT_VERSION}"
            raise ModelLoadError(self.name, reason, REINSTALL_HINT)
        if metadata.get("source_weights_id") != self._weights_id:
            reason = f"{path} was not exported from the shipped weights"
            raise ModelLoadError(self.name, reason, REINSTALL_HINT)
        try:
            labels = tuple(str(label) for label in json.loads(metadata["labels"]))
        except (KeyError, ValueError, TypeError) as exc:
            reason = f"{path} has no usable labels ({exc})"
            raise ModelLoadError(self.name, reason, REINSTALL_HINT) from exc
        return labels

    @abstractmethod
    def torch_module(self, weights: WeightsT) -> ModuleT:
        """The network as a torch module (float32, on the CPU), built from ``weights``."""

    @property
    def fingerprint(self) -> str:
        """Weights hash, port version, and the precision when it is not float32."""
        precision = "-bf16" if self.placement.bf16 else ""
        return f"{self._weights_id}-port{self.port_version}{precision}"

    @staticmethod
    def check_tracks(tracks: Sequence[Sequence[Waveform]]) -> None:
        """Refuse what no port can cut into patches.

        Raises
        ------
        ValueError
            A track has no windows, or a window is not one-dimensional.
        """
        import numpy as np

        for index, windows in enumerate(tracks):
            if not windows:
                raise ValueError(f"track {index} has no windows")
            if any(np.ndim(window) != 1 for window in windows):
                raise ValueError(f"track {index}: windows must be mono, 1-D arrays")


#: A factory builds a backend from the configured model value, its role and the options.
BackendFactory = Callable[[str, Role, BackendOptions], Backend]

#: Where the embedded models' files ship: ``data/<family>/``.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded model: everything the rest of the plugin knows about it, in one entry of
    :data:`EMBEDDED_MODELS` (adding a model is one entry plus its backend module)."""

    #: The registry name users configure (``musicnn-msd``).
    name: str
    #: The family its backend reports (:attr:`Backend.family`); its files are under
    #: ``data/<family>/``, and a run of embedded families only is ``embedded_`` in
    #: ``genrescore_method``.
    family: str
    #: ``module:factory`` building it, imported only when it is built.
    factory: str
    #: What it ships, by kind (``weights``: safetensors, ``onnx``, ``head``) -> file name.
    files: Mapping[str, str]
    #: The roles it can take (its labels serve them).
    roles: tuple[Role, ...]
    #: The roles it is the fallback of: what runs when the configured model cannot.
    default_for: tuple[Role, ...] = ()

    def path(self, kind: str) -> Path:
        """The shipped file of ``kind`` (a key of :attr:`files`)."""
        return DATA_DIR / self.family / self.files[kind]


_BOTH = (Role.GENRE, Role.INSTRUMENTS)
_MUSICNN = "beetsplug.genrescore.backends.musicnn:build"
_EFFICIENTAT = "beetsplug.genrescore.backends.efficientat:build"

#: The embedded models, one entry each.
EMBEDDED_MODELS: tuple[EmbeddedModel, ...] = (
    EmbeddedModel(
        "musicnn-msd",
        "musicnn",
        _MUSICNN,
        {"weights": "msd_musicnn.safetensors", "onnx": "msd_musicnn.onnx"},
        _BOTH,
    ),
    EmbeddedModel(
        "musicnn-mtt",
        "musicnn",
        _MUSICNN,
        {"weights": "mtt_musicnn.safetensors", "onnx": "mtt_musicnn.onnx"},
        _BOTH,
    ),
    EmbeddedModel(
        "yamnet",
        "yamnet",
        "beetsplug.genrescore.backends.yamnet:build",
        {"weights": "yamnet.safetensors", "onnx": "yamnet.onnx"},
        _BOTH,
        default_for=(Role.INSTRUMENTS,),
    ),
    EmbeddedModel("efficientat", "efficientat", _EFFICIENTAT, {"onnx": "mn04_as.onnx"}, _BOTH),
    # The genre role's fallback since issue 22: on the dev set's real recordings it names
    # more genres right than musicnn-msd, its voice classes give the vocals, and it is
    # cheaper (docs/accuracy.md).
    EmbeddedModel(
        "efficientat-genre",
        "efficientat",
        _EFFICIENTAT,
        {"onnx": "mn04_as.onnx", "head": "genre_head.npz"},
        (Role.GENRE,),
        default_for=(Role.GENRE,),
    ),
)

#: Embedded model by name.
EMBEDDED_BY_NAME: Mapping[str, EmbeddedModel] = {model.name: model for model in EMBEDDED_MODELS}

# Registry of embedded backends, by name -> "module:factory". Modules are imported lazily.
EMBEDDED: Mapping[str, str] = {model.name: model.factory for model in EMBEDDED_MODELS}

#: The families whose files ship with the plugin (``embedded_`` in ``genrescore_method``).
EMBEDDED_FAMILIES = frozenset(model.family for model in EMBEDDED_MODELS)

# Any configured value that is not ``none`` nor an embedded name is a HuggingFace model id
# or a local directory, found by this factory (without torch or transformers) and then
# loaded by the transformers backend (backends/hf.py).
CHECKPOINT_FACTORY = "beetsplug.genrescore.backends.hub:build"

#: The embedded model each role falls back to when the configured one is not available.
EMBEDDED_DEFAULTS: Mapping[Role, str] = {
    role: model.name for model in EMBEDDED_MODELS for role in model.default_for
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
    """The backend a configured model value names, built once per process; ``"none"`` gives
    ``None``.

    Raises
    ------
    BackendUnavailable
        The model cannot run here (not downloaded, a dependency missing, a bad directory);
        found out once per process, then raised again without looking.
    """
    if value == NONE:
        return None
    target = EMBEDDED.get(value, CHECKPOINT_FACTORY)
    return built_once(lambda: load_factory(target)(value, role, options), value, role, options)


#: The one cache of backends, by what was asked for: a backend, or why that model cannot run
#: here. Models are built once per process and reused (the import stage and the command
#: alike), and a missing one is looked for once.
_BUILT: dict[tuple[Hashable, ...], Backend | BackendUnavailable] = {}


def built_once(
    build: Callable[[], Backend],
    value: str,
    role: Role,
    options: BackendOptions,
    *extra: Hashable,
) -> Backend:
    """``build()`` the first time a backend is asked for in this process, then the same one.

    ``extra`` is what else a factory called directly takes (``hf.build``'s window length);
    without it, the key is the registry's, so both ways land on the same backend.

    Raises
    ------
    BackendUnavailable
        What ``build()`` raised the first time.
    """
    key = (value, role, options, *extra)
    if key not in _BUILT:
        try:
            _BUILT[key] = build()
        except BackendUnavailable as exc:
            _BUILT[key] = exc
    built = _BUILT[key]
    if isinstance(built, BackendUnavailable):
        raise built
    return built


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
