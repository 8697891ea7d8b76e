"""The ``cluster`` option and what needs no Ray: these run where Ray is not installed.

(test_cluster.py, which needs Ray, is skipped there as a whole.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from beetsplug.genrescore import cluster
from beetsplug.genrescore.errors import ConfigError
from beetsplug.genrescore.settings import check_cluster


@pytest.mark.parametrize(
    ("value", "expected"),
    [("none", "none"), (None, "none"), (False, "none"), ("auto", "auto"),
     ("ray://gpu-box:10001", "ray://gpu-box:10001")],
)  # fmt: skip
def test_cluster_values(value: object, expected: str) -> None:
    assert check_cluster(value) == expected


@pytest.mark.parametrize("value", ["yes", "ray://", "ray://host", "host:10001", "ray://h:x"])
def test_a_wrong_cluster_value_lists_the_valid_ones(value: str) -> None:
    with pytest.raises(ConfigError, match=r"none, auto or ray://host:port"):
        check_cluster(value)


def test_ray_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(cluster.ClusterError, match=r"pip install 'beets-genrescore\[ray\]'"):
        cluster.connect("auto")


def test_the_token_is_looked_for_where_ray_looks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert cluster._token_source() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("abc")
    assert cluster._token_source() == "~/.ray/auth_token"
    token = tmp_path / "token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    assert cluster._token_source() is None  # named, but not there: Ray would find none
    token.write_text("def")
    assert cluster._token_source() == f"RAY_AUTH_TOKEN_PATH ({token})"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "ghi")
    assert cluster._token_source() == "RAY_AUTH_TOKEN"


#: What Ray 2.60's client got back from a head that could not start its server process
#: (a clean-clone CI run, 2026-12-08; the proxier's traceback, shortened), and the two
#: messages the proxier itself raises.
_ZOMBIE = (
    "Initialization failure from server:\nTraceback (most recent call last):\n"
    '  File ".../ray/util/client/server/proxier.py", line 765, in Datapath\n'
    "    if not self.proxy_manager.start_specific_server(\n"
    '  File ".../ray/util/client/server/proxier.py", line 396, in start_specific_server\n'
    "    cmd = psutil_proc.cmdline()\n"
    "psutil.ZombieProcess: PID still exists but it's a zombie (pid=15570)\n"
)
_NOT_STARTED = (
    "Initialization failure from server:\nTraceback (most recent call last):\n"
    "RuntimeError: Starting Ray client server failed. See ray_client_server_23000.err for "
    "detailed logs.\n"
)


@pytest.mark.parametrize(
    ("message", "passing"),
    [
        (_ZOMBIE, True),
        (_NOT_STARTED, True),
        ("Failed to connect to the client server at 127.0.0.1:1: connection refused", False),
        ("Initialization failure from server:\nRuntimeError: Proxy failed to Connect", False),
        ("token authentication failed: the token is invalid", False),
    ],
)
def test_only_the_heads_failure_to_start_a_server_is_tried_again(
    message: str, passing: bool
) -> None:
    assert cluster.head_could_not_start_server(message) is passing
