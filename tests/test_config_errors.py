"""Config errors in the user's words: non-finite numbers refused, no Python reprs (issue 20)."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

import confuse
import pytest
from beets.test.helper import PluginTestHelper
from beets.ui import UserError

from beetsplug.genrescore.errors import ConfigError
from beetsplug.genrescore.settings import DEFAULTS, read_settings, shown

#: What a message about a config value must never show: Python's spellings of YAML values.
PYTHON_REPR = re.compile(r"OrderedDict|\{'|\[\(|(?<![.\w])(inf|nan|True|False|None)\b")


def view(user: dict[str, Any]) -> confuse.RootView:
    return confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"weights": {"ml": math.inf}}, "genrescore.weights.ml: .inf is not valid"),
        ({"weights": {"heuristic": math.nan}}, "genrescore.weights.heuristic: .nan is not"),
        ({"weights": {"ml": -math.inf}}, "genrescore.weights.ml: -.inf is not valid"),
        ({"instrument_prior": math.inf}, "genrescore.instrument_prior: .inf"),
        ({"window_seconds": math.inf}, "genrescore.window_seconds: .inf"),
        ({"min_confidence": math.nan}, "genrescore.min_confidence: .nan"),
        (
            {"instrument_rules": {"banjo": {"boost": {"bluegrass": math.inf}}}},
            "instrument_rules.banjo.boost.bluegrass: .inf",
        ),
        (
            {"instrument_rules": {"banjo": {"boost": {"bluegrass": 1}, "threshold": math.nan}}},
            "instrument_rules.banjo.threshold: .nan",
        ),
        (
            {"instrument_rules": {"fiddle": {"unless_heard": {"banjo": math.inf}}}},
            "genrescore.instrument_rules: unknown instrument 'fiddle'",
        ),
        (
            {"weights": {"ml": 0, "instruments": 0, "heuristic": 0, "tagger_genres": 0}},
            "genrescore.weights: {ml: 0, instruments: 0, heuristic: 0, tagger_genres: 0} "
            "is not valid; expected at least one weight above 0",
        ),
        ({"auto": "sometimes"}, "genrescore.auto: 'sometimes' is not valid; expected yes or no"),
        ({"count": True}, "genrescore.count: yes is not valid"),
        ({"windows": [1, 2]}, "genrescore.windows: [1, 2] is not valid"),
        ({"precision": {"a": 1}}, "genrescore.precision: {a: 1} is not valid; expected one of"),
        ({"device": None}, "genrescore.device: nothing is not valid"),
        ({"instrument_rules": {"banjo": 3}}, "genrescore.instrument_rules.banjo: 3 is not"),
        ({"instrument_rules": {"banjo": {"boost": [1]}}}, "banjo.boost: [1] is not valid"),
    ],
)
def test_each_error_is_one_line_in_the_users_words(user: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings(view(user))
    text = str(raised.value)
    assert message in text
    assert "\n" not in text
    value_part = text.split(" is not valid")[0]
    assert not PYTHON_REPR.search(value_part), text


def test_shown_spells_values_as_yaml() -> None:
    assert shown({"ml": math.inf, "x": [True, None]}) == "{ml: .inf, x: [yes, nothing]}"
    assert shown(0.5) == "0.5"


class TestCommand(PluginTestHelper):
    """Through ``beet``: the command stops with the one line, before touching anything."""

    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False

    def test_infinite_weight_stops_the_command(self) -> None:
        self.config["genrescore"]["weights"] = {"ml": math.inf}
        self.load_plugins()
        with pytest.raises(UserError, match=r"genrescore.weights.ml: \.inf is not valid"):
            self.run_command("genrescore", "--reblend")
