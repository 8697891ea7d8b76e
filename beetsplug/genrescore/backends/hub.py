"""Where a HuggingFace checkpoint is, whether it can run, and fetching it: hub plumbing.

A configured model value is a local directory or a hub id already in the HuggingFace cache;
:func:`fetch_models` is the only code that talks to the network. A model directory can never
run code: no ``trust_remote_code``, and weights come from safetensors or, failing that, from
torch's ``weights_only`` unpickler, which refuses anything but tensors.

This module imports neither torch nor transformers until a checkpoint is there to be loaded:
finding out that a configured model is not downloaded (the usual first run, which then falls
back to the embedded models) costs a few file-system look-ups, not the 1.5-3 s of importing
them. The backend class that runs a loaded checkpoint is :mod:`.hf`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailable, ModelLoadError
from .base import (
    NONE,
    Backend,
    BackendOptions,
    Role,
    is_embedded,
    load_factory,
)
from .placement import HF_EXTRA_HINT, hf_installed, place

if TYPE_CHECKING:
    import torch

#: The command that downloads configured models into the cache (``command.py`` owns it).
FETCH_COMMAND = "beet genrescore --fetch-models"

#: Where Trainer-style repos keep the model: ``danilotpnta/HuBERT-Genre-Clf`` has its
#: config, preprocessor config and weights only under ``checkpoint/``.
CHECKPOINT_SUBFOLDER = "checkpoint"

#: What :func:`fetch_models` downloads, at the repo root and in the checkpoint folder:
#: configs and safetensors weights, never pickles (optimizer.pt, pytorch_model.bin).
FETCH_PATTERNS: tuple[str, ...] = tuple(
    prefix + name
    for prefix in ("", f"{CHECKPOINT_SUBFOLDER}/")
    for name in (
        "config.json",
        "preprocessor_config.json",
        "model.safetensors",
        "model.safetensors.index.json",
        "model-*-of-*.safetensors",
    )
)


#: The backend module that runs a located checkpoint (imported only then: torch, transformers).
BACKEND = "beetsplug.genrescore.backends.hf:build"

#: Clip length for models that take raw audio of any length (HuBERT, wav2vec2). The GTZAN
#: fine-tunes saw 30 s clips, but on 2 cores DistilHuBERT costs 0.23-0.28 s on 10 s against
#: 0.72-1.0 s on 30 s (research/perf-anchors.md), and 10 s keeps the whole pipeline near
#: 0.8 s per track. Callers may ask for another length with ``window_seconds``.
DEFAULT_CLIP_SECONDS = 10.0

#: ASTFeatureExtractor's frame hop (kaldi fbank ``frame_shift``, 10 ms): its fixed
#: ``max_length`` of 1024 frames makes AST's window 10.24 s.
AST_FRAME_SECONDS = 0.010
#: ASTFeatureExtractor's ``max_length`` when ``preprocessor_config.json`` does not say.
AST_MAX_LENGTH = 1024

#: Model types whose feature extractor pads or crops to a fixed number of frames.
FIXED_WINDOW_MODELS = frozenset({"audio-spectrogram-transformer"})

#: ``precision: auto`` for checkpoints (``Backend.auto_bf16``): they are large, so bf16
#: where the CPU or GPU runs it natively (``placement.FAST_BF16_CPU_FLAGS``).
AUTO_BF16 = True


def require_extra(value: str) -> None:
    """Refuse a checkpoint where the ``hf`` extra (torch, transformers) is not installed.

    Checked first, before the cache is looked at: without the extra no checkpoint can run,
    downloaded or not, and the one thing to do about it is to install it.

    Raises
    ------
    BackendUnavailable
        torch, transformers or huggingface_hub cannot be imported.
    """
    if not hf_installed():
        raise BackendUnavailable(
            value, "a HuggingFace checkpoint needs torch and transformers", hint=HF_EXTRA_HINT
        )


def build(value: str, role: Role, options: BackendOptions) -> Backend:
    """The registry's factory for checkpoints: find the checkpoint, then load it with :mod:`.hf`.

    Finding comes first and needs neither torch nor transformers, so a model that is not
    downloaded is reported (and the embedded one used instead) without importing them.

    Raises
    ------
    BackendUnavailable
        The model is not downloaded, or torch/torchaudio/transformers cannot run it here.
    ModelLoadError
        The directory is corrupt, unsafe, or not an audio classifier with its head.
    """
    require_extra(value)
    locate(value, options.cache_dir)
    return load_factory(BACKEND)(value, role, options)


def locate(value: str, cache_dir: str | None) -> tuple[Path, str | None]:
    """The directory a model value names, and its hub commit (``None`` for a local one).

    Raises
    ------
    BackendUnavailable
        Neither a directory nor a hub id, or a hub id that is not in the cache.
    """
    path = Path(value).expanduser()
    if path.is_dir():
        return path, None
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined, unused-ignore]

    try:
        validate_repo_id(value)
        if not _ref_path(value, cache_dir).is_file():
            # What snapshot_download(local_files_only=True) concludes from the same missing
            # file; importing it costs 0.3 s, so the common case of "not downloaded" skips it.
            raise LocalEntryNotFoundError(f"{value} is not in the HuggingFace cache")
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(
            value, cache_dir=cache_dir, local_files_only=True, allow_patterns=list(FETCH_PATTERNS)
        )
    except HFValidationError as exc:
        raise BackendUnavailable(
            value, "no such directory, and not a HuggingFace model id either"
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise BackendUnavailable(
            value,
            "not downloaded: it is not in the HuggingFace cache",
            hint=f"run `{FETCH_COMMAND}` once while online",
        ) from exc
    # The snapshot folder of the HuggingFace cache is named after the commit it holds.
    return Path(snapshot), Path(snapshot).name


def _ref_path(value: str, cache_dir: str | None) -> Path:
    """The cache file that names the commit of a hub id's default revision.

    The layout is huggingface_hub's: ``<cache>/models--<owner>--<name>/refs/main``.
    """
    from huggingface_hub import constants

    root = Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE)
    folder = constants.REPO_ID_SEPARATOR.join(["models", *value.split("/")])
    return root.expanduser().resolve() / folder / "refs" / constants.DEFAULT_REVISION


def describe(value: str, role: Role, options: BackendOptions) -> str:
    """The fingerprint the checkpoint's backend will have once loaded (:class:`.hf.HFBackend`,
    as the registry builds it), from its files alone: no torch, no transformers.

    What decides whether stored results are current, so that a run with nothing to analyse
    does not load a model to find that out. It reads what loading would read (``config.json``'s
    ``problem_type`` and ``model_type``, ``preprocessor_config.json``'s ``max_length``) and the
    same weights stamp; a checkpoint that loads otherwise (or not at all) shows up when the
    first track that looks stale loads the models, and their fingerprint decides from then on.

    Raises
    ------
    BackendUnavailable
        As :func:`build`: not downloaded, not a model directory, or unreadable configs.
    """
    require_extra(value)
    root, revision = locate(value, options.cache_dir)
    directory = model_directory(value, root, from_hub=revision is not None)
    config = _read_json(value, directory, "config.json")
    preprocessor = (
        _read_json(value, directory, "preprocessor_config.json")
        if (directory / "preprocessor_config.json").is_file()
        else {}
    )
    bf16 = place(options.device, options.precision, auto_bf16=AUTO_BF16).bf16
    return fingerprint(
        value,
        directory,
        revision,
        "torch.bfloat16" if bf16 else "torch.float32",  # str() of the torch dtype
        multi_label(value, directory, config.get("problem_type"), role),
        natural_window_seconds(config.get("model_type"), preprocessor.get("max_length"))
        or DEFAULT_CLIP_SECONDS,
    )


def _read_json(value: str, directory: Path, name: str) -> dict[str, Any]:
    try:
        loaded = json.loads((directory / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise model_error(value, directory, f"has an unreadable {name} ({exc})") from exc
    if not isinstance(loaded, dict):
        raise model_error(value, directory, f"has a {name} that is not a JSON object")
    return loaded


def multi_label(value: str, directory: Path, problem_type: str | None, role: Role) -> bool:
    """Sigmoid or softmax: the checkpoint's ``problem_type`` when set, else the role's.

    Raises
    ------
    ModelLoadError
        A ``problem_type`` that is not a classification.
    """
    if problem_type == "multi_label_classification":
        return True
    if problem_type == "single_label_classification":
        return False
    if problem_type is None:
        return role is Role.INSTRUMENTS
    raise model_error(value, directory, f"is a {problem_type} model, not a classifier")


def natural_window_seconds(model_type: str | None, max_length: int | None) -> float | None:
    """The window a model's input is fixed at, or ``None`` when it takes any length.

    ``max_length`` is the feature extractor's, in frames (AST's: :data:`AST_MAX_LENGTH`
    unless its ``preprocessor_config.json`` says otherwise).
    """
    if model_type in FIXED_WINDOW_MODELS:
        return float((max_length or AST_MAX_LENGTH) * AST_FRAME_SECONDS)
    return None


def fingerprint(
    value: str,
    directory: Path,
    revision: str | None,
    dtype: str,
    multi_label: bool,
    window_seconds: float,
) -> str:
    """A checkpoint backend's fingerprint: the model, its weights' version, the dtype it runs
    in (``"torch.float32"``, ``"torch.bfloat16"``), softmax or sigmoid, and the window."""
    # A hub snapshot is pinned by its commit; a local directory by its weights files.
    if revision is not None:
        version: object = revision
    else:
        version = sorted(
            (path.name, path.stat().st_size, path.stat().st_mtime_ns)
            for path in directory.iterdir()
            if path.suffix in {".safetensors", ".bin"}
        )
    payload = json.dumps([value, version, dtype, multi_label, window_seconds])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def model_directory(value: str, root: Path, *, from_hub: bool) -> Path:
    for candidate in (root, root / CHECKPOINT_SUBFOLDER):
        if (candidate / "config.json").is_file():
            return candidate
    problem = f"has no config.json, nor has its {CHECKPOINT_SUBFOLDER}/ folder"
    if from_hub:
        raise BackendUnavailable(
            value, f"incompletely downloaded: {root} {problem}", hint=f"run `{FETCH_COMMAND}`"
        )
    raise model_error(value, root, problem)


def load(value: str, directory: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    """Load the feature extractor and the model, translating every failure.

    Raises
    ------
    BackendUnavailable
        torchaudio is installed but broken (transformers imports it for AST).
    ModelLoadError
        The directory is corrupt, unsafe, or not an audio classifier with its head.
    """
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    try:
        with _quiet_transformers():
            feature_extractor = AutoFeatureExtractor.from_pretrained(  # type: ignore[no-untyped-call, unused-ignore]
                directory, local_files_only=True, trust_remote_code=False
            )
            model, info = AutoModelForAudioClassification.from_pretrained(
                directory,
                local_files_only=True,
                trust_remote_code=False,
                weights_only=True,
                # Mismatched shapes are reported by _check_weights, with the shapes.
                ignore_mismatched_sizes=True,
                # Cast weights while loading: bf16 weights, not autocast, are what runs fast.
                dtype=dtype,
                output_loading_info=True,
            )
    except Exception as exc:
        # Loading fails in many third-party ways (OSError, ValueError, RuntimeError,
        # SafetensorError, UnpicklingError...); each one means this model cannot run here.
        if _mentions_torchaudio(exc):
            raise BackendUnavailable(
                value,
                f"torchaudio is installed but cannot load ({one_line(exc)})",
                hint=f"install the torchaudio built for torch {torch.__version__}, "
                "or uninstall torchaudio: it is not needed",
            ) from exc
        raise model_error(value, directory, f"cannot be loaded ({_describe(exc)})") from exc
    _check_weights(value, directory, info)
    return feature_extractor, model


def _check_weights(value: str, directory: Path, info: Mapping[str, Any]) -> None:
    """Refuse a model whose weights transformers had to make up (it only warns)."""
    mismatched = sorted(info["mismatched_keys"])
    if mismatched:
        shapes = ", ".join(
            f"{key} {list(saved)} in the weights, {list(expected)} from the config"
            for key, saved, expected in mismatched
        )
        raise model_error(
            value,
            directory,
            f"has weights that do not fit its config ({shapes}); "
            "does id2label list as many labels as the head has outputs?",
        )
    missing = sorted(info["missing_keys"])
    if missing:
        raise model_error(
            value,
            directory,
            f"has no weights for {', '.join(missing)}; "
            "is it a base model without a classification head?",
        )


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    # transformers draws progress bars and logs a load report on stderr; failures are
    # reported as our own errors instead. The UserWarning is ASTFeatureExtractor's: 128 kaldi
    # mel bins over 257 FFT bins leave empty low filters, the very filterbank AST was
    # trained with, so nothing a user could act on.
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    progress_bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(logging.ERROR)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="At least one mel filter has all zero values",
                category=UserWarning,
            )
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if progress_bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]


def model_error(value: str, directory: Path, problem: str) -> ModelLoadError:
    """``value: problem``, naming the directory when it is not the configured value."""
    subject = "" if directory == Path(value).expanduser() else f"{directory} "
    return ModelLoadError(value, subject + problem)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and the ones it was raised from, outermost first."""
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def _mentions_torchaudio(exc: BaseException) -> bool:
    # A torchaudio built for another torch fails in its compiled library
    # ("Could not load this library: .../_torchaudio.abi3.so"), raised from transformers'
    # import of torchaudio.compliance.kaldi for the AST feature extractor.
    return any("torchaudio" in str(cause) for cause in chain(exc))


def _describe(exc: BaseException) -> str:
    if any("Weights only load failed" in str(cause) for cause in chain(exc)):
        return (
            "its weights are a pickle that could run code; "
            "only safetensors and tensor-only pickles are loaded"
        )
    return one_line(exc)


def one_line(exc: BaseException) -> str:
    # Third-party messages can run to pages (transformers lists every model class).
    lines = str(exc).strip().splitlines() or [""]
    return f"{type(exc).__name__}: {lines[0]}"


def fetch_models(values: Sequence[str], cache_dir: str | None) -> list[str]:
    """Download hub models into the HuggingFace cache: the only network access of genrescore.

    Local directories, embedded model names and ``none`` are skipped. Only configs and
    safetensors weights are downloaded (:data:`FETCH_PATTERNS`).

    Returns
    -------
    list of str
        The snapshot directory each downloaded model landed in, in the order given.

    Raises
    ------
    BackendUnavailable
        The hub could not be reached, or it has no such model, or the ``hf`` extra is not
        installed.
    """
    for value in values:
        if value != NONE and not is_embedded(value):
            require_extra(value)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError

    landed = []
    for value in values:
        if value == NONE or is_embedded(value) or Path(value).expanduser().is_dir():
            continue
        try:
            snapshot = snapshot_download(
                value, cache_dir=cache_dir, allow_patterns=list(FETCH_PATTERNS)
            )
        except RepositoryNotFoundError as exc:
            raise BackendUnavailable(
                value, "no such model on the HuggingFace hub (or it is private or gated)"
            ) from exc
        except Exception as exc:
            # The hub client raises its own errors, OSErrors and its HTTP library's errors,
            # often wrapped in one another; the innermost says what went wrong.
            *_, root = chain(exc)
            raise BackendUnavailable(
                value, f"could not be downloaded from the HuggingFace hub ({one_line(root)})"
            ) from exc
        if not any(Path(snapshot).glob("*.safetensors")) and not any(
            Path(snapshot, CHECKPOINT_SUBFOLDER).glob("*.safetensors")
        ):
            raise BackendUnavailable(
                value,
                "has no safetensors weights on the HuggingFace hub, and pickled weights "
                "are never downloaded",
            )
        landed.append(snapshot)
    return landed
