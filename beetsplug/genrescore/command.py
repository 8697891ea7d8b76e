"""``beet genrescore``: options -> settings, then a run over the query."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

from beets import ui
from beets.exceptions import UserError

from . import selection
from .backends.base import EMBEDDED, NONE
from .backends.placement import DEVICES, is_device
from .errors import BackendUnavailable, GenreScoreError, LibraryFull
from .settings import Settings, check_cluster

if TYPE_CHECKING:
    from .run import Run


class GenreScoreCLIOpts(Protocol):
    force: bool
    pretend: bool
    write: bool | None
    album: bool
    explain: bool
    report: str | None
    fetch_models: bool
    evaluate: bool
    html: str | None
    jobs: int | None
    device: str | None
    cluster: str | None
    reblend: bool
    tune: bool
    folds: int


def build_parser() -> ui.CommonOptionsParser:
    parser = ui.CommonOptionsParser()
    parser.add_option(
        "-f",
        "--force",
        action="store_true",
        default=False,
        help="analyse items again even when their stored result is up to date",
    )
    parser.add_option(
        "-p",
        "--pretend",
        action="store_true",
        default=False,
        help="show the changes without storing or writing anything",
    )
    parser.add_option(
        "-w",
        "--write",
        action="store_true",
        dest="write",
        default=None,
        help="write tags to files (default: import.write)",
    )
    parser.add_option(
        "-W",
        "--nowrite",
        action="store_false",
        dest="write",
        help="do not write tags to files",
    )
    parser.add_album_option()
    parser.add_option(
        "--explain",
        action="store_true",
        default=False,
        help="print each component's top scores and the instrument boosts",
    )
    parser.add_option(
        "--report",
        metavar="FILE",
        default=None,
        help="append one JSON object per analysed track to FILE",
    )
    parser.add_option(
        "-j",
        "--jobs",
        type="int",
        default=None,
        metavar="N",
        help="decoder processes (default: one per core; 0: decode in this process)",
    )
    parser.add_option(
        "--device",
        default=None,
        metavar="DEVICE",
        help="where the models run: auto, cpu, cuda, cuda:N (default: config 'device')",
    )
    parser.add_option(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="run the models on a Ray cluster: auto, ray://host:port or none "
        "(default: config 'cluster'; needs the [ray] extra)",
    )
    parser.add_option(
        "--reblend",
        action="store_true",
        default=False,
        help="blend the stored evidence again with the configured weights and rules; "
        "reads no audio and loads no model (with -f: every item, not only changed blends)",
    )
    parser.add_option(
        "--tune",
        action="store_true",
        default=False,
        help="search weights that agree best with the items' own genres (cross-validated) "
        "and print them as config YAML; changes nothing",
    )
    parser.add_option(
        "--folds",
        type="int",
        default=5,
        metavar="K",
        help="--tune: cross-validation folds (default 5)",
    )
    parser.add_option(
        "--evaluate",
        action="store_true",
        default=False,
        help="compare the stored genres with the items' own genres (read-only)",
    )
    parser.add_option(
        "--html",
        metavar="FILE",
        default=None,
        help="write a self-contained HTML report of the items' results to FILE (read-only)",
    )
    parser.add_option(
        "--fetch-models", action="store_true", default=False,
        help="download the configured models to the local cache (needs network), then exit",
    )  # fmt: skip
    return parser


@contextlib.contextmanager
def _report_file(path: str | None) -> Iterator[IO[str] | None]:
    if path is None:
        yield None
        return
    try:
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UserError(f"genrescore: cannot open report file {path}: {exc.strerror}") from exc
    with handle:
        yield handle


def fetch_models(settings: Settings, log: Any) -> None:
    """Download the configured checkpoints: the only code path that touches the network."""
    values = [v for v in settings.models.values() if v != NONE and v not in EMBEDDED]
    if not values:
        log.info("nothing to fetch: the configured models are embedded or none")
        return
    from .backends import hub

    try:
        for location in hub.fetch_models(values, settings.backend.cache_dir):
            log.info("model ready in {}", location)
    except BackendUnavailable as exc:
        raise UserError(f"genrescore: {exc}") from exc


#: Exit status of a command or import stopped by Ctrl-C (128 + SIGINT, as shells report
#: it): beets itself swallows Ctrl-C and exits 0, so a script could not tell.
INTERRUPTED_STATUS = 130


def _count(lib: Any, ids: list[int], albums: bool) -> int:
    """The tracks of the query's items (``ids``), or of its albums' (one SQL count per
    chunk of albums, no album built)."""
    if not albums:
        return len(ids)
    total = 0
    for start in range(0, len(ids), selection.CHUNK):
        part = ids[start : start + selection.CHUNK]
        marks = ",".join("?" * len(part))
        with lib.transaction() as tx:
            rows = tx.query(f"SELECT COUNT(*) FROM items WHERE album_id IN ({marks})", part)
        total += int(rows[0][0])
    return total


def _device(value: str | None, settings: Settings) -> Settings:
    if value is None:
        return settings
    if is_device(value):
        return settings.replace(backend=dataclasses.replace(settings.backend, device=value))
    raise UserError(f"genrescore: --device {value!r} is not valid; expected {DEVICES}")


def run_command(
    lib: Any, opts: GenreScoreCLIOpts, args: list[str], settings: Settings, log: Any
) -> None:
    if opts.fetch_models:
        fetch_models(settings, log)
        return
    if opts.evaluate or opts.html:
        from . import insight  # read-only: no model, no audio, matplotlib only for --html

        if opts.evaluate:
            insight.evaluate_command(lib, args, log)
        if opts.html:
            insight.html_command(lib, args, opts.html, log)
        return
    settings = _device(opts.device, settings.replace(force=settings.force or opts.force))
    if opts.tune:
        from .tuning import tune_command  # numpy only: no model, no audio

        tune_command(lib, args, settings, log, folds=opts.folds, albums=opts.album)
        return
    if opts.reblend:
        _reblend(lib, opts, args, settings, log)
        return
    if opts.jobs is not None:
        if opts.jobs < 0:
            raise UserError("genrescore: --jobs must be 0 or more")
        settings = settings.replace(jobs=opts.jobs)
    if opts.cluster is not None:
        try:
            settings = settings.replace(cluster=check_cluster(opts.cluster, "--cluster"))
        except GenreScoreError as exc:
            raise UserError(str(exc)) from exc
    ids = selection.matching_ids(lib, args, opts.album)  # the query runs once
    total = _count(lib, ids, opts.album)
    # Cheap: the run plans its workers for `total` tracks and starts their fork server
    # before it imports the analysis stack, which loads only when a run starts.
    from .run import Run, RunOptions

    with _report_file(opts.report) as report:
        options = RunOptions(
            write=ui.should_write(opts.write) and not opts.pretend,
            pretend=opts.pretend,
            explain=opts.explain,
            report=report,
            progress=not opts.explain,
        )
        try:
            run = Run(settings, log, options, tracks=total)
        except GenreScoreError as exc:  # device: cuda on a machine without one
            raise UserError(str(exc)) from exc
        try:
            for chunk in selection.chunks(lib, args, opts.album, ids):
                if opts.album:
                    _process_albums(run, chunk, total)
                else:
                    run.process(chunk, total=total)
        except KeyboardInterrupt:
            raise SystemExit(INTERRUPTED_STATUS) from None  # the finally block logs first
        except LibraryFull as exc:
            raise UserError(_full(exc, run.counts.stored)) from None
        except GenreScoreError as exc:
            # Not one file's failure (those are counted): the models cannot run at all.
            raise UserError(f"genrescore: {exc}") from exc
        finally:
            run.close()
            log.info("{}", run.counts.summary())


def _reblend(
    lib: Any, opts: GenreScoreCLIOpts, args: list[str], settings: Settings, log: Any
) -> None:
    """``--reblend``: every item's stored evidence blended again, albums aggregated again."""
    from .run import Run, RunOptions

    options = RunOptions(write=ui.should_write(opts.write) and not opts.pretend,
                         pretend=opts.pretend)  # fmt: skip
    run = Run(settings, log, options)
    stored = 0  # items in the chunks committed so far
    try:
        for chunk in selection.chunks(lib, args, opts.album):
            # One commit per chunk, not per item: a re-blend is cheap to redo, so Ctrl-C may
            # lose a chunk's worth (each item stays either as it was or fully re-blended).
            with lib.transaction():
                if opts.album:
                    for album in chunk:
                        run.reblend_only(lib, album.items())
                        run.update_album(album)
                else:
                    run.reblend_only(lib, chunk)
            stored = run.counts.stored
    except KeyboardInterrupt:
        raise SystemExit(INTERRUPTED_STATUS) from None
    except LibraryFull as exc:  # the chunk in flight is rolled back whole
        raise UserError(_full(exc, stored)) from None
    finally:
        log.info("{}", run.counts.summary())


def _full(exc: LibraryFull, stored: int) -> str:
    """The one line a full disk under the library database ends a command with."""
    results = "result" if stored == 1 else "results"
    return (
        f"genrescore: stopped: {exc}; the {stored} {results} stored before it are kept, "
        "run the command again once there is room"
    )


def _process_albums(run: Run, albums: list[Any], total: int) -> None:
    """Analyse the albums' tracks together; aggregate each album once its tracks are done."""
    remaining: dict[int, int] = {}
    by_id: dict[int, Any] = {}
    items = []
    for album in albums:
        tracks = list(album.items())
        remaining[album.id] = len(tracks)
        by_id[album.id] = album
        items.extend(tracks)

    def track_done(item: Any) -> None:
        remaining[item.album_id] -= 1
        if remaining[item.album_id] == 0:
            run.update_album(by_id[item.album_id])

    run.process(items, total=total, on_item=track_done)


def make_command(settings: Callable[[], Settings], log: Any) -> ui.Subcommand:
    command = ui.Subcommand(
        "genrescore", parser=build_parser(), help="detect genres and instruments from the audio"
    )

    def func(lib: Any, opts: GenreScoreCLIOpts, args: list[str]) -> None:
        run_command(lib, opts, args, settings(), log)

    command.func = func
    return command
