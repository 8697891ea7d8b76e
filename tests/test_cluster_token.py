"""``--cluster ray://host:port`` against a Ray head with token authentication (issue 20).

A real head: ``ray start --head --block`` with a Ray client server, token authentication
on (``RAY_AUTH_MODE=token``, the default of a head that has a token) and its token in a
file, started for this module and stopped by its process id. The real ``beet`` runs against
it in its own process, with the token where a user on another machine would put it
(``RAY_AUTH_TOKEN_PATH``), with a wrong one, and with none.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .audio_files import track
from .interpreter import checkout_env

ray = pytest.importorskip("ray")
# Token authentication came with Ray 2.5x; the floor's Ray (scripts/drift) has none to test.
pytest.importorskip("ray._private.authentication.authentication_token_setup")

#: How long the head may take to start on a loaded 2-core machine (s).
START_SECONDS = 120
#: The whole run against the cluster: actors start and load the embedded models (s).
RUN_SECONDS = 300
#: Token failures are known from one call; the old path waited 30 s for Ray's timeout.
REFUSED_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = checkout_env(RAY_ENABLE_USAGE_STATS="0", **extra)
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        if name not in extra:
            env.pop(name, None)
    return env


@dataclass(frozen=True)
class Head:
    address: str
    token: Path


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    folder = tmp_path_factory.mktemp("head")
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    (folder / "home").mkdir()
    client_port = _free_port()
    env = _clean_env(
        HOME=str(folder / "home"), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token)
    )
    command = [
        str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
        f"--port={_free_port()}", f"--ray-client-server-port={client_port}",
        f"--dashboard-port={_free_port()}", "--include-dashboard=false",
        "--num-cpus=2", "--disable-usage-stats",
    ]  # fmt: skip
    log = (folder / "head.log").open("wb")
    # Its own session: stopping it stops the head's processes and nothing else.
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    address = f"ray://127.0.0.1:{client_port}"
    try:
        _wait_for_client_server(client_port, process, folder / "head.log")
        yield Head(address, token)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_for_client_server(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Ray head stopped:\n{log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(1)
    pytest.fail(f"no Ray client server after {START_SECONDS} s")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A beets config and library of two short tracks; returns the folder (BEETSDIR)."""
    folder = tmp_path_factory.mktemp("client")
    music = folder / "music"
    for n, style in enumerate(("techno", "reel")):
        track(music / f"{n}.flac", style, 6.0)
    (folder / "config.yaml").write_text(
        f"directory: {music}\nlibrary: {folder / 'library.db'}\nplugins: [genrescore]\n"
        "import: {copy: no, write: no, autotag: no, log: null}\n"
        "genrescore: {auto: no, jobs: 1, models: {genre: musicnn-msd, instruments: yamnet}}\n"
    )
    (folder / "home").mkdir()
    subprocess.run(
        [sys.executable, "-m", "beets", "import", "-q", str(music)],
        env=_clean_env(BEETSDIR=str(folder)), check=True, capture_output=True, cwd=folder,
    )  # fmt: skip
    return folder


def beet(library: Path, head: Head, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "beets", "genrescore", "-f", "--cluster", head.address],
        env=_clean_env(BEETSDIR=str(library), HOME=str(library / "home"), **env),
        capture_output=True, text=True, timeout=RUN_SECONDS, cwd=library,
    )  # fmt: skip
    return done, time.monotonic() - started


def test_a_wrong_token_says_so_in_one_line(library: Path, head: Head) -> None:
    done, seconds = beet(library, head, RAY_AUTH_TOKEN="not-the-token")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: genrescore: the Ray cluster at {head.address} requires its authentication "
        "token and the token from RAY_AUTH_TOKEN is not the cluster's: set RAY_AUTH_TOKEN to "
        "the head's token, or RAY_AUTH_TOKEN_PATH to a file holding it (on the head: "
        "~/.ray/auth_token, or `ray get-auth-token`)"
    ]
    assert "Traceback" not in done.stderr
    assert seconds < REFUSED_SECONDS


def test_no_token_says_none_was_found(library: Path, head: Head) -> None:
    done, seconds = beet(library, head)
    assert done.returncode == 1
    assert "requires its authentication token and none was found here" in done.stderr
    assert seconds < REFUSED_SECONDS


def test_the_token_from_a_file_runs_the_models_on_the_cluster(library: Path, head: Head) -> None:
    done, _ = beet(library, head, RAY_AUTH_TOKEN_PATH=str(head.token))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"models on the Ray cluster at {head.address}" in out
    assert "analysed 2, skipped 0, failed 0" in out
