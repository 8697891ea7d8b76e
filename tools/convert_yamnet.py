"""Convert Google's YAMNet from two TFLite files into the safetensors file genrescore ships.

Usage::

    python tools/convert_yamnet.py [--a PATH] [--b PATH] [--class-map CSV] [--out DIR]
    python tools/convert_yamnet.py --evidence          # the numbers quoted below
    python tools/convert_yamnet.py --record-fixtures   # tests/data/yamnet/ from the interpreter

Needs the tool-only extra (``pip install -e .[tools]``: the ``tflite`` flatbuffer schema and,
for ``--evidence``/``--record-fixtures``, the ``ai-edge-litert`` interpreter); the plugin and
its tests never do. The inputs are the files described in ``reference/yamnet/README.md`` of
the shared folder: ``yamnet_a.tflite`` (per-tensor int8 scales, int8 DFT and mel matrices,
the log-mel patch as a second output), ``yamnet_b.tflite`` (per-output-channel int8 scales,
float RFFT) and ``yamnet_class_map.csv``.

What is written: ``DIR/yamnet.safetensors`` holds the 14 convolutions and the dense head in
PyTorch layouts (``layer1.conv``, ``layerN.depthwise``, ``layerN.pointwise`` for N = 2..14,
``dense``; batch norm is already folded into their biases by the TFLite converter) and, in
the metadata, the 521 display names of the class map as JSON. The front end (Hann window,
magnitude DFT, HTK mel matrix) is not stored: ``backends/yamnet_net.py`` computes it in
float from YAMNet's ``params.py`` constants, the original model's arithmetic. This script
checks that both files' front-end tensors agree with those (within their int8 rounding
step), so the two stay tied together.

Which weights, from evidence (``--evidence``; torch CPU float32):

- The files hold the same trained model: every float tensor (first conv, layer 2-3
  depthwise, all biases) agrees to 2.4e-7 (4.8e-7 for one bias), the dense head's int8
  bytes and scale are identical, and for every int8 weight the two rounding intervals
  ``[(q - 1/2) s, (q + 1/2) s]`` overlap (checked by :func:`combine`; none misses).
- File b's per-channel scales are finer: its rounding step is 0.46x of a's on average (median
  0.45x); the mean interval width over all int8 weights is 3.6e-2 for a and 1.3e-2 for b
  (a's layer 13-14 per-tensor scales are 10-20x b's: single channels with large weights
  coarsen the whole tensor).
- Combined: the true float weight lies in the intersection of both intervals, whose mean
  width is 1.1e-2 (0.82x of b's where a's step is at most twice b's). Its midpoint is never
  further from the truth than b's value can be, so the shipped weights are that midpoint.
- It matters: the network is sensitive to weight rounding. On 8 signals (the three sanity
  checks, a chirp, Gaussian noise at 4 levels) scores move, per 0.96 s patch / clip mean,
  by up to 0.23 / 0.13 between a and the combination and 0.066 / 0.028 between b and it.
  All three weight sets pass the official sanity checks (Silence 1st, White noise 1st,
  Sine wave 6th).

Storage: the weights that were int8 in the files are stored as float16, those that were
float there (biases, first conv, layer 2-3 depthwise: 0.3 % of the parameters) as float32:
7.50 MB against 14.92 MB all float32. That moves scores by at most 2.3e-3 per patch and
1.0e-3 on clip means on the signals above, 10-30x less than the uncertainty of the weights
themselves (b vs combined). All float16 would be 7.47 MB but move them 3x more (6.9e-3 /
1.4e-3: the first conv is sensitive), and costs the float layers their exact agreement
with the interpreter (5e-4 relative error on layer 1 instead of 1e-6).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

# Run as a script, only tools/ is on the path; the repository root makes the plugin importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
REFERENCE: Final = REPO_ROOT.parent / "shared" / "reference" / "yamnet"
DEFAULT_OUT: Final = REPO_ROOT / "beetsplug" / "genrescore" / "data" / "yamnet"
FIXTURES: Final = REPO_ROOT / "tests" / "data" / "yamnet"
#: Bumped when the layout or metadata of the written file changes; the backend checks it.
FORMAT_VERSION: Final = "1"
#: Storage precision of the weights that were int8 in the TFLite files (see the module
#: docstring for the measurement). Those that were float there (the biases, the first conv and
#: the layer 2-3 depthwise kernels, 0.3 % of the parameters) stay float32.
STORE_DTYPE: Final = np.float16

Array = npt.NDArray[Any]

# tflite schema TensorType -> numpy dtype (the ones these files use).
_DTYPES: Final = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 8: np.complex64}


@dataclass(frozen=True)
class Tensor:
    """One TFLite tensor: its constant data (``None`` for activations) and int8 scales."""

    index: int
    name: str
    shape: tuple[int, ...]
    data: Array | None
    scales: Array | None
    axis: int

    def dequantized(self) -> Array:
        """Float64 values: int8 data times its (per-tensor or per-axis) scale."""
        if self.data is None:
            raise ValueError(f"tensor {self.name} is not a constant")
        if self.scales is None:
            return self.data.astype(np.float64)
        shape = [1] * self.data.ndim
        shape[self.axis] = -1
        scales = self.scales.astype(np.float64)
        if scales.size > 1:
            scales = scales.reshape(shape)
        return self.data.astype(np.float64) * scales


@dataclass(frozen=True)
class Op:
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]

    def weight(self, op: Op, position: int) -> Tensor:
        """Input ``position`` of ``op``, looking through a DEQUANTIZE to its int8 constant."""
        index = op.inputs[position]
        for producer in self.ops:
            if producer.kind == "DEQUANTIZE" and producer.outputs[0] == index:
                index = producer.inputs[0]
        return self.tensors[index]


def read_tflite(path: Path) -> Graph:
    """Read the first subgraph of a TFLite flatbuffer (tensors with constants, ops in order)."""
    import tflite

    codes = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    buf = path.read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    tensors = []
    for index in range(graph.TensorsLength()):
        t = graph.Tensors(index)
        shape = tuple(int(n) for n in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        raw = model.Buffers(t.Buffer()).DataAsNumpy()
        data = None
        if isinstance(raw, np.ndarray) and raw.size:
            data = raw.view(_DTYPES[t.Type()]).reshape(shape)
        q = t.Quantization()
        scales = q.ScaleAsNumpy().astype(np.float32) if q is not None and q.ScaleLength() else None
        if q is not None and q.ZeroPointLength() and np.any(q.ZeroPointAsNumpy() != 0):
            raise ValueError(f"{path}: tensor {index} has a non-zero zero point")
        axis = q.QuantizedDimension() if q is not None else 0
        tensors.append(Tensor(index, t.Name().decode(), shape, data, scales, axis))
    ops = []
    for index in range(graph.OperatorsLength()):
        op = graph.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = codes[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs = tuple(op.Inputs(j) for j in range(op.InputsLength()))
        outputs = tuple(op.Outputs(j) for j in range(op.OutputsLength()))
        ops.append(Op(kind, inputs, outputs))
    return Graph(tuple(tensors), tuple(ops))


# --- YAMNet's layers, found by position in the graph ------------------------------------------

#: Number of MobileNetV1 layers: a full conv then 13 depthwise-separable blocks.
N_LAYERS: Final = 14


@dataclass(frozen=True)
class Layer:
    """A weight tensor of the network: its TFLite tensor, how to reach the torch layout."""

    key: str
    tensor: Tensor
    to_torch: Callable[[Array], Array]


def _ohwi_to_oihw(w: Array) -> Array:
    return np.transpose(w, (0, 3, 1, 2))


def _depthwise_to_torch(w: Array) -> Array:
    return np.transpose(w, (3, 0, 1, 2))  # (1, H, W, C) -> (C, 1, H, W)


def _same(w: Array) -> Array:
    return w


def network_layers(graph: Graph) -> list[Layer]:
    """The 30 weight and bias tensors of the body and head, in order, under torch names.

    The front end (framing, DFT, mel) ends at the LOG op; the body is then one CONV_2D, 13
    (DEPTHWISE_CONV_2D, CONV_2D) pairs, MEAN and one FULLY_CONNECTED. TFLite's tensor names
    are unreliable here (deduplicated constants carry another layer's name), so positions
    are used and checked.
    """
    kinds = [op.kind for op in graph.ops]
    start = kinds.index("LOG") + 1
    body = [op for op in graph.ops[start:] if op.kind in {"CONV_2D", "DEPTHWISE_CONV_2D"}]
    expected = ["CONV_2D"] + ["DEPTHWISE_CONV_2D", "CONV_2D"] * (N_LAYERS - 1)
    if [op.kind for op in body] != expected:
        raise ValueError(f"unexpected body ops: {[op.kind for op in body]}")
    (head,) = [op for op in graph.ops[start:] if op.kind == "FULLY_CONNECTED"]
    layers = [
        Layer("layer1.conv.weight", graph.weight(body[0], 1), _ohwi_to_oihw),
        Layer("layer1.conv.bias", graph.weight(body[0], 2), _same),
    ]
    for n in range(2, N_LAYERS + 1):
        depthwise, pointwise = body[2 * n - 3], body[2 * n - 2]
        layers += [
            Layer(f"layer{n}.depthwise.weight", graph.weight(depthwise, 1), _depthwise_to_torch),
            Layer(f"layer{n}.depthwise.bias", graph.weight(depthwise, 2), _same),
            Layer(f"layer{n}.pointwise.weight", graph.weight(pointwise, 1), _ohwi_to_oihw),
            Layer(f"layer{n}.pointwise.bias", graph.weight(pointwise, 2), _same),
        ]
    layers += [
        Layer("dense.weight", graph.weight(head, 1), _same),
        Layer("dense.bias", graph.weight(head, 2), _same),
    ]
    return layers


def _interval(tensor: Tensor) -> tuple[Array, Array]:
    """The rounding interval each int8 weight came from (a float weight: a point)."""
    value = tensor.dequantized()
    if tensor.scales is None:
        return value, value
    step = np.broadcast_to(_broadcast_scales(tensor), value.shape)
    return value - step / 2, value + step / 2


def _broadcast_scales(tensor: Tensor) -> Array:
    assert tensor.scales is not None
    assert tensor.data is not None
    shape = [1] * tensor.data.ndim
    shape[tensor.axis] = -1
    scales = tensor.scales.astype(np.float64)
    return scales.reshape(shape) if scales.size > 1 else scales


def combine(a: Tensor, b: Tensor) -> tuple[Array, dict[str, float]]:
    """The midpoint of the intersection of both files' rounding intervals, and statistics.

    Raises
    ------
    ValueError
        The files disagree: some interval pair does not overlap (another model).
    """
    if a.shape != b.shape:
        raise ValueError(f"{a.name}: shapes {a.shape} and {b.shape} differ")
    low_a, high_a = _interval(a)
    low_b, high_b = _interval(b)
    low, high = np.maximum(low_a, low_b), np.minimum(high_a, high_b)
    # Float tensors are points; both files' float32 copies differ by up to 1.2e-7.
    slack = 1e-6 * np.maximum(1.0, np.abs(low))
    misses = int(np.count_nonzero(low > high + slack))
    if misses:
        raise ValueError(f"{a.name}: {misses} weights whose rounding intervals do not overlap")
    mid = (low + high) / 2
    stats = {
        "count": float(mid.size),
        "width_a": float(np.mean(high_a - low_a)),
        "width_b": float(np.mean(high_b - low_b)),
        "width_ab": float(np.mean(np.maximum(high - low, 0.0))),
    }
    return mid, stats


def labels_from_class_map(path: Path) -> list[str]:
    """Display names in output order, checked against the index column."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    if [int(row["index"]) for row in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: indices are not 0..{len(rows) - 1}")
    return [row["display_name"] for row in rows]


def front_end_check(graph: Graph) -> dict[str, float]:
    """How far a file's front-end constants are from the port's float ones.

    Returns the largest difference of the Hann window, and of the mel matrix in units of
    its int8 rounding step (at most 0.5 when the file's matrix is the rounded float one).
    """
    from beetsplug.genrescore.backends import yamnet_net

    window = yamnet_net.hann_window()
    mel = yamnet_net.mel_matrix().T  # (64, 257), the FC layout
    kinds = [op.kind for op in graph.ops]
    (file_window,) = [
        graph.tensors[i].dequantized().reshape(-1)
        for op in graph.ops[: kinds.index("LOG")]
        if op.kind == "MUL"
        for i in op.inputs
        if graph.tensors[i].data is not None
    ]
    fcs = [op for op in graph.ops[: kinds.index("LOG")] if op.kind == "FULLY_CONNECTED"]
    mel_tensor = graph.weight(fcs[-1], 1)
    assert mel_tensor.scales is not None
    mel_steps = np.abs(mel_tensor.dequantized() - mel) / float(mel_tensor.scales[0])
    offset = graph.weight(fcs[-1], 2).dequantized()
    return {
        "window": float(np.max(np.abs(file_window - window))),
        "mel_steps": float(mel_steps.max()),
        "log_offset": float(np.max(np.abs(offset - yamnet_net.LOG_OFFSET))),
    }


def convert(a_path: Path, b_path: Path, class_map: Path) -> tuple[dict[str, Array], list[str]]:
    """The combined weights (float64, torch layouts) and the labels."""
    graph_a, graph_b = read_tflite(a_path), read_tflite(b_path)
    for name, graph in (("a", graph_a), ("b", graph_b)):
        check = front_end_check(graph)
        if check["window"] > 1e-6 or check["mel_steps"] > 0.5 + 1e-3 or check["log_offset"] > 1e-9:
            raise ValueError(f"file {name}'s front end differs from YAMNet's params: {check}")
    tensors = {}
    for layer_a, layer_b in zip(network_layers(graph_a), network_layers(graph_b), strict=True):
        value, _ = combine(layer_a.tensor, layer_b.tensor)
        if layer_a.tensor.scales is None and layer_b.tensor.scales is None:
            # Float in both files: kept in float32 (see STORE_DTYPE).
            value = value.astype(np.float32)
        tensors[layer_a.key] = layer_a.to_torch(value)
    labels = labels_from_class_map(class_map)
    if len(labels) != tensors["dense.bias"].shape[0]:
        raise ValueError(f"{len(labels)} labels for {tensors['dense.bias'].shape[0]} outputs")
    return tensors, labels


def single_file(path: Path) -> dict[str, Array]:
    """One file's dequantized weights (for the evidence), torch layouts."""
    return {
        layer.key: layer.to_torch(layer.tensor.dequantized())
        for layer in network_layers(read_tflite(path))
    }


def write(tensors: dict[str, Array], labels: Sequence[str], out: Path) -> Path:
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    path = out / "yamnet.safetensors"
    stored = {
        k: np.ascontiguousarray(v if v.dtype == np.float32 else v.astype(STORE_DTYPE))
        for k, v in tensors.items()
    }
    metadata = {
        "format": "genrescore-yamnet",
        "format_version": FORMAT_VERSION,
        "labels": json.dumps(list(labels)),
        "source": "YAMNet (TensorFlow models, research/audioset/yamnet), Apache-2.0",
    }
    save_file(stored, str(path), metadata=metadata)
    return path


# --- evidence -----------------------------------------------------------------------------------


def test_signals() -> dict[str, Array]:
    """The three official sanity checks and a few more signals, 16 kHz float32."""
    sr = 16000
    rng = np.random.RandomState(51773)
    noise = rng.uniform(-1.0, 1.0, 3 * sr)
    t = np.arange(3 * sr) / sr
    signals = {
        "zeros": np.zeros(3 * sr),
        "noise": noise,
        "sine440": np.sin(2 * np.pi * 440.0 * t),
        "chirp": np.sin(2 * np.pi * (100.0 * t + 600.0 * t**2)),
    }
    quiet = np.random.default_rng(7).standard_normal(2 * sr)
    for level in (0.001, 0.01, 0.1, 0.5):
        signals[f"gauss{level}"] = level * quiet
    return {k: v.astype(np.float32) for k, v in signals.items()}


def _scores(tensors: dict[str, Array], signals: dict[str, Array]) -> dict[str, Array]:
    import torch

    from beetsplug.genrescore.backends import yamnet_net, yamnet_torch

    weights = yamnet_net.prepare_weights({k: v.astype(np.float32) for k, v in tensors.items()})
    model = yamnet_torch.YamnetNet(weights).eval()
    out = {}
    for name, audio in signals.items():
        patches = yamnet_net.waveform_patches(audio=audio)
        out[name] = yamnet_torch.predict_patches(
            model=model, batch=patches, max_batch=64, device=torch.device("cpu")
        )
    return out


def evidence(a_path: Path, b_path: Path, class_map: Path) -> None:
    """Print the numbers the module docstring quotes."""
    graph_a, graph_b = read_tflite(a_path), read_tflite(b_path)
    print("front end a:", front_end_check(graph_a))
    print("front end b:", front_end_check(graph_b))
    ratios, widths = [], {"a": 0.0, "b": 0.0, "ab": 0.0}
    total = 0.0
    narrow = []
    for la, lb in zip(network_layers(graph_a), network_layers(graph_b), strict=True):
        if la.tensor.scales is None:
            diff = float(np.max(np.abs(la.tensor.dequantized() - lb.tensor.dequantized())))
            print(f"{la.key:28s} float, a-b max diff {diff:.2e}")
            continue
        if lb.tensor.data is not None and la.tensor.data is not None:
            same = bool(np.array_equal(la.tensor.data, lb.tensor.data))
        _, stats = combine(la.tensor, lb.tensor)
        step_a, step_b = _broadcast_scales(la.tensor), _broadcast_scales(lb.tensor)
        per_channel = (np.broadcast_to(step_b, lb.tensor.data.shape) / step_a).reshape(-1)  # type: ignore[union-attr]
        ratios.append(per_channel)
        low_a, high_a = _interval(la.tensor)
        low_b, high_b = _interval(lb.tensor)
        inter = np.minimum(high_a, high_b) - np.maximum(low_a, low_b)
        close = np.broadcast_to(step_a <= 2 * step_b, inter.shape)
        if close.any():
            narrow.append(
                float(np.mean(inter[close] / np.broadcast_to(step_b, inter.shape)[close]))
            )
        n = stats["count"]
        total += n
        for key in widths:
            widths[key] += stats[f"width_{key}"] * n
        print(
            f"{la.key:28s} n={int(n):8d} step a {stats['width_a']:.2e} b {stats['width_b']:.2e} "
            f"a∩b {stats['width_ab']:.2e} int8 identical: {same}"
        )
    ratio = np.concatenate(ratios)
    print(f"step b / step a: mean {ratio.mean():.3f}, median {np.median(ratio):.3f}")
    for key, value in widths.items():
        print(f"mean interval width {key}: {value / total:.3e} (mean abs error ~ width/4)")
    print(f"a∩b / b where a's step <= 2 b's: {np.mean(narrow):.3f}")

    combined, labels = convert(a_path, b_path, class_map)
    signals = test_signals()
    sets = {"a": single_file(a_path), "b": single_file(b_path), "ab": combined}
    sets["ab16"] = {
        k: v if v.dtype == np.float32 else v.astype(np.float16).astype(np.float64)
        for k, v in combined.items()
    }
    scores = {key: _scores(tensors, signals) for key, tensors in sets.items()}
    for key in ("a", "b", "ab16"):
        patch = max(float(np.max(np.abs(scores[key][s] - scores["ab"][s]))) for s in signals)
        clip = max(
            float(np.max(np.abs(scores[key][s].mean(0) - scores["ab"][s].mean(0)))) for s in signals
        )
        print(f"max |score {key} - score ab|: per patch {patch:.2e}, clip mean {clip:.2e}")
    for key in ("a", "b", "ab"):
        for signal, wanted in (
            ("zeros", "Silence"),
            ("noise", "White noise"),
            ("sine440", "Sine wave"),
        ):
            mean = scores[key][signal].mean(axis=0)
            rank = int(np.sum(mean > mean[labels.index(wanted)])) + 1
            print(f"weights {key}: {signal} -> {wanted!r} rank {rank}")
    floats = sum(v.size for v in combined.values() if v.dtype == np.float32)
    total_size = sum(v.size for v in combined.values())
    print(f"tensor bytes: fp32 {4 * total_size}, fp16 {2 * total_size + 2 * floats}")


# --- fixtures for tests/test_yamnet_port.py ------------------------------------------------------


#: Output channels kept of each recorded layer (the fixtures stay small; every channel is
#: computed the same way).
FIXTURE_CHANNELS: Final = 64
#: Output rows kept of layers with tall activations (the first layers).
FIXTURE_ROWS: Final = 4


def record_fixtures(b_path: Path, out: Path) -> None:
    """Run the TFLite interpreter (file b, all tensors kept) and save compact layer fixtures.

    Preserving tensors runs the builtin kernels (no XNNPACK delegate). Their "hybrid" int8
    kernels quantize each activation to asymmetric int8 (one scale and zero point per batch
    element, from its min and max) before every int8-weight convolution or matmul; the test
    reproduces that. For each recorded layer the interpreter's own input and output of that
    op are saved, cut to a few rows and channels, with what the reproduction needs: the
    full input's min and max and file b's weight scales of the kept output channels.
    """
    from ai_edge_litert.interpreter import Interpreter

    graph = read_tflite(b_path)
    signals = test_signals()
    inputs = {
        "noise": signals["noise"][:15600],
        "chirp": signals["chirp"][8000 : 8000 + 15600],
        "sine440": signals["sine440"][:15600],
    }
    layered = ("noise", "chirp")
    kinds = [op.kind for op in graph.ops]
    body = [op for op in graph.ops if op.kind in {"CONV_2D", "DEPTHWISE_CONV_2D"}]
    #: Fixture name -> position in the body (= index into ``YamnetNet.layers``).
    recorded = {
        "layer1": 0,  # full 3x3 conv, float weights
        "layer2_pointwise": 2,  # first int8 (hybrid) conv
        "layer8_depthwise": 13,  # a middle depthwise conv, int8 weights
        "layer8_pointwise": 14,  # a middle pointwise conv
        "layer14_pointwise": 26,  # the last conv
    }
    log_op = graph.ops[kinds.index("LOG")]
    mean_op = graph.ops[kinds.index("MEAN")]
    head = graph.ops[len(kinds) - 1 - kinds[::-1].index("FULLY_CONNECTED")]
    mel_fc = [op for op in graph.ops[: kinds.index("LOG")] if op.kind == "FULLY_CONNECTED"][-1]
    arrays: dict[str, Array] = {}
    for key, op in (("log_mel", mel_fc), ("dense", head)):
        scales = graph.weight(op, 1).scales
        assert scales is not None
        arrays[f"{key}/weight_scales"] = scales
    for name, position in recorded.items():
        scales = graph.weight(body[position], 1).scales
        if scales is not None:
            arrays[f"{name}/weight_scales"] = scales[:FIXTURE_CHANNELS]
    interpreter = Interpreter(model_path=str(b_path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (outp,) = interpreter.get_output_details()
    for signal, audio in inputs.items():
        interpreter.set_tensor(inp["index"], audio.astype(np.float32))
        interpreter.invoke()
        arrays[f"{signal}/waveform"] = audio.astype(np.float32)
        arrays[f"{signal}/log_mel"] = interpreter.get_tensor(log_op.outputs[0])
        arrays[f"{signal}/embedding"] = interpreter.get_tensor(mean_op.outputs[0])
        arrays[f"{signal}/logits"] = interpreter.get_tensor(head.outputs[0])
        arrays[f"{signal}/scores"] = interpreter.get_tensor(outp["index"])
        if signal not in layered:
            continue
        for name, position in recorded.items():
            op = body[position]
            x = interpreter.get_tensor(op.inputs[0])  # NHWC
            y = interpreter.get_tensor(op.outputs[0])
            arrays[f"{signal}/{name}/input_range"] = np.array([x.min(), x.max()], np.float32)
            arrays[f"{signal}/{name}/input_shape"] = np.array(x.shape, np.int64)
            if y.shape[1] > 2 * FIXTURE_ROWS:
                # Output row r of a 3x3 conv (stride s, TF "same": no top padding at s = 2,
                # one row at s = 1) reads input rows up to r * s + 1 + (s == 2).
                stride = x.shape[1] // y.shape[1]
                x = x[:, : FIXTURE_ROWS * stride + 1]
                y = y[:, :FIXTURE_ROWS]
            if op.kind == "DEPTHWISE_CONV_2D":
                x = x[..., :FIXTURE_CHANNELS]
            arrays[f"{signal}/{name}/input"] = x
            arrays[f"{signal}/{name}/output"] = y[..., :FIXTURE_CHANNELS]
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "tflite_layers.npz", allow_pickle=False, **arrays)
    # The default interpreter (XNNPACK delegate) for the end-to-end comparison.
    fast = Interpreter(model_path=str(b_path))
    fast.allocate_tensors()
    xnn = {}
    for signal, audio in inputs.items():
        fast.set_tensor(fast.get_input_details()[0]["index"], audio.astype(np.float32))
        fast.invoke()
        xnn[signal] = fast.get_tensor(fast.get_output_details()[0]["index"])
    np.savez_compressed(out / "tflite_xnnpack_scores.npz", allow_pickle=False, **xnn)
    digest = hashlib.sha256(b_path.read_bytes()).hexdigest()[:16]
    print(f"recorded {len(arrays)} arrays from {b_path.name} (sha256 {digest}) into {out}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", type=Path, default=REFERENCE / "yamnet_a.tflite")
    parser.add_argument("--b", type=Path, default=REFERENCE / "yamnet_b.tflite")
    parser.add_argument("--class-map", type=Path, default=REFERENCE / "yamnet_class_map.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--evidence", action="store_true", help="print the weight comparison")
    parser.add_argument("--record-fixtures", action="store_true", help="write test fixtures")
    args = parser.parse_args(argv)
    if args.evidence:
        evidence(args.a, args.b, args.class_map)
        return 0
    if args.record_fixtures:
        record_fixtures(args.b, FIXTURES)
        return 0
    tensors, labels = convert(args.a, args.b, args.class_map)
    path = write(tensors, labels, args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(labels)} labels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
