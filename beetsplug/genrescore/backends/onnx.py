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
* no memory arena, no memory pattern (:func:`session_options`);
* graph optimisations per model family (:data:`LAYOUT_OPTIMISED`): all of them for YAMNet,
  all but the layout ones for musicnn.

A process that forks workers (the workers' fork server) can make the sessions first
(:func:`share`): the workers then run the same session, its weights in pages they share with
it and each other, instead of each making its own (YAMNet's is about 48 MB).

The interface is small on purpose: :func:`set_threads`, :func:`share`, :class:`OnnxModel`
(``run``, ``metadata``) and :func:`in_chunks` from ``kit`` to bound one pass's memory.
onnxruntime is imported when the first session is made, never by importing this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from ..errors import ModelLoadError
from .kit import REINSTALL_HINT, in_chunks

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

#: The model families (their files' ``format`` metadata) whose sessions get ONNX Runtime's
#: layout optimisations (``ORT_ENABLE_ALL``: convolutions re-laid out in blocked NCHWc form);
#: the others stop at ``ORT_ENABLE_EXTENDED``. Measured on the 2-core AMD EPYC, one thread,
#: CPU time per run and peak memory added by the session and its runs:
#: YAMNet (27 patches) 50 ms and 59 MB with them, 150 ms and 32 MB without; musicnn (one
#: patch) 46 ms and 46 MB with them, 31 ms and 28 MB without: its timbral filters (7 x 86,
#: 7 x 38 ... on 96 mel bands) do not fit the blocked layout, and the reorders cost more
#: than they save. Both levels give the same scores to float32 rounding.
LAYOUT_OPTIMISED: Final = frozenset({"genrescore-onnx-yamnet", "genrescore-efficientat"})

_threads: int | None = None

#: Sessions made by :func:`share`, by resolved file and intra-op threads.
_shared: dict[tuple[Path, int], onnxruntime.InferenceSession] = {}


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


def session_options(intra_op_threads: int, *, layout: bool = True) -> onnxruntime.SessionOptions:
    """The options every genrescore session uses (module docstring); ``layout``: with the
    layout optimisations (:data:`LAYOUT_OPTIMISED`)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    level = onnxruntime.GraphOptimizationLevel
    options.graph_optimization_level = level.ORT_ENABLE_ALL if layout else level.ORT_ENABLE_EXTENDED
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No arena and no memory pattern: the arena keeps every pass's activations (musicnn:
    # about 10 MB a patch) for good, in every worker, and the pattern's blocks fragmented the
    # heap. A process with both default models, one patch per musicnn pass: peak 180 MB and
    # 134 MB after five runs, against 235 MB and 311 MB with both on; the CPU time per run
    # within the noise (musicnn 3 patches 92-100 ms, YAMNet 27 patches 50-56 ms).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # errors only: its warnings are about its own internals
    return options


def share(paths: Iterable[Path], name: str = "embedded model") -> None:
    """Make the sessions of these ONNX files now, with one intra-op thread, for the processes
    this one forks: a worker with one thread (a core per worker, as ``-j`` at the number of
    cores plans it) runs them as they are, in memory it shares with this process.

    One thread, because that session starts no thread of its own (a thread pool does not
    survive a fork); a worker given more threads makes its own session. A file that cannot
    be loaded is left for the worker to report (:class:`ModelLoadError`).
    """
    for path in paths:
        key = (Path(path).resolve(), 1)
        if key not in _shared:
            try:
                _shared[key] = _new_session(key[0], name, 1)
            except ModelLoadError:
                continue


def _new_session(path: Path, name: str, intra_op_threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime

    try:
        layout = read_metadata(path, name).get("format") in LAYOUT_OPTIMISED
        return onnxruntime.InferenceSession(
            str(path),
            sess_options=session_options(intra_op_threads, layout=layout),
            providers=list(PROVIDERS),
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # onnxruntime raises its own types, not all exported
        raise ModelLoadError(name, f"cannot load {path}: {exc}", REINSTALL_HINT) from exc


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
        The file is missing or not an ONNX model (read now); onnxruntime cannot load it
        (when the session is made: at the first :meth:`run`).
    """

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        #: The file's metadata, read without onnxruntime (:func:`read_metadata`).
        self.metadata: Mapping[str, str] = read_metadata(path, name)
        # The session is made when the model first runs: a process that only needs the
        # model's fingerprint or labels (the main process while the workers run the models)
        # neither imports onnxruntime nor holds a session (about 15-40 MB a model).
        self._session: onnxruntime.InferenceSession | None = None
        self._session_threads = 0

    def _session_for(self, intra_op_threads: int) -> onnxruntime.InferenceSession:
        if self._session is None or self._session_threads != intra_op_threads:
            shared = _shared.get((self.path.resolve(), intra_op_threads))
            self._session = shared or _new_session(self.path, self.name, intra_op_threads)
            self._session_threads = intra_op_threads
        return self._session

    @property
    def session(self) -> onnxruntime.InferenceSession:
        """The session, made (again) for the current :func:`threads`."""
        return self._session_for(threads())

    def run(self, batch: Array, *, max_batch: int, width: int) -> Array:
        """The model's (first) output for the rows of ``batch``, ``max_batch`` rows per
        pass (:func:`.kit.in_chunks`): shape ``(len(batch), width)``, float32."""
        import numpy as np

        session = self.session
        input_name = session.get_inputs()[0].name

        def forward(chunk: Array) -> Array:
            feed = {input_name: np.ascontiguousarray(chunk, dtype=np.float32)}
            out: Array = session.run(None, feed)[0]
            return out

        return in_chunks(forward, batch, max_batch=max_batch, width=width)


#: ModelProto's field numbers (onnx.proto) that :func:`read_metadata` reads.
_METADATA_PROPS = 14
_KEY, _VALUE = 1, 2


def read_metadata(path: Path, name: str) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, read from its protobuf encoding without
    onnxruntime or onnx: the top-level fields are walked and the graph (nearly all of the
    file) is skipped with a seek.

    Raises
    ------
    ModelLoadError
        The file cannot be read or is not a protobuf message.
    """
    try:
        with path.open("rb") as file:
            return _metadata_props(file)
    except OSError as exc:
        raise ModelLoadError(name, f"cannot read {path}: {exc}", REINSTALL_HINT) from exc
    except ValueError as exc:
        raise ModelLoadError(name, f"{path} is not an ONNX model ({exc})", REINSTALL_HINT) from exc


def _metadata_props(file: BinaryIO) -> dict[str, str]:
    size = os.fstat(file.fileno()).st_size
    metadata: dict[str, str] = {}
    while tag := _varint(file, eof_ok=True):
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _varint(file)
        elif wire in (1, 5):
            file.seek(8 if wire == 1 else 4, 1)
        elif wire == 2:
            length = _varint(file)
            if field != _METADATA_PROPS:
                if file.seek(length, 1) > size:
                    raise ValueError("truncated")
                continue
            entry = _fields(_read(file, length))
            metadata[entry.get(_KEY, b"").decode()] = entry.get(_VALUE, b"").decode()
        else:
            raise ValueError(f"wire type {wire}")
    return metadata


def _fields(message: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a small message (a StringStringEntryProto)."""
    import io

    stream, fields = io.BytesIO(message), {}
    while tag := _varint(stream, eof_ok=True):
        if tag & 7 != 2:
            raise ValueError("a metadata entry holds a field that is not a string")
        fields[tag >> 3] = _read(stream, _varint(stream))
    return fields


def _read(file: BinaryIO, length: int) -> bytes:
    data = file.read(length)
    if len(data) != length:
        raise ValueError("truncated")
    return data


def _varint(file: BinaryIO, *, eof_ok: bool = False) -> int:
    """A protobuf varint; 0 at the end of the file where ``eof_ok`` (no field has tag 0)."""
    value = shift = 0
    while True:
        byte = file.read(1)
        if not byte:
            if eof_ok and shift == 0:
                return 0
            raise ValueError("truncated")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than 64 bits")
