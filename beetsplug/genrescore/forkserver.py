"""The process context of the worker pool, and starting its fork server early.

Kept free of the analysis imports (librosa, torch: seconds to load), so that the command and
the import hook can start the fork server before they load anything themselves.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

from .backends.base import NONE
from .settings import Settings, default_jobs

#: Imported by the fork server, so that every worker forks with the analysis code loaded.
WORKER_PRELOAD = ["beetsplug.genrescore.worker"]
#: Imported as well when the workers run models: the embedded backend, and with it torch
#: (every backend needs it; about 1.3 s to import).
MODEL_PRELOAD = ["beetsplug.genrescore.backends.musicnn"]


def context(*, with_models: bool) -> BaseContext:
    """The context the pool's workers start in.

    forkserver: workers fork from a clean server that has imported the analysis code (and
    the model code they run) once, never from this process (whose torch threads would not
    survive a fork). Where there is no fork server, spawn.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(WORKER_PRELOAD + (MODEL_PRELOAD if with_models else []))
    return forkserver


def models_here(tracks: int | None, jobs: int) -> bool:
    """Whether a run of ``tracks`` (``None``: not known yet) runs the models in this process.

    A run with no more tracks than workers gives each worker one track: a worker that ran the
    models would first import torch and load them, which this process does anyway (the
    models' fingerprint decides which tracks are up to date). So the workers only decode, and
    this process, whose torch import overlaps their librosa warm-up, runs the models; the
    workers stay, so a decoder that crashes still costs only its file. Longer runs keep the
    models in the workers, where they scale with the cores (engine.py says why). What it
    saves is measured by ``benchmarks/bench.py --startup``.
    """
    return tracks is not None and tracks <= jobs


def start_early(settings: Settings, tracks: int | None = None) -> None:
    """Start the fork server now, when a run with workers is about to start.

    Its imports (3-4 s with the models) then overlap this process's own start instead of
    following it. Once started, it serves every pool of this process; it preloads the models'
    code only when the workers will run them (:func:`models_here`).
    """
    if settings.jobs <= 0:
        return
    jobs = min(settings.jobs, default_jobs())
    with_models = any(value != NONE for value in settings.models.values()) and not models_here(
        tracks, jobs
    )
    if context(with_models=with_models).get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
