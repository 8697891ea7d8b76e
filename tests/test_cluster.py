"""The models on a Ray cluster: a local Ray instance started here (2 CPUs, no dashboard).

The same answers as on one machine, an actor that dies mid-run, a cluster that goes away
mid-run. The cluster-gone test shuts Ray down, so it comes last. What needs no Ray (the
option's values, Ray missing) is in test_cluster_config.py, which runs without it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import confuse
import pytest
from beets.test.helper import PluginTestHelper

from beetsplug.genrescore import cluster
from beetsplug.genrescore.analyzer import Analyzer, Prepared, TrackResult, load_models
from beetsplug.genrescore.engine import Engine
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import copy, track
from .test_plugin import messages

EMBEDDED = {"models": {"genre": "musicnn-msd", "instruments": "yamnet"}}
SETTINGS = read_settings(
    confuse.RootView([confuse.ConfigSource.of(EMBEDDED), confuse.ConfigSource.of(DEFAULTS)])
)


ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Any:
    if not ray.is_initialized():
        # address="local": a new instance, never a cluster that happens to run here.
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
            namespace="test",
        )  # fmt: skip
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(SETTINGS, load_models(SETTINGS, print))


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cluster")
    styles = ("techno", "rock", "hiphop", "classical")
    return [track(folder / f"{i:02d}.flac", styles[i % 4], 6.0) for i in range(6)]


def _same(one: dict[str, TrackResult | None], other: dict[str, TrackResult | None]) -> None:
    assert one.keys() == other.keys()
    for key, result in one.items():
        theirs = other[key]
        assert result is not None
        assert theirs is not None, key
        assert theirs.method == result.method
        # Batches of another size sum in another order: float noise, no more.
        assert dict(theirs.decision.ranking) == pytest.approx(
            dict(result.decision.ranking), abs=1e-5
        )
        assert dict(theirs.decision.instruments) == pytest.approx(
            dict(result.decision.instruments), abs=1e-5
        )


@pytest.fixture(scope="module")
def inline(analyzer: Analyzer, tracks: list[Path]) -> dict[str, TrackResult | None]:
    work = [(path.name, str(path)) for path in tracks]
    return {d.key: d.result for d in Engine(analyzer, jobs=0).run(work)}


def _remote_run(
    analyzer: Analyzer, tracks: list[Path], actor_class: type[cluster.ModelActor]
) -> tuple[dict[str, TrackResult | None], cluster.RayInference]:
    remote = cluster.RayInference(
        analyzer, "auto", batch_tracks=2, actors=2, actor_class=actor_class
    )
    engine = Engine(analyzer, jobs=1, batch_tracks=2, remote=remote)
    try:
        return {d.key: d.result for d in engine.run((p.name, str(p)) for p in tracks)}, remote
    finally:
        engine.close()
        remote.close()


def test_the_cluster_gives_the_one_machine_results(
    local_ray: Any, analyzer: Analyzer, tracks: list[Path], inline: dict[str, Any]
) -> None:
    results, remote = _remote_run(analyzer, tracks, cluster.ModelActor)
    _same(inline, results)
    assert len(remote.nodes) == 2


def test_an_actor_that_dies_costs_no_track(
    local_ray: Any,
    analyzer: Analyzer,
    tracks: list[Path],
    inline: dict[str, Any],
    tmp_path: Path,
) -> None:
    marker = str(tmp_path / "died")

    class DiesOnce(cluster.ModelActor):
        # The first batch any actor gets kills it, with its tracks in flight.
        def evidence(self, tracks: list[Prepared]) -> Any:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super().evidence(tracks)
            os._exit(1)

    results, _ = _remote_run(analyzer, tracks, DiesOnce)
    assert os.path.exists(marker)
    _same(inline, results)


class TestCommandOnACluster(PluginTestHelper):
    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False

    def _library(self, tracks: list[Path]) -> None:
        from beets.library import Item

        for i in range(8):
            src = tracks[i % len(tracks)]
            item = Item.from_path(copy(src, self.lib_path / f"{i:02d}{src.suffix}"))
            item.add(self.lib)

    def _configure(self, where: str) -> None:
        self.config["genrescore"].set({**EMBEDDED, "jobs": 1, "cluster": where})
        self.config["import"]["write"] = False
        self.unload_plugins()
        self.load_plugins()

    def _stored(self) -> dict[int, tuple[Any, ...]]:
        return {
            item.id: (
                item.get("genrescore_genre"),
                round(item.get("genrescore_confidence", 0.0), 4),
                tuple(item.get("genrescore_top3", [])),
                tuple(item.get("genrescore_instruments", [])),
                item.get("genrescore_method"),
            )
            for item in self.lib.items()
        }

    def test_the_same_results_are_stored(self, local_ray: Any, tracks: list[Path]) -> None:
        self._library(tracks)
        self._configure("none")
        self.run_command("genrescore")
        alone = self._stored()
        self._configure("auto")
        self.run_command("genrescore", "-f")
        assert self._stored() == alone
        assert all(values[0] for values in alone.values())

    def test_a_cluster_that_goes_away_stops_the_run_with_the_finished_tracks_stored(
        self, local_ray: Any, tracks: list[Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        # Last in this module: it shuts the test's Ray instance down.
        from beets.exceptions import UserError

        from beetsplug.genrescore import run as run_module

        self._library(tracks)
        self._configure("auto")
        original = run_module.Run.apply

        def apply_then_lose_the_cluster(run: Any, *args: Any) -> None:
            original(run, *args)
            if run.counts.analysed == 1:
                threading.Thread(target=ray.shutdown).start()

        with pytest.MonkeyPatch.context() as patch, caplog.at_level("INFO", logger="beets"):
            patch.setattr(run_module.Run, "apply", apply_then_lose_the_cluster)
            patch.setattr(cluster, "BATCH_TRACKS", 1)  # tracks still out when Ray goes
            with pytest.raises(UserError, match="lost the Ray cluster") as raised:
                self.run_command("genrescore")
        stored = [values for values in self._stored().values() if values[0]]
        assert 1 <= len(stored) < 8
        assert "genrescore" in str(raised.value)
        assert f"analysed {len(stored)}," in messages(caplog)
