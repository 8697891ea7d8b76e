"""The worker plan: one function decides how many workers run, where the models run, what
the fork server preloads and how many threads each worker gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import confuse
import pytest
from beets.test.helper import ImportHelper, PluginMixin

from beetsplug.genrescore import workers
from beetsplug.genrescore.backends.base import EMBEDDED, EMBEDDED_BY_NAME, EMBEDDED_DEFAULTS
from beetsplug.genrescore.forkserver import STARTED_BY
from beetsplug.genrescore.settings import DEFAULTS, Settings, default_jobs, read_settings
from beetsplug.genrescore.workers import WORKER_PRELOAD, Where, WorkerPlan

from .audio_files import copy
from .hf_models import make_tiny_hubert
from .interpreter import CHECKOUT, checkout_env, fresh_python

#: The embedded models' modules: what the fork server preloads when the workers run them.
EMBEDDED_MODULES = tuple(
    sorted({EMBEDDED[name].partition(":")[0] for name in EMBEDDED_DEFAULTS.values()})
)
HEURISTICS_ONLY = {"models": {"genre": "none", "instruments": "none"}}
EMBEDDED_PAIR = {"genre": "musicnn-msd", "instruments": "yamnet"}
#: The ONNX files of the roles' embedded fallbacks (what the default config runs offline).
DEFAULT_ONNX_FILES = tuple(
    sorted({EMBEDDED_BY_NAME[name].files["onnx"] for name in EMBEDDED_DEFAULTS.values()})
)


def settings(**user: Any) -> Settings:
    sources = [confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)]
    return read_settings(confuse.RootView(sources))


CORES = default_jobs()


@pytest.mark.parametrize(
    ("config", "tracks", "models", "model_preload"),
    [
        # The default (checkpoints, or their embedded fallbacks): tracks not known yet.
        ({}, None, Where.WORKERS, True),
        # One track: the workers decode, this process runs the models; no torch in the server.
        ({}, 1, Where.HERE, False),
        ({"jobs": 1}, 1, Where.HERE, False),
        # More tracks than workers: the models run in the workers.
        ({"jobs": 1}, 2, Where.WORKERS, True),
        ({}, 1000, Where.WORKERS, True),
        # No model: the workers do everything, whatever the count.
        (HEURISTICS_ONLY, 1, Where.WORKERS, False),
        (HEURISTICS_ONLY, 1000, Where.WORKERS, False),
        # No workers: everything here.
        ({"jobs": 0}, 1000, Where.HERE, False),
        # A GPU named: batches here.
        ({"device": "cuda"}, 1000, Where.HERE, False),
        # A cluster runs the models; the workers only decode.
        ({"cluster": "auto"}, 1000, Where.CLUSTER, False),
        ({"cluster": "auto"}, 1, Where.CLUSTER, False),
    ],
)
def test_where_the_models_run(
    config: dict[str, Any], tracks: int | None, models: Where, model_preload: bool
) -> None:
    plan = workers.plan(settings(**config), tracks)
    assert plan.models is models
    assert plan.models_in_workers is (models is Where.WORKERS)
    assert plan.preload == WORKER_PRELOAD + (EMBEDDED_MODULES if model_preload else ())


def test_the_model_preload_is_the_registrys_module_of_each_configured_model() -> None:
    plan = workers.plan(settings(models={"genre": "musicnn-mtt", "instruments": "none"}))
    assert plan.preload == (*WORKER_PRELOAD, EMBEDDED["musicnn-mtt"].partition(":")[0])


@pytest.mark.parametrize(
    ("jobs", "tracks", "expected"),
    [
        (999, None, CORES),  # capped at the cores
        (999, 1, 1),  # and at the tracks
        (1, None, 1),
        (0, 5, 0),
    ],
)
def test_jobs_are_capped_at_the_cores_and_the_tracks(
    jobs: int, tracks: int | None, expected: int
) -> None:
    plan = workers.plan(settings(jobs=jobs), tracks)
    assert plan.jobs == expected
    assert plan.cores == CORES
    assert plan.threads == (max(1, CORES // expected) if expected else CORES)


def test_workers_that_have_the_models_keep_them_for_a_short_run() -> None:
    plan = workers.plan(settings(jobs=2), 1, jobs=2, workers_have_models=True)
    assert plan.models is Where.WORKERS


def test_loaded_models_decide_over_the_settings() -> None:
    # Nothing loaded (every model unavailable, no fallback): the workers run the heuristics.
    assert workers.plan(settings(), 1, loaded=[]).models is Where.WORKERS

    class OnGpu:
        accelerated = True

    plan = workers.plan(settings(), 1000, loaded=[OnGpu()])  # type: ignore[list-item]
    assert plan.models is Where.HERE


def test_planning_and_starting_import_nothing_heavy() -> None:
    # The command and the import hook plan and start the fork server before this process
    # loads the analysis stack: none of it may come in through run.py or workers.py.
    code = (
        "import sys\n"
        "import beetsplug.genrescore.run, beetsplug.genrescore.workers as w\n"
        "from beetsplug.genrescore.settings import DEFAULTS, read_settings\n"
        "import confuse\n"
        "w.plan(read_settings(confuse.RootView([confuse.ConfigSource.of(DEFAULTS)])), 1)\n"
        "print(sorted(m for m in ('torch', 'librosa', 'scipy') if m in sys.modules))"
    )
    assert fresh_python(code) == "[]"


def _warm() -> tuple[bool, bool]:
    """In a worker: whether it forked with the analysis stack loaded and warmed up (the
    decoders' libraries loaded, the features' mel filter bank built)."""
    from beetsplug.genrescore.scoring import features

    loaded = all(m in sys.modules for m in ("beetsplug.genrescore.analyzer", "soxr", "soundfile"))
    return loaded, features._mel_basis.cache_info().currsize > 0


def test_workers_fork_from_a_warm_fork_server() -> None:
    plan = workers.plan(settings(**HEURISTICS_ONLY), 1)
    workers.start(plan)
    assert STARTED_BY not in os.environ  # set only while the server starts
    context = workers.context(plan)
    assert context.get_start_method() == "forkserver"  # Linux, where the plugin runs
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        assert pool.submit(_warm).result() == (True, True)


def test_a_run_starts_the_fork_server_before_it_imports_the_analysis_stack() -> None:
    # The server's imports overlap this process's only when it is started first. (The
    # analyzer marks the analysis stack: it no longer imports librosa in this process.)
    code = (
        "import logging, sys, confuse\n"
        "from beetsplug.genrescore import run, workers\n"
        "from beetsplug.genrescore.settings import DEFAULTS, read_settings\n"
        "stack = 'beetsplug.genrescore.analyzer'\n"
        "seen = []\n"
        "workers.start = lambda plan: seen.append(stack in sys.modules)\n"
        "sources = [confuse.ConfigSource.of({'models': {'genre': 'none', 'instruments': 'none'}}),"
        " confuse.ConfigSource.of(DEFAULTS)]\n"
        "settings = read_settings(confuse.RootView(sources))\n"
        "r = run.Run(settings, logging.getLogger('test'), run.RunOptions())\n"
        "r.engine\n"
        "print(seen, stack in sys.modules)"
    )
    assert fresh_python(code) == "[False] True"


#: What a new user's one-track run on the CPU must not import in its main process: each
#: costs seconds on two cores (torch 2.5-3 s, librosa with scipy and numba about 4 s).
HEAVY = ("torch", "transformers", "librosa", "scipy", "numba")

#: Runs ``beet`` (its arguments after the script's) and says at exit which of HEAVY it imported.
_BEET_AUDITED = (
    "import atexit, json, runpy, sys\n"
    f"heavy = lambda: json.dumps([m for m in {HEAVY!r} if m in sys.modules])\n"
    "atexit.register(lambda: print('HEAVY', heavy(), file=sys.stderr))\n"
    "sys.argv = ['beet', *sys.argv[1:]]\n"
    "runpy.run_module('beets', run_name='__main__', alter_sys=True)\n"
)


def _library(tmp_path: Path, genrescore: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """A fresh beets library config under ``tmp_path``: the audited ``beet`` and its env."""
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "directory": str(tmp_path / "music"),
                "library": str(tmp_path / "library.db"),
                "plugins": ["genrescore"],
                "import": {"copy": False, "write": False, "autotag": False},
                "genrescore": genrescore,
            }
        )
    )
    env = checkout_env(BEETSDIR=str(tmp_path), HF_HOME=str(tmp_path / "hf-home"))
    return [sys.executable, "-c", _BEET_AUDITED, "-c", str(config)], env


def _beet(beet: list[str], env: dict[str, str], *args: str) -> tuple[str, list[str]]:
    """``beet ARGS``: its stderr, and which of HEAVY its main process imported."""
    done = subprocess.run(
        [*beet, *args], env=env, cwd=Path(env["BEETSDIR"]), check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    heavy = next(line for line in done.stderr.splitlines() if line.startswith("HEAVY "))
    return done.stderr, json.loads(heavy.removeprefix("HEAVY "))


@pytest.mark.parametrize("how", ["command", "import"])
def test_a_new_users_one_track_run_imports_no_heavy_library(
    tmp_path: Path, audio_dir: Path, how: str
) -> None:
    # The default config with nothing downloaded (the embedded models run, in numpy): what
    # makes `beet genrescore -f id:1` or a one-track `beet import` take 2.5 s instead of 7.
    # (benchmarks/bench.py --startup measures the time; this guards what it depends on.)
    beet, env = _library(tmp_path, {"auto": how == "import"})
    track = copy(audio_dir / "techno.mp3", tmp_path / "in" / "techno.mp3")
    if how == "command":
        _beet(beet, env, "import", "-q", str(track))
        out, heavy = _beet(beet, env, "genrescore", "-f", "id:1")
    else:
        out, heavy = _beet(beet, env, "import", "-q", str(track))

    assert "analysed 1, skipped 0, failed 0" in out
    assert heavy == []


@pytest.mark.parametrize("checkpoint", ["sound", "broken"])
def test_a_run_with_nothing_to_analyse_loads_no_checkpoint(
    tmp_path: Path, audio_dir: Path, checkpoint: str
) -> None:
    # A downloaded checkpoint's fingerprint comes from its files (hub.describe), so an
    # up-to-date library is checked without importing torch or transformers. One that is
    # described but cannot load (corrupt weights) falls back to the embedded model: its
    # results stay current, the next run analyses nothing again.
    model = make_tiny_hubert(tmp_path / "hubert")
    if checkpoint == "broken":
        (model / "model.safetensors").write_bytes(b"not a safetensors file")
    beet, env = _library(
        tmp_path, {"auto": False, "models": {"genre": str(model), "instruments": "none"}}
    )
    track = copy(audio_dir / "techno.mp3", tmp_path / "in" / "techno.mp3")
    _beet(beet, env, "import", "-q", str(track))
    first, _ = _beet(beet, env, "genrescore")
    assert "analysed 1, skipped 0, failed 0" in first
    assert ("using efficientat-genre instead" in first) is (checkpoint == "broken")

    again, heavy = _beet(beet, env, "genrescore")

    assert "analysed 0, skipped 1, failed 0" in again
    if checkpoint == "sound":
        assert heavy == []


class TestImportHook(PluginMixin, ImportHelper):
    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False

    def test_a_one_track_import_keeps_the_models_out_of_the_fork_server(
        self, audio_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The hook counts the files before it starts the server: one track, one worker that
        # decodes, the models here (the server imports no torch).
        incoming = self.temp_path / "incoming"
        copy(audio_dir / "techno.mp3", incoming / "techno.mp3")
        self.config["genrescore"].set({"models": {"genre": "musicnn-msd", "instruments": "none"}})
        started: list[WorkerPlan] = []
        monkeypatch.setattr(workers, "start", started.append)
        self.load_plugins()
        self.run_command("import", "-A", "-q", "-s", str(incoming))
        assert started
        plan = started[0]
        assert (plan.jobs, plan.models, plan.preload) == (1, Where.HERE, WORKER_PRELOAD)
        (item,) = self.lib.items()
        assert item.genrescore_method.startswith("embedded_")


@pytest.mark.parametrize(
    ("config", "shared"),
    [
        # A worker per core (one thread each): the fork server makes the embedded models'
        # sessions and the workers run them; a checkpoint counts as its embedded fallback.
        ({"jobs": CORES}, DEFAULT_ONNX_FILES),
        ({"jobs": CORES, "models": EMBEDDED_PAIR}, ("msd_musicnn.onnx", "yamnet.onnx")),
        ({"jobs": CORES, "models": {"genre": "none", "instruments": "yamnet"}}, ("yamnet.onnx",)),
        # Models that do not run on ONNX Runtime in the workers: nothing to share.
        ({"jobs": CORES, **HEURISTICS_ONLY}, ()),
        ({"jobs": CORES, "precision": "bf16"}, ()),
        ({"jobs": 0}, ()),
    ],
)
def test_the_fork_server_shares_the_sessions_of_one_thread_workers(
    config: dict[str, Any], shared: tuple[str, ...]
) -> None:
    plan = workers.plan(settings(**config), 1000)
    assert tuple(Path(path).name for path in plan.shared_sessions) == shared
    # A worker with more than one thread makes sessions of its own (a session with a thread
    # pool cannot be forked).
    if CORES > 1:
        assert workers.plan(settings(jobs=1), 1000).shared_sessions == ()


def _planned(jobs: str) -> str:
    """A snippet for a new interpreter (whose fork server the plan then starts is its first):
    a worker plan for 1000 tracks of the embedded models, ``jobs`` workers (Python code),
    as ``plan``; ``confuse``, ``ProcessPoolExecutor`` and ``workers`` imported."""
    return (
        "import confuse\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from beetsplug.genrescore import workers\n"
        "from beetsplug.genrescore.settings import DEFAULTS, default_jobs, read_settings\n"
        f"user = {{'jobs': {jobs}, 'models': {EMBEDDED_PAIR!r}}}\n"
        "sources = [confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)]\n"
        "plan = workers.plan(read_settings(confuse.RootView(sources)), 1000)\n"
    )


def test_workers_run_the_fork_servers_sessions() -> None:
    # In a new interpreter: the fork server is this process's first (the plan it starts
    # with decides what it shares).
    code = _planned("default_jobs()") + (
        "import numpy as np\n"
        "from beetsplug.genrescore.backends import onnx, yamnet\n"
        "from tests.test_workers import _shared_session_run\n"
        "assert plan.threads == 1 and plan.shared_sessions, plan\n"
        "workers.start(plan)\n"
        "assert workers._SHARE not in __import__('os').environ\n"
        "with ProcessPoolExecutor(2, mp_context=workers.context(plan)) as pool:\n"
        "    runs = [pool.submit(_shared_session_run) for _ in range(2)]\n"
        "    results = [run.result() for run in runs]\n"
        "onnx.set_threads(1)\n"
        "here = onnx.OnnxModel(yamnet.ONNX_PATH, 'yamnet').run(\n"
        "    np.ones((3, 96, 64), np.float32), max_batch=3, width=521)\n"
        "for shared, made_here, scores in results:\n"
        "    assert shared == ['msd_musicnn.onnx', 'yamnet.onnx'], shared\n"
        "    assert not made_here\n"
        "    assert np.array_equal(scores, here)\n"
        "print('ok')\n"
    )
    assert fresh_python(code, cwd=CHECKOUT) == "ok"


def _shared_session_run() -> tuple[list[str], bool, Any]:
    """In a worker: the sessions it forked with, whether a model made there (one thread) made
    a session of its own, and that model's scores for a made-up batch."""
    import numpy as np

    from beetsplug.genrescore.backends import onnx, yamnet

    onnx.set_threads(1)
    model = onnx.OnnxModel(yamnet.ONNX_PATH, "yamnet")
    scores = model.run(np.ones((3, 96, 64), np.float32), max_batch=3, width=521)
    shared = [session for session in onnx._shared.values() if session is model.session]
    return sorted(path.name for path, _ in onnx._shared), not shared, scores


@pytest.mark.parametrize("keep", [True, False])
def test_a_worker_keeps_the_memory_a_track_frees_for_the_next(keep: bool) -> None:
    # glibc by default hands a freed 16 MB array straight back (and the next track faults
    # its pages in again); a worker's heap keeps it.
    code = (
        "import os, numpy as np\n"
        "from beetsplug.genrescore import workers\n"
        f"if {keep}:\n"
        "    workers.keep_freed_memory()\n"
        "page = os.sysconf('SC_PAGESIZE')\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * page\n"
        "array = np.ones(2 << 20)\n"
        "before = rss()\n"
        "del array\n"
        "print((before - rss()) >> 20)\n"
    )
    returned = int(fresh_python(code))
    assert returned == 0 if keep else returned >= 15


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="Linux /proc only")
def test_a_collection_in_a_worker_leaves_the_fork_servers_pages_shared() -> None:
    # The fork server freezes what it imported and made: otherwise a worker's first full
    # collection writes into every page of the server's objects, and each worker holds a
    # private copy of them (12 MB here; about 25 MB more peak memory at -j 2 on a library).
    # The worker runs builtins only, so that nothing is imported (and collected) before.
    code = _planned("1") + (
        "import gc, os\n"
        "workers.start(plan)\n"
        "def private_kb(pid):\n"
        "    with open(f'/proc/{pid}/smaps_rollup') as rollup:\n"
        "        lines = [line for line in rollup if line.startswith('Private_')]\n"
        "    return sum(int(line.split()[1]) for line in lines)\n"
        "with ProcessPoolExecutor(1, mp_context=workers.context(plan)) as pool:\n"
        "    pid = pool.submit(os.getpid).result()\n"
        "    before = private_kb(pid)\n"
        "    pool.submit(gc.collect).result()\n"
        "    written = (private_kb(pid) - before) / 1024\n"
        "    frozen = pool.submit(gc.get_freeze_count).result()\n"
        "print(frozen, written)\n"
    )
    frozen, written = fresh_python(code, cwd=CHECKOUT).split()
    assert int(frozen) > 10_000  # the imports of numpy and the analysis modules
    assert float(written) < 2.0


def test_workers_load_the_models_the_main_process_settled_on(tmp_path: Path) -> None:
    # The default config names two checkpoints most users never download: the main process
    # looks for them (huggingface_hub), falls back to the embedded models and says so; each
    # worker then builds those directly, without looking again (50 ms and 3 MB a worker),
    # and gives the main process's result.
    from .audio_files import track

    path = track(tmp_path / "song.ogg", "hiphop", 12.0)
    code = (
        "import os\n"
        f"os.environ['HF_HOME'] = {str(tmp_path / 'hf')!r}\n"
        "import confuse\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from beetsplug.genrescore import workers\n"
        "from beetsplug.genrescore.analyzer import Analyzer, load_models\n"
        "from beetsplug.genrescore.backends.base import EMBEDDED_DEFAULTS\n"
        "from beetsplug.genrescore.settings import DEFAULTS, read_settings\n"
        "from tests.interpreter import imported\n"
        "sources = [confuse.ConfigSource.of({'jobs': 1}), confuse.ConfigSource.of(DEFAULTS)]\n"
        "settings = read_settings(confuse.RootView(sources))\n"
        "notes = []\n"
        "analyzer = Analyzer(settings, load_models(settings, notes.append))\n"
        "assert len(notes) == 2 and imported('huggingface_hub.errors'), notes\n"
        "assert analyzer.models.chosen == EMBEDDED_DEFAULTS, analyzer.models.chosen\n"
        "plan = workers.plan(settings, 1000)\n"
        "assert plan.models_in_workers\n"
        "workers.start(plan)\n"
        "args = (os.getpid(), None, settings, analyzer.fingerprint, plan.threads,\n"
        "        analyzer.models.chosen)\n"
        "context = workers.context(plan)\n"
        "with ProcessPoolExecutor(1, context, workers.worker_init, args) as pool:\n"
        f"    there = pool.submit(workers.analyze_task, {str(path)!r}, analyzer.plan).result()\n"
        "    looked = pool.submit(imported, 'huggingface_hub.errors').result()\n"
        f"here = analyzer.analyze({str(path)!r})\n"
        "assert (there.method, there.genre) == (here.method, here.genre), (there, here)\n"
        "assert there.evidence == here.evidence\n"
        "print(looked)\n"
    )
    assert fresh_python(code, cwd=CHECKOUT) == "False"


def test_the_fork_server_and_its_workers_hold_nothing_of_beets() -> None:
    # The workers analyse; the beets plugin (importer, library, UI, mediafile) is the main
    # process's. The server imports the analysis modules of the package, not the plugin its
    # __init__ loads everywhere else: 0.12 s off every parallel run's start, 10 MB off it.
    code = _planned("1") + (
        "from tests.interpreter import imported\n"
        "workers.start(plan)\n"
        "names = ('beets', 'beets.importer', 'mediafile', 'beetsplug.genrescore.plugin',\n"
        "         'beetsplug.genrescore.analyzer')\n"
        "with ProcessPoolExecutor(1, mp_context=workers.context(plan)) as pool:\n"
        "    print([name for name in names if pool.submit(imported, name).result()])\n"
    )
    assert fresh_python(code, cwd=CHECKOUT) == "['beetsplug.genrescore.analyzer']"


#: ``beet`` that prints, at exit, which of two modules its main process imported first.
_BEET_ORDER = (
    "import atexit, runpy, sys\n"
    "order = []\n"
    "watch = ('multiprocessing.forkserver', 'beetsplug.genrescore.analyzer')\n"
    "def hook(event, args):\n"
    "    if event == 'import' and args[0] in watch and args[0] not in order:\n"
    "        order.append(args[0])\n"
    "sys.addaudithook(hook)\n"
    "atexit.register(lambda: print('ORDER', ','.join(order), file=sys.stderr))\n"
    "sys.argv = ['beet', *sys.argv[1:]]\n"
    "runpy.run_module('beets', run_name='__main__', alter_sys=True)\n"
)


def test_a_run_over_new_items_starts_the_fork_server_before_the_analysis_stack(
    tmp_path: Path, audio_dir: Path
) -> None:
    # Items never analysed are stale whatever the models: the run starts its workers' fork
    # server at once, and its imports overlap the main process's (the analysis stack, the
    # models). Working out the models' fingerprint first put them one after the other.
    beet, env = _library(tmp_path, {"auto": False, "jobs": 2})
    beet[2] = _BEET_ORDER
    for name in ("techno.mp3", "reel.flac", "rock.ogg"):
        copy(audio_dir / name, tmp_path / "in" / name)
    subprocess.run([*beet, "import", "-q", str(tmp_path / "in")], env=env, check=True,
                   capture_output=True, cwd=tmp_path)  # fmt: skip
    done = subprocess.run([*beet, "genrescore"], env=env, check=True, capture_output=True,
                          text=True, cwd=tmp_path)  # fmt: skip
    assert "analysed 3, skipped 0, failed 0" in done.stderr
    order = next(line for line in done.stderr.splitlines() if line.startswith("ORDER "))
    assert order == "ORDER multiprocessing.forkserver,beetsplug.genrescore.analyzer"


def test_a_worker_builds_the_models_it_is_told_and_looks_for_the_rest() -> None:
    from beetsplug.genrescore.analyzer import load_models
    from beetsplug.genrescore.backends.base import Role

    configured = settings(models=EMBEDDED_PAIR)
    told = load_models(configured, print, {Role.GENRE: "none", Role.INSTRUMENTS: "yamnet"})
    assert told.genre is None
    assert told.instruments is not None
    assert told.instruments.name == "yamnet"
    assert told.chosen == {Role.GENRE: "none", Role.INSTRUMENTS: "yamnet"}
    # Told nothing (Models built by hand carry no choice): the configured models, found.
    found = load_models(configured, print, {})
    assert found.chosen == {Role.GENRE: "musicnn-msd", Role.INSTRUMENTS: "yamnet"}
    assert found.genre is not None
    assert found.genre.name == "musicnn-msd"
