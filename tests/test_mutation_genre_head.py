"""The genre head's fit (``scoring/genre_head.py``) against what its docstrings promise,
each checked by a means of its own (tests/MUTATION.md, issue 24): the fitted head is the
minimum of the documented objective (its numerical gradient, computed here, is zero), the
L2 strength is the one that agrees best held out by album, the folds deal whole albums
largest first to the lightest fold, and a damaged head file is refused naming what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import confuse
import numpy as np
import pytest
from scipy.special import logsumexp

from beetsplug.genrescore.errors import ConfigError
from beetsplug.genrescore.scoring import genre_head, tune
from beetsplug.genrescore.scoring.taxonomy import GENRES
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .test_genre_head import album_library, swap

#: What the votes below name: a model of six genres, as efficientat-genre names ten.
NAMED = ("rock", "pop", "jazz", "funk", "country", "folk")


def _problem(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Log shares of ``n`` random votes over :data:`NAMED`, and labels a user could give:
    funk read as disco, rock as rock or heavy metal, the rest as the model said."""
    rng = np.random.default_rng(seed)
    votes = []
    labels = []
    for _ in range(n):
        raw = rng.dirichlet(np.full(len(NAMED), 0.5))
        vote = dict(zip(NAMED, raw.tolist(), strict=True))
        votes.append(vote)
        said = max(vote, key=vote.__getitem__)
        if said == "funk":
            labels.append(frozenset({"disco"}))
        elif said == "rock" and rng.random() < 0.5:
            labels.append(frozenset({"heavy metal", "rock"}))
        else:  # a fifth of them another genre the model names (never funk: it is disco)
            other = [g for g in NAMED if g != "funk"][rng.integers(len(NAMED) - 1)]
            labels.append(frozenset({other if rng.random() < 0.2 else said}))
    return genre_head.log_shares(votes), genre_head.accepted_mask(labels)


def _objective(x: np.ndarray, ok: np.ndarray, l2: float, theta: np.ndarray) -> float:
    """The documented objective, written out: the mean -log of the softmax mass on the
    accepted genres, z = x + B (x - mu) / sigma + d on the taught rows, + l2 (|B|^2 + |d|^2)."""
    taught = np.flatnonzero(ok.any(axis=0))
    t, g = taught.size, x.shape[1]
    change, shift = theta[: t * g].reshape(t, g), theta[t * g :]
    sigma = x.std(axis=0)
    sigma[sigma == 0] = 1.0
    z = x.copy()
    z[:, taught] += ((x - x.mean(axis=0)) / sigma) @ change.T + shift
    mass = logsumexp(np.where(ok, z, -np.inf), axis=1) - logsumexp(z, axis=1)
    return float(-mass.mean() + l2 * ((change**2).sum() + (shift**2).sum()))


def _parameters(head: genre_head.GenreHead, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(B, d) of a stored head (A = I + B / sigma, c = d - B mu / sigma on the taught rows)."""
    taught = np.flatnonzero(ok.any(axis=0))
    a, c = np.array(head.matrix), np.array(head.bias)
    sigma = x.std(axis=0)
    sigma[sigma == 0] = 1.0
    change = (a - np.eye(len(GENRES)))[taught] * sigma
    shift = c[taught] + change @ (x.mean(axis=0) / sigma)
    return np.concatenate([change.ravel(), shift])


def _gradient(x: np.ndarray, ok: np.ndarray, l2: float, theta: np.ndarray) -> np.ndarray:
    step = 1e-6
    out = np.zeros_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        out[i] = (_objective(x, ok, l2, up) - _objective(x, ok, l2, down)) / (2 * step)
    return out


@pytest.mark.parametrize("l2", [1e-3, 0.1, 10.0])
def test_the_head_is_the_minimum_of_the_documented_fit(l2: float) -> None:
    """What ``--tune`` offers is the head the docs describe, not a step on the way to it:
    convex, so a zero gradient is its minimum; the untaught rows are the identity's."""
    x, ok = _problem(4, 80)
    # Soul, named on every track at 4-6 %: a spread of 0.12 in log share, standardised too.
    soul = GENRES.index("soul")
    x[:, soul] = np.log(np.random.default_rng(1).uniform(0.04, 0.06, size=80) / genre_head.FLOOR)
    assert 0.05 < x[:, soul].std() < 1.0
    head = genre_head.fit_fixed(x, ok, l2)
    taught = {GENRES[i] for i in np.flatnonzero(ok.any(axis=0))}
    assert (
        head.taught == taught == {"rock", "heavy metal", "pop", "jazz", "disco", "country", "folk"}
    )
    assert head.l2 == l2
    assert head.trained_on == 80
    theta = _parameters(head, x, ok)
    assert np.abs(_gradient(x, ok, l2, theta)).max() < 1e-4
    # A weaker pull moves the head further from the identity, and helps its fit.
    if l2 < 10.0:
        stronger = genre_head.fit_fixed(x, ok, 10 * l2)
        assert (theta**2).sum() > (_parameters(stronger, x, ok) ** 2).sum()
        assert _objective(x, ok, 0.0, theta) < _objective(x, ok, 0.0, _parameters(stronger, x, ok))
    # Starting from another head ends at the same one (the inner CV starts each strength
    # from the stronger one's head).
    again = genre_head.fit_fixed(x, ok, l2, swap("funk", "disco"))
    shares = genre_head._softmax(head.logits(x))
    assert np.allclose(genre_head._softmax(again.logits(x)), shares, atol=1e-4)
    # The user's genres: with a weak pull, funk's tracks are disco through the head, as the
    # labels say (a strong one keeps funk, the model's share being far above the floor).
    funk = x[:, GENRES.index("funk")] == x.max(axis=1)
    tops = head.logits(x).argmax(axis=1)
    assert ((tops[funk] == GENRES.index("disco")).mean() > 0.8) == (l2 < 0.1)


def test_no_labels_or_no_tracks_give_the_identity() -> None:
    x, ok = _problem(5, 10)
    identity = genre_head.GenreHead.identity()
    assert genre_head.fit_fixed(x, np.zeros_like(ok), 0.1) == identity
    assert genre_head.fit_fixed(x[:0], ok[:0], 0.1) == identity


def _held_out(x: np.ndarray, ok: np.ndarray, groups: list[str], l2: float) -> tuple[int, float]:
    """Top-1 agreement and loss of fixed-``l2`` heads, each on the albums its fit did not see
    (three folds by album)."""
    agreed, loss = 0, 0.0
    for held in genre_head.group_folds(groups, 3):
        train = np.setdiff1d(np.arange(len(groups)), held)
        head = genre_head.fit_fixed(x[train], ok[train], l2)
        agreed += int(ok[held, head.logits(x[held]).argmax(axis=1)].sum())
        z = head.logits(x[held])
        mass = logsumexp(np.where(ok[held], z, -np.inf), axis=1) - logsumexp(z, axis=1)
        loss -= float(mass.sum())
    return agreed, loss


@pytest.mark.parametrize("confused", [True, False])
def test_the_l2_strength_is_the_one_that_agrees_best_held_out(confused: bool) -> None:
    data = album_library(confused=confused)
    votes = [tune.ml_vote(e) or {} for _, _, e in data]
    labels = [frozenset({truth}) for _, truth, _ in data]
    groups = [str(album) for album, _, _ in data]
    x, ok = genre_head.log_shares(votes), genre_head.accepted_mask(labels)
    scores = {l2: _held_out(x, ok, groups, l2) for l2 in genre_head.L2_GRID}
    best = max(scores.values(), key=lambda s: (s[0], -s[1]))
    chosen = [l2 for l2, s in scores.items() if s == best]
    head = genre_head.fit(votes, labels, groups)
    assert head.l2 == max(chosen)  # the strongest pull of those that tie
    assert head == genre_head.fit_fixed(x, ok, head.l2)
    assert head.trained_on == len(votes)
    # A confused model needs the head to move (weak pull), a right one does not.
    assert (head.l2 <= 0.01) == confused
    if confused:  # two folds or two strengths are still a choice made held out
        assert genre_head.fit(votes, labels, groups, folds=2).l2 < 10.0
        assert genre_head.fit(votes, labels, groups, grid=(10.0, 1e-3)).l2 == 1e-3


def test_one_album_cannot_be_held_out_so_the_pull_is_the_strongest() -> None:
    data = album_library(confused=True)[:8]
    votes = [tune.ml_vote(e) or {} for _, _, e in data]
    head = genre_head.fit(votes, [frozenset({"disco"})] * 8, ["album 0"] * 8)
    assert head.l2 == max(genre_head.L2_GRID)
    for accepted, groups in ((7, 8), (8, 9)):
        with pytest.raises(ValueError, match=r"^one set of accepted genres") as raised:
            genre_head.fit(votes, [frozenset({"disco"})] * accepted, ["album 0"] * groups)
        assert str(raised.value) == "one set of accepted genres and one group per vote"


def test_folds_deal_whole_albums_largest_first_to_the_lightest_fold() -> None:
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"]
    # a (5) to fold 0, b (3) to 1, c (3) to 2, d (2) to the first of the lightest (1),
    # e (1) to the lightest (2): 5, 5 and 4 tracks.
    folds = genre_head.group_folds(groups, 3)
    assert [sorted({groups[i] for i in fold}) for fold in folds] == [["a"], ["b", "d"], ["c", "e"]]
    assert [fold.tolist() for fold in folds][1] == [5, 6, 7, 11, 12]
    for seed in range(4):  # a seed orders the albums of one size, never the sizes
        dealt = genre_head.group_folds(groups, 3, seed)
        assert [len(fold) for fold in dealt] == [5, 5, 4]
        assert dealt[0].tolist() == [0, 1, 2, 3, 4]
        assert {groups[i] for i in dealt[1]} in ({"b", "d"}, {"c", "d"})
        again = genre_head.group_folds(groups, 3, seed)
        assert [f.tolist() for f in again] == [f.tolist() for f in dealt]
    # Twelve albums of one track: the seeds deal them differently, each the same every time.
    singles = [f"album {i:02d}" for i in range(12)]
    deals = {
        tuple(tuple(f.tolist()) for f in genre_head.group_folds(singles, 3, s)) for s in range(4)
    }
    assert len(deals) == 4
    by_name = genre_head.group_folds(singles, 3)
    assert [f.tolist() for f in by_name] == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]
    # One album of three tracks and three singles: three and three, by the tracks dealt.
    balanced = genre_head.group_folds(["a", "a", "a", "b", "c", "d"], 2)
    assert [f.tolist() for f in balanced] == [[0, 1, 2], [3, 4, 5]]
    # Fewer albums than folds: the rest are empty; no folds asked for: one fold of all.
    few = genre_head.group_folds(["x", "x", "y"], 4)
    assert [f.tolist() for f in few] == [[0, 1], [2], [], []]
    assert [f.tolist() for f in genre_head.group_folds(["x", "y"], 0)] == [[0, 1]]


def test_a_vote_reads_relative_to_the_floor() -> None:
    """0 for a genre the vote does not name or names below the floor, log(share / floor)
    above it; a label outside the vocabulary is no genre."""
    x = genre_head.log_shares([{"rock": 0.5, "pop": 1e-7, "polka": 0.5}, {}])
    expected = np.zeros((2, len(GENRES)))
    expected[0, GENRES.index("rock")] = np.log(0.5 / genre_head.FLOOR)
    assert np.array_equal(x, expected)
    head = swap("rock", "jazz")
    applied = head.apply({"rock": 0.9, "pop": 0.1})
    assert list(applied) == list(GENRES)
    assert max(applied, key=applied.__getitem__) == "jazz"
    assert sum(applied.values()) == pytest.approx(1.0)
    # A head with huge logits still gives shares (the softmax and the loss are stable).
    loud = genre_head.GenreHead(
        head.matrix, tuple(1000.0 * (g == "disco") for g in GENRES), frozenset()
    )
    assert loud.apply({"rock": 1.0})["disco"] == pytest.approx(1.0)
    ok = genre_head.accepted_mask([frozenset({"disco"}), frozenset({"rock"})])
    x = genre_head.log_shares([{"rock": 1.0}, {"rock": 1.0}])
    assert genre_head.held_out_loss(loud, x, ok) == pytest.approx(500.0, rel=1e-3)
    assert genre_head.held_out_loss(loud, x[:0], ok[:0]) == 0.0


def _view(user: dict[str, Any]) -> confuse.RootView:
    return confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])


def _damaged(change: dict[str, Any]) -> dict[str, Any]:
    data = genre_head.to_data(swap("funk", "disco"))
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return data


ROWS = [[1.0] * len(GENRES)] * len(GENRES)


N = len(GENRES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"matrix": [*ROWS[:-1], [True] + [0.0] * (N - 1)]},
            "matrix row 19 holds True, not a number",
        ),
        ({"matrix": [*ROWS[:-1], [float("nan")] * N]}, "matrix row 19 holds nan"),
        ({"matrix": [*ROWS[:-1], [0.0]]}, f"matrix row 19 is not a list of {N} numbers"),
        ({"matrix": "identity"}, f"matrix is not {N} rows"),
        ({"bias": None}, f"bias is not a list of {N} numbers"),
        ({"bias": [float("inf")] * N}, "bias holds inf"),
        (
            {"taught": ["disco", "polka"]},
            "taught ['disco', 'polka'] names no genre genrescore knows",
        ),
        ({"taught": "disco"}, "taught 'disco' names no genre genrescore knows"),
        ({"l2": "weak"}, "l2 or trained_on is not a number"),
        ({"trained_on": 1.5}, "l2 or trained_on is not a number"),
        ({"classes": None}, f"its classes None are not genrescore's genres ({', '.join(GENRES)})"),
        ({genre_head.KIND: None}, "not a genrescore genre head"),
        ({genre_head.KIND: 2}, "genre head version 2, expected 1"),
    ],
)
def test_a_damaged_head_file_is_refused_naming_what_is_wrong(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    """The user reads the file's path and what is wrong with it, word for word."""
    path = tmp_path / "head.json"
    path.write_text(json.dumps(_damaged(change)))
    with pytest.raises(ConfigError) as raised:
        read_settings(_view({"genre_head": str(path)}))
    assert str(raised.value) == (
        f"genrescore.genre_head: {path} is not a usable genre head: {message}"
    )


def test_a_head_file_without_its_optional_fields_reads() -> None:
    data = _damaged({"taught": None, "l2": None, "trained_on": None})
    head = genre_head.from_data(data)
    assert (head.taught, head.l2, head.trained_on) == (frozenset(), 0.0, 0)
    assert head.matrix == swap("funk", "disco").matrix
    assert isinstance(genre_head.from_data(_damaged({"l2": 1})).l2, float)
    assert genre_head.decode(genre_head.encode(head)) == head
    with pytest.raises(genre_head.HeadFormatError, match="not JSON"):
        genre_head.decode("{")


def test_the_loss_of_tracks_far_apart_by_hand() -> None:
    """``-log`` of the head's mass on the accepted genres, each track on its own scale: a
    head that reads the votes 100 times louder puts 1151 on a named genre's logit and 0 on
    every genre of a track without a vote (20 genres alike: log 20 for any one)."""
    loud = genre_head.GenreHead(
        tuple(tuple(100.0 * (i == j) for j in range(N)) for i in range(N)),
        (0.0,) * N,
        frozenset(),
    )
    x = genre_head.log_shares([{"rock": 1.0}, {}, {"rock": 1.0}, {"rock": 0.5, "jazz": 0.5}])
    ok = genre_head.accepted_mask(
        [frozenset({"rock"}), frozenset({"rock"}), frozenset({"jazz"}), frozenset({"rock", "jazz"})]
    )
    z = 100.0 * np.log(1.0 / genre_head.FLOOR)  # 1151.3
    losses, gradient = genre_head._loss_terms(loud.logits(x), ok)
    assert losses.tolist() == pytest.approx([0.0, np.log(N), z, 0.0], abs=1e-9)
    # Two accepted genres at one logit: the mass is theirs alike, nothing to move.
    assert np.abs(gradient[3]).max() < 1e-12
    x, ok, losses, gradient = x[:3], ok[:3], losses[:3], gradient[:3]
    # d loss / d z: the head's shares less the accepted genres' renormalised shares
    rock, jazz = GENRES.index("rock"), GENRES.index("jazz")
    expected = np.zeros((3, N))
    expected[1] = 1.0 / N
    expected[1, rock] = 1.0 / N - 1.0
    expected[2, rock] = 1.0
    expected[2, jazz] = -1.0
    assert np.allclose(gradient, expected, atol=1e-9)
    assert genre_head.held_out_loss(loud, x, ok) == pytest.approx((np.log(N) + z) / 3, abs=1e-9)
    assert loud.apply({})["rock"] == pytest.approx(1.0 / N)


def test_one_track_or_one_genre_is_enough_to_teach() -> None:
    x, ok = _problem(6, 40)
    one = genre_head.fit_fixed(x[:1], ok[:1], 0.1)
    (label,) = (GENRES[i] for i in np.flatnonzero(ok[0]))
    assert one.taught == {label}
    assert one.trained_on == 1
    assert one.apply({})[label] > 1.0 / N  # the bias moved toward the user's genre
    disco = np.zeros_like(ok)
    disco[:, GENRES.index("disco")] = True
    everything_disco = genre_head.fit_fixed(x, disco, 0.1)
    assert everything_disco.taught == {"disco"}
    d = GENRES.index("disco")
    headed = genre_head._softmax(everything_disco.logits(x))[:, d]
    assert (headed > 100 * genre_head._softmax(x)[:, d]).all()  # far more disco everywhere
