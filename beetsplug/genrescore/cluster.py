"""Run the models on a Ray cluster while decoding, blending and the library stay here.

Imported only when the ``cluster`` option is not ``none``, so a run without it never loads
Ray. The engine (:mod:`.engine`) decodes the windows in its worker processes as on the GPU
path and hands batches of decoded tracks to :class:`RayInference`, which sends them to a
pool of Ray actors. Each actor holds the models once (on its GPU when it has one, else on
CPU threads) and answers each batch with the models' raw outputs
(:class:`~.analyzer.ModelOutputs`); the blend, the database and the tags stay in the beets
process. Files never need to be visible to the cluster: only the windows travel.

The actors build their models as this process does (:func:`~.analyzer.load_models`): the
embedded models load their weights from the plugin's package data, so every node needs
``beets-genrescore[ray]`` installed (the same version: an actor whose models differ refuses
to start). A downloaded model must be in the node's own cache (``cache_dir``).

Failures, as on one machine:

* An actor that dies costs only the tracks in its hands: each is retried once, alone, on
  another actor (so a track that kills actors is found), then reported; a replacement actor
  is started while the cluster has room.
* A cluster that goes away (no actor left, or Ray shut down) fails the batches in flight
  with :class:`ClusterError`; the engine stops and every finished track is already stored.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from .analyzer import Analyzer, ModelOutputs, Prepared
from .engine import track_error
from .errors import AnalysisError, GenreScoreError, TrackError
from .settings import Settings
from .workers import WorkerPlan, host_models

#: What to install when Ray is missing.
RAY_EXTRA = "pip install 'beets-genrescore[ray]'"
#: Tracks in one call to an actor: enough windows to fill a GPU's forward pass (the engine's
#: batch), few enough that a call carries a few MB (benchmarks/cluster.py measures it).
BATCH_TRACKS = 8
#: Batches each actor holds at once: one in its models and one waiting, so it never idles
#: between batches while the next crosses the network.
BATCHES_PER_ACTOR = 2
#: CPUs an actor takes on a node without a GPU; its torch threads. One per core is what the
#: local engine found fastest for the embedded models (engine.py).
ACTOR_CPUS = 1
#: How long the actors may take to start and load their models (s): a cold node imports
#: torch and reads the weights; a GPU node initialises CUDA.
START_TIMEOUT = 300.0
#: How often (s) the pool's thread checks that Ray is still connected.
WATCH_SECONDS = 0.5
#: Ray's namespace for the actors, so ``ray list actors`` tells them apart.
NAMESPACE = "genrescore"


class ClusterError(GenreScoreError):
    """The cluster cannot be reached, cannot run the models, or went away mid-run."""


def import_ray(address: str) -> Any:
    """Ray, or a :class:`ClusterError` that names the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(
            f"cluster: {address!r} needs Ray, which is not installed; install it with {RAY_EXTRA}"
        ) from exc
    return ray


#: Where Ray's client looks for a cluster's token, in its order (Ray >= 2.5x's token
#: authentication, on by default on a head that has a token): docs/cluster.md.
TOKEN_SOURCES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")
#: How long the check of a client address's token may take (s).
PROBE_TIMEOUT = 10.0


def _token_source() -> str | None:
    """Where the token this process would send comes from (``None``: no token)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return f"RAY_AUTH_TOKEN_PATH ({path})" if os.path.isfile(path) else None
    default = os.path.expanduser(TOKEN_SOURCES[2])
    return TOKEN_SOURCES[2] if os.path.isfile(default) else None


def use_token() -> bool:
    """Send the cluster's token, as Ray's own CLI and ``ray.init()`` do, when one is at hand.

    Ray's client adds the token to its calls only in token mode (``RAY_AUTH_MODE=token``),
    which ``ray.init`` turns on for a local cluster but not for a ``ray://`` address: against
    a head with token authentication (the default) the client then waits 30 s and reports a
    timeout. Here token mode is turned on when a token is found (:data:`TOKEN_SOURCES`) and
    the user did not set ``RAY_AUTH_MODE`` themselves. Returns whether a token is sent.
    """
    try:  # private, but the function Ray's CLI calls; absent before token authentication
        from ray._private.authentication import authentication_token_setup as setup
    except ImportError:
        return False
    quiet = logging.getLogger(setup.__name__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "token authentication is enabled" notice
    try:
        return bool(setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False))
    except Exception:  # a Ray whose token setup differs: connect as before
        return False
    finally:
        quiet.setLevel(level)


def token_refused(address: str) -> str | None:
    """Why the Ray client server at ``address`` (``ray://host:port``) refuses this process's
    token, in one line with what to set; ``None`` when it does not (or cannot be asked).

    One call a client makes first (a ping), with the token Ray would send: a head with
    token authentication answers UNAUTHENTICATED at once where Ray's client would wait for
    its timeout.
    """
    try:
        import grpc

        raylet: Any = importlib.import_module("ray._raylet")
        ray_client_pb2: Any = importlib.import_module("ray.core.generated.ray_client_pb2")
        ray_client_pb2_grpc: Any = importlib.import_module("ray.core.generated.ray_client_pb2_grpc")
    except ImportError:
        return None
    try:
        loader = raylet.AuthenticationTokenLoader.instance()
        header = loader.get_token_for_http_header() if loader.has_token() else {}
        with grpc.insecure_channel(address.removeprefix("ray://")) as channel:
            ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(
                ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING),
                metadata=list(header.items()),
                timeout=PROBE_TIMEOUT,
            )
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            return None
    except Exception:  # no answer to read: say nothing rather than guess
        return None
    else:
        return None
    source = _token_source()
    found = f"the token from {source} is not the cluster's" if source else "none was found here"
    return (
        f"the Ray cluster at {address} requires its authentication token and {found}: "
        "set RAY_AUTH_TOKEN to the head's token, or RAY_AUTH_TOKEN_PATH to a file holding it "
        "(on the head: ~/.ray/auth_token, or `ray get-auth-token`)"
    )


#: What a Ray head answers when it could not start the server process of a new client (its
#: proxier's ``start_specific_server``): a passing failure of the head, seen under load,
#: tried once more after a pause. Either the proxier says so, or its traceback comes back
#: from inside that function (a psutil ``ZombieProcess`` on the server it had just spawned).
SERVER_START_FAILED = ("Starting Ray client server failed", "in start_specific_server")
SERVER_START_RETRY_SECONDS = 1.0


def head_could_not_start_server(message: str) -> bool:
    """Whether a refused connection's message is the head failing to start this client's
    server process (:data:`SERVER_START_FAILED`), not a refusal of the client."""
    return any(marker in message for marker in SERVER_START_FAILED)


def connect(address: str) -> tuple[Any, bool]:
    """Ray connected to ``address``; and whether this call connected it (so must close it).

    A program (or a test) that connected Ray itself keeps its connection.
    """
    ray = import_ray(address)
    # Ray starts a local instance on any call made while it is not connected: after the
    # cluster went away, that would hang a run (or quietly start a new cluster) instead of
    # stopping it. Private, but the only switch (RAY_ENABLE_AUTO_CONNECT is read at import).
    with contextlib.suppress(Exception):
        ray._private.auto_init_hook.enable_auto_connect = False
    if ray.is_initialized():
        return ray, False
    if address.startswith("ray://"):
        use_token()
        refused = token_refused(address)
        if refused is not None:
            raise ClusterError(refused)
    try:
        for attempt in range(2):
            try:
                ray.init(
                    address=address,
                    namespace=NAMESPACE,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
                break
            except ConnectionAbortedError as exc:
                # The head could not start this client's own server process (its log:
                # "SpecificServer startup failed", gRPC's fork under load): once more.
                if attempt or not head_could_not_start_server(str(exc)):
                    raise
                with contextlib.suppress(Exception):
                    ray.shutdown()
                time.sleep(SERVER_START_RETRY_SECONDS)
    except Exception as exc:  # ConnectionError, RuntimeError, grpc errors: all "cannot reach"
        hint = " (start one with `ray start --head`)" if address == "auto" else ""
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}{hint}: {type(exc).__name__}: {exc}"
        ) from exc
    return ray, True


class ModelActor:
    """One Ray actor: the models, loaded once, run on batches of decoded tracks."""

    def __init__(self, settings: Settings, fingerprint: str, threads: int) -> None:
        import threadpoolctl

        # Its share of the node's cores, as a local worker's (workers.worker_init), and its
        # models hosted the same way (workers.host_models).
        threadpoolctl.threadpool_limits(limits=threads)
        hosted = host_models(
            settings,
            fingerprint,
            threads,
            differ=f"the models on Ray node {os.uname().nodename} differ from this machine's "
            "(install the same beets-genrescore version and models there)",
        )
        self.analyzer: Analyzer | None = None
        self.error: GenreScoreError | None = None
        if isinstance(hosted, GenreScoreError):
            self.error = hosted
        else:
            self.analyzer = hosted

    def ready(self) -> str:
        """Where the actor runs; raises what stopped its models loading."""
        if self.error is not None:
            raise self.error
        return os.uname().nodename

    def evidence(self, tracks: list[Prepared]) -> list[ModelOutputs | TrackError]:
        """Each track's model outputs, or the error that stopped that track alone."""
        analyzer = self.analyzer
        if analyzer is None:
            raise self.error or GenreScoreError("actor started without models")
        try:
            return list(analyzer.evidence(tracks))
        except Exception:
            pass  # one track makes a model fail: run them one by one, so only it fails
        outputs: list[ModelOutputs | TrackError] = []
        for track in tracks:
            try:
                outputs.extend(analyzer.evidence([track]))
            except Exception as exc:
                outputs.append(track_error(track.path, exc))
        return outputs


def shipped(track: Prepared, rates: frozenset[int]) -> Prepared:
    """The part of a decoded track the models need: their sample rates' windows only."""
    return replace(track, audio={rate: track.audio[rate] for rate in rates})


class _Slot:
    """An actor of the pool and the batches it holds."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.load = 0
        self.alive = True


class RayInference:
    """A pool of :class:`ModelActor` on a Ray cluster, behind the engine's remote seam.

    ``actors``: how many (default: one per GPU of the cluster; without GPUs, one per
    ``ACTOR_CPUS`` CPUs). ``actor_class`` is for tests (an actor that dies on cue).
    """

    def __init__(
        self,
        analyzer: Analyzer,
        address: str,
        *,
        batch_tracks: int,
        actors: int | None = None,
        actor_class: type[ModelActor] = ModelActor,
    ) -> None:
        self._ray, self._owned = connect(address)
        ray = self._ray
        self.address = address
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        count = actors or (gpus if gpus else max(1, cpus // ACTOR_CPUS))
        options: dict[str, Any] = (
            {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": ACTOR_CPUS}
        )
        # No restarts: a dead actor is replaced by a fresh one, and its tracks retried
        # elsewhere, by this class (Ray's restarts would replay the batch on the same one).
        self._remote = ray.remote(actor_class).options(max_restarts=0, **options)
        self._args = (analyzer.settings, analyzer.fingerprint, 1 if gpus else ACTOR_CPUS)
        self._rates = frozenset(b.sample_rate for b in analyzer.models.backends)
        self._lock = threading.Lock()
        self._slots = [_Slot(self._remote.remote(*self._args)) for _ in range(count)]
        #: Replacements left: as many as the pool started with, so a track that kills every
        #: actor it meets cannot start actors forever.
        self._spares = count
        self._open: set[Future[Any]] = set()
        self._closed = False
        try:
            self.nodes = ray.get(
                [slot.handle.ready.remote() for slot in self._slots], timeout=START_TIMEOUT
            )
        except Exception as exc:
            self.close()
            cause = getattr(exc, "cause", None) or exc
            raise ClusterError(f"the Ray actors could not load the models: {cause}") from exc
        self.batch_tracks = batch_tracks
        self.capacity = count * BATCHES_PER_ACTOR * batch_tracks
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._thread = threading.Thread(target=self._dispatch, name="genrescore-ray", daemon=True)
        self._thread.start()

    @property
    def actors(self) -> list[Any]:
        """The live actors' handles."""
        with self._lock:
            return [slot.handle for slot in self._slots if slot.alive]

    # -- sending -----------------------------------------------------------------------

    def submit(self, tracks: list[Prepared]) -> Future[list[ModelOutputs | TrackError]]:
        out: Future[list[ModelOutputs | TrackError]] = Future()
        with self._lock:
            self._open.add(out)
        out.add_done_callback(self._forget)
        self._send([shipped(t, self._rates) for t in tracks], out, avoid=None)
        return out

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._open.discard(future)

    def _pick(self, avoid: _Slot | None) -> _Slot | None:
        with self._lock:
            live = [slot for slot in self._slots if slot.alive]
            others = [slot for slot in live if slot is not avoid] or live
            if not others:
                return None
            slot = min(others, key=lambda s: s.load)
            slot.load += 1
            return slot

    def _send(
        self,
        tracks: list[Prepared],
        out: Future[list[ModelOutputs | TrackError]],
        avoid: _Slot | None,
    ) -> None:
        slot = self._pick(avoid)
        if slot is None:
            _settle(out, error=self._lost("no Ray actor is left to run the models"))
            return
        retry = avoid is not None
        if not self._ray.is_initialized():
            _settle(out, error=self._lost("Ray was shut down"))
            return
        try:
            ref = slot.handle.evidence.remote(tracks)
            # Ray calls this back on its own thread, where calling Ray again deadlocks:
            # the answer is handled on this pool's thread (_dispatch).
            ref.future().add_done_callback(
                lambda done: self._events.put((done, slot, tracks, out, retry))
            )
        except Exception as exc:  # Ray shut down under us
            _settle(out, error=self._lost(f"{type(exc).__name__}: {exc}"))

    # -- receiving (on this pool's thread) ---------------------------------------------

    def _dispatch(self) -> None:
        """Handle the actors' answers; fail what is in flight if Ray goes away under us."""
        while not self._closed:
            try:
                event = self._events.get(timeout=WATCH_SECONDS)
            except queue.Empty:
                if not self._closed and not self._ray.is_initialized():
                    # A Ray shut down under a run never answers the batches in flight.
                    with self._lock:
                        open_now = list(self._open)
                    for future in open_now:
                        _settle(future, error=self._lost("Ray was shut down"))
                continue
            try:
                self._returned(*event)
            except Exception as exc:  # never leave a batch unanswered
                _settle(event[3], error=self._lost(f"{type(exc).__name__}: {exc}"))

    def _returned(
        self,
        done: Future[Any],
        slot: _Slot,
        tracks: list[Prepared],
        out: Future[list[ModelOutputs | TrackError]],
        retry: bool,
    ) -> None:
        with self._lock:
            slot.load -= 1
        ray = self._ray
        try:
            value = done.result()
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
            self._lose(slot)
            if retry:
                reason = "the Ray actor running the models died on it twice"
                _settle(out, value=[AnalysisError(t.path, reason) for t in tracks])
            else:
                self._retry_alone(tracks, out, slot)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, GenreScoreError) else exc
            _settle(out, error=self._lost(f"an actor failed: {cause}"))
        except Exception as exc:
            _settle(out, error=self._lost(f"{type(exc).__name__}: {exc}"))
        else:
            _settle(out, value=value)

    def _retry_alone(
        self, tracks: list[Prepared], out: Future[list[ModelOutputs | TrackError]], dead: _Slot
    ) -> None:
        """Send each track of a dead actor's batch on its own to another actor."""
        parts: list[Future[list[ModelOutputs | TrackError]]] = [Future() for _ in tracks]
        gather = _Gather(parts, out)
        for track, part in zip(tracks, parts, strict=True):
            part.add_done_callback(gather.one_done)
            self._send([track], part, avoid=dead)

    def _lose(self, slot: _Slot) -> None:
        """Take a dead actor out of the pool; start a replacement while spares last."""
        with self._lock:
            if not slot.alive:
                return
            slot.alive = False
            spare = self._spares > 0 and not self._closed and self._ray.is_initialized()
            if spare:
                self._spares -= 1
        with contextlib.suppress(Exception):  # Ray tearing down
            self._ray.kill(slot.handle, no_restart=True)
        if spare:
            with contextlib.suppress(Exception):  # Ray tearing down
                fresh = _Slot(self._remote.remote(*self._args))
                # It joins the pool once its models are loaded; until then it takes no work.
                fresh.alive = False
                fresh.handle.ready.remote().future().add_done_callback(
                    lambda done: self._joined(done, fresh)
                )

    def _joined(self, done: Future[Any], slot: _Slot) -> None:
        # On Ray's thread: no Ray call here.
        if done.exception() is None:
            with self._lock:
                if not self._closed:
                    slot.alive = True
                    self._slots.append(slot)

    def _lost(self, reason: str) -> ClusterError:
        return ClusterError(f"lost the Ray cluster at {self.address}: {reason}")

    def close(self) -> None:
        """Stop the actors (and disconnect, when this pool connected)."""
        with self._lock:
            self._closed = True
            slots, self._slots = self._slots, []
        if not self._ray.is_initialized():
            return  # shut down under us: the actors went with it
        for slot in slots:
            with contextlib.suppress(Exception):  # Ray tearing down
                self._ray.kill(slot.handle, no_restart=True)
        if self._owned:
            with contextlib.suppress(Exception):  # Ray tearing down
                self._ray.shutdown()


class _Gather:
    """Resolves ``out`` with the parts' results, in order, once all are in."""

    def __init__(self, parts: Sequence[Future[list[Any]]], out: Future[list[Any]]) -> None:
        self.parts = parts
        self.out = out
        self.left = len(parts)
        self.lock = threading.Lock()

    def one_done(self, part: Future[list[Any]]) -> None:
        error = part.exception()
        if error is not None:
            _settle(self.out, error=error)
            return
        with self.lock:
            self.left -= 1
            if self.left:
                return
        _settle(self.out, value=[value for p in self.parts for value in p.result()])


def _settle(future: Future[Any], *, value: Any = None, error: BaseException | None = None) -> None:
    """Resolve a future once; later answers (a watchdog after Ray's reply) are dropped."""
    if future.done():
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except Exception:  # resolved by another thread in between: InvalidStateError
        pass


def build(analyzer: Analyzer, plan: WorkerPlan) -> RayInference:
    """The engine's remote inference on the Ray cluster the run's plan puts the models on
    (:attr:`.workers.WorkerPlan.cluster`: the ``cluster`` setting, read once)."""
    if plan.cluster is None:
        raise ValueError("the plan runs no model on a cluster")
    return RayInference(analyzer, plan.cluster, batch_tracks=BATCH_TRACKS)


__all__ = ["ClusterError", "ModelActor", "RayInference", "build", "connect", "import_ray"]
