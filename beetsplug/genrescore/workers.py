"""Where the work of a run happens, decided once: the worker plan, and the workers' own code.

:func:`plan` turns the settings (and the number of tracks, once known) into a frozen
:class:`WorkerPlan`: how many worker processes decode, where the models run, what the fork
server the workers start from preloads, and how many threads each worker gets. The run (to
which the command and the import hook give the number of tracks) and the engine take that
plan; no other module decides anything about processes.

Where the models run:

* On the CPU each worker runs them on its own track, with its share of the cores as threads
  (the embedded models in ONNX Runtime there, without torch: ``backends.placement.default_engine``;
  its intra-op threads set to that share, ``backends.onnx.set_threads``).
  Batching buys nothing there (musicnn costs 41 ms a patch one at a time, 49 ms in threes,
  77 ms in 24s on a 2-core AVX2 EPYC), while inference in the main process made it the
  bottleneck: the workers sat idle while it ran and fought it for the cores when they did not.
* On a GPU they run in the main process (one CUDA context), on batches of several tracks,
  fed by the decoding workers.
* A run of no more tracks than workers runs them in the main process too, which loads them
  anyway for their fingerprint, where each worker would load them again for one track (for
  a checkpoint: import torch, 2.5-3 s); the main process loads them while the fork server
  starts, then warms them up while the workers decode (``benchmarks/bench.py --startup``
  measures it). Workers that have the models keep them for the following short runs (an
  import runs once per album).
* On a cluster (:mod:`.cluster`) they run on other machines; the workers only decode.

This module stays cheap to import (the command and the import hook plan and start the fork
server before they load anything heavy): the analysis modules are imported by the functions
that run in the workers, which the fork server has preloaded.
"""

from __future__ import annotations

import dataclasses
import enum
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any

from .backends.base import EMBEDDED, EMBEDDED_BY_NAME, EMBEDDED_DEFAULTS, NONE, Role, is_embedded
from .backends.placement import names_gpu, planned_engine
from .errors import AnalysisError, GenreScoreError, TrackError
from .forkserver import STARTED_BY, this_is_the_fork_server
from .settings import Settings, default_jobs

if TYPE_CHECKING:
    from .analyzer import Analyzer, DecodePlan, Prepared, TrackResult
    from .backends.base import Backend


class Where(enum.Enum):
    """Where the models run."""

    #: In each worker, on its own track (the CPU).
    WORKERS = "workers"
    #: In the main process, on batches the workers decoded (a GPU, few tracks, no workers).
    HERE = "here"
    #: On a Ray cluster; the workers decode, the main process blends.
    CLUSTER = "cluster"


#: The analysis modules, imported by the fork server so that every worker forks with them
#: loaded; importing this module there also warms them up (:func:`warm_up`).
WORKER_PRELOAD: tuple[str, ...] = (__name__, "beetsplug.genrescore.analyzer")
#: Set in the fork server's environment beside :data:`.forkserver.STARTED_BY`: the plan's
#: :attr:`WorkerPlan.shared_sessions`, joined by ``os.pathsep``.
_SHARE = "GENRESCORE_SHARE_SESSIONS"


@dataclass(frozen=True)
class WorkerPlan:
    """How a run uses processes (built by :func:`plan`)."""

    #: Worker processes (0: everything in the main process, no pool).
    jobs: int
    #: Where the models run.
    models: Where
    #: Modules the fork server imports once, before it forks any worker.
    preload: tuple[str, ...]
    #: ONNX Runtime and torch threads in each worker: its share of the cores (BLAS: one).
    threads: int
    #: Cores this process may use (the cap on ``jobs``).
    cores: int
    #: ONNX files whose sessions the fork server makes before it forks a worker
    #: (:func:`.backends.onnx.share`): the embedded models the workers run, where each worker
    #: has one thread. The workers then run the server's sessions, in memory they share.
    shared_sessions: tuple[str, ...] = ()
    #: The Ray cluster's address where the models run on one (:attr:`models` is
    #: ``Where.CLUSTER``): the ``cluster`` setting, read once, by :func:`plan`.
    cluster: str | None = None

    @property
    def models_in_workers(self) -> bool:
        return self.models is Where.WORKERS

    def for_tracks(
        self, tracks: int, *, loaded: Sequence[Backend], workers_have_models: bool = False
    ) -> WorkerPlan:
        """This plan for a batch of ``tracks`` tracks once the models are loaded (``loaded``):
        where the models run is all that may change (few tracks, or a model that turned out
        to be on a GPU, run them in the main process); the workers, their threads and what the
        fork server preloads stay the run's."""
        where = _where(
            remote=self.models is Where.CLUSTER,
            jobs=self.jobs,
            any_model=bool(loaded),
            gpu=any(backend.accelerated for backend in loaded),
            tracks=tracks,
            workers_have_models=workers_have_models,
        )
        return dataclasses.replace(self, models=where)


def plan(
    settings: Settings,
    tracks: int | None = None,
    *,
    jobs: int | None = None,
    loaded: Sequence[Backend] | None = None,
    workers_have_models: bool = False,
    remote: bool | None = None,
) -> WorkerPlan:
    """The worker plan for a run of ``tracks`` tracks (``None``: not known yet).

    Parameters
    ----------
    settings
        ``jobs``, ``models``, ``device`` and ``cluster`` decide.
    tracks
        Tracks to analyse: with no more than workers, the models run in the main process.
    jobs
        Workers already decided (a running pool, or a count given outright); default: the
        configured ``jobs``, capped at the cores and at ``tracks`` (a worker beyond the cores
        only competes for them: 999 workers made each track 2.7x slower and took 4.7 GB).
    loaded
        The backends once they are loaded (``None``: judged from the settings): whether one
        is on a GPU, and whether any model runs at all.
    workers_have_models
        The running workers have loaded the models: they keep them, for a short run too, so
        the pool changes at most once.
    remote
        The models run on a cluster (default: the ``cluster`` setting).
    """
    cores = default_jobs()
    if jobs is None:
        jobs = min(settings.jobs, cores)
        if tracks is not None:
            jobs = min(jobs, max(1, tracks))
    if loaded is None:
        any_model = any(value != NONE for value in settings.models.values())
        # "auto" is taken for the CPU until the models are loaded (finding out imports torch).
        gpu = names_gpu(settings.backend.device)
    else:
        any_model = bool(loaded)
        gpu = any(backend.accelerated for backend in loaded)
    address: str | None = settings.cluster
    if address == "none":
        address = None
    if remote is None:
        remote = address is not None
    where = _where(
        remote=remote,
        jobs=jobs,
        any_model=any_model,
        gpu=gpu,
        tracks=tracks,
        workers_have_models=workers_have_models,
    )
    preload = WORKER_PRELOAD
    threads = max(1, cores // jobs) if jobs > 0 else cores
    shared: tuple[str, ...] = ()
    if where is Where.WORKERS and any_model:
        preload += model_modules(settings)
        if threads == 1:
            shared = onnx_files(settings)
    return WorkerPlan(
        jobs=max(0, jobs),
        models=where,
        preload=preload,
        threads=threads,
        cores=cores,
        shared_sessions=shared,
        cluster=address if where is Where.CLUSTER else None,
    )


def _where(
    *,
    remote: bool,
    jobs: int,
    any_model: bool,
    gpu: bool,
    tracks: int | None,
    workers_have_models: bool,
) -> Where:
    """Where the models run (the module docstring says why)."""
    if remote:
        return Where.CLUSTER
    # No more tracks than workers: each would load the models for one track.
    few = any_model and not workers_have_models and tracks is not None and tracks <= jobs
    if jobs <= 0 or gpu or few:
        return Where.HERE
    return Where.WORKERS


def model_modules(settings: Settings) -> tuple[str, ...]:
    """The backend modules the workers will import for the configured models.

    A checkpoint counts as its role's embedded fallback: loading it needs torch, which the
    fallback's module imports, and a checkpoint that is not downloaded is replaced by it.
    """
    return tuple(sorted({EMBEDDED[name].partition(":")[0] for name in _embedded_names(settings)}))


def onnx_files(settings: Settings) -> tuple[str, ...]:
    """The ONNX files of the configured embedded models, where they run on ONNX Runtime
    (float32 on the CPU: ``placement.default_engine``).

    A checkpoint counts as its role's embedded fallback, as in :func:`model_modules`: the
    default config names checkpoints that most users have not downloaded. Where one is
    downloaded, the fallback's session sits unused in the fork server (memory counted once,
    not per worker), because finding out here would import huggingface_hub.
    """
    backend = settings.backend
    if planned_engine(backend.device, backend.precision) != "onnx":
        return ()
    models = [EMBEDDED_BY_NAME[name] for name in _embedded_names(settings)]
    return tuple(sorted({str(model.path("onnx")) for model in models if "onnx" in model.files}))


def _embedded_names(settings: Settings) -> set[str]:
    """The embedded models of the configured roles, a checkpoint counted as its role's
    embedded fallback."""
    return {
        value if is_embedded(value) else EMBEDDED_DEFAULTS[role]
        for role, value in settings.models.items()
        if value != NONE
    }


# -- the fork server ------------------------------------------------------------------------


def context(worker_plan: WorkerPlan) -> BaseContext:
    """The context the pool's workers start in.

    forkserver: workers fork from a clean server that has imported the analysis code (and
    the model code they run) once, never from the main process (whose torch threads would not
    survive a fork). Where there is no fork server, spawn. The first plan that starts the
    server decides what it preloads; later pools fork from the same server.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(list(worker_plan.preload))
    return forkserver


def start(worker_plan: WorkerPlan) -> None:
    """Start the fork server now, so that its imports overlap the main process's own start.

    Its imports and warm-up take 2-4 s; once started, it serves every pool of this process.
    """
    if worker_plan.jobs <= 0 or context(worker_plan).get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    values = {STARTED_BY: str(os.getpid()), _SHARE: os.pathsep.join(worker_plan.shared_sessions)}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        forkserver.ensure_running()
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


#: Seconds of noise the decoding stack is warmed up on.
_WARM_UP_SECONDS = 2


def warm_up() -> None:
    """Run one feature extraction in the fork server, so every worker forks with the
    decoders' libraries loaded and the features' filter banks built (the first window of a
    process otherwise pays for both); make the sessions the plan shares (:data:`_SHARE`).

    A worker with one thread runs a shared session as it is: YAMNet's alone holds about
    48 MB, which two workers on two cores each held (``-j 2`` peaked at 314 MB against the
    numpy engine's 265 MB); and the worker does not make it again (0.15 s).
    """
    import gc

    import numpy as np
    import soundfile  # noqa: F401 - imported here so that workers fork with them loaded
    import soxr  # noqa: F401
    import threadpoolctl  # noqa: F401 - worker_init's

    from .analyzer import HEURISTIC_RATE
    from .scoring.features import extract_features

    noise = np.random.default_rng(0).standard_normal(HEURISTIC_RATE * _WARM_UP_SECONDS)
    extract_features(y=noise.astype(np.float32), sr=HEURISTIC_RATE)
    if shared := os.environ.get(_SHARE):
        from pathlib import Path

        from .backends import onnx

        onnx.share(Path(path) for path in shared.split(os.pathsep))
    release_free_memory()
    # Out of the collector's reach from now on: a full collection in a worker writes into
    # every object it tracks, and would copy each page of the server's objects (imports,
    # sessions' Python side) into every worker. Frozen, `-j 2` peaked at 346-354 MB against
    # 377-383 MB (each worker's private memory 81-84 MB against 97 MB; 2-core AMD EPYC).
    gc.collect()
    gc.freeze()


#: glibc's mallopt parameters, and what a worker sets them to (:func:`keep_freed_memory`).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_TRIM, _KEEP_MMAP = 256 << 20, 32 << 20


def keep_freed_memory() -> None:
    """Make glibc's heap keep what a track frees for the next track (glibc only).

    By default every allocation over a threshold is a fresh mapping, returned at its free,
    and the threshold moves with what is freed; a track's arrays and ONNX Runtime's
    activations (no arena) are a few MB each, so each track faulted its pages in again, and
    page faults are dear here. With allocations up to 32 MB from the heap and no trimming
    below 256 MB, a worker reuses its own pages: on 16 tracks in one process, peak RSS 139-142
    MB against 144-158 MB, CPU 0.219-0.221 s a track against 0.224-0.238 s (2-core AMD EPYC;
    a fixed 256 kB threshold instead, every array mapped and unmapped, took 0.41 s a track).
    """
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_MMAP)
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_TRIM)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc's ``malloc_trim``; elsewhere
    nothing). Making a session and the features' first window free most of what they
    allocate, but glibc keeps it: in the fork server, every worker would fork with it."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(None).malloc_trim(0)  # the C library this process runs on


# -- in the workers -------------------------------------------------------------------------

#: How often (s) a worker checks that the process that started it is still there.
ORPHAN_CHECK_SECONDS = 1.0


def _alive(pid: int) -> bool:
    """Whether a process runs; a dead one nobody has reaped yet (a zombie) does not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # "pid (name) state ...": the state letter follows the last ")".
            return handle.read().rpartition(b")")[2].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _exit_when_orphaned(main_pid: int) -> None:
    # A killed `beet` cannot shut its pool down, and a worker blocked on its task queue would
    # wait forever (and keep the fork server alive): it leaves once the main process is gone.
    while True:
        time.sleep(ORPHAN_CHECK_SECONDS)
        if not _alive(main_pid):
            os._exit(1)


class _WorkerState:
    """What a worker process keeps between tasks (set by :func:`worker_init`)."""

    decode: Callable[[str, DecodePlan], Prepared] | None = None
    #: The worker's own models (CPU inference), or the error that stopped them loading.
    analyzer: Analyzer | GenreScoreError | None = None


_WORKER = _WorkerState()


def worker_init(
    main_pid: int,
    decode: Callable[[str, DecodePlan], Prepared],
    settings: Settings | None,
    fingerprint: str,
    threads: int,
    chosen: Mapping[Role, str] | None = None,
) -> None:
    """Set a worker up: its share of the cores, its heap, and its models when it runs them
    (``chosen``: the main process's :attr:`.analyzer.Models.chosen`)."""
    import threadpoolctl

    keep_freed_memory()

    # The fork server loaded numpy before this runs, so its BLAS pool already exists and
    # environment variables are too late: threadpoolctl resizes it, to one thread whatever
    # the worker's share. (Left at two threads each, two workers on two cores ran 1.25x one
    # worker, not 2x.) BLAS only multiplies the features' and front ends' small matrices
    # now (the models run in ONNX Runtime, on ``threads``): a 128 x 1025 by 1025 x 427 mel
    # product took 1.5 ms of CPU on one thread and 15.5 ms on two, whose second thread
    # mostly spins (2-core AMD EPYC, others' work running).
    threadpoolctl.threadpool_limits(limits=1)  # stays until restored (never)
    # Ctrl-C is the parent's to handle; the workers just stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(main_pid,), daemon=True).start()
    # Decoder libraries print to the C stderr (mpg123: "part2_3_length too large" after a
    # seek into a bit reservoir); their real failures come back as exceptions with a reason.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    _WORKER.decode = decode
    if settings is not None:
        _WORKER.analyzer = host_models(
            settings,
            fingerprint,
            threads,
            differ="the models in a worker process differ from the main process's",
            chosen=chosen,
        )


def host_models(
    settings: Settings,
    fingerprint: str,
    threads: int,
    *,
    differ: str,
    chosen: Mapping[Role, str] | None = None,
) -> Analyzer | GenreScoreError:
    """Load the models in a process that runs them for the main one (a worker, a Ray actor),
    on its share of the cores (``threads``: ONNX Runtime's and torch's; BLAS is the caller's),
    and check they are the main process's (``fingerprint``). ``chosen``: the models the main
    process settled on, where this process is on its machine (:func:`.analyzer.load_models`);
    a Ray node looks for itself.

    Returns the analyzer, or the error that stops this process's models (``differ`` is the
    message when they are not the main process's): raised where a track is asked for.
    """
    import sys

    from .analyzer import Analyzer, load_models
    from .backends import onnx

    # Before the models load: each session's intra-op threads are fixed when it is made.
    onnx.set_threads(threads)
    try:
        # Fallback notes are the main process's to give: it loads the same models first.
        analyzer = Analyzer(settings, load_models(settings, lambda note: None, chosen))
    except GenreScoreError as exc:
        return exc
    if analyzer.fingerprint != fingerprint:
        # The same settings load other models here (a file changed under the run, another
        # version on a node): results would not be what the fingerprint stored says.
        return GenreScoreError(differ)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return analyzer


def track_error(path: str, exc: BaseException) -> TrackError:
    """Any failure while one file is read, decoded or analysed, as that file's error.

    A :class:`TrackError` is kept (with the traceback of what caused it, for ``-v``);
    anything else a library raises becomes an :class:`AnalysisError` naming the exception.
    """
    detail = "".join(traceback.format_exception(exc))
    if isinstance(exc, TrackError):
        if not exc.detail and exc.__cause__ is not None:
            exc.detail = detail
        return exc
    return AnalysisError(path, f"analysis failed: {type(exc).__name__}: {exc}", detail)


def _guarded(path: str, step: Callable[[], Any]) -> Any:
    # In the worker, so the traceback is still there to be sent back with the reason, and
    # an exception that does not pickle cannot turn into an error about pickling.
    try:
        return step()
    except TrackError as exc:
        raise track_error(path, exc) from None
    except GenreScoreError:
        raise  # not this file's fault (the worker's models did not load): the run's
    except Exception as exc:
        raise track_error(path, exc) from None


def _decode(path: str, decode_plan: DecodePlan) -> Prepared:
    decode = _WORKER.decode
    if decode is None:
        from .analyzer import prepare

        decode = prepare
    prepared: Prepared = _guarded(path, lambda: decode(path, decode_plan))
    return prepared


def decode_task(path: str, decode_plan: DecodePlan) -> Prepared:
    """Worker task: decode a track for the models in the main process."""
    return _decode(path, decode_plan)


def analyze_task(path: str, decode_plan: DecodePlan) -> TrackResult:
    """Worker task: decode a track and run the worker's own models on it."""
    analyzer = _WORKER.analyzer
    if analyzer is None or isinstance(analyzer, GenreScoreError):
        raise analyzer or GenreScoreError("worker started without models")
    prepared = _decode(path, decode_plan)
    result: TrackResult = _guarded(path, lambda: analyzer.infer([prepared])[0])
    return result


if this_is_the_fork_server():
    warm_up()  # this is the fork server, started by start(): every worker forks warm
