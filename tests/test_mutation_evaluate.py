"""--evaluate's counts and report, word for word, on libraries counted by hand (mutation
survivors of scoring/evaluate.py; see tests/MUTATION.md). Every expected figure and line
below is written out from the items, not taken from the code."""

from __future__ import annotations

import pytest
import yaml

from beetsplug.genrescore.scoring import evaluate as ev

from .test_evaluate import LASTGENRE


@pytest.fixture(scope="module")
def aliases() -> dict[str, list[str]]:
    data: dict[str, list[str]] = yaml.safe_load((LASTGENRE / "aliases.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def tree_data() -> list[object]:
    data: list[object] = yaml.safe_load((LASTGENRE / "genres-tree.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def tree(tree_data: list[object], aliases: dict[str, list[str]]) -> ev.GenreTree:
    return ev.GenreTree.from_data(tree_data, aliases)


def item(name: str, user: list[str], top: list[str], confidence: float = 0.5) -> ev.Labelled:
    return ev.Labelled(name, tuple(user), tuple(top), confidence)


# (name, the user's genres, genrescore's ranking, confidence): the comments count by hand.
LIBRARY = [
    item("a", ["Country"], ["bluegrass", "country", "folk"], 0.6),  # right: below country
    item("b", ["Country"], ["country", "folk", "rock"], 0.7),  # right
    item("k", ["Bluegrass"], ["country", "folk", "pop"], 0.5),  # right: above bluegrass
    item("c", ["Soul", "Bebop"], ["funk", "jazz", "pop"], 0.9),  # wrong; jazz in the top 3
    item("d", ["Soul"], ["funk", "disco", "pop"], 0.9),  # wrong, top 3 too
    item("e", ["Soul"], ["funk", "soul", "pop"], 0.3),  # wrong; soul in the top 3
    item("f", ["Rock"], []),  # not analysed
    item("g", ["Jazz"], []),  # not analysed
    item("h", ["Comedy"], ["pop"]),  # outside the vocabulary
    item("i", ["Comedy", "Spoken Word"], ["pop"]),  # outside the vocabulary
    item("j", [], ["rock"]),  # no genres of its own
]
# Compared a, b, k, c, d, e = 6; top-1 a, b, k = 3; top-3 those, c and e = 5.
# Per genre (the label's most precise genre; "right"/"found" on one line of descent):
#   bluegrass: said once (a, right), labelled once (k, found: country is its parent)
#   country:   said twice (b, k, right), labelled twice (a, b, found both)
#   funk: said 3 times, never right; jazz: labelled once (c), soul: 3 times (c, d, e), not found.
REPORT = [
    "Compared 6 items with genres of their own (of 11 in the query; 10 labelled; "
    "2 not analysed yet, 2 with genres outside the vocabulary).",
    "Top-1 agreement: 3/6 (50.0 %)",
    "Top-3 agreement: 5/6 (83.3 %)",
    "",
    "genre            precision   recall   ours  yours",
    "Country            100.0 %  100.0 %      2      2",
    "Bluegrass          100.0 %  100.0 %      1      1",
    "Jazz                     -    0.0 %      0      1",
    "Soul                     -    0.0 %      0      3",
    "Funk                 0.0 %        -      3      0",
    "",
    "Most frequent confusions (yours -> genrescore):",
    "  Soul -> Funk: 2",
    "  Jazz, Soul -> Funk: 1",
    "",
    "Most confident disagreements (genrescore's confidence):",
    "  0.90  c: yours Soul, Bebop; genrescore Funk",
    "  0.90  d: yours Soul; genrescore Funk",
    "  0.30  e: yours Soul; genrescore Funk",
    "",
    "Genres of yours outside the vocabulary, not compared: 2 names on 3 labels; most "
    "frequent: comedy (2), spoken word (1)",
]


def test_the_report_a_user_reads_word_for_word(tree: ev.GenreTree) -> None:
    assert ev.format_evaluation(ev.evaluate(LIBRARY, tree)) == REPORT


def test_nothing_to_compare_names_what_was_skipped(tree: ev.GenreTree) -> None:
    lines = ev.format_evaluation(ev.evaluate([item("x", ["Jazz"], [])], tree))
    assert lines == [
        "nothing to compare: none of the 1 items with genres of their own has been analysed "
        "yet (run beet genrescore first) (1 not analysed yet)"
    ]
    lines = ev.format_evaluation(ev.evaluate([item("x", ["Comedy"], ["rock"])], tree))
    assert lines == [
        "nothing to compare: the genres of the 1 labelled items are outside genrescore's "
        "vocabulary (1 with genres outside the vocabulary)",
        "",
        "Genres of yours outside the vocabulary, not compared: 1 names on 1 labels; most "
        "frequent: comedy (1)",
    ]
    # Both kinds skipped: both named, and the first line claims neither alone.
    lines = ev.format_evaluation(
        ev.evaluate([item("x", ["Jazz"], []), item("y", ["Comedy"], ["rock"])], tree)
    )
    assert lines[0] == (
        "nothing to compare: none of the 2 labelled items is both analysed and labelled with "
        "genres in genrescore's vocabulary (1 not analysed yet, 1 with genres outside the "
        "vocabulary)"
    )
    lines = ev.format_evaluation(
        ev.evaluate([item("x", ["Jazz"], []), item("y", ["Comedy"], ["rock"])], tree)
    )
    assert lines[0].startswith("nothing to compare")
    assert lines[0].endswith("(1 not analysed yet, 1 with genres outside the vocabulary)")
    # Nothing skipped: no parenthesis.
    lines = ev.format_evaluation(ev.evaluate([item("x", [], ["rock"])], tree))
    assert lines == [
        "nothing to compare: none of the 1 items has genres of its own (genres genrescore "
        "wrote itself do not count)"
    ]


def test_ten_unknown_names_are_listed_whole_and_eleven_end_in_dots(tree: ev.GenreTree) -> None:
    ten = [f"zz{n}" for n in range(10)]
    lines = ev.format_evaluation(ev.evaluate([item("x", ["Jazz", *ten], ["jazz"])], tree))
    # Nothing skipped, nothing wrong: the first line has no skipped part, no confusions.
    assert lines[0] == "Compared 1 items with genres of their own (of 1 in the query; 1 labelled)."
    assert "Most frequent confusions (yours -> genrescore):" not in lines
    names = ", ".join(f"{label} (1)" for label in ten)
    assert lines[-1] == (
        "Genres of yours outside the vocabulary, not compared: 10 names on 10 labels; "
        f"most frequent: {names}"
    )
    result = ev.evaluate([item("x", ["Jazz", *ten, "zz10"], ["jazz"])], tree)
    assert len(result.unknown_labels) == 10
    assert (result.unknown_distinct, result.unknown_total) == (11, 11)
    assert ev.format_evaluation(result)[-1].endswith(f"most frequent: {names} ...")


def test_only_the_ten_most_frequent_confusions_are_listed(tree: ev.GenreTree) -> None:
    genres = ["blues", "classical", "folk", "jazz", "rock", "pop", "reggae", "funk", "disco"]
    items = [item(f"{g}{o}", [g], [o]) for g in genres for o in ("ambient", "electronic")]
    items += [item("again", ["blues"], ["ambient"])]
    result = ev.evaluate(items, tree)
    assert len(result.confusions) == 10
    assert result.confusions[0] == ("blues", "ambient", 2)


def test_a_label_and_a_fold_together_imply_both(tree: ev.GenreTree) -> None:
    # "indie" reaches rock only through the models' folds (taxonomy), not lastgenre's tree.
    assert ev.implied(["indie"], tree) == {"rock"}
    assert ev.implied(["Bebop", "indie"], tree) == {"jazz", "rock"}
    assert ev.implied(["Bebop", "Bluegrass"], tree) == {"jazz", "bluegrass", "country"}
    # A known label next to an unknown one is compared (not skipped as unmappable), and a
    # folded label counts as the user's genre in the confusions.
    result = ev.evaluate(
        [item("x", ["Bebop", "Comedy"], ["pop"]), item("y", ["indie"], ["pop"])], tree
    )
    assert (result.compared, result.unmappable) == (2, 0)
    assert set(result.confusions) == {("jazz", "pop", 1), ("rock", "pop", 1)}
    result = ev.evaluate([item("z", ["Bebop", "indie"], ["pop"])], tree)
    assert result.confusions == (("jazz, rock", "pop", 1),)


def test_dub_is_reggae_though_dub_music_is_electronic(tree: ev.GenreTree) -> None:
    # lastgenre's tree has both "dub" (under reggae) and "dub music" (under electronic):
    # the spelling the user wrote decides, not the first node that reads the same.
    assert ev.accepted(["Dub"], tree) == {"reggae"}
    assert ev.accepted(["Dub Music"], tree) == {"electronic"}


def test_an_alias_leads_to_the_node_it_names_exactly(
    tree_data: list[object], aliases: dict[str, list[str]]
) -> None:
    tree = ev.GenreTree.from_data(tree_data, {**aliases, "dub": ["dubwise"]})
    assert ev.accepted(["Dubwise"], tree) == {"reggae"}
    assert ev.accepted(["DUBWISE"], tree) == {"reggae"}  # aliases ignore case


def test_aliases_of_a_small_tree() -> None:
    tree = ev.GenreTree.from_data(
        [{"country": ["cajun stomp"]}],
        # lastgenre's format: template -> expressions; the first broken template is skipped.
        {
            r"\2 stomp": ["(bayou) ?stomp"],
            "cajun stomp": ["bayou ?stomp", "Louisiana Stomp"],
        },
    )
    assert ev.accepted(["Bayou Stomp"], tree) == {"country"}
    assert ev.accepted(["BAYOUSTOMP"], tree) == {"country"}
    assert ev.accepted(["louisiana stomp"], tree) == {"country"}  # expressions ignore case
    # Written with other separators: found by its normalised spelling.
    assert ev.accepted(["Cajun-Stomp"], tree) == {"country"}
    assert ev.accepted(["Cajun_Stomp"], tree) == {"country"}
    assert ev.accepted(["Zydeco"], tree) == set()


def test_a_ranking_longer_than_three_counts_its_first_three_only(tree: ev.GenreTree) -> None:
    result = ev.evaluate([item("x", ["Jazz"], ["rock", "pop", "folk", "jazz"])], tree)
    assert (result.top1, result.top3) == (0, 0)


def test_disagreements_kept_are_the_most_confident_whatever_the_order(
    tree: ev.GenreTree,
) -> None:
    confidences = [0.5, 0.9, 0.8, 0.6, 0.2, 0.7]
    items = [item(f"{c}", ["Jazz"], ["rock"], c) for c in confidences]
    result = ev.evaluate(items, tree, shown=3)
    assert [d.confidence for d in result.disagreements] == [0.9, 0.8, 0.7]
    # Equal confidence: in the order the items came.
    items = [item(name, ["Jazz"], ["rock"], 0.4) for name in "qpr"]
    assert [d.name for d in ev.evaluate(items, tree).disagreements] == ["q", "p", "r"]
    # None asked for: none kept, the counts still made.
    result = ev.evaluate(items, tree, shown=0)
    assert (result.disagreements, result.compared) == ((), 3)


def test_reliability_bins_by_hand() -> None:
    # 0.05 is in the first bin, [0.0, 0.1).
    assert [(b.low, b.high, b.items) for b in ev.reliability([0.05], [True])] == [(0.0, 0.1, 1)]
    # Five bins of 0.2: 0.3 lies in [0.2, 0.4), 0.95 in [0.8, 1.0].
    bins = ev.reliability([0.3, 0.95], [True, False], bins=5)
    assert [(b.low, b.high, b.items, b.right) for b in bins] == [(0.2, 0.4, 1, 1), (0.8, 1.0, 1, 0)]
    with pytest.raises(ValueError, match="zip"):
        ev.reliability([0.3, 0.5], [True])
