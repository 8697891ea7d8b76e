"""Whole-library benchmark: seconds per track, tracks per minute and peak memory.

Generates N tracks (3-5 minutes, mixed formats; kept in a cache folder), imports them into a
fresh beets library without analysis, then times ``beet genrescore -f`` in a fresh process
for each configuration, next to a plain sequential loop (``Analyzer.analyze`` path by path,
no pool, no batching) measured in the same run. Speed is measured here, never asserted in a
test.

    .venv/bin/python benchmarks/bench.py --tracks 50 --modes heuristic,embedded --jobs 1,2

With CUDA present it adds the same rows on the GPU (``--device cuda``). ``--against REV[,...]``
adds each ``beet`` row again for the code of other revisions (``git archive``), run right
after this tree's on the same library, so both see the same machine load:

    .venv/bin/python benchmarks/bench.py --tracks 8 --modes embedded --jobs 2 --against 9a7ed8a

``--rounds N`` runs every ``beet`` row N times, round after round (this tree's and the
revisions' runs interleaved, so a change in the machine's load hits all of them alike), and
prints each row's median wall time and peak memory, and this tree's speed-up against each
revision (``vs @REV``: the revision's median over this tree's):

    .venv/bin/python benchmarks/bench.py --tracks 20 --modes embedded --against 05a235d --rounds 3

``--against-models JSON`` runs the revisions with these models instead of the mode's: a
default that is a model an older revision does not know, against that revision's default:

    .venv/bin/python benchmarks/bench.py --modes embedded-head --against 05a235d \
        --against-models '{"genre": "musicnn-msd", "instruments": "yamnet"}'

``--startup`` measures what a new user waits for instead: the whole ``beet`` process, from
start to exit, for one track with the default config (the HF models not downloaded, so the
embedded ones run), as ``beet genrescore -f id:1`` and as a one-track ``beet import`` next to
the same import without the plugin; with ``--against`` the revisions' runs are interleaved
with this tree's:

    .venv/bin/python benchmarks/bench.py --startup --against fd3fb1f --repeats 5

``--marginal K`` also runs each ``beet`` row on the library's first K tracks (``id:1..K``)
and prints what each further track costs: the whole run less that run, over the other
tracks, so the fixed start-up (beets, the models, the workers: 3-4 s) is out of the figure
that a large library's time is made of (the start-up has its own rows, ``--startup``):

    .venv/bin/python benchmarks/bench.py --tracks 24 --marginal 4 --modes embedded-head \
        --against 05a235d --against-models '{"genre": "musicnn-msd", "instruments": "yamnet"}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.demo import synth  # noqa: E402

FORMATS = ("mp3", "flac", "ogg", "m4a", "opus")
STYLES = tuple(synth.STYLES)
LOOP_SECONDS = 30.0

#: Mode -> the genrescore models config it runs with. "transformers" is filled in at run time
#: with full-size architectures saved with random weights (compute does not depend on them).
MODES: dict[str, dict[str, str]] = {
    "heuristic": {"genre": "none", "instruments": "none"},
    # The embedded default (musicnn-msd + YAMNet) and the one it replaced (musicnn-mtt), side
    # by side so their ratio is measured in one run.
    "embedded": {"genre": "musicnn-msd", "instruments": "yamnet"},
    "embedded-mtt": {"genre": "musicnn-msd", "instruments": "musicnn-mtt"},
    # EfficientAT mn04's learned genre head with YAMNet (issue 22), next to "embedded".
    "embedded-head": {"genre": "efficientat-genre", "instruments": "yamnet"},
    "transformers": {},
}

# Peak memory of a whole process tree (main process, fork server, decoder workers), sampled
# from /proc: getrusage cannot see the workers, which are the fork server's children. PSS
# (proportional set size) counts pages shared between forked processes once, where adding
# up RSS would count them in every process.
_TREE_RSS = """
import os, threading, time
def _pss_mb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = next(line for line in f if line.startswith("Pss:"))
        return int(pss.split()[1]) / 1024
    except (OSError, StopIteration, IndexError, ValueError):
        return 0.0
def _tree_rss_mb(root):
    children = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            children.setdefault(int(fields[1]), []).append(int(pid))
        except (OSError, IndexError, ValueError):
            pass
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += _pss_mb(pid)
        stack.extend(children.get(pid, []))
    return total
PEAK = [0.0]
# Every 50 ms: an ffmpeg decoding an m4a track's windows (about 50 MB of PSS) lives about
# 0.1 s, and a 0.2 s period missed it in most runs (peaks read 40-60 MB low).
def _sample():
    while True:
        PEAK[0] = max(PEAK[0], _tree_rss_mb(os.getpid()))
        time.sleep(0.05)
threading.Thread(target=_sample, daemon=True).start()
"""

# Run inside a fresh interpreter: beets' CLI, then the tree's peak RSS.
_CHILD = (
    _TREE_RSS
    + """
import json, sys
from beets.ui import main
started = time.perf_counter()
try:
    main(sys.argv[1:])
finally:
    print(json.dumps({"wall": time.perf_counter() - started, "rss_mb": PEAK[0]}), file=sys.stderr)
"""
)

_LOOP = (
    _TREE_RSS
    + """
import json, sys
import confuse
from beetsplug.genrescore.analyzer import Analyzer, load_models
from beetsplug.genrescore.settings import DEFAULTS, read_settings
paths = json.loads(sys.argv[1])
view = confuse.RootView([confuse.ConfigSource.of(json.loads(sys.argv[2])),
                         confuse.ConfigSource.of(DEFAULTS)])
started = time.perf_counter()
analyzer = Analyzer(read_settings(view), load_models(read_settings(view), print))
for path in paths:
    try:
        analyzer.analyze(path)
    except Exception as exc:
        print(path, exc, file=sys.stderr)
print(json.dumps({"wall": time.perf_counter() - started, "rss_mb": PEAK[0]}), file=sys.stderr)
"""
)


def make_tracks(folder: Path, count: int) -> list[Path]:
    """``count`` tracks of 3-5 minutes in rotating formats (reused when already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    loops = {}
    paths = []
    rng = np.random.default_rng(0)
    for index in range(count):
        fmt = FORMATS[index % len(FORMATS)]
        style = STYLES[index % len(STYLES)]
        path = folder / f"{index:04d}-{style}.{fmt}"
        paths.append(path)
        if path.exists():
            continue
        if style not in loops:
            loops[style] = synth.STYLES[style](LOOP_SECONDS)
        minutes = float(rng.uniform(3.0, 5.0))
        repeats = int(np.ceil(minutes * 60 / LOOP_SECONDS))
        y = np.tile(loops[style], repeats)[: int(minutes * 60 * synth.SR)]
        wav = path.with_suffix(".wav")
        import soundfile

        soundfile.write(wav, y, synth.SR)
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav),
             "-metadata", f"title={path.stem}", str(path)],
            check=True,
        )  # fmt: skip
        wav.unlink()
    return paths


def make_transformer_models(folder: Path) -> dict[str, str]:
    """Full-size AST and DistilHuBERT architectures with random weights, saved once."""
    ast_dir, hubert_dir = folder / "ast-random", folder / "hubert-random"
    if not (ast_dir / "config.json").exists() or not (hubert_dir / "config.json").exists():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from hf_speed import save_random_models

        save_random_models(ast_dir, hubert_dir)
    return {"genre": str(hubert_dir), "instruments": str(ast_dir)}


def _measure(args: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, float]:
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False, cwd=cwd)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"benchmark step failed: {' '.join(args[:4])}")
    last = [line for line in result.stderr.splitlines() if line.startswith("{")][-1]
    measured: dict[str, float] = json.loads(last)
    return measured


def library(
    workdir: Path, tracks: list[Path], models: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """A fresh beets library holding ``tracks`` (imported in place, not analysed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "directory": str(workdir / "music"),
                "library": str(workdir / "library.db"),
                "plugins": ["genrescore"],
                "import": {"copy": False, "write": False, "autotag": False, "log": None},
                "genrescore": {"auto": False, "models": models},
            }
        )
    )
    env = {**os.environ, "BEETSDIR": str(workdir)}
    beet = [sys.executable, "-c", _CHILD, "-c", str(config)]
    folder = tracks[0].parent
    subprocess.run([*beet, "import", "-q", str(folder)], check=True, env=env, capture_output=True)
    return beet, env


# -- start-up: one track, the whole process ------------------------------------------------


def _timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    # Run outside the checkout: `python -m` puts the working directory first on sys.path,
    # where this tree's beetsplug would shadow the revision under test.
    cwd = Path(env["BEETSDIR"]).parent
    subprocess.run(args, env=env, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - started


#: Runs ``beet`` (argv as after ``beet``) and prints, at exit, when each of the big imports of
#: the main process began, in seconds from the interpreter's start of this script: the
#: start-up timeline (``--timeline``). Audit hooks see every import, in any revision.
_TIMELINE = """
import atexit, json, runpy, sys, time
started = time.perf_counter()
WATCH = {watch}
marks = {{}}
def hook(event, args):
    if event == "import" and args[0] in WATCH and args[0] not in marks:
        marks[args[0]] = time.perf_counter() - started
sys.addaudithook(hook)
atexit.register(lambda: print("TIMELINE " + json.dumps(
    {{**marks, "exit": time.perf_counter() - started}}), file=sys.stderr))
sys.argv = ["beet", *sys.argv[1:]]
runpy.run_module("beets", run_name="__main__", alter_sys=True)
"""
#: The timeline's marks, in the order a run reaches them.
#: (An audit hook sees ``import`` statements, not ``importlib.import_module``: the plugin
#: and the backend modules are marked by what they import.)
TIMELINE_MARKS = (
    "beets.ui",
    "beetsplug.genrescore.command",
    "beetsplug.genrescore.run",
    "multiprocessing.forkserver",
    "beetsplug.genrescore.analyzer",
    "librosa",
    "torch",
    "onnxruntime",
    "beetsplug.genrescore.backends.musicnn_net",
    "beetsplug.genrescore.backends.yamnet_net",
    "exit",
)


def _timeline(beet: list[str], args: list[str], env: dict[str, str]) -> dict[str, float]:
    """When the main process of ``beet ARGS`` began each big import, and when it exited."""
    code = _TIMELINE.format(watch=repr(set(TIMELINE_MARKS)))
    # beet is [python, -m, beets, -c, config]: the same interpreter and config, through code.
    command = [beet[0], "-c", code, *beet[3:], *args]
    out = subprocess.run(
        command, env=env, check=True, capture_output=True, text=True,
        cwd=Path(env["BEETSDIR"]).parent,
    ).stderr  # fmt: skip
    line = next(x for x in out.splitlines() if x.startswith("TIMELINE "))
    marks: dict[str, float] = json.loads(line.removeprefix("TIMELINE "))
    return marks


def _checkouts(root: Path, revisions: list[str], env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each revision's ``beetsplug`` unpacked under ``root`` (``git archive``): revision ->
    the environment that runs it (``PYTHONPATH``; run from outside the checkout, where this
    tree's ``beetsplug`` cannot shadow it)."""
    trees = {}
    for revision in revisions:
        checkout = root / f"against-{revision}"
        checkout.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "beetsplug"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
        trees[revision] = {**env, "PYTHONPATH": str(checkout)}
    return trees


def _startup_library(workdir: Path, plugins: list[str], auto: bool) -> list[str]:
    """A config for a fresh one-track library; returns the ``beet`` command line."""
    workdir.mkdir(parents=True)
    config = workdir / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "directory": str(workdir / "music"),
                "library": str(workdir / "library.db"),
                "plugins": plugins,
                "import": {"copy": False, "write": False, "autotag": False, "log": None},
                "genrescore": {"auto": auto},
            }
        )
    )
    return [sys.executable, "-m", "beets", "-c", str(config)]


def startup(
    track: Path, repeats: int, against: list[str], *, this_tree: bool = True, timeline: bool = False
) -> None:
    """Print the start-up rows: median wall time of whole ``beet`` processes, one track.

    ``this_tree``: measure this working tree too (else only the ``against`` revisions).
    ``timeline``: then, for ``genrescore -f id:1``, when the main process began each big import.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # No HuggingFace cache: the configured default models are "not downloaded".
        base_env = {**os.environ, "HF_HOME": str(root / "hf-home")}
        base_env.pop("PYTHONPATH", None)
        trees = {"this tree": base_env} if this_tree else {}
        trees.update(_checkouts(root, against, base_env))
        times: dict[tuple[str, str], list[float]] = {}
        marks: dict[tuple[str, str], list[float]] = {}
        for run in range(repeats):
            for tree, env in trees.items():
                env = {**env, "BEETSDIR": str(root / f"beetsdir-{run}")}
                lib = root / f"lib-{tree}-{run}"
                # The command on a library that holds the track, not yet analysed.
                beet = _startup_library(lib / "command", ["genrescore"], auto=False)
                _timed([*beet, "import", "-q", str(track)], env)
                command = [*beet, "genrescore", "-f", "id:1"]
                times.setdefault(("genrescore -f id:1", tree), []).append(_timed(command, env))
                if timeline:
                    for mark, at in _timeline(beet, ["genrescore", "-f", "id:1"], env).items():
                        marks.setdefault((mark, tree), []).append(at)
                beet = _startup_library(lib / "import", ["genrescore"], auto=True)
                imported = [*beet, "import", "-q", str(track)]
                times.setdefault(("import, 1 track", tree), []).append(_timed(imported, env))
            plain = _startup_library(root / f"plain-{run}", [], auto=False)
            env = {**base_env, "BEETSDIR": str(root / f"beetsdir-{run}")}
            row = ("import, 1 track, no plugin", "-")
            times.setdefault(row, []).append(_timed([*plain, "import", "-q", str(track)], env))
            times.setdefault(("ls (beets start-up)", "-"), []).append(_timed([*plain, "ls"], env))
    print(f"start-up: 1 track ({track.name}), default config, HF models not downloaded;")
    print(f"median of {repeats} whole processes, interleaved, {os.cpu_count()} CPUs")
    print(f"{'what':<30}{'code':<14}{'s wall':>8}{'min':>8}{'max':>8}")
    medians = {key: statistics.median(values) for key, values in times.items()}
    for (what, tree), values in times.items():
        print(f"{what:<30}{tree:<14}{medians[what, tree]:>8.2f}{min(values):>8.2f}"
              f"{max(values):>8.2f}")  # fmt: skip
    plain_import = medians["import, 1 track, no plugin", "-"]
    for tree in trees:
        extra = medians["import, 1 track", tree] - plain_import
        print(f"{'import: the plugin adds':<30}{tree:<14}{extra:>8.2f}")
    if timeline:
        print("timeline of genrescore -f id:1, main process: s from start to each import (median)")
        print(f"{'import begins':<38}" + "".join(f"{tree:>14}" for tree in trees))
        for mark in TIMELINE_MARKS:
            cells = [
                f"{statistics.median(marks[mark, tree]):>14.2f}" if (mark, tree) in marks
                else f"{'-':>14}"
                for tree in trees
            ]  # fmt: skip
            print(f"{mark:<38}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=50)
    parser.add_argument("--modes", default="heuristic,embedded")
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench-cache")
    parser.add_argument("--startup", action="store_true", help="only the start-up rows")
    parser.add_argument(
        "--against", default="", help="the same rows for these git revisions too (a,b,...)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="start-up runs of each")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each beet row (medians are printed)"
    )
    parser.add_argument(
        "--against-models", default="", help="JSON: the models the --against revisions run"
    )
    parser.add_argument(
        "--marginal",
        type=int,
        default=0,
        metavar="K",
        help="also run each beet row on the first K tracks and print the marginal s/track",
    )
    parser.add_argument(
        "--no-tree", action="store_true", help="start-up rows for the --against revisions only"
    )
    parser.add_argument(
        "--timeline", action="store_true", help="start-up: when the main process imports what"
    )
    args = parser.parse_args()

    if args.startup:
        (track,) = make_tracks(args.cache / "tracks" / "1", 1)
        revisions = [r for r in args.against.split(",") if r]
        startup(track, args.repeats, revisions, this_tree=not args.no_tree, timeline=args.timeline)
        return
    revisions = [r for r in args.against.split(",") if r]
    tracks = make_tracks(args.cache / "tracks" / str(args.tracks), args.tracks)
    jobs = [int(j) for j in args.jobs.split(",")]
    devices = ["cpu"]
    import torch

    if torch.cuda.is_available():
        # The GPU rows come after the CPU rows of each mode; "vs loop" stays the CPU loop.
        devices.append("cuda")
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    print(f"{len(tracks)} tracks, 3-5 min, formats {', '.join(FORMATS)}, {os.cpu_count()} CPUs")
    rounds = max(1, args.rounds)
    if rounds > 1:
        print(f"beet rows: median of {rounds} rounds, interleaved")
    against = "".join(f"{'vs @' + r:>14}" for r in revisions)
    print(
        f"{'mode':<14}{'run':<22}{'s/track':>9}{'tracks/min':>12}{'peak PSS MB':>13}"
        f"{'vs loop':>9}{against}"
    )
    for mode in args.modes.split(","):
        models = MODES[mode] or make_transformer_models(args.cache / "models")
        with tempfile.TemporaryDirectory() as tmp:
            beet, env = library(Path(tmp), tracks, models)
            paths = json.dumps([str(p) for p in tracks])
            # This tree and each --against revision, run alternately on the same library.
            trees = {"": env, **_checkouts(Path(tmp), revisions, env)}
            beet_against = beet
            if args.against_models:
                # The same library, with the revisions' models in a config of their own.
                config = json.loads(Path(beet[-1]).read_text())
                config["genrescore"]["models"] = json.loads(args.against_models)
                (Path(tmp) / "against.yaml").write_text(json.dumps(config))
                beet_against = [*beet[:-1], str(Path(tmp) / "against.yaml")]
            rows: dict[str, list[dict[str, float]]] = {}
            marginal: dict[str, list[float]] = {}
            for device in devices if mode != "heuristic" else ["cpu"]:  # no model, no GPU
                loop_config = json.dumps({"models": models, "device": device})
                suffix = "" if device == "cpu" else f" {device}"
                loop = [sys.executable, "-c", _LOOP, paths, loop_config]
                rows[f"sequential loop{suffix}"] = [_measure(loop, env, cwd=Path(tmp))]
                for _ in range(rounds):
                    for job in jobs:
                        analyse = ["genrescore", "-f", "-j", str(job), "--device", device]
                        for tree, tree_env in trees.items():
                            name = f"beet -j {job}{suffix}" + (f" @{tree}" if tree else "")
                            runner = beet_against if tree else beet
                            row = _measure([*runner, *analyse], tree_env, cwd=Path(tmp))
                            rows.setdefault(name, []).append(row)
                            if args.marginal:
                                # The same run on the first K items: what N - K more cost.
                                first = [*runner, *analyse, f"id:1..{args.marginal}"]
                                small = _measure(first, tree_env, cwd=Path(tmp))
                                extra = (row["wall"] - small["wall"]) / (
                                    len(tracks) - args.marginal
                                )
                                marginal.setdefault(name, []).append(extra)
            walls = {
                name: statistics.median(r["wall"] for r in runs) for name, runs in rows.items()
            }
            baseline = next(iter(walls.values()))
            for name, runs in rows.items():
                per_track = walls[name] / len(tracks)
                rss = statistics.median(r["rss_mb"] for r in runs)
                ratio = baseline / walls[name]
                versus = "".join(
                    f"{walls[f'{name} @{r}'] / walls[name]:>13.2f}x"
                    if f"{name} @{r}" in walls
                    else f"{'':>14}"
                    for r in revisions
                )
                print(
                    f"{mode:<14}{name:<22}{per_track:>9.3f}{60 / per_track:>12.1f}"
                    f"{rss:>13.0f}{ratio:>8.2f}x{versus}"
                )
            if marginal:
                print(
                    f"{mode}: marginal s/track (whole run less a run of its first "
                    f"{args.marginal} tracks, over the other {len(tracks) - args.marginal}; "
                    "start-up excluded; median over rounds)"
                )
                extra = {name: statistics.median(values) for name, values in marginal.items()}
                for name, value in extra.items():
                    versus = "".join(
                        f"{extra[f'{name} @{r}'] / value:>13.2f}x"
                        if f"{name} @{r}" in extra
                        else ""
                        for r in revisions
                    )
                    print(f"{'':<14}{name:<22}{value:>9.3f}{versus}")


if __name__ == "__main__":
    main()
