"""One home for each decision that issue 23 found made in several places: read from the
source, so a second place that starts making it again fails here.

* The worker plan (where the models run) is made once per run, in ``Run.__init__``; the
  engine only adapts it to a batch (``WorkerPlan.for_tracks``), or plans for itself when it
  is used without a run (tests, benchmarks). Nothing else asks ``settings.cluster`` where the
  models run.
* Models are loaded in this process by the run, and elsewhere (a worker, a Ray actor) only
  through ``workers.host_models``.
* An output field's value is computed in its ``library.FIELDS`` entry: no module but
  ``library.py`` names a ``genrescore_*`` field by its string.
* An item's new values (from a result, from its stored evidence, an album's from its
  tracks), the policies set on it and its tag write are decided in ``changes.py`` only; the
  run orchestrates.
* The cluster's address is read once, by ``workers.plan``; the plan carries it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from beetsplug.genrescore.library import FIELDS

PACKAGE = Path(__file__).parent.parent / "beetsplug" / "genrescore"
FIELD_NAMES = {field.name for field in FIELDS}


def calls(source: str, name: str) -> list[str]:
    """The functions (``Class.method`` or ``function``) of ``source`` that call ``name``
    (``plan`` matches ``plan(...)`` and ``workers.plan(...)``); ``<module>`` at top level."""
    found: list[str] = []

    def visit(node: ast.AST, where: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, [*where, child.name])
                continue
            if isinstance(child, ast.Call):
                func = child.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called == name:
                    found.append(".".join(where) or "<module>")
            visit(child, where)

    visit(ast.parse(source), [])
    return found


def callers(name: str, *, module: str | None = None) -> dict[str, list[str]]:
    """Who calls ``name`` across the package: module path -> functions."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if module is not None and f"import {module}" not in text and f"{module}." not in text:
            continue
        where = calls(text, name)
        if where:
            found[str(path.relative_to(PACKAGE))] = where
    return found


def test_the_worker_plan_is_made_once_per_run() -> None:
    assert callers("plan", module="workers") == {
        "engine.py": ["Engine.__init__"],  # only without a run's plan (used on its own)
        "run.py": ["Run.__init__"],
    }
    assert callers("for_tracks") == {"engine.py": ["Engine.run"]}


def test_the_run_asks_its_plan_where_the_models_run() -> None:
    # The cluster's address is read (to connect), never compared to say where models run.
    tree = ast.parse((PACKAGE / "run.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            assert "cluster" not in names, ast.unparse(node)


def test_models_are_hosted_through_one_function() -> None:
    assert callers("load_models") == {
        "run.py": ["Run.analyzer"],  # this process
        "workers.py": ["host_models"],  # a worker, a Ray actor
    }
    assert callers("host_models") == {
        "cluster.py": ["ModelActor.__init__"],
        "workers.py": ["worker_init"],
    }


@pytest.mark.parametrize(
    "path", sorted(p for p in PACKAGE.rglob("*.py") if p.name not in {"library.py"})
)
def test_fields_are_named_in_library_only(path: Path) -> None:
    # Another module names a field through library's constant (library.GENRE), so that its
    # entry in FIELDS is the one place it is declared. Text in docstrings and messages is
    # fine: only string constants that are a declared field's whole name count.
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    named = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and node.value in FIELD_NAMES
    ]
    assert named == [], path


def test_calls_finds_a_planted_call_in_a_method_and_at_top_level() -> None:
    source = "class Run:\n    def start(self):\n        workers.plan(s)\nplan(t)\nx.planned()\n"
    assert calls(source, "plan") == ["Run.start", "<module>"]


def test_an_items_new_values_are_decided_in_changes_only() -> None:
    # The run orchestrates (batches, the engine, progress, stopping); what one item (or
    # album) gets, and putting it on the item, is changes.py's: its values from a result,
    # from stored evidence or from its tracks, the policies set on it, its tag write.
    assert callers("result_values") == {"changes.py": ["of_result"]}
    assert callers("reblend_values") == {"changes.py": ["of_evidence"]}
    assert callers("album_values") == {"changes.py": ["of_album"]}
    assert callers("apply_result") == {
        "changes.py": ["apply"],
        "library.py": ["planned_changes"],  # what apply_result would change, on a copy
    }
    assert callers("planned_changes") == {"changes.py": ["planned"]}
    assert callers("write_item") == {"changes.py": ["write"]}
    assert callers("show_model_changes") == {"changes.py": ["show"]}


def test_the_cluster_address_is_read_once() -> None:
    # The plan says where the models run, and carries the cluster's address when that is
    # a cluster (WorkerPlan.cluster): read once, by workers.plan; the run hands the plan's
    # address to cluster.build.
    reads = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "settings.py":  # where it is declared and validated
            continue
        tree = ast.parse(path.read_text())
        found = [
            ast.unparse(node)
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr == "cluster"
            and isinstance(node.value, ast.Name | ast.Attribute)
            and ast.unparse(node.value).endswith("settings")
        ]
        if found:
            reads[str(path.relative_to(PACKAGE))] = found
    assert reads == {"workers.py": ["settings.cluster"]}
    assert callers("build", module="cluster") == {"run.py": ["Run._new_engine"]}
