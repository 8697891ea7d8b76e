"""Decode once, run each component, call the ensemble. Knows nothing of beets.

Work is split in two steps so that a pipeline can run them in different places:

* :func:`prepare` (path -> :class:`Prepared`): decoding, resampling and the heuristic
  features. CPU-bound numpy; picklable in and out, so it can run in a worker process.
* :meth:`Analyzer.infer` (prepared tracks -> :class:`TrackResult`): the model backends, with
  the windows of many tracks in one batch, and the ensemble.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from . import audio
from .audio import Waveform
from .backends.base import (
    EMBEDDED_DEFAULTS,
    EMBEDDED_FAMILIES,
    NONE,
    Backend,
    Role,
    build_backend,
    is_embedded,
)
from .errors import BackendUnavailable, UnusableAudio
from .scoring import features as feature_mod
from .scoring import heuristics, traits
from .scoring.ensemble import (
    Component,
    EnsembleResult,
    Evidence,
    GenreVote,
    InstrumentEvidence,
    NoEvidence,
    blend,
)
from .scoring.evidence import stored
from .scoring.heuristics import TempoChoice
from .scoring.taxonomy import genre_distribution, genres_named, instrument_scores
from .settings import MIN_SECONDS, Settings

#: The heuristics' sample rate: librosa's default, which their constants were tuned at.
HEURISTIC_RATE = 22050
#: Bumped when the analysis changes in a way that should make stored results stale.
ANALYSIS_VERSION = "5"  # 3: BPM, mood, vocals; 4: evidence stored; 5: swing, distortion


@dataclass(frozen=True)
class DecodePlan:
    """What :func:`prepare` must produce for the loaded backends (picklable)."""

    rates: tuple[int, ...]
    windows: int
    window_seconds: float
    min_seconds: float = MIN_SECONDS


@dataclass(frozen=True)
class Prepared:
    """A decoded track, ready for the models."""

    path: str
    duration: float
    #: Sample rate -> windows (mono float32), all ``plan.window_seconds`` long or shorter.
    audio: Mapping[int, Sequence[Waveform]]
    features: feature_mod.AudioFeatures


@dataclass(frozen=True)
class ModelOutputs:
    """What the models said about one track: each backend's label -> score (picklable).

    Small (a few hundred floats), so a remote inference step sends back only this and the
    blend stays where the library is.
    """

    genre: Mapping[str, float]
    instruments: Mapping[str, float]


@dataclass(frozen=True)
class ComponentReport:
    """One component's output, kept for ``--explain`` and ``--report``."""

    component: Component
    source: str
    #: The model's own labels (or the heuristic rule names) -> score, best first.
    raw: tuple[tuple[str, float], ...]
    #: Canonical genre -> share (empty for the instrument tagger's instrument part).
    genres: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackResult:
    """Everything decided about one track."""

    path: str
    duration: float
    decision: EnsembleResult
    method: str
    components: tuple[ComponentReport, ...]
    heuristics: heuristics.HeuristicResult
    #: What the components said, as stored (``scoring/evidence.py``): blended again on a
    #: change of weights or rules without the audio.
    evidence: str = ""
    #: The blend settings' fingerprint (``Settings.blend_fingerprint``) it was blended with.
    blend: str = ""
    #: Moods, best first, and every mood's score; ``None`` without an AudioSet tagger.
    mood: tuple[str, ...] | None = None
    mood_scores: tuple[tuple[str, float], ...] = ()
    #: Vocal or instrumental; ``None`` without an AudioSet tagger.
    vocals: traits.Vocals | None = None

    @property
    def bpm(self) -> TempoChoice:
        """The tempo, its octave settled by the heuristics."""
        return self.heuristics.tempo

    @property
    def genre(self) -> str:
        return self.decision.genre

    @property
    def confidence(self) -> float:
        return self.decision.confidence


def prepare(path: str, plan: DecodePlan) -> Prepared:
    """Decode the windows of one track and compute its heuristic features.

    Raises
    ------
    TrackError
        The file cannot be decoded or holds nothing to classify.
    """
    decoded = audio.load_windows(
        path,
        rates=plan.rates,
        count=plan.windows,
        seconds=plan.window_seconds,
        min_seconds=plan.min_seconds,
    )
    per_window = []
    for y in decoded.audio[HEURISTIC_RATE]:
        try:
            per_window.append(feature_mod.extract_features(y=y, sr=HEURISTIC_RATE))
        except ValueError:
            continue  # a window that is digital silence after resampling
    if not per_window:
        raise UnusableAudio(path, "silent: no sound in the analysed windows")
    return Prepared(
        path=path,
        duration=decoded.duration,
        audio=decoded.audio,
        features=feature_mod.combine(per_window),
    )


@dataclass
class Models:
    """The backends that run for each role (``None``: that role is left out)."""

    genre: Backend | None
    instruments: Backend | None
    #: One line per fallback taken, for the user.
    notes: list[str] = field(default_factory=list)
    #: The model value each role's backend was built from (``none``: left out), after any
    #: fallback: what a worker on this machine loads (:func:`load_models`' ``chosen``).
    chosen: Mapping[Role, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """``genrescore_method``: which components decided, and which models they were.

        ``embedded_hybrid_ml_instrument:musicnn-msd+yamnet`` - the kind (``embedded_`` when
        only shipped models ran, ``mixed_`` when shipped and downloaded ones did, nothing for
        downloaded ones only), the roles that ran, then the models by name (a hub id by its
        last part), so ``beet ls genrescore_method:yamnet`` finds what a model decided and a
        track done by an older default is told apart.
        """
        backends = self.backends
        if not backends:
            return "heuristic"
        embedded = [b.family in EMBEDDED_FAMILIES for b in backends]
        prefix = "embedded_" if all(embedded) else ("mixed_" if any(embedded) else "")
        # The stored format names the roles "ml" and "instrument" (not component keys).
        roles = [name for name, b in (("ml", self.genre), ("instrument", self.instruments)) if b]
        names = "+".join(b.name.rstrip("/").rsplit("/", 1)[-1] for b in backends)
        return f"{prefix}hybrid_{'_'.join(roles)}:{names}"

    @property
    def backends(self) -> list[Backend]:
        """The backends that run, genre model first."""
        return [b for b in (self.genre, self.instruments) if b is not None]

    def fingerprint(self) -> str:
        return _models_digest(
            [b.fingerprint if b else NONE for b in (self.genre, self.instruments)]
        )


def _models_digest(parts: Sequence[str]) -> str:
    """The models' part of the analysis fingerprint: each role's backend fingerprint."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def analysis_fingerprint(settings: Settings, models_digest: str) -> str:
    """What a stored result was computed with: this code's analysis, the settings that
    change it (:meth:`Settings.fingerprint`) and the models (:meth:`Models.fingerprint`)."""
    payload = f"{ANALYSIS_VERSION}|{settings.fingerprint()}|{models_digest}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _candidates(settings: Settings, role: Role) -> list[str]:
    """The models tried for a role, in order: the configured one, then its embedded fallback."""
    value = settings.models[role]
    fallback = EMBEDDED_DEFAULTS[role]
    return [value, fallback] if value not in (NONE, fallback) else [value]


def planned_fingerprint(settings: Settings) -> str:
    """The fingerprint an :class:`Analyzer` of :func:`load_models` will have, without loading
    a checkpoint (:func:`.backends.hub.describe` reads its files) and without warning.

    An embedded model is built (cheap: numpy). A checkpoint that is described but then fails
    to load falls back when the models load; a run compares with this only until then.
    """
    from .backends import hub

    parts = []
    for role in Role:
        part = NONE
        for candidate in _candidates(settings, role):
            try:
                if candidate == NONE or is_embedded(candidate):
                    backend = build_backend(candidate, role, settings.backend)
                    part = backend.fingerprint if backend is not None else NONE
                else:
                    part = hub.describe(candidate, role, settings.backend)
                break
            except BackendUnavailable:
                continue
        parts.append(part)
    return analysis_fingerprint(settings, _models_digest(parts))


def load_models(
    settings: Settings, warn: Callable[[str], None], chosen: Mapping[Role, str] | None = None
) -> Models:
    """Build the configured backends, falling back when one cannot run here.

    A configured model that is not available is replaced by the role's embedded model; if
    that cannot run either, the role is left out (heuristics alone at worst). Each fallback
    is reported once through ``warn``, with the command that fixes it. Backends are built
    once per process (:func:`.backends.base.build_backend`).

    ``chosen`` (another process's :attr:`Models.chosen`, on this machine) skips the search:
    a worker builds what the main process settled on, without looking for a checkpoint that
    is not downloaded again (importing huggingface_hub: 50 ms and 3 MB a worker). A role it
    does not name (``Models`` built by hand) is looked for as without it.
    """
    built: dict[Role, Backend | None] = {}
    values: dict[Role, str] = {}
    notes: list[str] = []
    for role in Role:
        built[role] = None
        values[role] = NONE
        failures: list[BackendUnavailable] = []
        candidates = [chosen[role]] if chosen and role in chosen else _candidates(settings, role)
        for candidate in candidates:
            try:
                built[role] = build_backend(candidate, role, settings.backend)
                values[role] = candidate
                break
            except BackendUnavailable as exc:
                failures.append(exc)
        if failures:
            first = failures[0]
            used = built[role]
            instead = f"using {used.name} instead" if used else "leaving it out"
            note = f"{role.value} model {first}; {instead}"
            notes.append(note)
            _warn_once(note, warn)
    return Models(
        genre=built[Role.GENRE], instruments=built[Role.INSTRUMENTS], notes=notes, chosen=values
    )


_WARNED: set[str] = set()


def _warn_once(message: str, warn: Callable[[str], None]) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warn(message)


def _crop(y: Waveform, seconds: float, rate: int) -> Waveform:
    """The centre ``seconds`` of a window (all of it when shorter)."""
    length = round(seconds * rate)
    if len(y) <= length:
        return y
    start = (len(y) - length) // 2
    return y[start : start + length]


def _vote(component: Component, backend: Backend, raw: Mapping[str, float]) -> GenreVote:
    """A model's genre vote: its labels' scores folded onto the canonical genres."""
    return GenreVote(
        component,
        backend.name,
        genre_distribution(raw, multi_label=backend.multi_label),
        genres_named(backend.labels),
    )


def _own(raw: Mapping[str, float], backend: Backend) -> Mapping[str, float]:
    """A model's output without the voice classes it carries for the vocals."""
    if backend.voices is None:
        return raw
    labels = set(backend.labels)
    return {label: score for label, score in raw.items() if label in labels}


def _ranked(scores: Mapping[str, float], limit: int = 10) -> tuple[tuple[str, float], ...]:
    best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return tuple((label, float(score)) for label, score in best[:limit])


class Analyzer:
    """Runs the loaded models and the ensemble over prepared tracks."""

    def __init__(self, settings: Settings, models: Models) -> None:
        self.settings = settings
        self.models = models
        backends = models.backends
        seconds = max([settings.window_seconds, *(b.window_seconds for b in backends)])
        rates = {HEURISTIC_RATE, *(b.sample_rate for b in backends)}
        self.plan = DecodePlan(
            rates=tuple(sorted(rates)), windows=settings.windows, window_seconds=seconds
        )
        self.blend_fingerprint = settings.blend_fingerprint()
        self.fingerprint = analysis_fingerprint(settings, models.fingerprint())

    @property
    def accelerated(self) -> bool:
        """Whether a model runs on a GPU (then batches of tracks should go to it)."""
        return any(b.accelerated for b in self.models.backends)

    def prepare(self, path: str) -> Prepared:
        return prepare(path, self.plan)

    def _run(self, backend: Backend | None, tracks: Sequence[Prepared]) -> list[dict[str, float]]:
        if backend is None:
            return [{} for _ in tracks]
        batch = [
            [
                _crop(y, backend.window_seconds, backend.sample_rate)
                for y in t.audio[backend.sample_rate]
            ]
            for t in tracks
        ]
        return backend.predict(batch)

    def evidence(self, tracks: Sequence[Prepared]) -> list[ModelOutputs]:
        """Run each model once over all the tracks: the part that may run on another machine."""
        genre_out = self._run(self.models.genre, tracks)
        tagger_out = self._run(self.models.instruments, tracks)
        return [ModelOutputs(g, t) for g, t in zip(genre_out, tagger_out, strict=True)]

    def decide(self, track: Prepared, outputs: ModelOutputs) -> TrackResult:
        """Blend one track's model outputs with its heuristics (always on the beets host)."""
        return self._decide(track, outputs.genre, outputs.instruments)

    def infer(self, tracks: Sequence[Prepared]) -> list[TrackResult]:
        """Decide the genre of prepared tracks, running each model once over all of them."""
        outputs = self.evidence(tracks)
        return [self.decide(track, out) for track, out in zip(tracks, outputs, strict=True)]

    def analyze(self, path: str) -> TrackResult:
        """Prepare and infer one track (the simple, sequential path)."""
        return self.infer([self.prepare(path)])[0]

    def _decide(
        self, track: Prepared, genre_raw: Mapping[str, float], tagger_raw: Mapping[str, float]
    ) -> TrackResult:
        heuristic = heuristics.score(track.features)
        votes = [
            GenreVote(
                Component.HEURISTIC, "heuristic", heuristic.distribution, heuristics.VOCABULARY
            )
        ]
        reports = [
            ComponentReport(
                Component.HEURISTIC,
                "heuristic",
                tuple((hit.rule, hit.score) for hit in heuristic.hits),
                heuristic.distribution,
            )
        ]
        genre_model, tagger = self.models.genre, self.models.instruments
        if genre_model is not None:
            vote = _vote(Component.ML, genre_model, genre_raw)
            votes.append(vote)
            reports.append(
                ComponentReport(
                    Component.ML,
                    genre_model.name,
                    _ranked(_own(genre_raw, genre_model)),
                    vote.distribution,
                )
            )
        instruments = None
        if tagger is not None:
            vote = _vote(Component.TAGGER_GENRES, tagger, tagger_raw)
            votes.append(vote)
            instruments = InstrumentEvidence(
                tagger.name,
                instrument_scores(tagger_raw),
                tagger.instrument_scales(),
                tagger.instrument_relative,
            )
            reports.append(
                ComponentReport(
                    Component.INSTRUMENTS, tagger.name, _ranked(tagger_raw), vote.distribution
                )
            )
        # Blend what is stored, so that blending the stored evidence again gives this result.
        stored_text, evidence = stored(Evidence(tuple(votes), instruments))
        try:
            decision = blend(evidence, self.settings.ensemble)
        except NoEvidence as exc:
            raise UnusableAudio(track.path, "no component recognised any genre") from exc
        audioset = tagger is not None and traits.has_audioset_vocabulary(tagger.labels)
        # The vocals: from a genre model that carries voice classes (mn04's head), else
        # from an AudioSet tagger.
        if genre_model is not None and genre_model.voices is not None:
            voice: tuple[str, Mapping[str, float]] | None = (genre_model.voices, genre_raw)
        elif tagger is not None and audioset:
            voice = (tagger.name, tagger_raw)
        else:
            voice = None
        return TrackResult(
            path=track.path,
            duration=track.duration,
            decision=decision,
            method=self.models.method,
            components=tuple(reports),
            heuristics=heuristic,
            evidence=stored_text,
            blend=self.blend_fingerprint,
            mood=tuple(traits.moods(tagger_raw)) if audioset else None,
            mood_scores=tuple(traits.mood_scores(tagger_raw)) if audioset else (),
            vocals=None if voice is None else traits.vocals(voice[1], traits.vocal_rule(voice[0])),
        )


def details(result: TrackResult) -> dict[str, object]:
    """The parts of ``--report``'s JSON that are no stored field: the file, the blend's
    weights and boosts, each component's output, the heuristic descriptors (the fields'
    entries come from ``library.FIELDS``: ``library.report``)."""
    decision = result.decision
    return {
        "path": result.path,
        "duration": round(result.duration, 3),
        "weights": {k: round(v, 4) for k, v in decision.effective_weights.items()},
        "boosts": [dataclasses.asdict(boost) for boost in decision.boosts],
        "components": [
            {
                "component": report.component,
                "source": report.source,
                "raw": {label: round(score, 5) for label, score in report.raw},
                "genres": {g: round(s, 4) for g, s in _ranked(report.genres)},
            }
            for report in result.components
        ],
        "descriptors": {
            key: round(float(value), 4)
            for key, value in dataclasses.asdict(result.heuristics.descriptors).items()
        },
    }


__all__ = [
    "Analyzer",
    "DecodePlan",
    "ModelOutputs",
    "Models",
    "Prepared",
    "TrackResult",
    "load_models",
]
