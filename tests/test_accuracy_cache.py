"""benchmarks/accuracy.py's cache of prepared clips: a change to the features' code is never
served the features of the code before it (the dev-set figures of the default were, for a
while, blended from features cached before the distortion descriptor existed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from beetsplug.genrescore.analyzer import Analyzer
from benchmarks import accuracy
from benchmarks.devset import Clip

RATE = 22050


def _clip(tmp_path: Path) -> Clip:
    t = np.arange(4 * RATE) / RATE
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    path = tmp_path / "clip.flac"
    soundfile.write(path, y.astype(np.float32), RATE)
    return Clip(
        id="clip",
        path=path,
        genre="rock",
        instruments=(),
        solo=False,
        complete=False,
        source="test",
        label_source="made by the test",
        duration=4.0,
    )


def _runner(cache: Path, *, reblend_only: bool = False) -> accuracy.Runner:
    # The heuristics alone: no model file is needed to prepare a clip.
    settings = accuracy.make_settings({"genre": "none", "instruments": "none"}, "cpu", {})
    return accuracy.Runner(
        Analyzer(settings, accuracy.build_models(settings)), cache, reblend_only=reblend_only
    )


def test_changed_feature_code_prepares_the_clip_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip, cache = _clip(tmp_path), tmp_path / "cache"
    first = _runner(cache)
    prepared = first.prepared(clip, full=True)
    assert first.timings.prepared_hits == 0
    again = _runner(cache)
    assert again.prepared(clip, full=True).features == prepared.features
    assert again.timings.prepared_hits == 1

    # The same features.py with one line more: another version of the code.
    edited = tmp_path / "features.py"
    original = accuracy.FEATURE_SOURCES[0]
    edited.write_text(original.read_text() + "\n# edited\n")
    monkeypatch.setattr(accuracy, "FEATURE_SOURCES", (edited, *accuracy.FEATURE_SOURCES[1:]))

    # Blending only, the old features are not there to be served: it says so.
    with pytest.raises(SystemExit, match="not prepared yet"):
        _runner(cache, reblend_only=True).prepared(clip, full=False)
    after = _runner(cache)
    after.prepared(clip, full=True)
    assert after.timings.prepared_hits == 0
    assert len(list((cache / "prepared").glob("clip-*.pkl"))) == 2


def test_changed_decoding_code_runs_the_models_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The models' cached outputs are keyed by the decoded windows: a change to audio.py
    # changes their key (and the features', which are computed from the same windows).
    clip = _clip(tmp_path)
    runner = _runner(tmp_path / "cache")
    before = (runner._prepared_key(clip), runner._features_key(clip))
    edited = tmp_path / "audio.py"
    edited.write_text(accuracy.DECODING_SOURCES[0].read_text() + "\n# edited\n")
    monkeypatch.setattr(accuracy, "DECODING_SOURCES", (edited,))
    after = (runner._prepared_key(clip), runner._features_key(clip))
    assert after[0] != before[0]
    assert after[1] != before[1]
