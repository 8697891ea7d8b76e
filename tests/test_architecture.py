"""Imports flow one way: glue -> analyzer -> backends/audio -> scoring."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "beetsplug" / "genrescore"
FORBIDDEN_IN_CORE = {"beets", "confuse", "mediafile", "torch", "transformers", "os", "pathlib"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "scoring").glob("*.py")), ids=lambda p: p.name)
def test_the_scoring_core_imports_neither_beets_nor_torch_nor_paths(path: Path) -> None:
    assert not imported_modules(path) & FORBIDDEN_IN_CORE


@pytest.mark.parametrize(
    "module", ["analyzer.py", "audio.py", "backends/base.py", "explain.py", "synth.py"]
)
def test_the_analysis_layer_knows_nothing_of_beets(module: str) -> None:
    assert not imported_modules(PACKAGE / module) & {"beets", "confuse", "mediafile"}


def test_loading_the_plugin_imports_no_heavy_library() -> None:
    # `beet ls` must not pay for torch, transformers or librosa.
    code = (
        "import sys, beetsplug.genrescore as g; g.GenreScorePlugin().commands();"
        "print(sorted(m for m in ('torch', 'transformers', 'librosa') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
