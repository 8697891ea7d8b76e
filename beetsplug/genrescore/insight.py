"""``beet genrescore --evaluate`` and ``--html``: what genrescore found, read-only.

Items are read a chunk at a time (``selection.chunks``: the query runs once) and folded
into the pure accumulators (``scoring/evaluate.Evaluator``, ``report.Summary``), so memory
stays bounded whatever the library's size. Nothing is stored or written to any track.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Any

import yaml
from beets import ui
from beets.exceptions import UserError

from .library import CONFIDENCE, GENRE, INSTRUMENTS, METHOD, TOP, user_genres
from .report import Summary, render
from .scoring.evaluate import Evaluation, Evaluator, GenreTree, Labelled, format_evaluation
from .selection import chunks

#: lastgenre's data files, read from the beets installation (lastgenre itself is not
#: imported: it needs pylast).
TREE_FILE = "genres-tree.yaml"
ALIASES_FILE = "aliases.yaml"


@functools.cache
def lastgenre_tree() -> GenreTree:
    """The genre tree and aliases of the lastgenre plugin installed with beets.

    Without them (a beets packaged without lastgenre's data), the canonical genres' own
    parents alone: fewer user genres reach the vocabulary, and the report says how many.
    """
    spec = importlib.util.find_spec("beetsplug.lastgenre")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in map(Path, folders):
        if (folder / TREE_FILE).is_file():
            aliases = folder / ALIASES_FILE
            return GenreTree.from_data(
                yaml.safe_load((folder / TREE_FILE).read_text(encoding="utf-8")),
                yaml.safe_load(aliases.read_text(encoding="utf-8")) if aliases.is_file() else None,
            )
    return GenreTree.from_data()


def _name(item: Any) -> str:
    return f"{item.get('artist') or '?'} - {item.get('title') or '?'} (id {item.id})"


def labelled(item: Any, top: list[str]) -> Labelled:
    """An item as the evaluation sees it: the user's genres against genrescore's ranking.

    ``top`` is the item's stored ``genrescore_top3`` (display names), empty when the item
    has not been analysed.
    """
    return Labelled(
        name=_name(item),
        user_genres=tuple(user_genres(item)),
        top=tuple(genre.lower() for genre in top),
        confidence=float(item.get(CONFIDENCE) or 0.0),
    )


def _items(lib: Any, args: list[str]) -> Any:
    for chunk in chunks(lib, args, False):
        yield from chunk


def collect(lib: Any, args: list[str], *, summary: Summary | None = None) -> Evaluation:
    """One pass over the query's items: the evaluation, and the report's counts if asked.

    Each field is read once per item: at 50,000 items, beets' field access is most of the
    time the report takes.
    """
    evaluator = Evaluator(lastgenre_tree())
    for item in _items(lib, args):
        genre = item.get(GENRE) or ""
        top = (list(item.get(TOP) or []) or [genre]) if genre else []
        entry = labelled(item, top)
        evaluator.add(entry)
        if summary is not None:
            summary.add(
                genre=genre,
                confidence=entry.confidence,
                top=top,
                instruments=list(item.get(INSTRUMENTS) or []),
                method=item.get(METHOD) or "",
                item_id=item.id,
                artist=item.get("artist") or "",
                title=item.get("title") or "",
                album=item.get("album") or "",
            )
    return evaluator.result()


def evaluate_command(lib: Any, args: list[str], log: Any) -> None:
    """Print how often genrescore agrees with the items' own genres."""
    for line in format_evaluation(collect(lib, args)):
        ui.print_(line)


def html_command(lib: Any, args: list[str], path: str, log: Any) -> None:
    """Write the report page for the query's items to ``path``."""
    if importlib.util.find_spec("matplotlib") is None:  # the html extra; said before any work
        raise UserError(
            "genrescore: --html draws its charts with matplotlib, which is not installed "
            "(pip install 'beets-genrescore[html]')"
        )
    summary = Summary()
    evaluation = collect(lib, args, summary=summary)
    page = render(summary, evaluation, query=" ".join(args))
    # Written next to its final name and renamed: a half-written report never replaces one.
    temporary = f"{path}.genrescore-tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(temporary, path)
    except OSError as exc:
        raise UserError(f"genrescore: cannot write the report {path}: {exc.strerror}") from exc
    log.info(
        "report of {} tracks ({} analysed) written to {} ({} kB)",
        summary.items,
        summary.analysed,
        path,
        len(page.encode()) // 1024,
    )
