"""The pipeline: decode in worker processes, run the models where they run fastest.

* Decoding, resampling and the heuristic features (:func:`analyzer.prepare`) run in a pool
  of worker processes, a few tracks ahead at most, so memory stays flat however long the
  library or the tracks are.
* Where the models run depends on the device:

  - On the CPU each worker also runs the models on its own track, with its share of the
    cores as threads (one each with a worker per core), and sends back only the small
    result. Batching buys nothing there (musicnn costs 41 ms a
    patch one at a time, 49 ms in threes, 77 ms in 24s on a 2-core AVX2 EPYC), while
    inference in this process made it the bottleneck: the workers sat idle while it ran
    and fought it for the cores when they did not.
  - On a GPU the models run in this process (one CUDA context), on batches of several
    tracks at once, fed by the decoding workers.
  - A run of no more tracks than workers (one track: ``beet genrescore id:1``, a one-track
    import) runs them here too: this process has loaded them already, and warms them up
    while the workers decode, where each worker would import torch and load them for one
    track (:func:`forkserver.models_here`).
  - On a cluster (:class:`RemoteInference`, :mod:`.cluster`) the batches go to other
    machines and come back as model outputs, blended here; decoding goes on meanwhile.
* A native crash in a decoder (a worker dies: the pool is "broken") costs one file: the
  tracks that were in flight are retried one by one in a fresh pool, the one that kills its
  worker again is reported, and the run goes on in parallel.

The engine knows nothing of beets; it maps keys to results.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import threadpoolctl

from . import forkserver
from .analyzer import (
    Analyzer,
    DecodePlan,
    ModelOutputs,
    Prepared,
    TrackResult,
    load_models,
    prepare,
)
from .errors import AnalysisError, AudioLoadError, GenreScoreError, TrackError
from .settings import Settings, default_jobs

K = TypeVar("K")

#: Tracks the models see in one batch: enough to fill a forward pass with windows, few
#: enough that a batch of prepared audio (about 5 MB a track) stays small.
BATCH_TRACKS = 8
#: Tracks queued per worker beyond the one it works on, so that none waits for the next.
QUEUE_PER_WORKER = 2
#: Amplitude of the noise the models are warmed up on (quiet, never digital silence).
WARM_UP_LEVEL = 0.01


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


def _worker_init(
    main_pid: int,
    decode: Callable[[str, DecodePlan], Prepared],
    settings: Settings | None,
    fingerprint: str,
    threads: int,
) -> None:
    # Each worker gets its share of the cores for BLAS and torch: more threads only fight
    # over them. The fork server loaded numpy before this runs, so its BLAS pool already
    # exists and environment variables are too late: threadpoolctl resizes it. (Left at
    # two threads each, two workers on two cores ran 1.25x one worker, not 2x.)
    # Ctrl-C is the parent's to handle; the workers just stop.
    threadpoolctl.threadpool_limits(limits=threads)  # stays until restored (never)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(main_pid,), daemon=True).start()
    # Decoder libraries print to the C stderr (mpg123: "part2_3_length too large" after a
    # seek into a bit reservoir); their real failures come back as exceptions with a reason.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    _WORKER.decode = decode
    if settings is not None:
        _WORKER.analyzer = _worker_analyzer(settings, fingerprint, threads)


class _WorkerState:
    """What a worker process keeps between tasks (set by :func:`_worker_init`)."""

    decode: Callable[[str, DecodePlan], Prepared] = prepare
    #: The worker's own models (CPU inference), or the error that stopped them loading.
    analyzer: Analyzer | GenreScoreError | None = None


_WORKER = _WorkerState()


def _worker_analyzer(
    settings: Settings, fingerprint: str, threads: int
) -> Analyzer | GenreScoreError:
    try:
        analyzer = Analyzer(settings, load_models(settings, lambda note: None))
    except GenreScoreError as exc:
        return exc
    if analyzer.fingerprint != fingerprint:
        # The same settings load other models here (a file changed under the run): results
        # would not be what the fingerprint stored with them says.
        return GenreScoreError("the models in a worker process differ from the main process's")
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


def _decode_task(path: str, plan: DecodePlan) -> Prepared:
    """Worker task: decode a track for the models in the main process."""
    prepared: Prepared = _guarded(path, lambda: _WORKER.decode(path, plan))
    return prepared


def _analyze_task(path: str, plan: DecodePlan) -> TrackResult:
    """Worker task: decode a track and run the worker's own models on it."""
    analyzer = _WORKER.analyzer
    if not isinstance(analyzer, Analyzer):
        raise analyzer or GenreScoreError("worker started without models")
    prepared = _guarded(path, lambda: _WORKER.decode(path, plan))
    result: TrackResult = _guarded(path, lambda: analyzer.infer([prepared])[0])
    return result


class RemoteInference(Protocol):
    """Runs the models on batches of decoded tracks somewhere else (:mod:`.cluster`).

    The engine hands it a batch and goes on decoding; the blend stays in this process
    (:meth:`Analyzer.decide`). The future holds, per track, the models' outputs or the error
    that stopped that track. A future that raises (a :class:`GenreScoreError`) means the
    inference side is gone: the run stops, with every finished track already handed out.
    """

    #: Tracks it may hold at once, all batches together (part of the run's memory bound).
    capacity: int

    def submit(self, tracks: list[Prepared]) -> Future[list[ModelOutputs | TrackError]]: ...


@dataclass(frozen=True)
class Done(Generic[K]):
    """One finished track: its result, or the error that stopped it."""

    key: K
    path: str
    result: TrackResult | None = None
    error: TrackError | None = None


class Engine(Generic[K]):
    """Runs an :class:`Analyzer` over many files with ``jobs`` worker processes.

    ``jobs=0`` does everything in this process (no pool): slower, but simplest to debug.
    ``infer_in_workers`` says where the models run with a pool (default: in the workers
    unless a model is on a GPU).
    """

    def __init__(
        self,
        analyzer: Analyzer,
        jobs: int,
        batch_tracks: int = BATCH_TRACKS,
        decode: Callable[[str, DecodePlan], Prepared] = prepare,
        infer_in_workers: bool | None = None,
        remote: RemoteInference | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.jobs = jobs
        self.batch_tracks = max(1, batch_tracks)
        #: The decoding step run in the workers (a module-level function, so it pickles).
        self.decode = decode
        #: Where the models run when not here: the workers then only decode.
        self.remote = remote
        self.infer_in_workers = (
            not analyzer.accelerated if infer_in_workers is None else infer_in_workers
        ) and remote is None
        #: Left to the engine: then a run of few tracks runs the models here (see :meth:`run`).
        self._choose = infer_in_workers is None and self.infer_in_workers
        self._pool: ProcessPoolExecutor | None = None
        #: Whether the pool's workers were started with models.
        self._pool_infers = False
        #: Run the models once on a made-up window before the first batch comes in.
        self._warm = False

    # -- pool management --------------------------------------------------------------

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            settings = self.analyzer.settings if self.infer_in_workers else None
            with_models = bool(settings and self.analyzer.models.backends)
            self._pool_infers = self.infer_in_workers
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=forkserver.context(with_models=with_models),
                initializer=_worker_init,
                initargs=(
                    os.getpid(),
                    self.decode,
                    settings,
                    self.analyzer.fingerprint,
                    max(1, default_jobs() // self.jobs),
                ),
            )
        return self._pool

    def close(self, *, now: bool = False) -> None:
        """Stop the workers; ``now`` kills them without waiting for their current file."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if now:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=not now, cancel_futures=True)

    # -- running ----------------------------------------------------------------------

    def run(self, work: Iterable[tuple[K, str]]) -> Iterator[Done[K]]:
        """Analyse ``(key, path)`` pairs; yield each track as soon as it is decided.

        Results come in the order tracks finish, not the order given. Stopping the
        iteration early (or Ctrl-C) cancels what is in flight.
        """
        if self.jobs <= 0:
            yield from self._run_inline(work)
            return
        work = iter(work)
        if self._choose and self.analyzer.models.backends:
            # No more tracks than workers: each worker would import torch and load the models
            # for one track, which this process has loaded already. Then the workers decode
            # and the models run here (forkserver.models_here).
            # Workers that have loaded the models keep them, for small runs too (an import
            # calls this once per album): the pool changes at most once, when a longer run
            # follows a short one.
            head = list(itertools.islice(work, self.jobs + 1))
            warm_workers = self._pool is not None and self._pool_infers
            few = forkserver.models_here(len(head), self.jobs)
            self.infer_in_workers = warm_workers or not few
            if self._pool is not None and self._pool_infers != self.infer_in_workers:
                self.close()
            # The models' first call pays librosa's and torch's first-call costs (1-2 s);
            # paid while the workers decode, it is off the run's critical path.
            self._warm = not self.infer_in_workers and self._pool is None
            work = itertools.chain(head, work)
        try:
            yield from self._run_pool(work)
        except BaseException:
            self.close(now=True)
            raise

    def _run_inline(self, work: Iterable[tuple[K, str]]) -> Iterator[Done[K]]:
        for key, path in work:
            try:
                prepared = self.decode(path, self.analyzer.plan)
            except GenreScoreError as exc:
                if not isinstance(exc, TrackError):
                    raise
                yield Done(key, path, error=track_error(path, exc))
                continue
            except Exception as exc:
                yield Done(key, path, error=track_error(path, exc))
                continue
            yield from self._infer([(key, prepared)])

    def _infer(self, batch: list[tuple[K, Prepared]]) -> Iterator[Done[K]]:
        if not batch:
            return
        if self.remote is not None:
            yield from self._decided(batch, self.remote.submit([p for _, p in batch]))
            return
        try:
            results = self.analyzer.infer([prepared for _, prepared in batch])
        except Exception:
            # One track of the batch has nothing to decide on, or makes a model fail:
            # decide them one by one, so that only that track fails.
            for key, prepared in batch:
                try:
                    (result,) = self.analyzer.infer([prepared])
                except Exception as exc:
                    yield Done(key, prepared.path, error=track_error(prepared.path, exc))
                else:
                    yield Done(key, prepared.path, result=result)
            return
        for (key, prepared), result in zip(batch, results, strict=True):
            yield Done(key, prepared.path, result=result)

    def _decided(
        self,
        batch: list[tuple[K, Prepared]],
        future: Future[list[ModelOutputs | TrackError]],
    ) -> Iterator[Done[K]]:
        """Blend the remote models' outputs for a batch (raises when the remote side is gone)."""
        outputs = future.result()
        for (key, prepared), out in zip(batch, outputs, strict=True):
            if isinstance(out, TrackError):
                yield Done(key, prepared.path, error=out)
                continue
            try:
                result = self.analyzer.decide(prepared, out)
            except Exception as exc:
                yield Done(key, prepared.path, error=track_error(prepared.path, exc))
            else:
                yield Done(key, prepared.path, result=result)

    def _warm_models(self) -> None:
        """Run each model once on a quiet noise window (the results are thrown away)."""
        noise = np.random.default_rng(0).standard_normal
        for backend in self.analyzer.models.backends:
            samples = round(backend.window_seconds * backend.sample_rate)
            try:
                backend.predict([[(WARM_UP_LEVEL * noise(samples)).astype(np.float32)]])
            except Exception:  # only a head start: a model that fails says so on real tracks
                return

    def _submit(self, path: str) -> Future[Prepared | TrackResult]:
        task = _analyze_task if self.infer_in_workers else _decode_task
        future: Future[Prepared | TrackResult] = self._get_pool().submit(
            task, path, self.analyzer.plan
        )
        return future

    def _run_pool(self, work: Iterator[tuple[K, str]]) -> Iterator[Done[K]]:
        # Enough queued that no worker waits for its next track, and on the batched path
        # enough that the workers go on decoding while a batch is in the models.
        limit = self.jobs * (1 + QUEUE_PER_WORKER)
        if not self.infer_in_workers:
            limit += 2 * self.batch_tracks
        if self.remote is not None:
            limit += self.remote.capacity
        pending: dict[Future[Prepared | TrackResult], tuple[K, str]] = {}
        ready: list[tuple[K, Prepared]] = []
        # Batches in the remote models' hands: decoding goes on while they are there.
        remote: dict[Future[Any], list[tuple[K, Prepared]]] = {}
        exhausted = False
        while True:
            away = sum(len(batch) for batch in remote.values())
            while not exhausted and len(pending) + len(ready) + away < limit:
                try:
                    key, path = next(work)
                except StopIteration:
                    exhausted = True
                    break
                pending[self._submit(path)] = (key, path)
            if not pending and not remote:
                yield from self._infer(ready)
                return
            if self._warm:
                self._warm = False
                self._warm_models()
            finished, _ = wait([*pending, *remote], return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                if future in remote:
                    yield from self._decided(remote.pop(future), future)
                    continue
                key, path = pending.pop(future)
                try:
                    value = future.result()
                except TrackError as exc:
                    yield Done(key, path, error=exc)
                except BrokenProcessPool:
                    broken = True
                    pending[future] = (key, path)
                except GenreScoreError:
                    raise  # the worker's models did not load: no file would fare better
                except Exception as exc:
                    yield Done(key, path, error=track_error(path, exc))
                else:
                    yield from self._sort(key, path, value, ready)
            if broken:
                in_flight = list(pending.values())
                pending.clear()
                self.close(now=True)
                yield from self._isolate(in_flight, ready)
                ready = []
                continue
            if ready and (len(ready) >= self.batch_tracks or (exhausted and not pending)):
                if self.remote is not None:
                    remote[self.remote.submit([p for _, p in ready])] = ready
                else:
                    yield from self._infer(ready)
                ready = []

    def _isolate(
        self, suspects: list[tuple[K, str]], ready: list[tuple[K, Prepared]]
    ) -> Iterator[Done[K]]:
        """Retry the tracks that were in flight when a worker died, one at a time."""
        batch = list(ready)
        for key, path in suspects:
            try:
                value = self._submit(path).result()
            except TrackError as exc:
                yield Done(key, path, error=exc)
            except BrokenProcessPool:
                self.close(now=True)
                reason = "the decoder crashed on this file (its worker process died)"
                yield Done(key, path, error=AudioLoadError(path, reason))
            except GenreScoreError:
                raise
            except Exception as exc:
                yield Done(key, path, error=track_error(path, exc))
            else:
                yield from self._sort(key, path, value, batch)
        yield from self._infer(batch)

    @staticmethod
    def _sort(
        key: K, path: str, value: Prepared | TrackResult, batch: list[tuple[K, Prepared]]
    ) -> Iterator[Done[K]]:
        """A worker's answer: decoded audio joins the next batch; a result is done."""
        if isinstance(value, Prepared):
            batch.append((key, value))
        else:
            yield Done(key, path, result=value)
