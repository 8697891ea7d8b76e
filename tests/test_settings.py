"""Configuration is read once into frozen settings; wrong values stop with a clear message."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import confuse
import pytest

from beetsplug.genrescore.backends.base import Role
from beetsplug.genrescore.errors import ConfigError
from beetsplug.genrescore.scoring.ensemble import CONFIDENCE_VERSION, Weights
from beetsplug.genrescore.scoring.taxonomy import GENRES, INSTRUMENTS
from beetsplug.genrescore.settings import (
    DEFAULTS,
    BpmPolicy,
    GenresPolicy,
    default_jobs,
    read_settings,
)


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


#: Wrong values and the whole message the user reads (checked by eye when written): the
#: option's full name, the value as YAML spells it, what would be valid.
MESSAGES: list[tuple[dict[str, Any], str]] = [
    (
        {"genres_policy": "replace"},
        "genrescore.genres_policy: 'replace' is not valid; expected one of fill, merge, "
        "overwrite, keep",
    ),
    (
        {"bpm_policy": 3},
        "genrescore.bpm_policy: 3 is not valid; expected one of fill, overwrite, keep",
    ),
    ({"count": 0}, "genrescore.count: 0 is not valid; expected an integer >= 1"),
    ({"count": 2.5}, "genrescore.count: 2.5 is not valid; expected an integer >= 1"),
    ({"count": True}, "genrescore.count: yes is not valid; expected an integer >= 1"),
    ({"count": False}, "genrescore.count: no is not valid; expected an integer >= 1"),
    (
        {"instrument_prior": float("-inf")},
        "genrescore.instrument_prior: -.inf is not valid; expected a number >= 0",
    ),
    (
        {"min_confidence": None},
        "genrescore.min_confidence: nothing is not valid; expected a number from 0 to 1",
    ),
    ({"weights": {"ml": -1}}, "genrescore.weights.ml: -1 is not valid; expected a number >= 0"),
    (
        {"weights": {"ml": float("inf")}},
        "genrescore.weights.ml: .inf is not valid; expected a number >= 0",
    ),
    (
        {"weights": {"instrument": 0.5}},
        "genrescore.weights.instrument: 0.5 is not valid; expected keys ml, instruments, "
        "heuristic, tagger_genres",
    ),
    (
        {"weights": {"ml": 0, "instruments": 0, "heuristic": 0, "tagger_genres": 0}},
        "genrescore.weights: {ml: 0, instruments: 0, heuristic: 0, tagger_genres: 0} is not "
        "valid; expected at least one weight above 0",
    ),
    (
        {"weights": "heavy"},
        "genrescore.weights: 'heavy' is not valid; expected a mapping of ml, instruments, "
        "heuristic, tagger_genres",
    ),
    (
        {"device": 3},
        "genrescore.device: 3 is not valid; expected one of auto, cpu, cuda, cuda:N",
    ),
    (
        {"precision": ["bf16"]},
        "genrescore.precision: ['bf16'] is not valid; expected one of auto, fp32, bf16",
    ),
    ({"windows": 1.5}, "genrescore.windows: 1.5 is not valid; expected an integer >= 1"),
    ({"windows": 0}, "genrescore.windows: 0 is not valid; expected an integer >= 1"),
    ({"window_seconds": 1}, "genrescore.window_seconds: 1 is not valid; expected a number >= 3"),
    ({"auto": "sometimes"}, "genrescore.auto: 'sometimes' is not valid; expected yes or no"),
    ({"force": 1}, "genrescore.force: 1 is not valid; expected yes or no"),
    (
        {"min_confidence": 1.5},
        "genrescore.min_confidence: 1.5 is not valid; expected a number from 0 to 1",
    ),
    (
        {"min_confidence": -0.1},
        "genrescore.min_confidence: -0.1 is not valid; expected a number from 0 to 1",
    ),
    (
        {"min_confidence": "high"},
        "genrescore.min_confidence: 'high' is not valid; expected a number from 0 to 1",
    ),
    (
        {"min_confidence": float("nan")},
        "genrescore.min_confidence: .nan is not valid; expected a number from 0 to 1",
    ),
    (
        {"instrument_rules": "heavy"},
        "genrescore.instrument_rules: 'heavy' is not valid; expected a mapping of instrument: rule",
    ),
    (
        {"instrument_rules": {"violin": "loud"}},
        "genrescore.instrument_rules.violin: 'loud' is not valid; expected a mapping with "
        "'boost' and optional unless, unless_heard, threshold, floor",
    ),
    (
        {"instrument_rules": {"violin": {"boost": {"country": "lots"}}}},
        "genrescore.instrument_rules.violin.boost.country: 'lots' is not valid; expected a "
        "number >= 0",
    ),
    (
        {"instrument_rules": {"violin": {"boost": {"country": -1}}}},
        "genrescore.instrument_rules.violin.boost.country: -1 is not valid; expected a number >= 0",
    ),
    (
        {"instrument_rules": {"violin": {"boost": ["country"]}}},
        "genrescore.instrument_rules.violin.boost: ['country'] is not valid; expected a "
        "mapping of genre: number",
    ),
    (
        {"instrument_rules": {"violin": {"threshold": 0}}},
        "genrescore.instrument_rules.violin.threshold: 0 is not valid; expected a number > 0",
    ),
    (
        {"instrument_rules": {"violin": {"floor": "low"}}},
        "genrescore.instrument_rules.violin.floor: 'low' is not valid; expected a number > 0",
    ),
    (
        {"instrument_rules": {"violin": {"unless_heard": {"cello": 0}}}},
        "genrescore.instrument_rules.violin.unless_heard.cello: 0 is not valid; expected a "
        "number > 0",
    ),
    (
        {"instrument_rules": {"violin": {"unless_heard": "cello"}}},
        "genrescore.instrument_rules.violin.unless_heard: 'cello' is not valid; expected a "
        "mapping of instrument: number",
    ),
    (
        {"instrument_rules": {"violin": {"unless": {"classical": -0.1}}}},
        "genrescore.instrument_rules.violin.unless.classical: -0.1 is not valid; expected a "
        "number >= 0",
    ),
    (
        {"models": {"mood": "x"}},
        "genrescore.models.mood: 'x' is not valid; expected keys genre, instruments",
    ),
    (
        {"models": "x"},
        "genrescore.models: 'x' is not valid; expected a mapping of genre, instruments",
    ),
    (
        {"instrument_prior": -1},
        "genrescore.instrument_prior: -1 is not valid; expected a number >= 0",
    ),
    ({"batch_size": 0}, "genrescore.batch_size: 0 is not valid; expected an integer >= 1"),
    ({"jobs": -1}, "genrescore.jobs: -1 is not valid; expected an integer >= 0"),
    ({"jobs": "many"}, "genrescore.jobs: 'many' is not valid; expected an integer >= 0"),
]


@pytest.mark.parametrize(("user", "message"), MESSAGES)
def test_the_whole_message_of_each_wrong_value(user: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings(view(user))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("user", "prefix", "valid"),
    [
        ({"wieghts": {}}, "genrescore: unknown option 'wieghts'; valid options: ", DEFAULTS),
        (
            {"instrument_rules": {"kazoo": {"boost": {"rock": 1}}}},
            "genrescore.instrument_rules: unknown instrument 'kazoo'; valid instruments: ",
            INSTRUMENTS,
        ),
        (
            {"instrument_rules": {"violin": {"unless_heard": {"kazoo": 0.5}}}},
            "genrescore.instrument_rules.violin.unless_heard: unknown instrument 'kazoo'; "
            "valid instruments: ",
            INSTRUMENTS,
        ),
        (
            {"instrument_rules": {"violin": {"boost": {"countri": 1}}}},
            "genrescore.instrument_rules.violin.boost: unknown genre 'countri'; valid genres: ",
            GENRES,
        ),
    ],
)
def test_an_unknown_name_lists_every_valid_one(
    user: dict[str, Any], prefix: str, valid: Any
) -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings(view(user))
    assert str(raised.value) == prefix + ", ".join(valid)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", "none"),
        (None, "none"),
        (False, "none"),
        ("auto", "auto"),
        ("ray://head:10001", "ray://head:10001"),
        ("ray://10.0.0.5:10001", "ray://10.0.0.5:10001"),
    ],
)
def test_cluster_values(value: Any, expected: str) -> None:
    assert read_settings(view({"cluster": value})).cluster == expected


@pytest.mark.parametrize("value", ["ray://host", "somewhere", "ray://:10001", "ray://h:port"])
def test_a_cluster_address_needs_host_and_port(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings(view({"cluster": value}))
    assert str(raised.value) == (
        f"genrescore.cluster: {value!r} is not valid; expected none, auto or ray://host:port"
    )


def test_every_option_is_read_into_the_settings(tmp_path: Any) -> None:
    settings = read_settings(
        view(
            {
                "auto": False,
                "force": True,
                "bpm_policy": "overwrite",
                "min_confidence": 0.25,
                "count": 4,
                "weights": {"ml": 0.5, "instruments": 0, "heuristic": 0.25, "tagger_genres": 1},
                "instrument_prior": 3.5,
                "models": {"genre": "musicnn-msd", "instruments": None},
                "windows": 2,
                "window_seconds": 7.5,
                "device": "cpu",
                "precision": "fp32",
                "cache_dir": "~/models",
                "batch_size": 8,
                "jobs": 0,
            }
        )
    )
    assert (settings.auto, settings.force) == (False, True)
    assert settings.bpm_policy is BpmPolicy.OVERWRITE
    assert settings.min_confidence == 0.25
    assert settings.count == 4
    assert settings.weights == Weights(ml=0.5, instruments=0.0, heuristic=0.25, tagger_genres=1.0)
    assert settings.ensemble.instrument_prior == 3.5
    assert settings.models == {Role.GENRE: "musicnn-msd", Role.INSTRUMENTS: "none"}
    assert (settings.windows, settings.window_seconds) == (2, 7.5)
    assert (settings.backend.device, settings.backend.precision) == ("cpu", "fp32")
    assert settings.backend.cache_dir == os.path.expanduser("~/models")
    assert settings.backend.batch_size == 8
    assert settings.jobs == 0
    assert read_settings(view({"jobs": "auto"})).jobs == default_jobs() >= 1
    assert read_settings(view({"jobs": 3})).jobs == 3
    assert read_settings(view()).backend.cache_dir is None
    # The replace overlay (CLI flags) leaves the rest as read.
    forced = settings.replace(force=False, jobs=2)
    assert (forced.force, forced.jobs, forced.count) == (False, 2, 4)


def test_every_rule_key_is_read() -> None:
    settings = read_settings(
        view(
            {
                "instrument_rules": {
                    "banjo": {
                        "boost": {"bluegrass": 5},
                        "unless": {"classical": 0.2},
                        "unless_heard": {"cello": 0.4},
                        "threshold": 0.05,
                        "floor": 0.01,
                    }
                }
            }
        )
    )
    banjo = next(rule for rule in settings.ensemble.rules if rule.instrument == "banjo")
    # Merged over the default banjo rule: the user's keys win, the rest stay.
    assert dict(banjo.boost) == {"bluegrass": 5.0, "country": 2.0, "folk": 1.0}
    assert dict(banjo.unless) == {"classical": 0.2}
    assert dict(banjo.unless_heard) == {"cello": 0.4}
    assert (banjo.threshold, banjo.floor) == (0.05, 0.01)
    assert all(isinstance(v, float) for v in banjo.boost.values())
    violin = next(rule for rule in settings.ensemble.rules if rule.instrument == "violin")
    assert (violin.threshold, violin.floor) == (None, None)


def test_the_fingerprints_are_short_stable_hex_digests() -> None:
    settings = read_settings(view())
    for digest in (settings.fingerprint(), settings.blend_fingerprint()):
        assert len(digest) == 16
        int(digest, 16)
    assert settings.fingerprint() != settings.blend_fingerprint()
    # A rule's every part is in the blend fingerprint.
    base = settings.blend_fingerprint()
    for rule in (
        {"boost": {"bluegrass": 3.1}},
        {"unless": {"classical": 0.2}},
        {"unless_heard": {"cello": 0.4}},
        {"threshold": 0.05},
        {"floor": 0.01},
    ):
        changed = read_settings(view({"instrument_rules": {"banjo": rule}}))
        assert changed.blend_fingerprint() != base, rule
    assert read_settings(view({"weights": {"tagger_genres": 0.3}})).blend_fingerprint() != base


def _sha16(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def test_the_fingerprints_are_their_documented_payloads() -> None:
    """Every stored result carries these: a change to their format makes every user's library
    analysed (or re-blended) again, so it must be deliberate and show up here."""
    settings = read_settings(
        view({"models": {"genre": "musicnn-msd", "instruments": "yamnet"}, "windows": 2})
    )
    assert settings.fingerprint() == _sha16(
        {"models": {"genre": "musicnn-msd", "instruments": "yamnet"}, "windows": [2, 10.0]}
    )
    rules = [
        [
            r.instrument,
            [list(pair) for pair in sorted(r.boost.items())],
            [list(pair) for pair in sorted(r.unless.items())],
            [list(pair) for pair in sorted(r.unless_heard.items())],
            r.threshold,
            r.floor,
        ]
        for r in settings.ensemble.rules
    ]
    assert settings.blend_fingerprint() == _sha16(
        {
            "weights": {"ml": 0.2, "instruments": 0.6, "heuristic": 0.2, "tagger_genres": 0.1},
            "count": 3,
            "prior": 2.0,
            "confidence": CONFIDENCE_VERSION,
            "rules": rules,
        }
    )


def test_edges_of_valid_values() -> None:
    assert read_settings(view({"min_confidence": 1})).min_confidence == 1.0
    settings = read_settings(view({"instrument_rules": {"violin": {"boost": {"folk": 0}}}}))
    violin = next(rule for rule in settings.ensemble.rules if rule.instrument == "violin")
    assert violin.boost["folk"] == 0.0  # a boost of 0 switches one genre off
    with pytest.raises(ConfigError) as raised:
        read_settings(view({"precision": ["bf16", "fp32"]}))
    assert str(raised.value).startswith("genrescore.precision: ['bf16', 'fp32'] is not valid")


def test_an_unknown_rule_key_is_named() -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings(view({"instrument_rules": {"violin": {"boots": {"rock": 1}}}}))
    message = str(raised.value)
    assert message.startswith("genrescore.instrument_rules.violin.boots: {boots: {rock: 1}, ")
    assert message.endswith(
        " is not valid; expected keys boost, unless, unless_heard, threshold, floor"
    )


def test_unless_takes_a_limit_of_zero_and_names_unknown_genres() -> None:
    settings = read_settings(view({"instrument_rules": {"violin": {"unless": {"classical": 0}}}}))
    violin = next(rule for rule in settings.ensemble.rules if rule.instrument == "violin")
    assert violin.unless["classical"] == 0.0  # 0 switches the gate off
    with pytest.raises(ConfigError) as raised:
        read_settings(view({"instrument_rules": {"violin": {"unless": {"clasical": 0.3}}}}))
    assert str(raised.value) == (
        "genrescore.instrument_rules.violin.unless: unknown genre 'clasical'; valid genres: "
        + ", ".join(GENRES)
    )


def test_an_ipv6_cluster_address() -> None:
    assert read_settings(view({"cluster": "ray://[::1]:10001"})).cluster == "ray://[::1]:10001"
