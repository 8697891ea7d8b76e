"""The one engine the embedded models run on, on the CPU: ONNX Runtime.

Every embedded model ships as an ``.onnx`` file (``data/<name>/``, exported by
``tools/export_onnx.py`` from its torch module) and runs through :class:`OnnxModel`: one
``InferenceSession`` per model and process, set up here once for all of them:

* on the CPU (``CPUExecutionProvider``), in float32;
* ``intra_op_num_threads`` explicit, from the worker plan (:func:`set_threads`; by default
  the cores this process may use), one inter-op thread, sequential execution: the models
  are chains of convolutions, and the workers already run one track each;
* no spinning: an idle ONNX Runtime thread pool otherwise spins for a while after each run,
  and takes those cores from whatever runs next in the process (torch's HF checkpoint, numpy's
  features);
* no memory arena (:func:`session_options`).

The interface is small on purpose: :func:`set_threads`, :class:`OnnxModel` (``run``,
``metadata``) and :func:`in_chunks` from ``base`` to bound one pass's memory.
onnxruntime is imported when the first session is made, never by importing this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import ModelLoadError
from .base import REINSTALL_HINT, in_chunks

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import onnxruntime

    Array = npt.NDArray[np.float32]

#: The provider every session runs on. onnxruntime-gpu's CUDA provider is not used: the
#: embedded models take a few ms per window on the CPU, and a GPU run uses their torch
#: modules (the ``hf`` extra) next to the checkpoints' (docs/architecture.md, "Engines").
PROVIDERS: Final = ("CPUExecutionProvider",)

#: Version of the files' metadata layout (``tools/export_onnx.py``); the backends check it.
FORMAT_VERSION: Final = "1"

_threads: int | None = None


def cores() -> int:
    """The cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_threads(threads: int) -> None:
    """Set the intra-op threads of every session made (or remade) from now on in this process.

    The worker plan calls this with each worker's share of the cores before the models load;
    a session made with another count is remade at its next :meth:`OnnxModel.run` (about
    20 ms).
    """
    global _threads
    _threads = max(1, int(threads))


def threads() -> int:
    """Intra-op threads for a new session: :func:`set_threads`'s value, else :func:`cores`."""
    return _threads if _threads is not None else cores()


def session_options(intra_op_threads: int) -> onnxruntime.SessionOptions:
    """The options every genrescore session uses (module docstring)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No arena: it keeps every pass's activations (musicnn: about 10 MB a patch) for good,
    # in every worker. Without it a process with both default models peaked at 186 MB
    # instead of 222 MB (steady 135 MB instead of 311 MB), at the same speed.
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3  # errors only: its warnings are about its own internals
    return options


class OnnxModel:
    """One ``.onnx`` file, run on the CPU with :func:`threads` intra-op threads.

    Parameters
    ----------
    path
        The model file; its single input takes a batch on the first axis.
    name
        The backend's name, under which errors are reported.

    Raises
    ------
    ModelLoadError
        The file is missing or not a model onnxruntime can load.
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._session: onnxruntime.InferenceSession | None = None
        self._session_threads = 0
        self._session_for(threads())  # errors now, at load, not at the first track

    def _session_for(self, intra_op_threads: int) -> onnxruntime.InferenceSession:
        if self._session is None or self._session_threads != intra_op_threads:
            import onnxruntime

            try:
                self._session = onnxruntime.InferenceSession(
                    str(self.path),
                    sess_options=session_options(intra_op_threads),
                    providers=list(PROVIDERS),
                )
            except Exception as exc:  # onnxruntime raises its own types, not all exported
                raise ModelLoadError(
                    self.name, f"cannot load {self.path}: {exc}", REINSTALL_HINT
                ) from exc
            self._session_threads = intra_op_threads
        return self._session

    @property
    def session(self) -> onnxruntime.InferenceSession:
        """The session, made (again) for the current :func:`threads`."""
        return self._session_for(threads())

    @property
    def metadata(self) -> Mapping[str, str]:
        """The file's metadata (``tools/export_onnx.py`` writes labels and the source)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, batch: Array, *, max_batch: int, width: int) -> Array:
        """The model's (first) output for the rows of ``batch``, ``max_batch`` rows per
        pass (:func:`.base.in_chunks`): shape ``(len(batch), width)``, float32."""
        import numpy as np

        session = self.session
        input_name = session.get_inputs()[0].name

        def forward(chunk: Array) -> Array:
            feed = {input_name: np.ascontiguousarray(chunk, dtype=np.float32)}
            out: Array = session.run(None, feed)[0]
            return out

        return in_chunks(forward, batch, max_batch=max_batch, width=width)
