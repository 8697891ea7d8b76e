"""``beet genrescore --tune [QUERY]``: library items -> ``scoring/tune.py`` -> printed YAML.

Read-only: it re-blends the stored evidence of the items that carry their own genres
(``library.user_genres``) and never touches the config, the items or the files.
"""

from __future__ import annotations

import time
from typing import Any

from beets import ui
from beets.exceptions import UserError

from . import library
from .insight import lastgenre_tree
from .scoring import tune
from .scoring.ensemble import Evidence
from .scoring.evaluate import accepted
from .selection import chunks
from .settings import Settings

#: Fewer labelled items than this give too noisy a cross-validation to be worth printing.
MIN_LABELLED = 20


def tune_command(
    lib: Any, args: list[str], settings: Settings, log: Any, *, folds: int, albums: bool
) -> None:
    if albums:
        raise UserError("genrescore: --tune works on items (tracks), not with -a")
    if folds < 2:
        raise UserError("genrescore: --folds must be 2 or more")
    started = time.perf_counter()
    tree = lastgenre_tree()
    evidence: list[Evidence] = []
    labels: list[frozenset[str]] = []
    seen = unlabelled = unmapped = missing = 0
    for chunk in chunks(lib, args, False):
        for item in chunk:
            seen += 1
            own = library.user_genres(item)
            if not own:
                unlabelled += 1
                continue
            genres = accepted(own, tree)
            if not genres:
                unmapped += 1
                continue
            stored = library.stored_evidence(item)
            if stored is None:
                missing += 1
                continue
            evidence.append(stored)
            labels.append(genres)
    notes = [
        f"{seen} items: {len(evidence)} with their own genres and stored evidence",
        f"{unlabelled} without genres of their own",
    ]
    if unmapped:
        notes.append(f"{unmapped} whose genres name no genre genrescore knows")
    if missing:
        notes.append(f"{missing} analysed before evidence was kept (run beet genrescore -f)")
    ui.print_("; ".join(notes))
    if len(evidence) < MIN_LABELLED:
        ui.print_(
            f"nothing to tune: {len(evidence)} labelled items with evidence, "
            f"at least {MIN_LABELLED} are needed"
        )
        return
    result = tune.tune(evidence, labels, settings.ensemble, folds=folds)
    held = (
        f"held-out agreement ({result.folds}-fold cross-validation): "
        f"{result.held_out_before:.1%} now -> {result.held_out_after:.1%} tuned"
    )
    ui.print_(f"top-1 agreement on {result.labelled} labelled items")
    ui.print_(f"  {held}")
    ui.print_(
        f"  on every labelled item (tuned on them, optimistic): "
        f"{result.before:.1%} -> {result.after:.1%}"
    )
    if result.knobs == result.start:
        ui.print_("the current settings are the best found; nothing to change")
    elif result.held_out_after <= result.held_out_before:
        ui.print_(
            "tuning does not help on held-out items (it only fits these ones); "
            "keep the current settings"
        )
    else:
        ui.print_("to use them, add to your beets config (then: beet genrescore --reblend):")
        for line in tune.as_yaml(result, settings.ensemble):
            ui.print_(line)
    log.debug("tuned in {:.2f} s", time.perf_counter() - started)
