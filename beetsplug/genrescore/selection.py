"""The user's query, run once: its ids first, then its items (or albums) a chunk at a time.

Every command that walks a query (a run, ``--reblend``, ``--evaluate``, ``--tune``,
``--html``) reads it through :func:`chunks`. beets cannot narrow a query on a flexible
field (``genrescore_genre:Rock``) by id in SQL: it reads every row and tests each in Python.
Running the query again for each slice of ids would read the whole library once per slice,
a cost that grows with the square of its size; here it runs once, and each chunk is then
fetched by its ids alone, which SQLite answers from the primary key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from beets.dbcore.query import InQuery

#: Items fetched from the library at a time, so memory does not grow with its size (and
#: well under SQLite's 999 parameters of a query).
CHUNK = 500


def matching_ids(lib: Any, args: list[str], albums: bool) -> list[int]:
    """The ids of the query's items (or albums), in the query's order.

    Each matching object is built once and dropped, as ``beet ls`` builds it to print it.
    """
    fetch = lib.albums if albums else lib.items
    return [obj.id for obj in fetch(args)]


def fetch_ids(lib: Any, ids: list[int], albums: bool) -> list[Any]:
    """The items (or albums) of ``ids``, in that order (those deleted meanwhile left out)."""
    if not ids:
        return []
    fetch = lib.albums if albums else lib.items
    found = {obj.id: obj for obj in fetch(InQuery("id", ids))}
    return [found[id_] for id_ in ids if id_ in found]


def chunks(
    lib: Any, args: list[str], albums: bool, ids: list[int] | None = None
) -> Iterator[list[Any]]:
    """The query's results, :data:`CHUNK` at a time (``ids``: those of :func:`matching_ids`,
    when the caller already has them)."""
    if ids is None:
        ids = matching_ids(lib, args, albums)
    for start in range(0, len(ids), CHUNK):
        chunk = fetch_ids(lib, ids[start : start + CHUNK], albums)
        if chunk:
            yield chunk
