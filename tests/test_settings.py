"""Configuration is read once into frozen settings; wrong values stop with a clear message."""

from __future__ import annotations

import dataclasses
from typing import Any

import confuse
import pytest

from beetsplug.genrescore.backends.base import Role
from beetsplug.genrescore.errors import ConfigError
from beetsplug.genrescore.settings import DEFAULTS, GenresPolicy, read_settings


def view(user: dict[str, Any] | None = None) -> confuse.RootView:
    sources = [confuse.ConfigSource.of(DEFAULTS)]
    if user:
        sources.insert(0, confuse.ConfigSource.of(user))
    return confuse.RootView(sources)


def test_defaults() -> None:
    settings = read_settings(view())
    assert settings.auto is True
    assert settings.force is False
    assert settings.genres_policy is GenresPolicy.FILL
    assert settings.count == 3
    assert (settings.weights.ml, settings.weights.instruments, settings.weights.heuristic) == (
        0.2,
        0.6,
        0.2,
    )
    assert settings.models[Role.GENRE] == "danilotpnta/HuBERT-Genre-Clf"
    assert settings.models[Role.INSTRUMENTS] == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert settings.backend.device == "auto"
    violin = next(rule for rule in settings.ensemble.rules if rule.instrument == "violin")
    assert violin.boost == {"country": 4.0, "bluegrass": 3.0, "folk": 1.5}
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.count = 5  # type: ignore[misc]


def test_user_values_override_and_rules_merge_with_the_defaults() -> None:
    settings = read_settings(
        view(
            {
                "genres_policy": "merge",
                "weights": {"ml": 0.5},
                "instrument_rules": {"banjo": {"boost": {"bluegrass": 5.0}, "threshold": 0.2}},
                "models": {"genre": "none"},
            }
        )
    )
    assert settings.genres_policy is GenresPolicy.MERGE
    assert settings.weights.ml == 0.5
    assert settings.weights.instruments == 0.6  # untouched keys keep their default
    banjo = next(rule for rule in settings.ensemble.rules if rule.instrument == "banjo")
    assert banjo.boost["bluegrass"] == 5.0
    assert banjo.threshold == 0.2
    assert any(rule.instrument == "violin" for rule in settings.ensemble.rules)
    assert settings.models[Role.GENRE] == "none"


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"genres_policy": "replace"}, "fill, merge, overwrite, keep"),
        ({"count": 0}, "genrescore.count"),
        ({"weights": {"ml": -1}}, "weights.ml"),
        ({"weights": {"instrument": 0.5}}, "keys ml, instruments, heuristic, tagger_genres"),
        ({"device": "tpu"}, "auto, cpu, cuda, cuda:N"),
        ({"precision": "int4"}, "auto, fp32, bf16"),
        ({"windows": 1.5}, "an integer"),
        ({"window_seconds": 1}, "a number >= 3"),
        ({"auto": "sometimes"}, "yes or no"),
        ({"wieghts": {}}, "unknown option 'wieghts'; valid options: auto, force"),
        ({"instrument_rules": {"kazoo": {"boost": {"rock": 1}}}}, "unknown instrument 'kazoo'"),
        ({"instrument_rules": {"violin": {"boost": {"countri": 1}}}}, "unknown genre 'countri'"),
        ({"instrument_rules": {"violin": {"boost": {"country": "lots"}}}}, "a number >= 0"),
        ({"models": {"genre": ""}}, "models.genre is empty"),
        ({"models": {"mood": "x"}}, "keys genre, instruments"),
    ],
)
def test_wrong_values_name_the_option_and_the_valid_ones(
    user: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match="genrescore") as raised:
        read_settings(view(user))
    assert message in str(raised.value)


def test_fingerprint_changes_with_what_changes_results() -> None:
    defaults = read_settings(view())
    base, blend = defaults.fingerprint(), defaults.blend_fingerprint()
    assert read_settings(view()).fingerprint() == base
    assert read_settings(view({"windows": 5})).fingerprint() != base
    assert read_settings(view({"window_seconds": 5.0})).fingerprint() != base
    assert read_settings(view({"models": {"genre": "none"}})).fingerprint() != base
    # Weights, rules, prior and count change only the blend: the audio need not be read again.
    for user in (
        {"weights": {"ml": 0.3}},
        {"instrument_prior": 3.0},
        {"count": 4},
        {"instrument_rules": {"banjo": {"boost": {"folk": 9.0}}}},
    ):
        changed = read_settings(view(user))
        assert changed.fingerprint() == base, user
        assert changed.blend_fingerprint() != blend, user
    # Options that do not change results do not invalidate stored ones.
    same = read_settings(view({"genres_policy": "keep", "device": "cpu"}))
    assert (same.fingerprint(), same.blend_fingerprint()) == (base, blend)
