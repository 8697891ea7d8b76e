"""Imports flow one way: glue -> analyzer -> backends/audio -> scoring, with no cycle among
the package's modules.

Imports are read from the source (every ``import`` statement, those inside functions too),
with relative ones resolved against their package, and followed through the package: a
module that knows nothing of beets must not reach beets through another of our modules
either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .interpreter import fresh_python

PACKAGE = Path(__file__).parent.parent / "beetsplug" / "genrescore"
ROOT = "beetsplug.genrescore"
SCORING = f"{ROOT}.scoring"
#: What the pure scoring core never imports (STYLE.md rule 1).
FORBIDDEN_IN_CORE = {"beets", "confuse", "mediafile", "torch", "transformers", "os", "pathlib"}
#: What the analysis side never imports, directly or through our other modules.
BEETS = {"beets", "confuse", "mediafile"}
#: The modules that say they know nothing of beets (their docstrings, or the shape of the
#: code: analysis, decoding, models, the pipeline, the synthesizer), as paths under PACKAGE.
BEETS_FREE = [
    "analyzer.py",
    "audio.py",
    "containers.py",
    "engine.py",
    "errors.py",
    "explain.py",
    "forkserver.py",
    "report.py",
    "stopping.py",
    "demo/synth.py",
    "workers.py",
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "backends").glob("*.py")),
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "scoring").glob("*.py")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((ROOT, *parts))


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, by its absolute name.

    ``from .x import y`` gives ``<package>.x.y`` when that is a module of ours, else
    ``<package>.x``; third-party names are kept whole (``huggingface_hub.errors``). Parent
    packages are not added: every module of ours has ``beetsplug.genrescore`` (the plugin)
    above it, and what matters is what each module asks for.
    """
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            for alias in node.names:
                submodule = f"{prefix}.{alias.name}"
                # ``from . import audio`` imports a module; ``from .base import NONE``, a name
                # out of ``.base`` (the package's __init__ is the plugin, not followed unless
                # a name is taken from it).
                names.add(submodule if _path_of(submodule) is not None else prefix)
    return names


def _path_of(name: str) -> Path | None:
    """The file of one of our modules, or ``None`` (third-party, or not a module)."""
    if name != ROOT and not name.startswith(ROOT + "."):
        return None
    parts = name.split(".")[2:]
    if not parts:
        return PACKAGE / "__init__.py"
    relative = Path(*parts)
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable(module: str) -> set[str]:
    """The modules ``module`` imports, and those ours import in turn (transitively)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        path = _path_of(todo.pop())
        if path is None:
            continue
        for name in imported_modules(
            path.read_text(), module_name(path), is_package=_is_package(path)
        ):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def core_breaches(source: str, module: str) -> set[str]:
    """What a scoring module imports that the pure core must not: forbidden libraries, and
    any module of ours outside ``scoring``."""
    names = imported_modules(source, module, is_package=module == SCORING)
    ours = {n for n in names if n == ROOT or n.startswith(ROOT + ".")}
    outside = {n for n in ours if n != SCORING and not n.startswith(SCORING + ".")}
    return (top_level(names - ours) & FORBIDDEN_IN_CORE) | outside


def beets_breaches(module: str) -> set[str]:
    return top_level(reachable(module)) & BEETS


@pytest.mark.parametrize("path", sorted((PACKAGE / "scoring").glob("*.py")), ids=lambda p: p.name)
def test_the_scoring_core_imports_neither_beets_nor_torch_nor_paths(path: Path) -> None:
    assert not core_breaches(path.read_text(), module_name(path))


@pytest.mark.parametrize("module", BEETS_FREE)
def test_the_analysis_layer_knows_nothing_of_beets(module: str) -> None:
    assert not beets_breaches(module_name(PACKAGE / module))


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports (lazily inside functions too);
    ``sources`` maps each module's name to its text (a package's name to its __init__'s)."""
    return {
        module: {
            name
            for name in imported_modules(text, module, is_package=module in _PACKAGES)
            if name in sources and name != module
        }
        for module, text in sources.items()
    }


#: Our packages (their ``__init__`` resolves relative imports against themselves).
_PACKAGES = {module_name(path) for path in PACKAGE.rglob("__init__.py")}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle of ``graph`` as the sorted modules of one strongly connected component of
    more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_import_cycle_among_the_package_modules() -> None:
    sources = {module_name(path): path.read_text() for path in PACKAGE.rglob("*.py")}
    assert import_cycles(import_graph(sources)) == []


def test_a_planted_cycle_is_caught_lazy_imports_included() -> None:
    sources = {
        f"{ROOT}.command": "def f():\n    from . import tuning\n",
        f"{ROOT}.tuning": "from .selection import chunks\n",
        f"{ROOT}.selection": "from .command import helper\n",
        f"{ROOT}.library": "from . import settings\n",
        f"{ROOT}.settings": "import json\n",
    }
    graph = import_graph(sources)
    assert import_cycles(graph) == [[f"{ROOT}.command", f"{ROOT}.selection", f"{ROOT}.tuning"]]
    sources[f"{ROOT}.selection"] = "from .library import helper\n"
    assert import_cycles(import_graph(sources)) == []


# The checks above, checked: each catches a planted breach of its rule.


@pytest.mark.parametrize(
    "snippet",
    [
        "from ..backends import hf",  # relative, out of the core into the backends
        "from .. import settings",
        "from ...genrescore.library import apply_result",
        "from beetsplug.genrescore import library",
        "import torch",
        "from os import path",
        "def f():\n    from beets import ui\n",  # lazily, inside a function
    ],
)
def test_a_planted_breach_of_the_core_is_caught(snippet: str) -> None:
    assert core_breaches(snippet, f"{SCORING}.planted")


@pytest.mark.parametrize(
    "snippet", ["from . import taxonomy", "from .ensemble import blend", "import numpy as np"]
)
def test_the_core_may_import_itself_and_numpy(snippet: str) -> None:
    assert not core_breaches(snippet, f"{SCORING}.planted")


def test_a_breach_through_another_of_our_modules_is_caught() -> None:
    # analyzer -> run (which imports beets): caught though analyzer itself names no beets.
    names = imported_modules("from .run import Run", f"{ROOT}.analyzer")
    assert names == {f"{ROOT}.run"}
    assert top_level(reachable(f"{ROOT}.run")) & BEETS


def test_every_module_that_knows_nothing_of_beets_is_checked() -> None:
    # A module whose docstring says so must be on the list.
    for path in PACKAGE.rglob("*.py"):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if "nothing of beets" in docstring.replace("\n", " "):
            assert str(path.relative_to(PACKAGE)) in BEETS_FREE, path


def test_loading_the_plugin_imports_no_heavy_library() -> None:
    # `beet ls` must not pay for torch, transformers or librosa.
    code = (
        "import sys, beetsplug.genrescore as g; g.GenreScorePlugin().commands();"
        "print(sorted(m for m in ('torch', 'transformers', 'librosa') if m in sys.modules))"
    )
    assert fresh_python(code) == "[]"


def test_a_checkpoint_that_is_not_downloaded_costs_no_torch_nor_transformers(
    tmp_path: Path,
) -> None:
    # The first run of a new user: the configured hub models are not in the cache, so the
    # embedded ones run instead; finding that out must not import torch or transformers.
    code = (
        "import sys\n"
        "from beetsplug.genrescore.backends.base import BackendOptions, Role, build_backend\n"
        "from beetsplug.genrescore.errors import BackendUnavailable\n"
        "try:\n"
        f"    build_backend('MIT/ast-finetuned-audioset-10-10-0.4593', Role.INSTRUMENTS,"
        f" BackendOptions(cache_dir={str(tmp_path)!r}))\n"
        "except BackendUnavailable as exc:\n"
        "    print(exc)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    message, modules = fresh_python(code).splitlines()
    assert "not downloaded" in message
    assert modules == "[]"
