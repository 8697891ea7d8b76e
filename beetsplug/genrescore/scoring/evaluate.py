"""How often genrescore agrees with the genres a user already has, through lastgenre's tree.

A user's ``genres`` come from lastgenre, MusicBrainz or their own hand, in a vocabulary far
finer than genrescore's twenty canonical genres (``scoring/taxonomy.py``). They are read
through beets' own lastgenre data: ``genres-tree.yaml`` (which genre is a kind of which) and
``aliases.yaml`` (variant spellings: ``hip-hop``, ``dnb``), handed in by the glue as parsed
data (this module never reads a file).

The rule (:func:`accepted`): a canonical genre agrees with the user's labels when it lies on
one line of descent with one of them in the tree.

- Up: a user's sub-genre counts for its canonical ancestors. ``Bebop`` -> ``jazz``,
  ``Deep House`` -> ``electronic``, ``Bluegrass`` -> ``bluegrass`` and ``country``.
- Down: a canonical genre below the user's label counts too. The user says ``Country``, we say
  ``bluegrass``: bluegrass *is* country (lastgenre's tree says so), so the answer satisfies
  the user's claim, only more precisely. ``Rock`` accepts ``heavy metal`` and ``punk rock``;
  ``Electronic`` accepts ``disco`` and ``ambient``.
- Sideways never: ``Bluegrass`` does not accept ``folk``, ``Soul`` does not accept ``funk``
  (siblings under ``r&b``); the branch of the user's label, not the whole family, agrees.

A label the models' own tables fold into a canonical genre (``indie`` -> ``rock``:
:func:`taxonomy.genre_for_label`) counts for that genre and its ancestors as well (upwards
only: indie is rock, heavy metal is not indie), so a user is held to the same reading of a
word as the models are. A label that reaches no canonical
genre either way (``Comedy``, ``Soundtrack``, a typo) is *unknown*: counted and reported,
never silently dropped, and an item whose labels are all unknown is not compared.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .taxonomy import GENRE_PARENTS, GENRES, display_name, genre_for_label, normalize_label

#: The most confident disagreements kept for the listing: enough to spot a pattern by eye
#: (a whole album, one artist), few enough to read.
DISAGREEMENTS_SHOWN = 10
#: Confusion pairs listed, most frequent first.
CONFUSIONS_SHOWN = 10
#: Unknown user genres listed by name, most frequent first (all of them are counted).
UNKNOWN_SHOWN = 10
#: Equal-width confidence bins of the reliability diagram and the expected calibration
#: error: ten, as docs/accuracy.md's (benchmarks/accuracy.py), so the figures compare.
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class GenreTree:
    """A genre hierarchy: every node's parents (a name may sit under several) and aliases.

    Build it with :meth:`from_data` from lastgenre's parsed ``genres-tree.yaml`` (and
    ``aliases.yaml``); the canonical genres' own parents (``taxonomy.GENRE_PARENTS``) are
    always part of it, so an empty tree still knows that bluegrass is country.
    """

    parents: Mapping[str, frozenset[str]]
    #: lastgenre's alias patterns with their replacement templates, tried in order; the first
    #: full match wins (as lastgenre's ``normalize_genre`` does).
    aliases: tuple[tuple[re.Pattern[str], str], ...] = ()
    #: normalize_label(node) -> node, for spellings that differ only in case or separators.
    _index: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, tree: Any = None, aliases: Any = None) -> GenreTree:
        """A tree from lastgenre's parsed YAML.

        Parameters
        ----------
        tree
            ``genres-tree.yaml`` as ``yaml.safe_load`` gives it: nested lists of
            ``{name: [children]}`` mappings and leaf strings. ``None``: the canonical
            genres' parents alone.
        aliases
            ``aliases.yaml`` parsed: replacement template -> list of regular expressions.
        """
        parents: dict[str, set[str]] = {
            genre: set() if parent is None else {parent} for genre, parent in GENRE_PARENTS.items()
        }

        def walk(node: Any, parent: str | None) -> None:
            if isinstance(node, Mapping):
                for name, children in node.items():
                    walk(str(name), parent)
                    walk(children, str(name).strip().lower())
            elif isinstance(node, list):
                for child in node:
                    walk(child, parent)
            elif isinstance(node, str):
                name = node.strip().lower()
                parents.setdefault(name, set())
                if parent is not None and parent != name:
                    parents[name].add(parent)

        walk(tree, None)
        patterns: list[tuple[re.Pattern[str], str]] = []
        if isinstance(aliases, Mapping):
            for template, expressions in aliases.items():
                for expression in expressions or ():
                    patterns.append((re.compile(str(expression), re.IGNORECASE), str(template)))
        frozen = {name: frozenset(above) for name, above in parents.items()}
        index: dict[str, str] = {}
        for name in frozen:
            index.setdefault(normalize_label(name), name)
        return cls(parents=frozen, aliases=tuple(patterns), _index=index)

    def node(self, label: str) -> str | None:
        """The tree node a user's label names: as written, through an alias, or respelled."""
        text = label.strip().lower()
        if text in self.parents:
            return text
        for pattern, template in self.aliases:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            try:
                text = match.expand(template).lower()
            except (re.error, IndexError):
                continue  # a broken template: lastgenre skips it too
            break
        if text in self.parents:
            return text
        return self._index.get(normalize_label(text))

    def lineage(self, node: str) -> frozenset[str]:
        """The node and every ancestor of it, along all its parents."""
        seen = {node}
        todo = [node]
        while todo:
            for parent in self.parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return frozenset(seen)


def _canonical_lineage(tree: GenreTree) -> dict[str, frozenset[str]]:
    return {genre: tree.lineage(genre) for genre in GENRES}


def implied(user_genres: Sequence[str], tree: GenreTree) -> frozenset[str]:
    """The canonical genres the user's labels say the track is (the labels and their ancestors).

    ``["Bluegrass"]`` -> ``{"bluegrass", "country"}``; ``["Country"]`` -> ``{"country"}``.
    """
    found: set[str] = set()
    canonical = set(GENRES)
    for label in user_genres:
        node = tree.node(label)
        if node is not None:
            found |= tree.lineage(node) & canonical
        genre = genre_for_label(label)
        if genre is not None:
            found |= tree.lineage(genre) & canonical
    return frozenset(found)


def accepted(user_genres: Sequence[str], tree: GenreTree) -> frozenset[str]:
    """The canonical genres that count as agreeing with the user's labels.

    A canonical genre is accepted when it lies on one line of descent with a label: the
    label's canonical ancestors (``Bebop`` -> ``jazz``; ``Bluegrass`` -> ``bluegrass``,
    ``country``) and the canonical genres below it (``Country`` -> ``country``,
    ``bluegrass``). Siblings are not (``Soul`` does not accept ``funk``). Labels the
    taxonomy folds into a genre (``indie`` -> ``rock``) count for it and its line too.
    Empty when no label reaches the vocabulary (see :func:`unknown`).
    """
    lineages = _canonical_lineage(tree)
    canonical = set(GENRES)
    found: set[str] = set()
    for label in user_genres:
        node = tree.node(label)
        if node is not None:
            found |= tree.lineage(node) & canonical
            found |= {genre for genre, line in lineages.items() if node in line}
        # A fold names a genre the label is a kind of (``indie`` is rock, not every rock):
        # it counts upwards only.
        genre = genre_for_label(label)
        if genre is not None:
            found |= tree.lineage(genre) & canonical
    return frozenset(found)


def unknown(user_genres: Sequence[str], tree: GenreTree) -> list[str]:
    """The user's labels that reach no canonical genre (not compared, but reported)."""
    return [label for label in user_genres if not implied([label], tree)]


@dataclass(frozen=True)
class Labelled:
    """One item as the evaluation sees it.

    ``top`` is genrescore's ranking in canonical (lower-case) names, best first; empty when
    the item has not been analysed. ``name`` is how a listing shows the item.
    """

    name: str
    user_genres: tuple[str, ...]
    top: tuple[str, ...]
    confidence: float


def _share(part: int, whole: int) -> float | None:
    """``part / whole``, or ``None`` when there is nothing to divide by."""
    return part / whole if whole else None


@dataclass(frozen=True)
class GenreScore:
    """Top-1 precision and recall of one canonical genre.

    ``predicted``: items genrescore put first in this genre; ``right`` of them the user's
    labels accept. ``labelled``: items whose labels say this genre most precisely (a
    ``Bluegrass`` track counts for bluegrass, not for country too); ``found`` of them got a
    top-1 on its line (itself, an ancestor or a descendant, the rule of :func:`accepted`).
    """

    genre: str
    predicted: int
    right: int
    labelled: int
    found: int

    @property
    def precision(self) -> float | None:
        return _share(self.right, self.predicted)

    @property
    def recall(self) -> float | None:
        return _share(self.found, self.labelled)


@dataclass(frozen=True)
class ReliabilityBin:
    """Tracks whose confidence fell in ``[low, high)`` (the last bin includes 1.0), and how
    many of them genrescore's top-1 got right: one point of the reliability diagram."""

    low: float
    high: float
    items: int
    #: The mean confidence of those tracks.
    confidence: float
    right: int

    @property
    def accuracy(self) -> float:
        return self.right / self.items if self.items else 0.0


def reliability_bin(confidence: float, bins: int = RELIABILITY_BINS) -> int:
    """The bin a confidence falls in: ``[0, 1/bins)`` first, 1.0 in the last."""
    return max(0, min(int(confidence * bins), bins - 1))


def reliability(
    confidence: Sequence[float], right: Sequence[bool], bins: int = RELIABILITY_BINS
) -> tuple[ReliabilityBin, ...]:
    """The reliability diagram's non-empty bins, lowest first."""
    items = [0] * bins
    total = [0.0] * bins
    hits = [0] * bins
    for value, ok in zip(confidence, right, strict=True):
        b = reliability_bin(value, bins)
        items[b] += 1
        total[b] += value
        hits[b] += bool(ok)
    return _bins(items, total, hits)


def _bins(
    items: Sequence[int], total: Sequence[float], hits: Sequence[int]
) -> tuple[ReliabilityBin, ...]:
    count = len(items)
    return tuple(
        ReliabilityBin(b / count, (b + 1) / count, items[b], total[b] / items[b], hits[b])
        for b in range(count)
        if items[b]
    )


def calibration_error(bins: Sequence[ReliabilityBin]) -> float | None:
    """Expected calibration error: the gap between confidence and accuracy in each bin,
    weighted by the bin's share of the tracks; ``None`` without tracks."""
    total = sum(b.items for b in bins)
    if not total:
        return None
    return sum(b.items / total * abs(b.confidence - b.accuracy) for b in bins)


@dataclass(frozen=True)
class Disagreement:
    name: str
    user_genres: tuple[str, ...]
    genre: str
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    """genrescore against the user's own genres over a set of items.

    ``items``: all items seen; ``labelled``: those with genres of the user's own;
    ``not_analysed``: labelled but without a genrescore result; ``unmappable``: labelled and
    analysed but no label reaches the vocabulary; ``compared`` = the rest, over which
    ``top1`` and ``top3`` count agreements.
    """

    items: int
    labelled: int
    not_analysed: int
    unmappable: int
    compared: int
    top1: int
    top3: int
    per_genre: tuple[GenreScore, ...]
    #: (the user's genre, genrescore's top-1, how many), most frequent first.
    confusions: tuple[tuple[str, str, int], ...]
    #: Top-1 disagreements, most confident first.
    disagreements: tuple[Disagreement, ...]
    #: (label as written, lower case; how many items carry it), most frequent first.
    unknown_labels: tuple[tuple[str, int], ...]
    #: Unknown labels: occurrences, and distinct names.
    unknown_total: int
    unknown_distinct: int
    #: Top-1 agreement by confidence (:func:`reliability`) over the compared items.
    reliability: tuple[ReliabilityBin, ...] = ()

    @property
    def calibration_error(self) -> float | None:
        """Expected calibration error of the stored confidence against the user's genres."""
        return calibration_error(self.reliability)

    @property
    def top1_rate(self) -> float | None:
        return _share(self.top1, self.compared)

    @property
    def top3_rate(self) -> float | None:
        return _share(self.top3, self.compared)


class Evaluator:
    """Accumulates :class:`Labelled` items one at a time (memory bounded by the vocabulary)."""

    def __init__(self, tree: GenreTree, *, shown: int = DISAGREEMENTS_SHOWN) -> None:
        self.tree = tree
        self.shown = shown
        self._lineages = _canonical_lineage(tree)
        # A canonical genre's line: itself, its ancestors and its descendants.
        self._line = {
            genre: frozenset(
                other
                for other, line in self._lineages.items()
                if other in self._lineages[genre] or genre in line
            )
            for genre in GENRES
        }
        self._cache: dict[
            tuple[str, ...], tuple[frozenset[str], frozenset[str], tuple[str, ...]]
        ] = {}
        self.items = self.labelled = self.not_analysed = self.unmappable = 0
        self.compared = self.top1 = self.top3 = 0
        self.predicted: Counter[str] = Counter()
        self.right: Counter[str] = Counter()
        self.labelled_as: Counter[str] = Counter()
        self.found: Counter[str] = Counter()
        self.confusions: Counter[tuple[str, str]] = Counter()
        self.unknown: Counter[str] = Counter()
        self._heap: list[tuple[float, int, Disagreement]] = []
        self._order = itertools.count()
        # The reliability diagram's counts: items, summed confidence, top-1 right, per bin.
        self._bin_items = [0] * RELIABILITY_BINS
        self._bin_confidence = [0.0] * RELIABILITY_BINS
        self._bin_right = [0] * RELIABILITY_BINS

    def _sets(
        self, labels: tuple[str, ...]
    ) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
        """What the labels imply, what they accept, and which of them are unknown (cached)."""
        if labels not in self._cache:
            if len(self._cache) > 10_000:  # bounded whatever the library's label variety
                self._cache.clear()
            self._cache[labels] = (
                implied(labels, self.tree),
                accepted(labels, self.tree),
                tuple(label.strip().lower() for label in unknown(labels, self.tree)),
            )
        return self._cache[labels]

    def add(self, item: Labelled) -> None:
        self.items += 1
        labels = tuple(label for label in item.user_genres if label.strip())
        if not labels:
            return
        self.labelled += 1
        says, ok, unknown_labels = self._sets(labels)
        self.unknown.update(unknown_labels)
        if not item.top:
            self.not_analysed += 1
            return
        if not says:
            self.unmappable += 1
            return
        self.compared += 1
        first = item.top[0]
        b = reliability_bin(item.confidence)
        self._bin_items[b] += 1
        self._bin_confidence[b] += item.confidence
        self._bin_right[b] += first in ok
        self.predicted[first] += 1
        leaves = _most_specific(says, self._lineages)
        for genre in leaves:
            self.labelled_as[genre] += 1
            if first in self._line.get(genre, ()):
                self.found[genre] += 1
        if first in ok:
            self.top1 += 1
            self.right[first] += 1
        else:
            self.confusions[(", ".join(sorted(leaves)), first)] += 1
            entry = (item.confidence, next(self._order))
            disagreement = Disagreement(item.name, labels, first, item.confidence)
            if len(self._heap) < self.shown:
                heapq.heappush(self._heap, (*entry, disagreement))
            elif self.shown and entry > self._heap[0][:2]:
                heapq.heapreplace(self._heap, (*entry, disagreement))
        if ok.intersection(item.top[:3]):
            self.top3 += 1

    def result(self) -> Evaluation:
        per_genre = tuple(
            GenreScore(
                genre,
                self.predicted[genre],
                self.right[genre],
                self.labelled_as[genre],
                self.found[genre],
            )
            for genre in GENRES
            if self.predicted[genre] or self.labelled_as[genre]
        )
        disagreements = tuple(entry[2] for entry in sorted(self._heap, key=lambda e: (-e[0], e[1])))
        return Evaluation(
            items=self.items,
            labelled=self.labelled,
            not_analysed=self.not_analysed,
            unmappable=self.unmappable,
            compared=self.compared,
            top1=self.top1,
            top3=self.top3,
            per_genre=per_genre,
            confusions=tuple(
                (user, ours, count)
                for (user, ours), count in self.confusions.most_common(CONFUSIONS_SHOWN)
            ),
            disagreements=disagreements,
            unknown_labels=tuple(self.unknown.most_common(UNKNOWN_SHOWN)),
            unknown_total=sum(self.unknown.values()),
            unknown_distinct=len(self.unknown),
            reliability=_bins(self._bin_items, self._bin_confidence, self._bin_right),
        )


def _most_specific(genres: frozenset[str], lineages: Mapping[str, frozenset[str]]) -> set[str]:
    """The genres no other one lies below: ``{"bluegrass", "country"}`` -> ``{"bluegrass"}``."""
    return {g for g in genres if not any(g != o and g in lineages[o] for o in genres)}


def evaluate(
    items: Iterable[Labelled], tree: GenreTree, *, shown: int = DISAGREEMENTS_SHOWN
) -> Evaluation:
    """Compare genrescore's rankings with the user's genres (see :func:`accepted`)."""
    evaluator = Evaluator(tree, shown=shown)
    for item in items:
        evaluator.add(item)
    return evaluator.result()


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100.0 * part / whole:.1f} %)" if whole else "-"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:5.1f} %"


def nothing_to_compare(evaluation: Evaluation) -> str | None:
    """Why nothing could be compared, in a sentence; ``None`` when something was."""
    if evaluation.compared:
        return None
    if not evaluation.items:
        return "nothing to compare: the query matched no item"
    if not evaluation.labelled:
        return (
            f"nothing to compare: none of the {evaluation.items} items has genres of its own "
            "(genres genrescore wrote itself do not count)"
        )
    if evaluation.not_analysed == evaluation.labelled:
        return (
            f"nothing to compare: none of the {evaluation.labelled} items with genres of their "
            "own has been analysed yet (run beet genrescore first)"
        )
    if evaluation.not_analysed:
        return (
            f"nothing to compare: none of the {evaluation.labelled} labelled items is both "
            "analysed and labelled with genres in genrescore's vocabulary"
        )
    return (
        f"nothing to compare: the genres of the {evaluation.labelled} labelled items are "
        "outside genrescore's vocabulary"
    )


def format_evaluation(evaluation: Evaluation) -> list[str]:
    """The evaluation as lines of text for the terminal."""
    lines: list[str] = []
    skipped = []
    if evaluation.not_analysed:
        skipped.append(f"{evaluation.not_analysed} not analysed yet")
    if evaluation.unmappable:
        skipped.append(f"{evaluation.unmappable} with genres outside the vocabulary")
    reason = nothing_to_compare(evaluation)
    if reason is not None:
        lines.append(reason + (f" ({', '.join(skipped)})" if skipped else ""))
    else:
        lines.append(
            f"Compared {evaluation.compared} items with genres of their own "
            f"(of {evaluation.items} in the query; {evaluation.labelled} labelled"
            + (f"; {', '.join(skipped)}" if skipped else "")
            + ")."
        )
        lines.append(f"Top-1 agreement: {_percent(evaluation.top1, evaluation.compared)}")
        lines.append(f"Top-3 agreement: {_percent(evaluation.top3, evaluation.compared)}")
        lines.append("")
        lines.append(f"{'genre':<16} {'precision':>9} {'recall':>8} {'ours':>6} {'yours':>6}")
        for score in evaluation.per_genre:
            lines.append(
                f"{display_name(score.genre):<16} {_rate(score.precision):>9} "
                f"{_rate(score.recall):>8} {score.predicted:>6} {score.labelled:>6}"
            )
        if evaluation.confusions:
            lines.append("")
            lines.append("Most frequent confusions (yours -> genrescore):")
            for user, ours, count in evaluation.confusions:
                lines.append(f"  {display_name(user)} -> {display_name(ours)}: {count}")
        if evaluation.disagreements:
            lines.append("")
            lines.append("Most confident disagreements (genrescore's confidence):")
            for entry in evaluation.disagreements:
                lines.append(
                    f"  {entry.confidence:.2f}  {entry.name}: yours {', '.join(entry.user_genres)}"
                    f"; genrescore {display_name(entry.genre)}"
                )
    if evaluation.unknown_total:
        names = ", ".join(f"{label} ({count})" for label, count in evaluation.unknown_labels)
        more = len(evaluation.unknown_labels) < evaluation.unknown_distinct
        lines.append("")
        lines.append(
            f"Genres of yours outside the vocabulary, not compared: {evaluation.unknown_distinct} "
            f"names on {evaluation.unknown_total} labels; most frequent: {names}"
            + (" ..." if more else "")
        )
    return lines
