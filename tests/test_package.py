"""The wheel a user installs holds the plugin, its shipped weights and their licences."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "beetsplug/genrescore"

#: What the embedded models need at run time, and the licence terms that must travel with
#: their weights (ISC for musicnn; Apache-2.0 with its NOTICE for YAMNet).
SHIPPED = [
    f"{PACKAGE}/data/musicnn/msd_musicnn.safetensors",
    f"{PACKAGE}/data/musicnn/mtt_musicnn.safetensors",
    f"{PACKAGE}/data/musicnn/LICENSE",
    f"{PACKAGE}/data/yamnet/yamnet.safetensors",
    f"{PACKAGE}/data/yamnet/LICENSE",
    f"{PACKAGE}/data/yamnet/NOTICE",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # Built with the setuptools already installed (no build isolation: no network needed),
    # about 2 s.
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (path,) = out.glob("beets_genrescore-*.whl")
    return zipfile.ZipFile(path)


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
