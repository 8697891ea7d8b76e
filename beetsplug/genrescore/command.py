"""``beet genrescore``: options -> settings, then a run over the query."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from beets import ui
from beets.exceptions import UserError

from .backends.base import EMBEDDED, NONE
from .errors import BackendUnavailable
from .run import Run, RunOptions
from .settings import Settings


class GenreScoreCLIOpts(Protocol):
    force: bool
    pretend: bool
    write: bool | None
    album: bool
    explain: bool
    report: str | None
    fetch_models: bool


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
    from .backends import hf

    try:
        for location in hf.fetch_models(values, settings.backend.cache_dir):
            log.info("model ready in {}", location)
    except BackendUnavailable as exc:
        raise UserError(f"genrescore: {exc}") from exc


def run_command(
    lib: Any, opts: GenreScoreCLIOpts, args: list[str], settings: Settings, log: Any
) -> None:
    if opts.fetch_models:
        fetch_models(settings, log)
        return
    settings = settings.replace(force=settings.force or opts.force)
    with _report_file(opts.report) as report:
        options = RunOptions(
            write=ui.should_write(opts.write) and not opts.pretend,
            pretend=opts.pretend,
            explain=opts.explain,
            report=report,
        )
        run = Run(settings, log, options)
        try:
            if opts.album:
                for album in lib.albums(args):
                    run.process(album.items())
                    run.update_album(album)
            else:
                run.process(lib.items(args))
        finally:
            log.info("{}", run.counts.summary())


def make_command(settings: Callable[[], Settings], log: Any) -> ui.Subcommand:
    command = ui.Subcommand(
        "genrescore", parser=build_parser(), help="detect genres and instruments from the audio"
    )

    def func(lib: Any, opts: GenreScoreCLIOpts, args: list[str]) -> None:
        run_command(lib, opts, args, settings(), log)

    command.func = func
    return command
