"""Loaded once by the decoder fork server, so that every worker forks warm.

Importing the analysis stack and running one feature extraction here pays librosa's and
scipy's first-call costs (about 1.5 s) once per run instead of once per worker.
"""

from __future__ import annotations

import numpy as np
import soundfile  # noqa: F401 - imported here so that workers fork with it loaded
import soxr  # noqa: F401

from .analyzer import HEURISTIC_RATE, prepare
from .scoring.features import extract_features

_NOISE_SECONDS = 2
extract_features(
    y=np.random.default_rng(0).standard_normal(HEURISTIC_RATE * _NOISE_SECONDS).astype(np.float32),
    sr=HEURISTIC_RATE,
)

__all__ = ["prepare"]
