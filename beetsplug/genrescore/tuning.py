"""``beet genrescore --tune [QUERY]``: library items -> ``scoring/tune.py`` -> printed YAML.

It re-blends the stored evidence of the items that carry their own genres
(``library.user_genres``) and never touches the config, the items or the audio files. The
one thing it writes is a genre head that helps held out: a new file, named by its content,
in a ``genrescore`` folder of beets' config directory, for the printed YAML to name.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from beets import config as beets_config
from beets import ui
from beets.exceptions import UserError

from . import library
from .errors import display_path
from .insight import lastgenre_tree
from .scoring import genre_head, tune
from .scoring.ensemble import Evidence
from .scoring.evaluate import accepted
from .selection import chunks
from .settings import Settings

#: Fewer labelled items than this give too noisy a cross-validation to be worth printing.
MIN_LABELLED = 20
#: Where a genre head is written, under beets' config directory.
HEAD_FOLDER = "genrescore"


def group(item: Any) -> str:
    """What must stay on one side of a fold: the item's album, else (a singleton) its
    album artist or artist, else (neither known) the item alone."""
    if item.get("album_id"):
        return f"album {item.album_id}"
    artist = item.get("albumartist") or item.get("artist")
    return f"artist {artist}" if artist else f"item {item.id}"


def write_head(head: genre_head.GenreHead) -> str:
    """The head's file, ``genre-head-<digest>.json`` in beets' config directory's
    ``genrescore`` folder: written once (the name is the content's), never overwritten."""
    folder = os.path.join(beets_config.config_dir(), HEAD_FOLDER)
    path = os.path.join(folder, f"genre-head-{head.digest}.json")
    if os.path.exists(path):
        return path
    try:
        os.makedirs(folder, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, prefix=".genre-head-", suffix=".part")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(genre_head.encode(head))
        os.replace(partial, path)
    except OSError as exc:
        raise UserError(
            f"genrescore: cannot write the genre head to {display_path(path)}: {exc}"
        ) from exc
    return path


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
    groups: list[str] = []
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
            groups.append(group(item))
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
    result = tune.tune(
        evidence, labels, settings.ensemble, groups=groups, folds=folds, head=True, calibrate=True
    )
    for line in report(result, settings.ensemble):
        ui.print_(line)
    log.debug("tuned in {:.2f} s", time.perf_counter() - started)


def report(result: tune.TuneResult, config: Any) -> list[str]:
    """The printed figures of each step and, for the steps that help held out, the YAML (the
    genre head written to its file first)."""
    lines = [
        f"top-1 agreement on {result.labelled} labelled items ({result.folds} folds by album: "
        "held out means fitted without the item's album)"
    ]
    head = result.head
    if head is not None:
        lines += [
            "genre head (the genre model's vote re-read to agree with your genres):",
            "  held-out agreement, current weights: "
            f"{head.held_out_before:.1%} now -> {head.held_out_after:.1%} with the head",
            "  on every labelled item (fitted on them, optimistic): "
            f"{head.before:.1%} -> {head.after:.1%}",
        ]
        if not head.helps:
            lines.append("  it does not help on held-out items: no head")
    headed = head is not None and head.helps
    reading = "as the new head reads them" if headed else "as they are"
    lines += [
        f"weights, prior and instrument rules (the votes {reading}):",
        f"  held-out agreement ({result.folds}-fold cross-validation): "
        f"{result.held_out_before:.1%} now -> {result.held_out_after:.1%} tuned",
        "  on every labelled item (tuned on them, optimistic): "
        f"{result.before:.1%} -> {result.after:.1%}",
    ]
    if result.knobs == result.start:
        lines.append("  the current ones are the best found")
    elif not result.weights_help:
        lines.append("  tuning them does not help on held-out items (it only fits these ones)")
    calibration = result.calibration
    if calibration is not None:
        lines += [
            f"confidence map (expected calibration error on {calibration.tracks} items, "
            "lower is better):",
            f"  held out: {calibration.held_out_before:.3f} now -> "
            f"{calibration.held_out_after:.3f} refitted",
            f"  on every labelled item (fitted on them): {calibration.before:.3f} -> "
            f"{calibration.after:.3f}",
        ]
        if not calibration.helps:
            lines.append("  refitting it does not help on held-out items")
    offered = headed or result.weights_help or (calibration is not None and calibration.helps)
    if not offered:
        lines.append("nothing helps on held-out items; keep the current settings")
        return lines
    path = write_head(head.head) if head is not None and headed else None
    lines.append("to use them, add to your beets config (then: beet genrescore --reblend):")
    lines += tune.as_yaml(result, config, head_path=path)
    return lines
