"""The pipeline: decode in worker processes, infer in batches here, results as they finish.

* Decoding, resampling and the heuristic features (:func:`analyzer.prepare`) run in a pool
  of worker processes, one window of work ahead of the models at most, so memory stays flat
  however long the library or the tracks are.
* The models run in this process, on batches of several tracks at once.
* A native crash in a decoder (a worker dies: the pool is "broken") costs one file: the
  tracks that were in flight are retried one by one in a fresh pool, the one that kills its
  worker again is reported, and the run goes on in parallel.

The engine knows nothing of beets; it maps keys to results.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Generic, TypeVar

from .analyzer import Analyzer, DecodePlan, Prepared, TrackResult, prepare
from .errors import AudioLoadError, TrackError

K = TypeVar("K")

#: Tracks the models see in one batch: enough to fill a forward pass with windows, few
#: enough that a batch of prepared audio (about 5 MB a track) stays small.
BATCH_TRACKS = 8
#: Decoded tracks waiting for the models, per worker, before decoding pauses.
QUEUE_PER_WORKER = 2


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


def _worker_init(main_pid: int) -> None:
    # One BLAS/OpenMP thread per worker: the workers are the parallelism, and more threads
    # only fight over the cores. Ctrl-C is the parent's to handle; the workers just stop.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(main_pid,), daemon=True).start()
    # Decoder libraries print to the C stderr (mpg123: "part2_3_length too large" after a
    # seek into a bit reservoir); their real failures come back as exceptions with a reason.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a clean server that has imported the analysis code once,
    # never from this process (whose torch threads would not survive a fork).
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["beetsplug.genrescore.worker"])
        return context
    return multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Done(Generic[K]):
    """One finished track: its result, or the error that stopped it."""

    key: K
    path: str
    result: TrackResult | None = None
    error: TrackError | None = None


class Engine(Generic[K]):
    """Runs an :class:`Analyzer` over many files with ``jobs`` decoder processes.

    ``jobs=0`` decodes in this process (no pool): slower, but simplest to debug.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        jobs: int,
        batch_tracks: int = BATCH_TRACKS,
        decode: Callable[[str, DecodePlan], Prepared] = prepare,
    ) -> None:
        self.analyzer = analyzer
        self.jobs = jobs
        self.batch_tracks = max(1, batch_tracks)
        #: The decoding step run in the workers (a module-level function, so it pickles).
        self.decode = decode
        self._pool: ProcessPoolExecutor | None = None

    # -- pool management --------------------------------------------------------------

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=_context(),
                initializer=_worker_init,
                initargs=(os.getpid(),),
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
        try:
            yield from self._run_pool(iter(work))
        except BaseException:
            self.close(now=True)
            raise

    def _run_inline(self, work: Iterable[tuple[K, str]]) -> Iterator[Done[K]]:
        for key, path in work:
            try:
                prepared = self.decode(path, self.analyzer.plan)
            except TrackError as exc:
                yield Done(key, path, error=exc)
                continue
            yield from self._infer([(key, prepared)])

    def _infer(self, batch: list[tuple[K, Prepared]]) -> Iterator[Done[K]]:
        if not batch:
            return
        try:
            results = self.analyzer.infer([prepared for _, prepared in batch])
        except TrackError:
            # One track of the batch has nothing to decide on: decide them one by one.
            for key, prepared in batch:
                try:
                    (result,) = self.analyzer.infer([prepared])
                except TrackError as exc:
                    yield Done(key, prepared.path, error=exc)
                else:
                    yield Done(key, prepared.path, result=result)
            return
        for (key, prepared), result in zip(batch, results, strict=True):
            yield Done(key, prepared.path, result=result)

    def _run_pool(self, work: Iterator[tuple[K, str]]) -> Iterator[Done[K]]:
        plan = self.analyzer.plan
        limit = self.jobs * QUEUE_PER_WORKER + self.batch_tracks
        pending: dict[Future[Prepared], tuple[K, str]] = {}
        ready: list[tuple[K, Prepared]] = []
        exhausted = False
        while True:
            while not exhausted and len(pending) + len(ready) < limit:
                try:
                    key, path = next(work)
                except StopIteration:
                    exhausted = True
                    break
                pending[self._get_pool().submit(self.decode, path, plan)] = (key, path)
            if not pending:
                yield from self._infer(ready)
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                key, path = pending.pop(future)
                try:
                    ready.append((key, future.result()))
                except TrackError as exc:
                    yield Done(key, path, error=exc)
                except BrokenProcessPool:
                    broken = True
                    pending[future] = (key, path)
            if broken:
                in_flight = list(pending.values())
                pending.clear()
                self.close(now=True)
                yield from self._isolate(in_flight, plan, ready)
                ready = []
                continue
            if len(ready) >= self.batch_tracks or (exhausted and not pending):
                yield from self._infer(ready)
                ready = []

    def _isolate(
        self,
        suspects: list[tuple[K, str]],
        plan: DecodePlan,
        ready: list[tuple[K, Prepared]],
    ) -> Iterator[Done[K]]:
        """Retry the tracks that were in flight when a worker died, one at a time."""
        batch = list(ready)
        for key, path in suspects:
            future = self._get_pool().submit(self.decode, path, plan)
            try:
                batch.append((key, future.result()))
            except TrackError as exc:
                yield Done(key, path, error=exc)
            except BrokenProcessPool:
                self.close(now=True)
                reason = "the decoder crashed on this file (its worker process died)"
                yield Done(key, path, error=AudioLoadError(path, reason))
        yield from self._infer(batch)
