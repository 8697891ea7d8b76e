"""--evaluate: the user's genres read through lastgenre's tree, agreement counted by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from beets.test.helper import PluginTestHelper

from beetsplug.genrescore.scoring import evaluate as ev
from beetsplug.genrescore.scoring.taxonomy import GENRES

# lastgenre's data files, found without importing it (it needs pylast).
_SPEC = importlib.util.find_spec("beetsplug.lastgenre")
assert _SPEC is not None
assert _SPEC.submodule_search_locations
LASTGENRE = Path(next(iter(_SPEC.submodule_search_locations)))


@pytest.fixture(scope="module")
def tree() -> ev.GenreTree:
    return ev.GenreTree.from_data(
        yaml.safe_load((LASTGENRE / "genres-tree.yaml").read_text()),
        yaml.safe_load((LASTGENRE / "aliases.yaml").read_text()),
    )


# (the user's genres, the canonical genres that agree with them), on beets' real tree.
ACCEPTED = [
    # Up: a sub-genre counts for its canonical ancestors.
    (["Bebop"], {"jazz"}),
    (["Rap"], {"hip hop"}),  # not in lastgenre's tree: the taxonomy's alias
    (["Deep House"], {"electronic"}),
    (["Bluegrass"], {"bluegrass", "country"}),
    (["Progressive Bluegrass"], {"bluegrass", "country"}),
    (["Neo Soul"], {"soul", "r&b"}),
    (["Black Metal"], {"heavy metal", "rock"}),
    # Down: a canonical genre below the user's label is a more precise answer, not a wrong one.
    (["Country"], {"country", "bluegrass"}),
    (["Rock"], {"rock", "heavy metal", "punk rock"}),
    (["R&B"], {"r&b", "soul", "funk"}),
    # Sideways never: soul and funk are siblings under r&b.
    (["Soul"], {"soul", "r&b"}),
    # lastgenre's aliases: variant spellings.
    (["Hip-Hop"], {"hip hop"}),
    (["dnb"], {"electronic"}),
    (["rnb"], {"r&b", "soul", "funk"}),
    (["Electronic Music"], {"electronic", "disco", "ambient"}),
    # The models' own folds count upwards only: indie is rock, heavy metal is not indie.
    (["indie"], {"rock"}),
    # Several labels: the union.
    (["Bebop", "Bluegrass"], {"jazz", "bluegrass", "country"}),
    # Outside the vocabulary: nothing (reported as unknown).
    (["Comedy"], set()),
    (["no such genre"], set()),
    ([], set()),
]


@pytest.mark.parametrize(("labels", "expected"), ACCEPTED)
def test_accepted_on_lastgenres_tree(
    tree: ev.GenreTree, labels: list[str], expected: set[str]
) -> None:
    assert ev.accepted(labels, tree) == expected


def test_implied_is_the_upward_half(tree: ev.GenreTree) -> None:
    assert ev.implied(["Country"], tree) == {"country"}
    assert ev.implied(["Bluegrass"], tree) == {"bluegrass", "country"}
    assert ev.unknown(["Bebop", "Comedy", "K-Pop"], tree) == ["Comedy", "K-Pop"]


def test_every_tree_node_maps_inside_the_vocabulary_and_every_genre_accepts_itself(
    tree: ev.GenreTree,
) -> None:
    for node in tree.parents:
        accepted = ev.accepted([node], tree)
        assert accepted <= set(GENRES)
        assert ev.implied([node], tree) <= accepted
    for genre in GENRES:
        assert genre in ev.accepted([genre.title()], tree)
    # Most of lastgenre's vocabulary reaches a canonical genre.
    mapped = sum(bool(ev.implied([node], tree)) for node in tree.parents)
    assert mapped / len(tree.parents) > 0.6


def test_without_lastgenres_data_the_canonical_parents_still_hold() -> None:
    bare = ev.GenreTree.from_data()
    assert ev.accepted(["Bluegrass"], bare) == {"bluegrass", "country"}
    assert ev.accepted(["Bebop"], bare) == set()


def test_a_name_under_two_parents_counts_for_both() -> None:
    tree = ev.GenreTree.from_data(
        [{"jazz": [{"jazz fusion": ["jazz rock"]}]}, {"rock": ["jazz rock"]}]
    )
    assert ev.accepted(["Jazz Rock"], tree) == {"jazz", "rock"}


def labelled(
    user: list[str], top: list[str], confidence: float = 0.5, name: str = "x"
) -> ev.Labelled:
    return ev.Labelled(name, tuple(user), tuple(top), confidence)


def test_evaluation_counts(tree: ev.GenreTree) -> None:
    items = [
        labelled(["Bebop"], ["jazz", "blues", "soul"], 0.8),  # top-1 and top-3
        labelled(["Deep House"], ["hip hop", "electronic", "pop"], 0.9, "a"),  # top-3 only
        labelled(["Country"], ["bluegrass", "country", "folk"], 0.6),  # more precise: agrees
        labelled(["Soul"], ["funk", "disco", "pop"], 0.7, "b"),  # a sibling: disagrees
        labelled(["Comedy"], ["pop", "rock", "folk"]),  # unknown: not compared
        labelled(["Rock"], []),  # not analysed
        labelled([], ["rock", "pop", "folk"]),  # no genres of its own
        labelled(["Classical"], ["electronic", "ambient", "pop"], 0.85, "c"),
    ]
    result = ev.evaluate(items, tree)
    assert (result.items, result.labelled, result.not_analysed, result.unmappable) == (8, 7, 1, 1)
    assert (result.compared, result.top1, result.top3) == (5, 2, 3)
    assert result.top1_rate == pytest.approx(0.4)
    assert [d.name for d in result.disagreements] == ["a", "c", "b"]
    assert set(result.confusions) == {
        ("electronic", "hip hop", 1),
        ("soul", "funk", 1),
        ("classical", "electronic", 1),
    }
    assert (result.unknown_labels, result.unknown_total) == ((("comedy", 1),), 1)
    scores = {score.genre: score for score in result.per_genre}
    # Said "bluegrass" once, rightly (the user said country): precision 1.
    assert (scores["bluegrass"].predicted, scores["bluegrass"].precision) == (1, 1.0)
    # Labelled soul once; genrescore said funk, a sibling off soul's line.
    assert (scores["soul"].labelled, scores["soul"].recall) == (1, 0.0)
    assert "r&b" not in scores  # Soul counts for its most precise genre only
    assert scores["electronic"].labelled == 1
    assert scores["electronic"].predicted == 1
    assert scores["electronic"].precision == 0.0


def test_only_the_most_confident_disagreements_are_kept(tree: ev.GenreTree) -> None:
    items = [labelled(["Jazz"], ["rock"], c / 100, str(c)) for c in range(50)]
    result = ev.evaluate(items, tree, shown=3)
    assert [d.name for d in result.disagreements] == ["49", "48", "47"]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([], "the query matched no item"),
        ([labelled([], ["rock"])], "none of the 1 items has genres of its own"),
        ([labelled(["Jazz"], [])], "none of the 1 items with genres of their own has been"),
        ([labelled(["Comedy"], ["rock"])], "outside genrescore's vocabulary"),
    ],
)
def test_nothing_to_compare_says_why(
    tree: ev.GenreTree, items: list[ev.Labelled], reason: str
) -> None:
    lines = ev.format_evaluation(ev.evaluate(items, tree))
    assert lines[0].startswith("nothing to compare")
    assert reason in lines[0]


# A library with known genres. For each item: its own genres, genrescore's top 3 (display
# names, as stored), its confidence; the comment is the hand count.
LIBRARY: list[tuple[str, list[str], list[str], float]] = [
    ("bebop", ["Bebop"], ["Jazz", "Blues", "Soul"], 0.8),  # top-1 yes, top-3 yes
    ("house", ["Deep House"], ["Hip Hop", "Electronic", "Pop"], 0.9),  # no, yes
    ("country", ["Country"], ["Bluegrass", "Country", "Folk"], 0.6),  # yes (below), yes
    ("bluegrass", ["Bluegrass"], ["Country", "Bluegrass", "Folk"], 0.5),  # yes (above), yes
    ("soul", ["Soul"], ["Funk", "Disco", "Pop"], 0.7),  # no (sibling), no
    ("comedy", ["Comedy"], ["Pop", "Rock", "Folk"], 0.5),  # unknown genre: not compared
    ("unanalysed", ["Rock"], [], 0.0),  # not analysed: not compared
    ("unlabelled", [], ["Rock", "Pop", "Folk"], 0.5),  # no genres: not compared
    # genres equal to genrescore's own top list: written by genrescore, not the user's
    ("filled", ["Pop", "Rock", "Folk"], ["Pop", "Rock", "Folk"], 0.5),
    ("hiphop", ["Hip-Hop", "Rap"], ["Hip Hop", "Pop", "Rock"], 0.95),  # yes, yes
    ("metal", ["Heavy Metal"], ["Rock", "Heavy Metal", "Punk Rock"], 0.4),  # yes (parent), yes
    ("classical", ["Classical"], ["Electronic", "Ambient", "Pop"], 0.85),  # no, no
]
# Compared: bebop, house, country, bluegrass, soul, hiphop, metal, classical = 8.
# Top-1: bebop, country, bluegrass, hiphop, metal = 5 of 8; top-3: those and house = 6 of 8.


class TestEvaluateCommand(PluginTestHelper):
    plugin: ClassVar[str] = "genrescore"

    def add(self, title: str, genres: list[str], top: list[str], confidence: float) -> None:
        values: dict[str, Any] = {"title": title, "artist": "Someone", "genres": genres}
        if top:
            values.update(
                genrescore_genre=top[0], genrescore_top3=top, genrescore_confidence=confidence
            )
        self.add_item(**values)

    def output(self, *args: str) -> str:
        self.capsys.readouterr()
        self.run_command("genrescore", *args)
        return str(self.capsys.readouterr().out)

    @pytest.fixture(autouse=True)
    def _capture(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def snapshot(self) -> list[dict[str, Any]]:
        return [dict(item) for item in self.lib.items()]

    def test_agreement_is_the_hand_count(self) -> None:
        for row in LIBRARY:
            self.add(*row)
        before = self.snapshot()
        output = self.output("--evaluate")
        assert "Compared 8 items with genres of their own (of 12 in the query; 10 labelled" in (
            output
        )
        assert "1 not analysed yet, 1 with genres outside the vocabulary" in output
        assert "Top-1 agreement: 5/8 (62.5 %)" in output
        assert "Top-3 agreement: 6/8 (75.0 %)" in output
        assert "Electronic -> Hip Hop: 1" in output
        assert "Soul -> Funk: 1" in output
        disagreements = output.split("Most confident disagreements")[1]
        order = [disagreements.index(f"Someone - {t}") for t in ("house", "classical", "soul")]
        assert order == sorted(order)
        assert "comedy (1)" in output
        assert self.snapshot() == before  # read-only

    def test_a_query_narrows_it(self) -> None:
        for row in LIBRARY:
            self.add(*row)
        output = self.output("--evaluate", "title:bluegrass")
        assert "Top-1 agreement: 1/1 (100.0 %)" in output

    def test_nothing_to_compare_is_said_plainly(self) -> None:
        self.add("unlabelled", [], ["Rock", "Pop", "Folk"], 0.5)
        self.add("filled", ["Pop", "Rock", "Folk"], ["Pop", "Rock", "Folk"], 0.5)
        output = self.output("--evaluate")
        assert output.startswith(
            "nothing to compare: none of the 2 items has genres of its own "
            "(genres genrescore wrote itself do not count)"
        )
        assert "Top-1" not in output


def test_reliability_bins_and_calibration_error_by_hand() -> None:
    # Two tracks at 0.15 (one right), three at 0.95 (all right), one at exactly 1.0 (the last
    # bin, wrong): bins [0.1, 0.2) and [0.9, 1.0]; ECE = 2/6 |0.15 - 0.5| + 4/6 |0.9625 - 0.75|.
    bins = ev.reliability(
        [0.15, 0.15, 0.95, 0.95, 0.95, 1.0], [True, False, True, True, True, False]
    )
    assert [(b.low, b.high, b.items, b.right) for b in bins] == [
        (0.1, 0.2, 2, 1),
        (0.9, 1.0, 4, 3),
    ]
    assert bins[1].confidence == pytest.approx(0.9625)
    assert ev.calibration_error(bins) == pytest.approx(2 / 6 * 0.35 + 4 / 6 * 0.2125)
    assert ev.calibration_error(()) is None


def test_the_evaluator_bins_the_compared_items_by_confidence() -> None:
    tree = ev.GenreTree.from_data()
    items = [
        ev.Labelled("a", ("Jazz",), ("jazz",), 0.82),
        ev.Labelled("b", ("Jazz",), ("rock",), 0.88),
        ev.Labelled("c", ("Rock",), ("rock",), 0.31),
        ev.Labelled("d", (), ("rock",), 0.5),  # no genres of its own: not compared
    ]
    result = ev.evaluate(items, tree)
    assert [(b.low, b.items, b.right) for b in result.reliability] == [(0.3, 1, 1), (0.8, 2, 1)]
    assert result.calibration_error == pytest.approx(1 / 3 * 0.69 + 2 / 3 * 0.35)
