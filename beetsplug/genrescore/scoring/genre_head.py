"""A user's genre head: the genre model's stored vote re-read to agree with the user's genres.

``beet genrescore --tune`` learns it from the tracks that carry the user's own genres and
their stored evidence (``scoring/evidence.py``); the blend applies it to the genre model's
vote (:func:`.ensemble.blend`) when the ``genre_head`` setting names its file.

What it is: an affine map over the log of the stored vote, ``z = A @ log(max(p, FLOOR) /
FLOOR) + c`` over the canonical genres (:data:`.taxonomy.GENRES`, in that order), then a
softmax: the new vote. The log is taken relative to the floor, so that a genre the model did
not name reads 0: as ``log(max(p, FLOOR))`` it would read -11.5 on every track, a column
through which a row could shift its genre's logit at a fraction of the L2 cost of the bias
``c`` (the fit then learned "more electronic everywhere" instead of "funk here is disco").
Any affine map of one is an affine map of the other. ``A = I, c = 0`` gives the vote back
(renormalised over the floor), so it starts
there and is pulled back there (an L2 penalty on ``A - I`` and ``c``): an adapter over what
any genre model said, not a new model. It needs no audio and no model weights, so it works
for the embedded efficientat-genre head, musicnn, a downloaded HuBERT, and for libraries
analysed before it existed; a head fitted on one model's votes only means something for
that model (the user refits it after changing models).

How it is fitted (:func:`fit`): the loss of a track is ``-log`` of the probability mass the
head puts on the genres its user's labels accept (``evaluate.accepted``: a label's
ancestors and children count), averaged, plus ``l2 x (|A - I|^2 + |c|^2)``; the L2 strength
is the one of :data:`L2_GRID` whose head agrees best held out in an inner cross-validation
by group (the least held-out loss breaks ties).

Only the rows (output genres) of genres some labelled track accepts are fitted: a genre no
labelled track has keeps its identity row, its logit what the model said. It can still lose
share to the taught genres the head strengthens, and ``--tune``'s held-out figures measure
only the genres the user labelled: a genre of which the labelled tracks hold one album is
untaught whenever that album is held out, which the held-out figure then shows.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from .taxonomy import GENRES

FloatArray = npt.NDArray[np.float64]

#: Shares below this read as this before the log (the evidence keeps shares from 1e-5 on:
#: ``evidence.MIN_SHARE``), so a genre the model cannot name is a finite input.
FLOOR = 1e-5
#: L2 strengths tried by the inner cross-validation (per track's mean loss): from a head
#: that may move far (1e-3) to one that stays near the identity (10).
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: Folds of the inner cross-validation that picks the L2 strength.
INNER_FOLDS = 3
#: The file format's version (``to_data``/``from_data``).
VERSION = 1
#: The key that says a JSON file is a genre head.
KIND = "genrescore_genre_head"


class HeadFormatError(ValueError):
    """A head file's data that cannot be read, or whose classes are not :data:`GENRES`."""


@dataclass(frozen=True)
class GenreHead:
    """The fitted map (see the module docstring). ``matrix[i][j]``: how much input genre
    ``GENRES[j]``'s log share adds to output genre ``GENRES[i]``'s logit."""

    matrix: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...]
    #: The genres labelled tracks accepted in its fit (the rows it changed): the genre model's
    #: vote can name these once it went through the head.
    taught: frozenset[str]
    #: The L2 strength the inner cross-validation chose, and how many tracks it learned from.
    l2: float = 0.0
    trained_on: int = 0

    @classmethod
    def identity(cls) -> GenreHead:
        n = len(GENRES)
        return cls(
            tuple(tuple(1.0 if i == j else 0.0 for j in range(n)) for i in range(n)),
            (0.0,) * n,
            frozenset(),
        )

    @cached_property
    def _arrays(self) -> tuple[FloatArray, FloatArray]:
        return np.array(self.matrix, dtype=float), np.array(self.bias, dtype=float)

    def logits(self, inputs: FloatArray) -> FloatArray:
        """``inputs`` (N, G) log shares -> the head's logits (N, G)."""
        a, c = self._arrays
        out: FloatArray = inputs @ a.T + c
        return out

    def apply(self, distribution: Mapping[str, float]) -> dict[str, float]:
        """A genre model's vote (canonical genre -> share) through the head: a new vote."""
        x = log_shares([distribution])
        p = _softmax(self.logits(x))[0]
        return {genre: float(share) for genre, share in zip(GENRES, p, strict=True)}

    @cached_property
    def digest(self) -> str:
        """A short hash of the head's content: its file's name and part of the blend
        fingerprint."""
        return hashlib.sha256(encode(self).encode()).hexdigest()[:16]


def log_shares(distributions: Sequence[Mapping[str, float]]) -> FloatArray:
    """Votes -> ``log(max(share, FLOOR) / FLOOR)`` per genre of :data:`GENRES`, (N, G): 0
    for a genre the vote does not name."""
    x = np.full((len(distributions), len(GENRES)), FLOOR)
    index = {g: i for i, g in enumerate(GENRES)}
    for row, distribution in enumerate(distributions):
        for genre, share in distribution.items():
            if genre in index:
                x[row, index[genre]] = max(float(share), FLOOR)
    out: FloatArray = np.log(x / FLOOR)
    return out


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def accepted_mask(accepted: Sequence[frozenset[str]]) -> npt.NDArray[np.bool_]:
    """(N, G): ``True`` where track n's labels accept genre g."""
    return np.array([[g in genres for g in GENRES] for genres in accepted], dtype=bool).reshape(
        len(accepted), len(GENRES)
    )


def _loss_terms(z: FloatArray, ok: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
    """Each track's ``-log`` mass on its accepted genres (N,), and d loss / d z (N, G)."""
    p = _softmax(z)
    masked = np.where(ok, z, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    e = np.where(ok, np.exp(masked - top), 0.0)
    q = e / e.sum(axis=1, keepdims=True)
    zmax = z.max(axis=1, keepdims=True)
    lse_all = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
    lse_ok = np.log(e.sum(axis=1)) + top[:, 0]
    return lse_all - lse_ok, p - q


def held_out_loss(head: GenreHead, x: FloatArray, ok: npt.NDArray[np.bool_]) -> float:
    """The mean ``-log`` accepted mass of tracks ``x`` (log shares) labelled ``ok``."""
    losses, _ = _loss_terms(head.logits(x), ok)
    return float(losses.mean()) if losses.size else 0.0


def fit_fixed(
    x: FloatArray, ok: npt.NDArray[np.bool_], l2: float, start: GenreHead | None = None
) -> GenreHead:
    """The head minimising the mean loss of ``x`` (N, G log shares) labelled ``ok`` (N, G)
    plus ``l2`` x the squared distance to the identity; only taught genres' rows move. The
    search starts from ``start`` (default: the identity): a head fitted with a larger L2
    on the same tracks is a close start.

    The change to the identity is fitted over standardised inputs, ``z = x + B @ (x - mu) /
    sigma + d`` (``mu``, ``sigma``: each genre's mean and spread over these tracks), and the
    L2 pulls ``B`` and ``d`` to 0: every input then costs alike per unit of effect. Over the
    raw log shares a genre the model names on every track (about 9 above the floor, give or
    take 1) was a near-constant column that moved a logit on all tracks at 1/80 of a bias's
    cost, and the fit learned "more of this genre everywhere". The head is stored as the
    equivalent map over the raw log shares: ``A = I + B / sigma``, ``c = d - B @ mu / sigma``.
    """
    n, g = x.shape
    taught = np.flatnonzero(ok.any(axis=0))
    t = taught.size
    if n == 0 or t == 0:
        return GenreHead.identity()
    mu = x.mean(axis=0)
    sigma = x.std(axis=0)
    sigma = np.where(sigma > 1e-9, sigma, 1.0)  # a constant input: standardised to 0
    scaled = (x - mu) / sigma

    def unpack(theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        return theta[: t * g].reshape(t, g), theta[t * g :]

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        change, shift = unpack(theta)
        z = x.copy()  # untaught rows: the identity, z = x
        z[:, taught] += scaled @ change.T + shift
        losses, dz = _loss_terms(z, ok)
        dz_t = dz[:, taught] / n
        grad_change = dz_t.T @ scaled + 2.0 * l2 * change
        grad_shift = dz_t.sum(axis=0) + 2.0 * l2 * shift
        value = float(losses.mean()) + l2 * float((change**2).sum() + (shift**2).sum())
        return value, np.concatenate([grad_change.ravel(), grad_shift])

    if start is None:
        theta = np.zeros(t * g + t)
    else:  # the start's map, in these tracks' standardised terms
        a, c = start._arrays
        change = (a[taught] - np.eye(g)[taught]) * sigma
        theta = np.concatenate([change.ravel(), c[taught] + change @ (mu / sigma)])
    change, shift = unpack(lbfgs(objective, theta))
    matrix = np.eye(g)
    matrix[taught] += change / sigma
    bias = np.zeros(g)
    bias[taught] = shift - change @ (mu / sigma)
    return GenreHead(
        tuple(tuple(float(v) for v in row) for row in matrix),
        tuple(float(v) for v in bias),
        frozenset(GENRES[i] for i in taught),
        l2=l2,
        trained_on=n,
    )


#: L-BFGS: the curvature pairs kept, most steps, and when the gradient is small enough.
MEMORY = 10
MAX_STEPS = 500
GRADIENT_TOLERANCE = 1e-6


def lbfgs(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray
) -> FloatArray:
    """Minimise a smooth convex ``objective`` (value, gradient) from ``theta``: L-BFGS with
    a backtracking (Armijo) line search. Written out because the fits are small (a few
    hundred parameters) and many (``--tune`` makes dozens): scipy's L-BFGS-B and BFGS spent
    1-4 ms a step in their own bookkeeping here."""
    value, grad = objective(theta)
    pairs: list[tuple[FloatArray, FloatArray, float]] = []
    for _ in range(MAX_STEPS):
        if float(np.abs(grad).max()) < GRADIENT_TOLERANCE:
            break
        # The two-loop recursion: direction = -H grad from the kept pairs.
        q = grad.copy()
        alphas = []
        for s, y, rho in reversed(pairs):
            alpha = rho * float(s @ q)
            q -= alpha * y
            alphas.append(alpha)
        if pairs:
            s, y, _ = pairs[-1]
            q *= float(s @ y) / float(y @ y)
        for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
            q += s * (alpha - rho * float(y @ q))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0.0:  # not a descent direction: start again from the gradient
            pairs.clear()
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_value, new_grad = objective(candidate)
            if new_value <= value + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = candidate - theta, new_grad - grad
        sy = float(s @ y)
        if sy > 1e-12:
            pairs.append((s, y, 1.0 / sy))
            if len(pairs) > MEMORY:
                pairs.pop(0)
        done = abs(value - new_value) <= 1e-12 * max(1.0, abs(value))
        theta, value, grad = candidate, new_value, new_grad
        if done:
            break
    return theta


def group_folds(
    groups: Sequence[str], folds: int, seed: int | None = None
) -> list[npt.NDArray[np.intp]]:
    """Row indices per fold (``folds`` of them, some empty when there are fewer groups),
    whole groups (an album, an artist) dealt largest first to the smallest fold, so that no
    group is on both sides of a split. Groups of one size are dealt in name order, or in an
    order drawn from ``seed``: deterministic either way."""
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    names = sorted(sizes)
    rank = {name: i for i, name in enumerate(names)}
    if seed is not None:
        drawn = np.random.default_rng(seed).permutation(len(names))
        rank = {name: int(drawn[i]) for i, name in enumerate(names)}
    k = max(1, folds)
    load = [0] * k
    fold_of: dict[str, int] = {}
    for name in sorted(names, key=lambda g: (-sizes[g], rank[g])):
        fold = load.index(min(load))
        fold_of[name] = fold
        load[fold] += sizes[name]
    where = np.array([fold_of[g] for g in groups], dtype=np.intp)
    return [np.flatnonzero(where == f) for f in range(k)]


def fit(
    votes: Sequence[Mapping[str, float]],
    accepted: Sequence[frozenset[str]],
    groups: Sequence[str],
    *,
    grid: Sequence[float] = L2_GRID,
    folds: int = INNER_FOLDS,
) -> GenreHead:
    """A head for genre-model ``votes`` whose users accept ``accepted`` (one set per vote,
    none empty), its L2 strength chosen by cross-validation over ``groups`` (see the module
    docstring)."""
    if not len(votes) == len(accepted) == len(groups):
        raise ValueError("one set of accepted genres and one group per vote")
    x = log_shares(votes)
    ok = accepted_mask(accepted)
    if len(grid) == 1:
        return fit_fixed(x, ok, grid[0])
    splits = group_folds(groups, min(folds, len(set(groups))))
    strengths = sorted(grid, reverse=True)  # each fit starts from the stronger one's
    best = strengths[0]
    if len(splits) >= 2:
        everything = np.arange(len(votes))
        # Per strength: held-out top-1 agreement (what --tune's gate measures), then the
        # held-out loss to break ties; the strongest pull wins a tie on both.
        scores = {l2: [0.0, 0.0] for l2 in strengths}
        for held in splits:
            train = np.setdiff1d(everything, held)
            head: GenreHead | None = None
            for l2 in strengths:
                head = fit_fixed(x[train], ok[train], l2, head)
                top = head.logits(x[held]).argmax(axis=1)
                scores[l2][0] += float(ok[held, top].sum())
                scores[l2][1] -= held_out_loss(head, x[held], ok[held]) * held.size
        best = max(strengths, key=lambda l2: (scores[l2][0], scores[l2][1]))
    return fit_fixed(x, ok, best)


def to_data(head: GenreHead) -> dict[str, Any]:
    """The head's JSON-ready form (its file)."""
    return {
        KIND: VERSION,
        "classes": list(GENRES),
        "matrix": [list(row) for row in head.matrix],
        "bias": list(head.bias),
        "taught": sorted(head.taught),
        "l2": head.l2,
        "trained_on": head.trained_on,
    }


def encode(head: GenreHead) -> str:
    """The head file's text (stable: the same head gives the same text)."""
    return json.dumps(to_data(head), indent=1, sort_keys=True) + "\n"


def _finite(values: Any, size: int, what: str) -> tuple[float, ...]:
    if not isinstance(values, list) or len(values) != size:
        raise HeadFormatError(f"{what} is not a list of {size} numbers")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HeadFormatError(f"{what} holds {value!r}, not a number")
        if not math.isfinite(value):
            raise HeadFormatError(f"{what} holds {value!r}")
        out.append(float(value))
    return tuple(out)


def from_data(data: Any) -> GenreHead:
    """A head from its JSON-ready form.

    Raises
    ------
    HeadFormatError
        Not a genre head, another version, classes other than :data:`GENRES` (in order),
        or numbers of the wrong shape.
    """
    if not isinstance(data, dict) or KIND not in data:
        raise HeadFormatError("not a genrescore genre head")
    if data[KIND] != VERSION:
        raise HeadFormatError(f"genre head version {data[KIND]!r}, expected {VERSION}")
    classes = data.get("classes")
    if classes != list(GENRES):
        raise HeadFormatError(
            f"its classes {classes!r} are not genrescore's genres ({', '.join(GENRES)})"
        )
    n = len(GENRES)
    rows = data.get("matrix")
    if not isinstance(rows, list) or len(rows) != n:
        raise HeadFormatError(f"matrix is not {n} rows")
    matrix = tuple(_finite(row, n, f"matrix row {i}") for i, row in enumerate(rows))
    bias = _finite(data.get("bias"), n, "bias")
    taught = data.get("taught", [])
    if not isinstance(taught, list) or any(name not in GENRES for name in taught):
        raise HeadFormatError(f"taught {taught!r} names no genre genrescore knows")
    l2, trained_on = data.get("l2", 0.0), data.get("trained_on", 0)
    if not isinstance(l2, (int, float)) or not isinstance(trained_on, int):
        raise HeadFormatError("l2 or trained_on is not a number")
    return GenreHead(matrix, bias, frozenset(taught), float(l2), trained_on)


def decode(text: str) -> GenreHead:
    """A head from its file's text (:class:`HeadFormatError` as :func:`from_data`)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HeadFormatError(f"not JSON: {exc}") from exc
    return from_data(data)
