"""Defaults, declared once, and the one place that reads beets' configuration.

:func:`read_settings` validates the ``genrescore`` config section and freezes it into
:class:`Settings`; CLI flags overlay it with :meth:`Settings.replace`. Everything else
receives settings, never a config view. A wrong value raises :class:`ConfigError` naming the
option and listing the valid values.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .backends.base import NONE, BackendOptions, Role, validate_model_value
from .backends.placement import DEVICES, PRECISIONS
from .errors import ConfigError, display_path
from .scoring import genre_head
from .scoring.ensemble import (
    CONFIDENCE_VERSION,
    Component,
    ConfidenceMap,
    EnsembleConfig,
    InstrumentRule,
    Weights,
)
from .scoring.rules import DEFAULT_RULES as DEFAULT_RULES
from .scoring.taxonomy import GENRES, INSTRUMENTS, unknown_names


class GenresPolicy(enum.Enum):
    """What happens to beets' own ``genres`` field."""

    #: Only empty ``genres`` are filled (and those genrescore filled itself are refreshed).
    FILL = "fill"
    #: Detected genres are appended to the existing ones.
    MERGE = "merge"
    #: ``genres`` becomes the detected top list.
    OVERWRITE = "overwrite"
    #: ``genres`` is never touched; only the ``genrescore_*`` fields are written.
    KEEP = "keep"


class BpmPolicy(enum.Enum):
    """What happens to beets' own ``bpm`` field (``genrescore_bpm`` is stored whenever a
    tempo was measured, whatever the policy)."""

    #: Only an empty or zero ``bpm`` is filled (and one genrescore filled itself refreshed).
    FILL = "fill"
    #: ``bpm`` becomes the detected tempo.
    OVERWRITE = "overwrite"
    #: ``bpm`` is never touched.
    KEEP = "keep"


#: Every option of the ``genrescore`` section with its default (docs/configuration.md).
DEFAULTS: dict[str, Any] = {
    "auto": True,
    "force": False,
    "genres_policy": GenresPolicy.FILL.value,
    "bpm_policy": BpmPolicy.FILL.value,
    # Below this confidence beets' genres are left alone (the genrescore_* fields are still
    # stored and the track counted "uncertain"); 0 writes every result.
    "min_confidence": 0.0,
    "count": 3,
    # Relative weights; a component that does not run is left out and the rest renormalised.
    # ml/instruments/heuristic: the seed's 20/60/20. tagger_genres: the instrument tagger's
    # own genre classes (AudioSet's Country, Bluegrass...), a second opinion from the same pass.
    "weights": dataclasses.asdict(Weights()),
    "instrument_prior": 2.0,
    "instrument_rules": DEFAULT_RULES,
    # A genre head file that `beet genrescore --tune` wrote (scoring/genre_head.py): the genre
    # model's vote goes through it before the blend. Empty: the vote as the model gave it.
    "genre_head": "",
    # The user's confidence map {slope, intercept, margin} (ensemble.ConfidenceMap, one that
    # `--tune` fitted); nothing: the dev set's map for the models (FITTED_CONFIDENCE).
    "confidence": None,
    "models": {
        "genre": "danilotpnta/HuBERT-Genre-Clf",
        "instruments": "MIT/ast-finetuned-audioset-10-10-0.4593",
    },
    # A few windows spread over the track instead of the whole file.
    "windows": 3,
    "window_seconds": 10.0,
    "device": "auto",
    "precision": "auto",
    "cache_dir": "",
    "batch_size": 16,
    # Decoder processes: "auto" = one per core; 0 = decode in the main process.
    "jobs": "auto",
    # Where the models run (docs/cluster.md): none = on this machine; auto = join the running
    # Ray cluster; ray://host:port = a Ray cluster's client address. Needs the [ray] extra.
    "cluster": "none",
}

WEIGHT_KEYS = tuple(component.value for component in Component)
#: Shortest track worth analysing; the embedded model's patches are 3 s long.
MIN_SECONDS = 3.0


@dataclass(frozen=True)
class Settings:
    """The validated, frozen ``genrescore`` configuration."""

    auto: bool
    force: bool
    genres_policy: GenresPolicy
    bpm_policy: BpmPolicy
    #: Results less confident than this leave ``genres`` alone (0 to 1).
    min_confidence: float
    #: Weights, instrument rules, prior and the top list's length: everything the blend uses.
    ensemble: EnsembleConfig
    models: Mapping[Role, str]
    windows: int
    window_seconds: float
    backend: BackendOptions
    #: Decoder worker processes (0: decode in the main process).
    jobs: int
    #: ``none``, ``auto`` or a ``ray://host:port`` address: where the models run.
    cluster: str = "none"
    #: The genre head file's path (``genre_head``; empty: none; the head itself is
    #: :attr:`EnsembleConfig.genre_head`).
    genre_head: str = ""

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values overlaid (CLI flags)."""
        return dataclasses.replace(self, **changes)

    @property
    def weights(self) -> Weights:
        return self.ensemble.weights

    @property
    def count(self) -> int:
        """How many genres the top list holds."""
        return self.ensemble.count

    def fingerprint(self) -> str:
        """Hash of everything in the settings that can change what the models and the
        heuristics say about a track (a change means: analyse the audio again)."""
        payload = {
            "models": {role.value: value for role, value in self.models.items()},
            "windows": [self.windows, self.window_seconds],
        }
        return _digest(payload)

    def blend_fingerprint(self) -> str:
        """Hash of everything in the settings that changes only how the stored evidence is
        blended (a change means: blend again, no audio needed)."""
        payload = {
            "weights": dataclasses.asdict(self.weights),
            "count": self.count,
            "prior": self.ensemble.instrument_prior,
            # The calibration maps fitted for the default weights (scoring/ensemble.py).
            "confidence": CONFIDENCE_VERSION,
            "rules": [
                [
                    r.instrument,
                    sorted(r.boost.items()),
                    sorted(r.unless.items()),
                    sorted(r.unless_heard.items()),
                    r.threshold,
                    r.floor,
                ]
                for r in self.ensemble.rules
            ],
        }
        # Only when set, so that a library blended before these settings existed stays current.
        head = self.ensemble.genre_head
        if head is not None:
            payload["genre_head"] = head.digest  # its content's hash, as its file's name
        user_map = self.ensemble.confidence
        if user_map is not None:
            payload["confidence_map"] = [user_map.slope, user_map.intercept, user_map.margin]
        return _digest(payload)


def _digest(payload: Mapping[str, Any]) -> str:
    """A short, stable hash of JSON-able settings (a fingerprint)."""
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def shown(value: object) -> str:
    """A config value as the user wrote it (YAML's spelling), never a Python repr:
    ``{ml: 0, instruments: 0}``, ``.inf``, ``yes``, ``'replace'``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(item) for item in value) + "]"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _fail(option: str, value: object, valid: str) -> ConfigError:
    return ConfigError(f"genrescore.{option}: {shown(value)} is not valid; expected {valid}")


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool): ``.inf`` and ``.nan`` would turn every score into
    ``nan``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _choice(view: Any, option: str, choices: tuple[str, ...]) -> str:
    value = view[option].get()
    if value not in choices:
        raise _fail(option, value, "one of " + ", ".join(choices))
    return str(value)


def _number(view: Any, option: str, *, minimum: float, integer: bool = False) -> Any:
    """``view[option]`` as a number >= ``minimum``; ``option`` may be dotted (``weights.ml``)."""
    value = view
    for part in option.split("."):
        value = value[part]
    value = value.get()
    kinds = (int,) if integer else (int, float)
    if not _is_number(value) or not isinstance(value, kinds) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise _fail(option, value, f"{kind} >= {minimum:g}")
    return value


def _fraction(view: Any, option: str) -> float:
    value = view[option].get()
    if not _is_number(value) or not 0 <= value <= 1:
        raise _fail(option, value, "a number from 0 to 1")
    return float(value)


def _text(view: Any, option: str, valid: str) -> str:
    """A value that must be a word (its meaning is checked where it is used)."""
    value = view[option].get()
    if not isinstance(value, str):
        raise _fail(option, value, f"one of {valid}")
    return value


def _flag(view: Any, option: str) -> bool:
    value = view[option].get()
    if not isinstance(value, bool):
        raise _fail(option, value, "yes or no")
    return value


def _name_map(
    option: str, value: object, kind: str, names: Sequence[str], *, zero: bool
) -> dict[str, float]:
    """A rule's mapping of ``kind`` names (one of ``names``) to numbers, each >= 0 where
    ``zero`` is allowed, else > 0; absent: empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(option, value, f"a mapping of {kind}: number")
    unknown = unknown_names(value, names)
    if unknown:
        raise ConfigError(
            f"genrescore.{option}: unknown {kind} {unknown[0]!r}; valid {kind}s: {', '.join(names)}"
        )
    result: dict[str, float] = {}
    for name, number in value.items():
        if not _is_number(number) or (number < 0 if zero else number <= 0):
            raise _fail(f"{option}.{name}", number, "a number >= 0" if zero else "a number > 0")
        result[str(name)] = float(number)
    return result


RULE_KEYS = ("boost", "unless", "unless_heard", "threshold", "floor")


def _rules(raw: object) -> tuple[InstrumentRule, ...]:
    if not isinstance(raw, Mapping):
        raise _fail("instrument_rules", raw, "a mapping of instrument: rule")
    unknown = unknown_names(raw, INSTRUMENTS)
    if unknown:
        raise ConfigError(
            f"genrescore.instrument_rules: unknown instrument {unknown[0]!r}; "
            f"valid instruments: {', '.join(INSTRUMENTS)}"
        )
    rules = []
    for instrument, body in raw.items():
        option = f"instrument_rules.{instrument}"
        if not isinstance(body, Mapping):
            raise _fail(
                option,
                body,
                "a mapping with 'boost' and optional " + ", ".join(RULE_KEYS[1:]),
            )
        extra = set(body) - set(RULE_KEYS)
        if extra:
            raise _fail(f"{option}.{sorted(extra)[0]}", body, "keys " + ", ".join(RULE_KEYS))
        threshold, floor = body.get("threshold"), body.get("floor")
        for key, number in (("threshold", threshold), ("floor", floor)):
            if number is not None and (not _is_number(number) or number <= 0):
                raise _fail(f"{option}.{key}", number, "a number > 0")
        rules.append(
            InstrumentRule(
                instrument=str(instrument),
                boost=_name_map(f"{option}.boost", body.get("boost"), "genre", GENRES, zero=True),
                unless=_name_map(
                    f"{option}.unless", body.get("unless"), "genre", GENRES, zero=True
                ),
                unless_heard=_name_map(
                    f"{option}.unless_heard",
                    body.get("unless_heard"),
                    "instrument",
                    INSTRUMENTS,
                    zero=False,
                ),
                threshold=None if threshold is None else float(threshold),
                floor=None if floor is None else float(floor),
            )
        )
    return tuple(rules)


def _mapping(view: Any, option: str) -> object:
    """A mapping option's value, merged over the defaults; a value of another kind as the user
    wrote it, for the caller's error (confuse's own names neither the plugin nor the kinds
    expected).

    A mapping in every config source that sets it is merged (what ``flatten`` does, which
    raises confuse's own type error otherwise); asking first keeps confuse itself out of this
    module, which the analysis side imports for :class:`Settings`."""
    if all(hasattr(value, "keys") for value, _ in view[option].resolve()):
        return view[option].flatten()
    return view[option].get()


def _weights(view: Any) -> Weights:
    raw = _mapping(view, "weights")
    if not isinstance(raw, Mapping):
        raise _fail("weights", raw, "a mapping of " + ", ".join(WEIGHT_KEYS))
    unknown = unknown_names(raw, WEIGHT_KEYS)
    if unknown:
        raise _fail(f"weights.{unknown[0]}", raw[unknown[0]], "keys " + ", ".join(WEIGHT_KEYS))
    values = {}
    for key in WEIGHT_KEYS:
        values[key] = float(_number(view, f"weights.{key}", minimum=0.0))
    if not any(values.values()):
        raise _fail("weights", raw, "at least one weight above 0")
    return Weights(**values)


def default_jobs() -> int:
    """One worker process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _jobs(view: Any) -> int:
    if view["jobs"].get() == "auto":
        return default_jobs()
    return int(_number(view, "jobs", minimum=0, integer=True))


CLUSTER_KINDS = ("none", "auto")


def check_cluster(value: object, option: str = "cluster") -> str:
    """``none``, ``auto`` or ``ray://host:port``, else a :class:`ConfigError`."""
    text = "none" if value is None or value is False else str(value)
    host, _, port = text.removeprefix("ray://").rpartition(":")
    if text in CLUSTER_KINDS or (text.startswith("ray://") and host and port.isdigit()):
        return text
    raise _fail(option, value, "none, auto or ray://host:port")


def _genre_head(view: Any) -> tuple[str, genre_head.GenreHead | None]:
    """The ``genre_head`` file: its absolute path and the head; a file that is missing,
    unreadable or no genre head of these genres is a :class:`ConfigError` naming it."""
    raw = view["genre_head"].get()
    if raw is None or raw == "":
        return "", None
    if not isinstance(raw, str):
        raise _fail("genre_head", raw, "the path of a genre head file (written by --tune)")
    path = os.path.abspath(os.path.expanduser(raw))
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigError(
            f"genrescore.genre_head: cannot read {display_path(path)}: {exc.strerror or exc}"
        ) from exc
    try:
        head = genre_head.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, genre_head.HeadFormatError) as exc:
        raise ConfigError(
            f"genrescore.genre_head: {display_path(path)} is not a usable genre head: {exc}"
        ) from exc
    return path, head


CONFIDENCE_KEYS = ("slope", "intercept", "margin")


def _confidence(view: Any) -> ConfidenceMap | None:
    """The user's ``confidence`` map, or ``None`` (the dev set's, by models)."""
    raw = view["confidence"].get()
    if raw is None:
        return None
    valid = "a mapping of slope (> 0), intercept and optional margin"
    if not isinstance(raw, Mapping) or not {"slope", "intercept"} <= set(raw):
        raise _fail("confidence", raw, valid)
    unknown = unknown_names(raw, CONFIDENCE_KEYS)
    if unknown:
        raise _fail(
            f"confidence.{unknown[0]}", raw[unknown[0]], "keys " + ", ".join(CONFIDENCE_KEYS)
        )
    values = {}
    for key in CONFIDENCE_KEYS:
        value = raw.get(key, 0.0)
        if not _is_number(value) or (key == "slope" and value <= 0):
            raise _fail(
                f"confidence.{key}", value, "a number > 0" if key == "slope" else "a number"
            )
        values[key] = float(value)
    return ConfidenceMap(**values)


def read_settings(view: Any) -> Settings:
    """Validate the plugin's config view and freeze it.

    Raises
    ------
    ConfigError
        An unknown option or a value out of range; the message lists the valid ones.
    """
    unknown = unknown_names(view.keys(), DEFAULTS)
    if unknown:
        raise ConfigError(
            f"genrescore: unknown option {unknown[0]!r}; valid options: {', '.join(DEFAULTS)}"
        )
    policies = tuple(policy.value for policy in GenresPolicy)
    models_view = view["models"]
    raw_models = _mapping(view, "models")
    if not isinstance(raw_models, Mapping):
        raise _fail("models", raw_models, "a mapping of genre, instruments")
    unknown = unknown_names(models_view.keys(), [role.value for role in Role])
    if unknown:
        raise _fail(
            f"models.{unknown[0]}", models_view[unknown[0]].get(), "keys genre, instruments"
        )
    models = {}
    for role in Role:
        raw = models_view[role.value].get()
        value = NONE if raw is None else str(raw)
        validate_model_value(value, role)
        models[role] = value
    weights = _weights(view)
    head_path, head = _genre_head(view)
    cache_dir = str(view["cache_dir"].get() or "")
    return Settings(
        auto=_flag(view, "auto"),
        force=_flag(view, "force"),
        genres_policy=GenresPolicy(_choice(view, "genres_policy", policies)),
        bpm_policy=BpmPolicy(
            _choice(view, "bpm_policy", tuple(policy.value for policy in BpmPolicy))
        ),
        min_confidence=_fraction(view, "min_confidence"),
        ensemble=EnsembleConfig(
            weights=weights,
            rules=_rules(_mapping(view, "instrument_rules")),
            instrument_prior=float(_number(view, "instrument_prior", minimum=0.0)),
            count=int(_number(view, "count", minimum=1, integer=True)),
            confidence=_confidence(view),
            genre_head=head,
        ),
        models=models,
        windows=int(_number(view, "windows", minimum=1, integer=True)),
        window_seconds=float(_number(view, "window_seconds", minimum=MIN_SECONDS)),
        # BackendOptions checks the device and the precision against the values it knows.
        backend=BackendOptions(
            device=_text(view, "device", DEVICES),
            precision=_text(view, "precision", ", ".join(PRECISIONS)),
            cache_dir=os.path.expanduser(cache_dir) if cache_dir else None,
            batch_size=int(_number(view, "batch_size", minimum=1, integer=True)),
        ),
        jobs=_jobs(view),
        cluster=check_cluster(view["cluster"].get()),
        genre_head=head_path,
    )
