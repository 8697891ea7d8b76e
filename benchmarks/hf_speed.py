"""Seconds per track of the transformers backend, on the real architectures with random weights.

Compute does not depend on weight values, so randomly initialised models stand for the
default checkpoints:

* AST: ``ASTConfig()`` defaults are the architecture of
  ``MIT/ast-finetuned-audioset-10-10-0.4593`` (12 layers, 768 wide, 1214 tokens), with
  AudioSet's 527 labels;
* DistilHuBERT: ``HubertConfig`` defaults (the conv front end 7 x 512, 768 wide, 12 heads)
  with 2 encoder layers, as ``ntu-spml/distilhubert`` under ``danilotpnta/HuBERT-Genre-Clf``
  (research/perf-anchors.md: its 94.8 MB checkpoint confirms 2 layers), 10 GTZAN labels.

Each variant runs in a fresh process on 2 threads, through :func:`hf.build` and
``predict``: fp32, bf16 weights, torch dynamic int8 (``nn.Linear`` only), each optionally with
tcmalloc preloaded. ONNX Runtime is measured by ``research/perf-anchors.md``, not here.

Usage::

    python benchmarks/hf_speed.py [--tracks 2] [--repeats 3] [--variants fp32,bf16,int8]
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
AUDIOSET_LABELS_CSV = REPO / "tests" / "data" / "audioset_labels.csv"
GTZAN_LABELS = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
# This checkout first: an installed (or editable) genrescore elsewhere must not be timed.
sys.path.insert(0, str(REPO))

#: The machine kind this project budgets for (research/perf-anchors.md).
THREADS = 2
SAMPLE_RATE = 16_000
#: Per-track costs outside the models, measured in research/perf-anchors.md (segment decode
#: with soundfile + soxr, shared-STFT heuristics), not by this script.
DECODE_SECONDS = 0.06
HEURISTICS_SECONDS = 0.10
TARGET_SECONDS = 1.0
#: Debian's libtcmalloc-minimal4: HuBERT's big conv activations stop page-faulting.
TCMALLOC = Path("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")
AST_WINDOWS = (1, 2, 3)


def save_random_models(ast_dir: Path, hubert_dir: Path) -> None:
    """Write the two full-size random models as safetensors checkpoints (bench.py uses it)."""
    import torch
    from transformers import (
        ASTConfig,
        ASTFeatureExtractor,
        ASTForAudioClassification,
        HubertConfig,
        HubertForSequenceClassification,
        Wav2Vec2FeatureExtractor,
    )

    with AUDIOSET_LABELS_CSV.open(newline="") as handle:
        audioset = [row[2] for row in csv.reader(handle)]
    torch.manual_seed(0)
    ast = ASTForAudioClassification(ASTConfig(id2label=dict(enumerate(audioset))))
    hubert = HubertForSequenceClassification(
        HubertConfig(num_hidden_layers=2, id2label=dict(enumerate(GTZAN_LABELS)))
    )
    ast.save_pretrained(ast_dir)
    hubert.save_pretrained(hubert_dir)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="At least one mel filter", category=UserWarning)
        ast_features = ASTFeatureExtractor()  # type: ignore[no-untyped-call, unused-ignore]
    ast_features.save_pretrained(ast_dir)
    hubert_features = Wav2Vec2FeatureExtractor(  # type: ignore[no-untyped-call, unused-ignore]
        return_attention_mask=True
    )
    hubert_features.save_pretrained(hubert_dir)


def music_like(seconds: float, seed: int) -> np.ndarray:
    """Chords over noise: deterministic input with some spectral structure."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tones = np.sin(2 * np.pi * np.outer(rng.uniform(80, 2000, size=4), t)).sum(axis=0)
    samples: np.ndarray = (0.1 * tones + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    return samples


def timed(call: Any, repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls after a warm-up one, and the last result."""
    result = call()  # warm-up: oneDNN primitives, allocator pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def gemm_gflops() -> float:
    """fp32 matmul throughput right now: the host is shared, so every table shows it."""
    import torch

    size, calls = 1024, 5
    matrix = torch.randn(size, size)
    seconds, _ = timed(lambda: [matrix @ matrix for _ in range(calls)], repeats=3)
    return 2 * size**3 * calls / seconds / 1e9


def worker(variant: str, models: dict[str, Path], tracks: int, repeats: int, out: Path) -> None:
    """Time one variant in this process; write its times and probabilities as JSON."""
    import torch

    from beetsplug.genrescore.backends import hf
    from beetsplug.genrescore.backends.base import BackendOptions, Role

    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    precision = "bf16" if variant.startswith("bf16") else "fp32"
    options = BackendOptions(device="cpu", precision=precision)

    start = time.perf_counter()
    backends = {
        "ast": hf.HFBackend(str(models["ast"]), Role.INSTRUMENTS, options),
        "hubert": hf.HFBackend(str(models["hubert"]), Role.GENRE, options),
    }
    if variant.startswith("int8"):
        for backend in backends.values():
            with warnings.catch_warnings():
                # torch 2.13 says torch.ao.quantization and quantized tensors are deprecated
                # (moving to torchao, not installed here); they still run.
                warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
                warnings.filterwarnings("ignore", message="torch.quantize_per_tensor")
                backend.model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call, unused-ignore]
                    backend.model, {torch.nn.Linear}, dtype=torch.qint8
                )
    load_seconds = time.perf_counter() - start

    seconds: dict[str, float] = {}
    probabilities: dict[str, list[list[float]]] = {}
    cases = [("ast", n) for n in AST_WINDOWS] + [("hubert", 1)]
    for name, windows in cases:
        backend = backends[name]
        inputs = [
            [music_like(backend.window_seconds, seed=10 * track + w) for w in range(windows)]
            for track in range(tracks)
        ]
        key = f"{name}-{windows}"
        elapsed, results = timed(functools.partial(backend.predict, inputs), repeats)
        seconds[key] = elapsed / tracks
        probabilities[key] = [list(result.values()) for result in results]

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {
        "gemm_gflops": gemm_gflops(),
        "load": load_seconds,
        "seconds": seconds,
        "peak_rss_mb": peak_kib / 1024,
        "probabilities": probabilities,
    }
    (out / f"{variant}.json").write_text(json.dumps(summary))


def run_variant(variant: str, models: dict[str, Path], args: argparse.Namespace, out: Path) -> None:
    env = dict(os.environ)
    if variant.endswith("+tcmalloc"):
        env["LD_PRELOAD"] = str(TCMALLOC)
    command = [
        sys.executable,
        __file__,
        "--worker",
        variant,
        "--models",
        json.dumps({name: str(path) for name, path in models.items()}),
        "--out",
        str(out),
        "--tracks",
        str(args.tracks),
        "--repeats",
        str(args.repeats),
    ]
    subprocess.run(command, env=env, check=True)


def report(variants: list[str], out: Path, tracks: int) -> None:
    summaries = {v: json.loads((out / f"{v}.json").read_text()) for v in variants}
    baseline = summaries["fp32"]["seconds"]
    keys = [f"ast-{n}" for n in AST_WINDOWS] + ["hubert-1"]

    print(
        f"\nseconds per track, {THREADS} threads, batches of {tracks} tracks (x fp32 = speed-up);"
        "\nast-N: AST on N windows of 10.24 s per track, hubert-1: HuBERT on one 10 s clip;"
        "\nGEMM: fp32 1024x1024 matmul throughput measured in the same process, after the models"
    )
    header = ["variant", *keys, "load s", "peak RSS MB", "GEMM GFLOP/s"]
    print(" | ".join(f"{h:>18}" for h in header))
    for variant in variants:
        seconds = summaries[variant]["seconds"]
        cells = [f"{seconds[k]:.3f} ({baseline[k] / seconds[k]:.2f}x)" for k in keys]
        load = f"{summaries[variant]['load']:.2f}"
        rss = f"{summaries[variant]['peak_rss_mb']:.0f}"
        gemm = f"{summaries[variant]['gemm_gflops']:.0f}"
        print(" | ".join(f"{c:>18}" for c in [variant, *cells, load, rss, gemm]))

    print("\nmax |probability - fp32| over all labels and tracks")
    for variant in variants:
        exact, approximate = summaries["fp32"]["probabilities"], summaries[variant]["probabilities"]
        diffs = [np.abs(np.subtract(approximate[k], exact[k])).max() for k in keys]
        print(
            f"{variant:>18} | "
            + " | ".join(f"{k} {d:.4f}" for k, d in zip(keys, diffs, strict=True))
        )

    extra = DECODE_SECONDS + HEURISTICS_SECONDS
    print(
        f"\nhybrid path per track = AST + HuBERT 10 s (measured here) + decode and heuristics "
        f"({extra:.2f} s, from research/perf-anchors.md); target {TARGET_SECONDS} s"
    )
    for variant in variants:
        seconds = summaries[variant]["seconds"]
        for windows in AST_WINDOWS:
            total = seconds[f"ast-{windows}"] + seconds["hubert-1"] + extra
            verdict = "meets" if total <= TARGET_SECONDS else "misses"
            print(f"{variant:>18}, AST {windows} window(s): {total:.2f} s  {verdict} the target")


def default_variants() -> list[str]:
    """fp32 and int8; bf16 only where it is fast; each again with tcmalloc if installed."""

    from beetsplug.genrescore.backends.placement import native_bf16

    # Without avx512_bf16/AMX, torch emulates bf16: a 1024x1024 matmul on an AVX2 EPYC ran
    # at 1 GFLOP/s against 160 in fp32, so a bf16 AST window would take minutes.
    fast_bf16 = native_bf16("cpu")
    plain = ["fp32", "bf16", "int8"] if fast_bf16 else ["fp32", "int8"]
    with_tcmalloc = [f"{variant}+tcmalloc" for variant in plain] if TCMALLOC.exists() else []
    return plain + with_tcmalloc


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            line = next((line for line in handle if line.startswith("model name")), "")
    except OSError:
        return "unknown"
    return line.partition(":")[2].strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--tracks", type=int, default=2, help="tracks per predict() call")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls (median)")
    parser.add_argument("--variants", default=",".join(default_variants()))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        models = {name: Path(path) for name, path in json.loads(args.models).items()}
        worker(args.worker, models, args.tracks, args.repeats, Path(args.out))
        return

    variants = args.variants.split(",")
    if "fp32" not in variants:
        variants.insert(0, "fp32")
    import torch

    from beetsplug.genrescore.backends import hf
    from beetsplug.genrescore.backends.placement import resolve_bf16

    auto = (
        torch.bfloat16
        if resolve_bf16("auto", "cpu", auto_bf16=hf.HFBackend.auto_bf16)
        else torch.float32
    )
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores visible; precision 'auto' gives {auto}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = {"ast": root / "ast", "hubert": root / "hubert"}
        save_random_models(models["ast"], models["hubert"])
        for variant in variants:
            print(f"running {variant}...", flush=True)
            run_variant(variant, models, args, root)
        report(variants, root, args.tracks)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
