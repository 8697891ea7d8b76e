"""Results <-> beets Item and Album fields: what is stored, the genres policy, albums.

Fields are namespaced ``genrescore_*`` and typed (``item_types``), so range and list queries
work: ``beet ls genrescore_confidence:0.5..``, ``beet ls genrescore_instruments:violin``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import plugins
from beets.dbcore import types
from beets.library import Item
from mediafile import MediaFile

from .audio import file_identity
from .errors import LibraryFull
from .scoring import evidence as evidence_codec
from .scoring.ensemble import (
    EnsembleConfig,
    EnsembleResult,
    Evidence,
    NoEvidence,
    aggregate,
    blend,
)
from .scoring.taxonomy import display_name
from .settings import BpmPolicy, GenresPolicy

if TYPE_CHECKING:
    from .analyzer import TrackResult

GENRE = "genrescore_genre"
CONFIDENCE = "genrescore_confidence"
TOP = "genrescore_top3"
INSTRUMENTS = "genrescore_instruments"
METHOD = "genrescore_method"
SCORES = "genrescore_scores"
FINGERPRINT = "genrescore_fingerprint"
#: The file's size and modification time (ns) when the identity in the fingerprint was
#: taken: while they are the same, the identity is not read again (one stat per item).
AUDIO_FILE = "genrescore_file"
#: Set while the item's file lacks the tags of its stored result ("read-only" or "not
#: written"): the next run with writing on writes them without analysing the file again.
UNWRITTEN = "genrescore_unwritten"
BPM = "genrescore_bpm"
MOOD = "genrescore_mood"
MOOD_SCORES = "genrescore_mood_scores"
VOCALS = "genrescore_vocals"
VOCALS_SCORE = "genrescore_vocals_score"
#: What each component said (compact JSON, ``scoring/evidence.py``): re-blended without audio.
EVIDENCE = "genrescore_evidence"
#: The blend settings (weights, rules, prior, count) the stored result was blended with.
BLEND = "genrescore_blend"
#: ``genres`` as genrescore last wrote them, and as they were before it first changed them:
#: together they tell a user's own genres from genrescore's (:func:`user_genres`).
GENRES_WRITTEN = "genrescore_genres_written"
GENRES_BEFORE = "genrescore_genres_before"
#: beets' own tempo field (an integer); written to the file's standard BPM tag.
BEETS_BPM = "bpm"


@dataclass(frozen=True)
class FileTag:
    """How a field is stored in the audio file: one tag, named ``key`` in each format's way
    (:attr:`names`; ``tags.py`` makes mediafile's storage styles from them)."""

    #: The tag's key (``GENRESCORE_GENRE``).
    key: str
    #: Decimal places of a number.
    float_places: int = 2
    #: A list: several values in one tag where the format has them.
    multi: bool = False

    @property
    def names(self) -> dict[str, str]:
        """The tag's name per format family, as other players and taggers see it."""
        return {
            "id3": self.key,  # a TXXX frame's description (MP3, AIFF)
            "mp4": f"----:com.apple.iTunes:{self.key}",  # an iTunes freeform atom
            "vorbis": self.key,  # a Vorbis comment (FLAC, Ogg, Opus); APE's key alike
            "asf": f"GenreScore/{self.key}",  # a WMA attribute
        }


@dataclass(frozen=True)
class InReport:
    """Where ``--report``'s JSON holds a field, and its value there (richer than the field:
    the whole ranking, the instruments' scores, the tempo's reason)."""

    key: str
    value: Callable[[TrackResult], Any]


@dataclass(frozen=True)
class OutputField:
    """One field genrescore stores: everything the rest reads about it, declared once in
    :data:`FIELDS` (the values a result or a re-blend stores, the database types, the file
    tags in ``tags.py``, ``--pretend``, ``--report``'s JSON; tests/test_fields.py checks that
    each reaches the database, the file, the report and the docs' field table)."""

    #: The beets field (``genrescore_genre``).
    name: str
    #: Its beets type (on items, and on albums, aggregated from their tracks).
    type: types.Type[Any, Any]
    #: Its value from a track's result (``None``: not measured; the field is removed).
    of_result: Callable[[TrackResult], Any] | None = None
    #: Or from the blend alone: a re-blend computes it again (:func:`decision_values`).
    of_decision: Callable[[EnsembleResult], Any] | None = None
    #: In the file as this tag; ``None``: kept in the library only.
    tag: FileTag | None = None
    #: In ``--report``'s JSON; a field with one is a result's field, shown by ``--pretend``.
    report: InReport | None = None
    #: Its null (``0.0``) is a measurement where this other field is one (a vocals score of
    #: 0 next to a vocals kind); else a null is what beets reads from a file without the tag.
    measured_with: str | None = None

    @property
    def result(self) -> bool:
        """A result's field: ``--pretend`` shows it, ``--report`` and the docs table list it."""
        return self.report is not None

    def value(self, result: TrackResult) -> Any:
        """The field's value for ``result`` (``None``: not measured)."""
        if self.of_decision is not None:
            return self.of_decision(result.decision)
        assert self.of_result is not None, self.name
        return self.of_result(result)


def _tag(name: str, *, float_places: int = 2, multi: bool = False) -> FileTag:
    return FileTag(name.upper(), float_places=float_places, multi=multi)


def _ranking(result: TrackResult) -> dict[str, float]:
    return {genre: round(score, 4) for genre, score in result.decision.ranking}


def _tempo(result: TrackResult) -> float | None:
    """The tempo, when one was measured (a tempo of 0 is none: no field, no tag)."""
    bpm = round(result.bpm.bpm, 1)
    return bpm if bpm > 0 else None


def _vocals_report(result: TrackResult) -> dict[str, Any] | None:
    vocals = result.vocals
    if vocals is None:
        return None
    return {"vocals": vocals.kind, "score": round(vocals.score, 4), "label": vocals.label}


_VOCALS_REPORT = InReport("vocals", _vocals_report)

#: Every field genrescore stores, those a result sets first (in the order ``--pretend``
#: shows them and ``--report`` lists them), each with how its value is computed. A new field
#: is one entry here (and a row in docs/configuration.md's field table).
FIELDS: tuple[OutputField, ...] = (
    OutputField(
        GENRE,
        types.STRING,
        of_decision=lambda decision: display_name(decision.genre),
        tag=_tag(GENRE),
        report=InReport("genre", lambda result: result.decision.genre),
    ),
    OutputField(
        CONFIDENCE,
        types.Float(4),
        of_decision=lambda decision: round(decision.confidence, 4),
        tag=_tag(CONFIDENCE, float_places=4),
        report=InReport("confidence", lambda result: round(result.decision.confidence, 4)),
    ),
    OutputField(
        TOP,
        types.MULTI_VALUE_DSV,
        of_decision=lambda decision: [display_name(genre) for genre in decision.top],
        tag=_tag(TOP, multi=True),
        report=InReport("top", lambda result: list(result.decision.top)),
    ),
    OutputField(
        INSTRUMENTS,
        types.MULTI_VALUE_DSV,
        of_decision=lambda decision: [name for name, _ in decision.instruments],
        tag=_tag(INSTRUMENTS, multi=True),
        report=InReport(
            "instruments",
            lambda result: {name: round(score, 5) for name, score in result.decision.instruments},
        ),
    ),
    OutputField(
        METHOD,
        types.STRING,
        of_result=lambda result: result.method,
        tag=_tag(METHOD),
        report=InReport("method", lambda result: result.method),
    ),
    OutputField(
        SCORES,
        types.STRING,
        of_decision=lambda decision: format_scores(decision.ranking[: len(decision.top)]),
        report=InReport("ranking", _ranking),
    ),
    # beets' own ``bpm`` goes to the standard tag (TBPM, tmpo, BPM); this keeps the detected
    # tempo in the file whatever the bpm policy did.
    OutputField(
        BPM,
        types.Float(1),
        of_result=_tempo,
        tag=_tag(BPM, float_places=1),
        report=InReport(
            "bpm",
            lambda result: {
                "bpm": round(result.bpm.bpm, 2),
                "measured": round(result.bpm.measured, 2),
                "factor": result.bpm.factor,
                "why": result.bpm.why,
            },
        ),
    ),
    # Mood and vocals need an AudioSet tagger: without one they are absent, not guessed.
    OutputField(
        MOOD,
        types.MULTI_VALUE_DSV,
        of_result=lambda result: None if result.mood is None else list(result.mood),
        tag=_tag(MOOD, multi=True),
        report=InReport("mood", lambda result: None if result.mood is None else list(result.mood)),
    ),
    OutputField(
        MOOD_SCORES,
        types.STRING,
        of_result=lambda result: None if result.mood is None else format_moods(result.mood_scores),
        report=InReport(
            "mood_scores",
            lambda result: {mood: round(score, 5) for mood, score in result.mood_scores},
        ),
    ),
    OutputField(
        VOCALS,
        types.STRING,
        of_result=lambda result: None if result.vocals is None else result.vocals.kind,
        tag=_tag(VOCALS),
        report=_VOCALS_REPORT,
    ),
    OutputField(
        VOCALS_SCORE,
        types.Float(4),
        of_result=lambda result: None if result.vocals is None else round(result.vocals.score, 4),
        tag=_tag(VOCALS_SCORE, float_places=4),
        report=_VOCALS_REPORT,  # one entry for both: the kind, the score, the class heard
        measured_with=VOCALS,
    ),
    OutputField(EVIDENCE, types.STRING, of_result=lambda result: result.evidence or None),
    OutputField(BLEND, types.STRING, of_result=lambda result: result.blend or None),
    # The rest are the run's: the analysis and file identity (is_current), the genres policy.
    OutputField(FINGERPRINT, types.STRING),
    OutputField(AUDIO_FILE, types.STRING),
    OutputField(GENRES_WRITTEN, types.MULTI_VALUE_DSV),
    OutputField(GENRES_BEFORE, types.MULTI_VALUE_DSV),
)

#: Fields stored on items (and on albums, aggregated from their tracks).
FIELD_TYPES: dict[str, types.Type[Any, Any]] = {field.name: field.type for field in FIELDS}

#: The fields a result sets (and ``--pretend`` shows).
RESULT_FIELDS = tuple(field.name for field in FIELDS if field.result)


#: The audio part of a fingerprint when the file cannot be read (moved, deleted): nothing
#: can be analysed, so a stored result whose analysis is current stays.
MISSING = "missing"


@dataclass(frozen=True)
class FileState:
    """A file's content identity (:func:`.audio.file_identity`) and its ``size:mtime``."""

    identity: str
    stat: str


def file_state(path: bytes | str, item: Any = None) -> FileState | None:
    """The file's identity; ``None`` when it cannot be read.

    With ``item``: when the file's size and modification time are those stored with the
    item's fingerprint (:data:`AUDIO_FILE`), the stored identity, without reading the file.
    """
    try:
        info = os.stat(path)
    except OSError:
        return None
    stat = f"{info.st_size}:{info.st_mtime_ns}"
    if item is not None and item.get(AUDIO_FILE) == stat:
        stored = str(item.get(FINGERPRINT) or "").rpartition("-")[2]
        if stored and stored != MISSING:
            return FileState(stored, stat)
    try:
        return FileState(file_identity(path), stat)  # taken after the stat: see refresh
    except OSError:
        return None


def _legacy_identity(item: Any) -> str:
    """The audio identity results were stored with before it was read from the file: what
    beets read of the stream (format, sample rate, channels, bitrate, length)."""
    identity = "|".join(
        str(item.get(key, "")) for key in ("format", "samplerate", "channels", "bitrate")
    )
    identity += f"|{round(float(item.get('length') or 0.0), 2)}"
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def item_fingerprint(analysis: str, item: Any) -> str:
    """The analysis fingerprint joined with the identity of the item's file (its content:
    :func:`file_state`), so that another song at the same path is analysed again."""
    state = file_state(item.path, item)
    audio = MISSING if state is None else state.identity
    return f"{analysis}-{audio}"


def file_values(item: Any) -> dict[str, Any]:
    """:data:`AUDIO_FILE` for a result stored now (``None``: the file cannot be read)."""
    state = file_state(item.path, item)
    return {AUDIO_FILE: None if state is None else state.stat}


def _describes(item: Any, audio: str) -> bool:
    """Whether the item's stored fingerprint is of the audio whose identity is ``audio``."""
    stored = str(item.get(FINGERPRINT) or "").rpartition("-")[2]
    if stored == audio or audio == MISSING:
        return True
    # Stored before the identity came from the file (no AUDIO_FILE): the old identity is
    # taken for the file once, rather than analysing a whole library again on upgrade.
    return AUDIO_FILE not in item and stored == _legacy_identity(item)


def has_result(item: Any) -> bool:
    """Whether the item holds a stored result at all (a genre and its fingerprint)."""
    return bool(item.get(GENRE) and item.get(FINGERPRINT))


def is_current(item: Any, fingerprint: str) -> bool:
    """Whether the item's stored result came from the same analysis of the same audio
    (its blend may still be stale: :func:`needs_reblend`)."""
    if not has_result(item):
        return False
    stored = item.get(FINGERPRINT)
    analysis, _, audio = fingerprint.rpartition("-")
    return bool(str(stored).rpartition("-")[0] == analysis and _describes(item, audio))


def audio_changed(item: Any, path: bytes | str | None = None) -> bool:
    """Whether the item's file (or ``path``) is no longer the audio its stored result
    describes (``False`` when that cannot be told: no result, or no file to read)."""
    if not item.get(FINGERPRINT):
        return False
    state = file_state(item.path if path is None else path, item)
    return state is not None and not _describes(item, state.identity)


def refresh_identity(item: Any, path: bytes | str | None = None) -> None:
    """Take the identity of the item's file again after a write that kept its audio (the
    tags are bytes of the file too), so the next run does not analyse it again.

    Only for a stored result that described the file before the write
    (:func:`audio_changed` is ``False``): it still describes it.
    """
    fingerprint = item.get(FINGERPRINT)
    if not fingerprint:
        return
    state = file_state(item.path if path is None else path)
    if state is None:
        return
    item[FINGERPRINT] = f"{str(fingerprint).rpartition('-')[0]}-{state.identity}"
    item[AUDIO_FILE] = state.stat


def needs_reblend(item: Any, blend_fingerprint: str) -> bool:
    """Whether a current analysis was blended with other weights or rules than these."""
    return bool(item.get(BLEND) != blend_fingerprint)


def stored_evidence(item: Any) -> Evidence | None:
    """The item's stored evidence (``None``: none, or unreadable: analyse it again)."""
    text = item.get(EVIDENCE)
    if not text:
        return None
    try:
        return evidence_codec.decode(text)
    except evidence_codec.EvidenceFormatError:
        return None


def format_scores(ranking: Iterable[tuple[str, float]]) -> str:
    """``"Country 0.2697, Hip Hop 0.2210"``: readable in ``beet ls -f``, and parsed back."""
    return ", ".join(f"{display_name(genre)} {score:.4f}" for genre, score in ranking)


def parse_scores(text: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for part in (text or "").split(", "):
        name, _, value = part.rpartition(" ")
        try:
            scores[name.lower()] = float(value)
        except ValueError:
            continue
    return scores


def format_moods(scores: Iterable[tuple[str, float]]) -> str:
    """``"tender 0.0440, sad 0.0100"``: every mood's score, best first."""
    return ", ".join(f"{mood} {score:.4f}" for mood, score in scores)


def result_values(result: TrackResult, fingerprint: str) -> dict[str, Any]:
    """The field values a result gives an item: each field's of :data:`FIELDS`, and the
    analysis fingerprint.

    ``None`` marks a field to remove: what was not measured (mood and vocals without an
    AudioSet tagger, a tempo where none was heard) is absent, not guessed, and an older
    run's value must not linger.
    """
    values = {
        field.name: field.value(result)
        for field in FIELDS
        if field.of_result is not None or field.of_decision is not None
    }
    values[FINGERPRINT] = fingerprint
    return values


def decision_values(decision: EnsembleResult) -> dict[str, Any]:
    """The field values that come from the blend alone (what a re-blend changes)."""
    return {
        field.name: field.of_decision(decision) for field in FIELDS if field.of_decision is not None
    }


def report(result: TrackResult) -> dict[str, Any]:
    """``--report``'s JSON object for a result: every result field's entry
    (:attr:`OutputField.report`), with the components' details (:func:`.analyzer.details`)."""
    from .analyzer import details

    entries: dict[str, Any] = {}
    for field in FIELDS:
        if field.report is not None and field.report.key not in entries:
            entries[field.report.key] = field.report.value(result)
    return {**details(result), **entries}


def _measured(item: Any, field: OutputField) -> bool:
    """Whether the item's own (not its album's) value of a field was measured: stored, and
    not the null that beets reads from a file without the tag (``0.0``, ``""``, ``[]``)."""
    value = item.get(field.name, with_album=False)
    if field.measured_with is not None:
        return value is not None and bool(item.get(field.measured_with, with_album=False))
    return bool(value)


def drop_unmeasured(item: Any) -> None:
    """Remove from an item the genrescore fields beets read from a file that lacks their
    tags (nulls: ``0.0``, ``""``, ``[]``), so that a track is not stored with a tempo of 0 or
    an empty genre it was never given; values the file does hold stay."""
    own = item.keys(with_album=False)
    for field in FIELDS:
        if field.tag is not None and field.name in own and not _measured(item, field):
            del item[field.name]


def file_tags(item: Any, tags: dict[str, Any]) -> None:
    """Make a tag write (``tags``, beets' ``write`` event) hold only what was measured.

    A genrescore tag whose value the item's analysis did not measure is removed from the
    file (``None``): re-analysed with a model that hears no vocals, the file must not keep
    the vocals of the run before. On an item genrescore never analysed such a value (the
    null beets read from a file without the tag, or its album's) is not written, and the
    file keeps what it has.
    """
    analysed = bool(item.get(FINGERPRINT, with_album=False))
    for field in FIELDS:
        if field.tag is None or _measured(item, field):
            continue
        if analysed:
            tags[field.name] = None
        else:
            tags.pop(field.name, None)


def reblended(item: Any, config: EnsembleConfig) -> EnsembleResult | None:
    """An item's stored evidence blended with ``config``.

    ``None`` when it has no readable evidence (it must be analysed again) or the evidence
    gives no genre under these weights (every weight of what it has set to 0).
    """
    evidence = stored_evidence(item)
    if evidence is None:
        return None
    try:
        return blend(evidence, config)
    except NoEvidence:
        return None


def reblend_values(item: Any, config: EnsembleConfig) -> dict[str, Any] | None:
    """An item's blend-dependent values from :func:`reblended` (``None`` as there)."""
    decision = reblended(item, config)
    return None if decision is None else decision_values(decision)


def new_genres(
    current: Sequence[str], detected: Sequence[str], previous: Sequence[str], policy: GenresPolicy
) -> list[str] | None:
    """beets' ``genres`` after applying the policy, or ``None`` to leave them alone.

    Under ``fill``, genres that equal genrescore's own previous top list count as empty: they
    were filled by us, so a new analysis may refresh them.
    """
    current = list(current or [])
    if policy is GenresPolicy.KEEP:
        return None
    if policy is GenresPolicy.OVERWRITE:
        return list(detected)
    if policy is GenresPolicy.MERGE:
        seen = {genre.lower() for genre in current}
        return current + [genre for genre in detected if genre.lower() not in seen]
    if not current or (previous and current == list(previous)):
        return list(detected)
    return None


def new_bpm(current: Any, detected: float, previous: Any, policy: BpmPolicy) -> int | None:
    """beets' ``bpm`` after applying the policy, or ``None`` to leave it alone.

    Under ``fill``, a ``bpm`` that equals genrescore's own previous tempo counts as empty:
    it was filled by us. A tempo of 0 (none measured) never replaces anything.
    """
    bpm = round(detected)
    if bpm <= 0 or policy is BpmPolicy.KEEP:
        return None
    if policy is BpmPolicy.OVERWRITE:
        return bpm
    try:
        value = int(current or 0)
    except (TypeError, ValueError):
        value = 0
    if value == 0 or (previous and value == round(float(previous))):
        return bpm
    return None


def is_uncertain(values: Mapping[str, Any], min_confidence: float) -> bool:
    """Whether a result is too unsure to touch ``genres`` (``min_confidence`` 0: never)."""
    return float(values[CONFIDENCE]) < min_confidence


def apply_result(
    obj: Any,
    values: Mapping[str, Any],
    policy: GenresPolicy,
    *,
    bpm_policy: BpmPolicy = BpmPolicy.KEEP,
    min_confidence: float = 0.0,
) -> None:
    """Set a result's values, and the policies' ``genres`` and ``bpm``, on an Item or Album.

    Nothing is stored. Below ``min_confidence`` the ``genrescore_*`` fields are set but
    ``genres`` is left alone. ``bpm`` is set only when ``values`` has a tempo (items).
    """
    genres = None
    if not is_uncertain(values, min_confidence):
        genres = new_genres(obj.get("genres") or [], values[TOP], obj.get(TOP) or [], policy)
    bpm = None
    if values.get(BPM) is not None:  # None: no tempo measured, nothing to set
        bpm = new_bpm(obj.get(BEETS_BPM), values[BPM], obj.get(BPM), bpm_policy)
    for key, value in values.items():
        if value is not None:
            obj[key] = value
        elif key in obj:  # stored ones only: a typed field reads as its null
            del obj[key]
    current = list(obj.get("genres") or [])
    if genres is not None and genres != current:
        if GENRES_WRITTEN not in obj or current != list(obj.get(GENRES_WRITTEN) or []):
            obj[GENRES_BEFORE] = current  # the user's (or another plugin's), kept
        obj["genres"] = genres
        obj[GENRES_WRITTEN] = genres
    if bpm is not None and bpm != obj.get(BEETS_BPM):
        obj[BEETS_BPM] = bpm


def user_genres(item: Any) -> list[str]:
    """The item's (or album's) ``genres`` that genrescore did not write.

    Its genres as they are, unless genrescore wrote them and nobody changed them since: then
    the genres they were before genrescore first changed them (empty when it filled empty
    ones). Results stored before this was tracked count genres equal to genrescore's own top
    list as genrescore's.
    """
    current = list(item.get("genres") or [])
    if GENRES_WRITTEN not in item:
        return [] if current and current == list(item.get(TOP) or []) else current
    if current != list(item.get(GENRES_WRITTEN) or []):
        return current
    return list(item.get(GENRES_BEFORE) or [])


def _distribution(item: Any, config: EnsembleConfig) -> dict[str, float]:
    """A track's full genre distribution: its evidence blended again, or (stored before
    evidence was kept) its stored top scores."""
    decision = reblended(item, config)
    if decision is not None:
        return decision.distribution
    scores = parse_scores(item.get(SCORES) or "")
    return scores or {str(item.get(GENRE)).lower(): float(item.get(CONFIDENCE) or 0.0)}


#: The fields :func:`apply_result` may read or change on a re-blend, besides the values'.
_POLICY_FIELDS = ("genres", TOP, GENRES_WRITTEN, GENRES_BEFORE)


def planned_changes(
    item: Any,
    values: Mapping[str, Any],
    policy: GenresPolicy,
    *,
    min_confidence: float = 0.0,
) -> dict[str, Any]:
    """The fields :func:`apply_result` would change on ``item``, and their new values,
    without touching it (``None``: the field is removed)."""
    present = item.keys(with_album=False)  # once: each `in item` builds the key set again
    before = {key: item[key] for key in {*values, *_POLICY_FIELDS} if key in present}
    after = dict(before)
    apply_result(after, values, policy, min_confidence=min_confidence)
    changes = {key: value for key, value in after.items() if before.get(key) != value}
    changes.update(dict.fromkeys(before.keys() - after.keys()))
    return changes


@contextlib.contextmanager
def storing(lib: Any) -> Iterator[None]:
    """A transaction that stores everything in it or nothing, and stops on a full disk.

    beets' own transaction commits what ran before an exception left it: an item half
    stored. Here a failing statement first rolls the transaction back (the outermost one:
    inside a chunk's transaction, the chunk); SQLite's "database or disk is full" becomes
    :class:`LibraryFull`, which stops the command with one line.
    """
    try:
        with lib.transaction():
            try:
                yield
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    lib._connection().rollback()
                raise
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc):  # SQLITE_FULL: "database or disk is full"
            raise
        with contextlib.suppress(sqlite3.Error):
            lib._connection().rollback()  # the commit itself may be what failed
        raise LibraryFull(lib.path, str(exc)) from exc


def store_changes(lib: Any, changes: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
    """Store several items' changed fields in one transaction.

    The SQL beets' ``Model.store`` runs, with beets' own types, without building each item's
    full set of dirty fields: a re-blend of 10,000 items would spend most of its time there
    (``benchmarks/reblend.py``). Like ``Item.__setitem__``, a change to a field that is a
    file tag marks the item's file as out of date (``mtime`` 0). Listeners of beets'
    ``database_change`` event hear once per call.
    """
    if not changes:
        return
    file_tags = frozenset(MediaFile.fields())  # with the plugin's own tags, once registered
    inserts: list[tuple[Any, ...]] = []
    deletes: list[tuple[Any, ...]] = []
    updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for item, fields in changes:
        assignments: dict[str, Any] = {}
        for key, value in fields.items():
            if key in Item._fields:
                assignments[key] = item._type(key).to_sql(value)
            elif value is None:
                deletes.append((item.id, key))
            else:
                inserts.append((item.id, key, item._type(key).to_sql(value)))
        if file_tags.intersection(fields):
            assignments["mtime"] = 0
        if assignments:
            updates.setdefault(tuple(assignments), []).append((*assignments.values(), item.id))
    with storing(lib), lib.transaction() as tx:
        tx.mutate_many(
            "INSERT INTO item_attributes (entity_id, key, value) VALUES (?, ?, ?)", inserts
        )
        tx.mutate_many("DELETE FROM item_attributes WHERE entity_id=? AND key=?", deletes)
        for columns, rows in updates.items():
            assigned = ",".join(f"{column}=?" for column in columns)
            tx.mutate_many(f"UPDATE items SET {assigned} WHERE id=?", rows)
    plugins.send("database_change", lib=lib, model=changes[-1][0])


def album_values(items: Iterable[Any], config: EnsembleConfig) -> dict[str, Any] | None:
    """An album's values from its analysed tracks (``None``: none analysed).

    The mean of the tracks' full genre distributions, so a genre that is every track's
    close second counts as such.
    """
    tracks = []
    methods = set()
    for item in items:
        if not item.get(GENRE):
            continue
        tracks.append((_distribution(item, config), list(item.get(INSTRUMENTS) or [])))
        methods.add(item.get(METHOD))
    if not tracks:
        return None
    summary = aggregate(tracks, config.count)
    return {
        GENRE: display_name(summary.genre),
        CONFIDENCE: round(summary.confidence, 4),
        TOP: [display_name(genre) for genre in summary.top],
        INSTRUMENTS: list(summary.instruments),
        METHOD: methods.pop() if len(methods) == 1 else "mixed",
        SCORES: format_scores(summary.ranking[: len(summary.top)]),
    }
