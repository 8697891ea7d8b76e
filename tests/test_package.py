"""The wheel a user installs holds the plugin, its shipped models and their licences, and
installed without extras (no torch, transformers or matplotlib) it runs the embedded default:
the demo, and one line naming the extra where a feature needs one."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "beetsplug/genrescore"

#: What the embedded models need at run time, and the licence terms that must travel with
#: their weights (ISC for musicnn; Apache-2.0 with its NOTICE for YAMNet).
SHIPPED = [
    f"{PACKAGE}/data/musicnn/msd_musicnn.onnx",
    f"{PACKAGE}/data/musicnn/mtt_musicnn.onnx",
    f"{PACKAGE}/data/yamnet/yamnet.onnx",
    f"{PACKAGE}/data/musicnn/msd_musicnn.safetensors",
    f"{PACKAGE}/data/musicnn/mtt_musicnn.safetensors",
    f"{PACKAGE}/data/musicnn/LICENSE",
    f"{PACKAGE}/data/yamnet/yamnet.safetensors",
    f"{PACKAGE}/data/yamnet/LICENSE",
    f"{PACKAGE}/data/yamnet/NOTICE",
]


#: What the ``hf`` and ``html`` extras bring: none of it may be needed by the default.
EXTRAS_ONLY = ("torch", "transformers", "huggingface_hub", "safetensors", "matplotlib")
#: The one line that tells a user which extra a feature needs.
HF_HINT = "pip install 'beets-genrescore[hf]'"
HTML_HINT = "pip install 'beets-genrescore[html]'"


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built with the setuptools already installed (no build isolation: no network needed),
    # about 2 s.
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (path,) = out.glob("beets_genrescore-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel(wheel_path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(wheel_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_the_wheel_ships_the_weights_and_their_licences(wheel: zipfile.ZipFile, name: str) -> None:
    info = wheel.getinfo(name)
    assert info.file_size == (ROOT / name).stat().st_size


@pytest.mark.slow
def test_the_wheel_holds_every_module_of_the_plugin(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / PACKAGE).rglob("*.py")}
    assert modules <= names
    # beetsplug is a namespace package shared with beets and other plugins: no __init__.py.
    assert "beetsplug/__init__.py" not in names


# --- a bare install, offline ------------------------------------------------------------------


def _wanted(requirement: Requirement, extras: Iterable[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": e}) for e in ("", *extras))


def _closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` need, theirs included (markers and extras
    evaluated as pip would here)."""
    found: dict[str, metadata.Distribution] = {}
    stack = [(Requirement(r), ()) for r in requirements]
    while stack:
        requirement, parent_extras = stack.pop()
        if not _wanted(requirement, parent_extras):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found[name] = dist = metadata.distribution(requirement.name)
        extras = tuple(requirement.extras)
        stack.extend((Requirement(r), extras) for r in dist.requires or [])
    return list(found.values())


def _repack(dist: metadata.Distribution, folder: Path) -> None:
    """A wheel of an installed distribution, from the files its RECORD lists (console
    scripts are made again by pip from its entry points)."""
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    target = folder / f"{name}-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            located = Path(str(dist.locate_file(file)))
            if located.is_file():
                archive.write(located, str(file))


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, wheel_path: Path) -> Path:
    """A new venv with the wheel installed by pip without extras, offline: its dependencies
    come from a wheelhouse of exactly what they need in this environment (the lock's
    versions), so a dependency the wheel forgot to declare is missing there too."""
    root = tmp_path_factory.mktemp("bare")
    wheels = root / "wheels"
    wheels.mkdir()
    declared = metadata.Distribution.at(_dist_info(wheel_path, root)).requires or []
    core = [r for r in declared if _wanted(Requirement(r), ()) and "extra" not in r]
    for dist in _closure(core):
        _repack(dist, wheels)
    environment = root / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
         "--disable-pip-version-check", "--find-links", str(wheels), str(wheel_path)],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    return python


def _dist_info(wheel_path: Path, root: Path) -> Path:
    with zipfile.ZipFile(wheel_path) as archive:
        names = [n for n in archive.namelist() if n.split("/")[0].endswith(".dist-info")]
        archive.extractall(root / "unpacked", names)
    return root / "unpacked" / names[0].split("/")[0]


def _run(
    python: Path, *args: str, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    # A home of its own: no HuggingFace cache, no beets config of the user's.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "HF_HOME": str(cwd / "hf"),
        "BEETSDIR": str(cwd / "beets"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, check=check,
        timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_a_bare_install_has_no_extra_and_runs_the_demo(bare: Path, tmp_path: Path) -> None:
    code = f"import importlib.util as u; print([m for m in {EXTRAS_ONLY!r} if u.find_spec(m)])"
    assert _run(bare, "-c", code, cwd=tmp_path).stdout.strip() == "[]"
    demo = _run(bare, "-m", "beetsplug.genrescore.demo", str(tmp_path / "demo"), cwd=tmp_path)
    rows = [line.split(" | ") for line in demo.stdout.strip().splitlines()]
    assert [row[0] for row in rows] == [
        "Fiddle Reel", "Warehouse Loop", "Boom Bap", "Power Chords", "Night Piano",
    ]  # fmt: skip
    # Each has a genre and a confidence from the embedded models (the default config's
    # checkpoints need the extra: said once, then the embedded models run).
    assert all(len(row[1].split()) >= 2 for row in rows), demo.stdout
    assert demo.stderr.count(HF_HINT) <= 2, demo.stderr
    beet = [str(bare.with_name("beet")), "-c", str(tmp_path / "demo" / "config.yaml")]
    method = subprocess.run(
        [*beet, "ls", "-f", "$genrescore_method"], capture_output=True, text=True, check=True,
        env={**os.environ, "BEETSDIR": str(tmp_path / "demo"), "HOME": str(tmp_path)},
    ).stdout.split()  # fmt: skip
    assert method == ["embedded_hybrid_ml_instrument:efficientat-genre+yamnet"] * 5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "args", "hint"),
    [
        ("genrescore: {}", ["genrescore", "--fetch-models"], HF_HINT),
        ("genrescore: {device: cuda}", ["genrescore"], HF_HINT),
        ("genrescore: {}", ["genrescore", "--html", "report.html"], HTML_HINT),
    ],
)
def test_a_feature_of_an_extra_names_it_in_one_line(
    bare: Path, tmp_path: Path, config: str, args: list[str], hint: str
) -> None:
    (tmp_path / "config.yaml").write_text(
        f"directory: {tmp_path / 'music'}\nlibrary: {tmp_path / 'lib.db'}\n"
        f"plugins: [genrescore]\n{config}\n"
    )
    beet = bare.with_name("beet")
    done = _run(beet, "-c", str(tmp_path / "config.yaml"), *args, cwd=tmp_path, check=False)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if hint in line]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
