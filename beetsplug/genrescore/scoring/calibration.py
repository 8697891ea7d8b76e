"""Fitting the confidence map (:class:`.ensemble.ConfidenceMap`): Platt scaling of the top
genre's share, with the runner-up's margin.

One home for the fit: ``benchmarks/accuracy.py`` fits the dev set's maps
(:data:`.ensemble.FITTED_CONFIDENCE`) with it, ``beet genrescore --tune`` a user's
(``scoring/tune.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .ensemble import ConfidenceMap, margin_feature

FloatArray = npt.NDArray[np.float64]

#: Ridge on the fitted parameters: keeps the fit finite when every track is right (or wrong).
RIDGE = 1e-3
#: Newton steps at most (it converges in well under ten on the dev set).
STEPS = 50


def fit_platt(
    shares: Sequence[float], right: Sequence[bool], runner_ups: Sequence[float] | None = None
) -> tuple[float, ...]:
    """Slope and intercept of ``sigmoid(a * logit(share) + b)`` by Newton's method on the
    log-loss (a small ridge keeps it finite when one side is empty); with ``runner_ups`` (the
    second genre's shares) also the margin weight ``m`` of ``+ m * log(share / runner_up)``:
    ``(a, b, m)``, :class:`.ensemble.ConfidenceMap`'s fields."""
    p = np.clip(np.asarray(shares, dtype=float), 1e-6, 1 - 1e-6)
    columns = [np.log(p / (1 - p)), np.ones_like(p)]
    if runner_ups is not None:
        columns.append(np.array([margin_feature(a, b) for a, b in zip(p, runner_ups, strict=True)]))
    x = np.stack(columns, axis=1)
    y = np.asarray(right, dtype=float)

    def penalised(theta: FloatArray) -> float:
        z = x @ theta
        return float((np.logaddexp(0.0, z) - y * z).sum() + 0.5 * RIDGE * theta @ theta)

    theta = np.zeros(x.shape[1])
    theta[0] = 1.0
    value = penalised(theta)
    for _ in range(STEPS):
        with np.errstate(over="ignore"):  # exp overflows to inf: q is then 0, as it should
            q = 1 / (1 + np.exp(-(x @ theta)))
        grad = x.T @ (q - y) + RIDGE * theta
        hess = (x * (q * (1 - q))[:, None]).T @ x + RIDGE * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        # Newton's full step, halved while it raises the loss: near-collinear inputs (a
        # runner-up that is all the rest of the share) otherwise overshoot without end. On
        # the dev set every full step descends, so its maps are the plain Newton fit's.
        size = 1.0
        while (new := penalised(theta - size * step)) > value and size > 1e-6:
            size *= 0.5
        theta = theta - size * step
        value = new
        if np.abs(size * step).max() < 1e-9:
            break
    return tuple(float(t) for t in theta)


def fit_map(
    shares: Sequence[float], right: Sequence[bool], runner_ups: Sequence[float]
) -> ConfidenceMap:
    """:func:`fit_platt` with the runner-up, as a :class:`.ensemble.ConfidenceMap`."""
    slope, intercept, margin = fit_platt(shares, right, runner_ups)
    return ConfidenceMap(slope=slope, intercept=intercept, margin=margin)
