"""The confidence map's fit (``scoring/calibration.py``), checked against what it must be:
the minimum of the ridge-penalised log-loss, whose gradient is zero there (written out here
independently), so that on the tracks it was fitted on the mean confidence is the share of
right top genres, up to the ridge. Mutation testing (tests/MUTATION.md) found the looser
"recovers a known map within 0.4" tests blind to a ridge 1000 times too strong, a clip of
the share moved, or Newton's step halved once too often."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beetsplug.genrescore.scoring.calibration import RIDGE, fit_map, fit_platt
from beetsplug.genrescore.scoring.ensemble import ConfidenceMap


def _gradient(
    theta: tuple[float, ...], shares: list[float], right: list[bool], runner_ups: list[float] | None
) -> list[float]:
    """d/d theta of sum(log(1 + e^z) - y z) + RIDGE/2 |theta|^2, z = a logit(p) + b (+ m
    log(p / r), capped to [0, log 10]), in plain Python."""
    grad = [RIDGE * t for t in theta]
    for n, (share, y) in enumerate(zip(shares, right, strict=True)):
        p = min(max(share, 1e-6), 1 - 1e-6)
        features = [math.log(p / (1 - p)), 1.0]
        if runner_ups is not None:
            r = runner_ups[n]
            features.append(math.log(10) if r <= 0 else min(max(math.log(p / r), 0), math.log(10)))
        z = sum(t * f for t, f in zip(theta, features, strict=True))
        q = 1 / (1 + math.exp(-z))
        for i, f in enumerate(features):
            grad[i] += (q - y) * f
    return grad


def _tracks(seed: int, n: int) -> tuple[list[float], list[bool], list[float]]:
    rng = np.random.default_rng(seed)
    shares = rng.uniform(0.2, 0.9, size=n)
    runner_ups = (1 - shares) * rng.uniform(0.3, 0.9, size=n)
    right = rng.uniform(size=n) < shares**2  # overconfident: right less often than it says
    return shares.tolist(), right.tolist(), runner_ups.tolist()


@pytest.mark.parametrize("n", [12, 40, 400])
def test_the_map_is_the_penalised_log_loss_minimum(n: int) -> None:
    shares, right, runner_ups = _tracks(n, n)
    for extra in (None, runner_ups):
        theta = fit_platt(shares, right, extra)
        assert len(theta) == (2 if extra is None else 3)
        assert max(abs(g) for g in _gradient(theta, shares, right, extra)) < 1e-6
    # What a user reads: over the tracks it was fitted on, the mean confidence is the share
    # of them whose top genre was right (the intercept's zero gradient), less the ridge's
    # pull on the intercept.
    confidence_map = fit_map(shares, right, runner_ups)
    mean = np.mean([confidence_map(s, r) for s, r in zip(shares, runner_ups, strict=True)])
    pull = -RIDGE * confidence_map.intercept / n
    assert mean - np.mean(right) == pytest.approx(pull, abs=1e-8)
    assert abs(mean - np.mean(shares)) > 0.05  # the shares alone say otherwise: a real fit


def test_every_track_right_or_wrong_gives_a_finite_map() -> None:
    """Nothing to tell right from wrong: the ridge alone keeps the map finite, and it says
    "nearly always" (or "nearly never"), not 1 or 0."""
    shares, _, runner_ups = _tracks(5, 30)
    for right, low, high in ((True, 0.9, 1.0), (False, 0.0, 0.1)):
        theta = fit_platt(shares, [right] * len(shares), runner_ups)
        assert all(math.isfinite(t) for t in theta)
        assert max(abs(g) for g in _gradient(theta, shares, [right] * 30, runner_ups)) < 1e-6
        mapped = ConfidenceMap(*theta)
        for share, runner_up in zip(shares, runner_ups, strict=True):
            assert low < mapped(share, runner_up) < high


def test_a_runner_up_that_is_all_the_rest_still_converges() -> None:
    """Two genres share every vote: ``log(share / runner_up)`` is a function of the share's
    logit, the columns near-collinear: Newton's full step overshoots, the halving holds."""
    rng = np.random.default_rng(8)
    shares = rng.uniform(0.5, 0.95, size=200).tolist()
    runner_ups = [1 - s for s in shares]
    right = (rng.uniform(size=200) < 0.6).tolist()
    theta = fit_platt(shares, right, runner_ups)
    assert all(math.isfinite(t) for t in theta)
    assert max(abs(g) for g in _gradient(theta, shares, right, runner_ups)) < 1e-5
    mapped = ConfidenceMap(*theta)
    mean = np.mean([mapped(s, r) for s, r in zip(shares, runner_ups, strict=True)])
    assert mean == pytest.approx(np.mean(right), abs=1e-3)


def test_a_share_of_one_or_zero_is_read_at_the_clip() -> None:
    """A vote that names one genre gives it all the share: its logit is clipped (1e-6 from
    0 and 1), the fit stays finite and equals the one on the clipped shares."""
    shares, right, runner_ups = _tracks(3, 40)
    shares[0], runner_ups[0] = 1.0, 0.0
    shares[1] = 0.0
    theta = fit_platt(shares, right, runner_ups)
    assert all(math.isfinite(t) for t in theta)
    clipped = [1 - 1e-6, 1e-6, *shares[2:]]
    assert theta == pytest.approx(fit_platt(clipped, right, runner_ups), abs=1e-9)
    assert max(abs(g) for g in _gradient(theta, shares, right, runner_ups)) < 1e-6
