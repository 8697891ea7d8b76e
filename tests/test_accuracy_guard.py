"""benchmarks/accuracy_guard.py: held-out figures counted by hand on made-up evidence, and the
floors it compares them with (the guard itself runs on the dev set, outside the fast suite)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from beetsplug.genrescore.scoring.ensemble import (
    EnsembleConfig,
    Weights,
)
from benchmarks import accuracy_guard as guard

from .evidence_fixtures import clip

# Shipped knobs that trust the heuristic (1.0) over the model (0.1).
SHIPPED = EnsembleConfig(weights=Weights(ml=0.1, instruments=0.0, heuristic=1.0, tagger_genres=0.0))
# Groups a, b, c: the model is right (0.9), the heuristic wrong (0.8). Group d: the other way.
JAZZ = clip({"jazz": 0.9, "folk": 0.1}, {"reggae": 0.8, "pop": 0.2})
BLUES = clip({"reggae": 0.9, "pop": 0.1}, {"blues": 0.8, "folk": 0.2})
EVIDENCE = [JAZZ] * 6 + [BLUES] * 2
LABELS = ["jazz"] * 6 + ["blues"] * 2
GROUPS = ["a", "a", "b", "b", "c", "c", "d", "d"]


def test_each_fold_is_ranked_with_knobs_searched_on_the_other_groups() -> None:
    shipped, held = guard.cross_validate(EVIDENCE, LABELS, GROUPS, SHIPPED, folds=4)
    # As shipped, the heuristic decides: only group d's two clips are right. Top-3 holds
    # both votes' genres, so every clip has its genre there.
    assert (shipped.clips, shipped.top1, shipped.top3) == (8, 2 / 8, 1.0)
    # Held out a, b or c: the other three groups (4 model-right clips against 2) raise the
    # model's weight to 1.0, and the held-out group is right. Held out d: a, b and c alone
    # say the same, and d's two clips, which need the heuristic, are wrong: 6 of 8.
    assert (held.clips, held.top1, held.top3) == (8, 6 / 8, 1.0)


def test_the_held_out_fold_never_takes_part_in_the_search() -> None:
    # Group d now has four clips. Tuned on all ten clips the model would win (6 to 4), but
    # held out a, b or c, the other groups tie (4 to 4) and the search keeps the shipped
    # knobs; held out d, the model wins and d is wrong: no clip is right held out.
    evidence = [JAZZ] * 6 + [BLUES] * 4
    labels = ["jazz"] * 6 + ["blues"] * 4
    groups = ["a", "a", "b", "b", "c", "c", "d", "d", "d", "d"]
    shipped, held = guard.cross_validate(evidence, labels, groups, SHIPPED, folds=4)
    assert (shipped.top1, held.top1, held.top3) == (4 / 10, 0.0, 1.0)


def test_ranked_breaks_ties_alphabetically_and_drops_unscored_genres() -> None:
    genres = ("blues", "jazz", "pop", "rock")
    assert guard.ranked(np.array([0.2, 0.5, 0.2, 0.0]), genres, 3) == ["jazz", "blues", "pop"]
    assert guard.ranked(np.array([0.0, 0.7, 0.0, 0.0]), genres, 3) == ["jazz"]
    # A sub-genre counts for its parent and the parent for the sub-genre.
    assert guard.right(["bluegrass", "jazz"], "country") == (True, True)
    assert guard.right(["jazz", "country"], "bluegrass") == (False, True)
    assert guard.right(["jazz", "rock", "pop", "folk"], "folk") == (False, False)
    assert guard.right([], "folk") == (False, False)


def test_a_figure_under_its_floor_fails_and_one_on_it_passes(tmp_path: Path) -> None:
    path = tmp_path / "floors.json"
    path.write_text(json.dumps({"top1": 0.5, "top3": 0.75, "note": "today less 0.03"}))
    floors = guard.read_floors(path)
    assert floors == {"top1": 0.5, "top3": 0.75}
    assert guard.below(guard.Figures(196, 0.5, 0.75), floors) == []
    assert guard.below(guard.Figures(196, 0.49, 0.8), floors) == [
        "top1 49.0% is below its floor 50.0%"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"top1": 0.5}', "'top3' must be a share between 0 and 1, not None"),
        ('{"top1": 55, "top3": 0.7}', "'top1' must be a share between 0 and 1, not 55"),
        ('{"top1": true, "top3": 0.7}', "'top1' must be a share between 0 and 1, not True"),
        ("[0.5, 0.7]", "'top1' must be a share"),
        ("top1: 0.5", "cannot read the floors"),
    ],
)
def test_a_broken_floors_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "floors.json"
    path.write_text(text)
    with pytest.raises(SystemExit, match=r"floors\.json") as failure:
        guard.read_floors(path)
    assert message in str(failure.value)


def test_the_committed_floors_are_readable_shares() -> None:
    floors = guard.read_floors(guard.FLOORS)
    assert 0.0 < floors["top1"] <= floors["top3"] < 1.0
