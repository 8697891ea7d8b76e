"""The pipeline: decode in worker processes, run the models where the worker plan says.

* Decoding, resampling and the heuristic features (:func:`analyzer.prepare`) run in a pool
  of worker processes, a few tracks ahead at most, so memory stays flat however long the
  library or the tracks are.
* The models run where the run's :class:`~.workers.WorkerPlan` puts them (:mod:`.workers`
  decides, and says why): in each worker on the CPU, sending back only the small result; in
  this process, on batches of several tracks, on a GPU or for a run of few tracks (then
  warmed up while the workers decode); or on a cluster (:class:`RemoteInference`,
  :mod:`.cluster`), whose batches come back as model outputs, blended here while decoding
  goes on.
* A native crash in a decoder (a worker dies: the pool is "broken") costs one file: the
  tracks that were in flight are retried one by one in a fresh pool, the one that kills its
  worker again is reported, and the run goes on in parallel.

The engine knows nothing of beets; it maps keys to results.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from . import workers
from .analyzer import (
    Analyzer,
    DecodePlan,
    ModelOutputs,
    Prepared,
    TrackResult,
    prepare,
)
from .errors import AudioLoadError, GenreScoreError, TrackError
from .workers import Where, WorkerPlan, track_error

K = TypeVar("K")

#: Tracks the models see in one batch: enough to fill a forward pass with windows, few
#: enough that a batch of prepared audio (about 5 MB a track) stays small.
BATCH_TRACKS = 8
#: Tracks queued per worker beyond the one it works on, so that none waits for the next.
QUEUE_PER_WORKER = 2
#: Amplitude of the noise the models are warmed up on (quiet, never digital silence).
WARM_UP_LEVEL = 0.01
#: How long a stopped run waits for the pool's manager thread (it ends at once once the
#: workers are terminated; the bound only guards against a stuck one).
MANAGER_JOIN_SECONDS = 5.0


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
    """Runs an :class:`Analyzer` over many files, with workers as a :class:`WorkerPlan` says.

    ``plan`` is the run's (:func:`workers.plan`, made once per run); each call of :meth:`run`
    only adapts it to the tracks it was given (:meth:`WorkerPlan.for_tracks`: a few tracks
    run the models in this process, unless the workers have them already). Used on its own
    (tests, benchmarks), the engine plans for itself, from ``jobs`` (``0`` does everything in
    this process, no pool: slower, but simplest to debug); ``infer_in_workers`` pins where
    the models run.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        jobs: int | None = None,
        batch_tracks: int = BATCH_TRACKS,
        decode: Callable[[str, DecodePlan], Prepared] = prepare,
        infer_in_workers: bool | None = None,
        remote: RemoteInference | None = None,
        *,
        plan: WorkerPlan | None = None,
    ) -> None:
        self.analyzer = analyzer
        if plan is None:
            plan = workers.plan(
                analyzer.settings,
                jobs=jobs,
                loaded=analyzer.models.backends,
                remote=remote is not None,
            )
        if infer_in_workers is not None and plan.models is not Where.CLUSTER:
            plan = dataclasses.replace(
                plan, models=Where.WORKERS if infer_in_workers else Where.HERE
            )
        self.plan = plan
        self.batch_tracks = max(1, batch_tracks)
        #: The decoding step run in the workers (a module-level function, so it pickles).
        self.decode = decode
        #: Where the models run when not here: the workers then only decode.
        self.remote = remote
        #: The plan :meth:`run` adapts to each call's tracks (``None``: pinned).
        self._run_plan = plan if infer_in_workers is None else None
        self._pool: ProcessPoolExecutor | None = None
        #: The plan the pool's workers were started with.
        self._pool_plan = plan
        #: Run the models once on a made-up window before the first batch comes in.
        self._warm = False

    @property
    def jobs(self) -> int:
        return self.plan.jobs

    @property
    def infer_in_workers(self) -> bool:
        """Whether the workers run the models (else they only decode)."""
        return self.plan.models_in_workers

    # -- pool management --------------------------------------------------------------

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            settings = self.analyzer.settings if self.infer_in_workers else None
            self._pool_plan = self.plan
            workers.start(self.plan)  # started by the run already, unless used on its own
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=workers.context(self.plan),
                initializer=workers.worker_init,
                initargs=(
                    os.getpid(),
                    self.decode,
                    settings,
                    self.analyzer.fingerprint,
                    self.plan.threads,
                    self.analyzer.models.chosen,
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
        if now:
            # The pool's manager thread closes its wake-up pipe as it winds down; if the
            # interpreter exits meanwhile, CPython 3.11's exit hook writes to that pipe and
            # prints "OSError: Bad file descriptor" (a race fixed in later CPythons). The
            # workers are terminated, so the thread ends at once: wait for it, bounded.
            manager = getattr(pool, "_executor_manager_thread", None)
            if manager is not None:
                manager.join(timeout=MANAGER_JOIN_SECONDS)

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
        if self._run_plan is not None:
            # This call's tracks (up to one more than workers tells "few"): few run the
            # models here, unless the workers have them already.
            head = list(itertools.islice(work, self.jobs + 1))
            warm_workers = self._pool is not None and self._pool_plan.models_in_workers
            self.plan = self._run_plan.for_tracks(
                len(head), loaded=self.analyzer.models.backends, workers_have_models=warm_workers
            )
            if self._pool is not None and self._pool_plan.models != self.plan.models:
                self.close()
            # The models' first call pays first-call costs (torch's, on a GPU or for a checkpoint);
            # paid while the workers decode, it is off the run's critical path.
            self._warm = self.plan.models is Where.HERE and self._pool is None
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
        task = workers.analyze_task if self.infer_in_workers else workers.decode_task
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


# track_error is the workers' (it runs there); cluster.py takes it from here too.
__all__ = ["BATCH_TRACKS", "Done", "Engine", "RemoteInference", "track_error"]
