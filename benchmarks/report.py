"""The HTML report at library scale: build time, file size, and render time in Chromium.

Generates a real beets SQLite library of N items carrying genrescore's fields (no audio:
the report reads only stored fields), some with genres of their own, then times
``beet genrescore --html`` (the same code path, ``insight.html_command``) and a headless
Chromium (Debian's ``chromium`` through playwright) loading the page and painting it.

    .venv/bin/python -m benchmarks.report              # 50,000 items
    .venv/bin/python -m benchmarks.report --items 2000 --keep report.html
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from beets.library import Item, Library

from beetsplug.genrescore import library as fields
from beetsplug.genrescore.scoring.taxonomy import GENRES, display_name

#: Debian's chromium; playwright is told to use it, so it never downloads a browser.
CHROMIUM = "/usr/bin/chromium"

#: How common each genre is in a generated library (a rough pop/rock-heavy collection).
GENRE_WEIGHTS = {genre: 1.0 for genre in GENRES} | {
    "rock": 8.0,
    "pop": 6.0,
    "electronic": 5.0,
    "hip hop": 4.0,
    "jazz": 3.0,
    "classical": 3.0,
}
#: Instruments a generated track of each genre may carry (others: guitar, drums, piano).
GENRE_INSTRUMENTS = {
    "country": ("steel guitar", "violin", "acoustic guitar", "harmonica"),
    "bluegrass": ("banjo", "violin", "mandolin", "acoustic guitar"),
    "jazz": ("saxophone", "trumpet", "double bass", "piano", "drums"),
    "classical": ("orchestra", "violin", "cello", "piano", "harp"),
    "electronic": ("synthesizer", "drum machine"),
    "hip hop": ("drum machine", "turntables", "synthesizer"),
    "rock": ("electric guitar", "drums", "bass guitar"),
    "heavy metal": ("electric guitar", "drums"),
    "reggae": ("bass guitar", "organ", "drums"),
}
DEFAULT_INSTRUMENTS = ("guitar", "drums", "piano", "bass guitar")
#: How a user might have written each genre (sub-genres from lastgenre's tree included).
USER_SPELLINGS = {
    "jazz": ("Jazz", "Bebop", "Cool Jazz"),
    "electronic": ("Electronic", "Deep House", "Techno"),
    "rock": ("Rock", "Indie Rock", "Classic Rock"),
    "hip hop": ("Hip-Hop", "Hip Hop"),
    "country": ("Country",),
    "bluegrass": ("Bluegrass",),
}
METHODS = (
    "embedded_hybrid_ml_instrument:musicnn-msd+yamnet",
    "hybrid_ml_instrument:HuBERT-Genre-Clf+ast-finetuned-audioset",
    "heuristic",
)


def generated_item(rng: random.Random, index: int) -> Item:
    """One item with plausible genrescore fields; about 60 % carry genres of their own."""
    genres = list(GENRE_WEIGHTS)
    genre = rng.choices(genres, weights=list(GENRE_WEIGHTS.values()))[0]
    others = rng.sample([g for g in genres if g != genre], 2)
    confidence = round(min(0.99, max(0.05, rng.betavariate(2.5, 3.0))), 4)
    pool = GENRE_INSTRUMENTS.get(genre, DEFAULT_INSTRUMENTS)
    instruments = rng.sample(pool, rng.randint(0, min(3, len(pool))))
    item = Item(
        title=f"Track {index}",
        artist=f"Artist {index % 997}",
        album=f"Album {index % 4001}",
        path=f"/music/{index}.mp3".encode(),
    )
    item[fields.GENRE] = display_name(genre)
    item[fields.CONFIDENCE] = confidence
    item[fields.TOP] = [display_name(g) for g in (genre, *others)]
    item[fields.INSTRUMENTS] = instruments
    item[fields.METHOD] = rng.choices(METHODS, weights=(6, 3, 1))[0]
    if rng.random() < 0.6:
        truth = genre if rng.random() < 0.7 else rng.choice(genres)
        item["genres"] = [rng.choice(USER_SPELLINGS.get(truth, (display_name(truth),)))]
    return item


def fill_library(lib: Library, count: int, *, seed: int = 13) -> None:
    """Add ``count`` generated items to ``lib`` in one transaction."""
    rng = random.Random(seed)
    # The plugin's field types, as beets registers them when it loads the plugin: lists are
    # stored as lists, confidences as floats.
    Item._types.update(fields.FIELD_TYPES)
    with lib.transaction():
        for index in range(count):
            lib.add(generated_item(rng, index))


def render_in_chromium(page_path: Path) -> dict[str, Any]:
    """Load the page in headless Chromium: seconds to load and paint, requests made."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        start = time.perf_counter()
        page.goto(page_path.as_uri(), wait_until="load")
        # One animation frame after load: layout and paint of everything are done.
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")
        seconds = time.perf_counter() - start
        svgs = page.locator("svg").count()
        paths = page.locator("svg path").count()
        start = time.perf_counter()
        page.locator("#least-confident th").nth(1).click()  # sort by artist
        sort_seconds = time.perf_counter() - start
        browser.close()
    return {
        "seconds": seconds,
        "sort_seconds": sort_seconds,
        "svgs": svgs,
        "paths": paths,
        "requests": [url for url in requests if not url.startswith("file:")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, default=None, help="copy the page here")
    args = parser.parse_args()

    from beetsplug.genrescore.insight import html_command

    folder = Path(tempfile.mkdtemp(prefix="genrescore-report-"))
    try:
        lib = Library(str(folder / "library.db"), str(folder))
        start = time.perf_counter()
        fill_library(lib, args.items)
        print(f"generated {args.items} items in {time.perf_counter() - start:.1f} s")
        page = folder / "report.html"
        log = logging.getLogger("genrescore-bench")
        start = time.perf_counter()
        html_command(lib, [], str(page), log)
        build = time.perf_counter() - start
        size = page.stat().st_size
        print(f"build: {build:.1f} s ({1000 * build / args.items:.2f} ms per item)")
        print(f"size: {size / 1024:.0f} kB")
        rendered = render_in_chromium(page)
        print(
            f"chromium: load and paint {rendered['seconds']:.2f} s; sort the table "
            f"{rendered['sort_seconds']:.2f} s; {rendered['svgs']} svg, "
            f"{rendered['paths']} svg paths; network requests: {len(rendered['requests'])}"
        )
        if args.keep:
            shutil.copy(page, args.keep)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
