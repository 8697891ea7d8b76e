"""--html: the report of a generated beets library, rendered in a real headless Chromium."""

from __future__ import annotations

import html
import io
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
from beets.test.helper import PluginTestHelper

from beetsplug.genrescore import report
from benchmarks.report import CHROMIUM, fill_library

#: The charts the page must show, by their figure's id.
CHARTS = ("genres", "confidence", "instruments", "heatmap", "methods", "agreement", "reliability")
#: Items in the generated library: enough for every genre and instrument to appear, and for
#: the table to be cut to its bound.
ITEMS = 400


def _pixels(png: bytes) -> Any:
    from matplotlib import image

    return image.imread(io.BytesIO(png), format="png")


def _browser() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the report test needs Debian's chromium at {CHROMIUM} (scripts/setup)")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


class TestHtmlReport(PluginTestHelper):
    plugin: ClassVar[str] = "genrescore"

    @pytest.fixture
    def page_file(self) -> Path:
        fill_library(self.lib, ITEMS)
        path = self.temp_path / "report.html"
        self.run_command("genrescore", "--html", str(path))
        return path

    def test_renders_in_chromium_with_every_chart_and_no_network(self, page_file: Path) -> None:
        requests: list[str] = []
        with _browser() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("request", lambda request: requests.append(request.url))
                page.goto(page_file.as_uri(), wait_until="load")
                counts = {
                    chart: (
                        page.locator(f"#chart-{chart} svg").count(),
                        page.locator(f"#chart-{chart} svg path").count(),
                        page.locator(f"#chart-{chart} svg text").count(),
                    )
                    for chart in CHARTS
                }
                boxes = {
                    chart: page.locator(f"#chart-{chart} svg").bounding_box() for chart in CHARTS
                }
                rows = page.locator("#least-confident tbody tr")
                row_count = rows.count()
                first = float(rows.nth(0).locator("td").nth(0).get_attribute("data-value") or 0)
                last = float(rows.nth(-1).locator("td").nth(0).get_attribute("data-value") or 0)
                page.locator("#least-confident th").nth(0).click()  # now most confident first
                resorted = float(rows.nth(0).locator("td").nth(0).get_attribute("data-value") or 0)
                screenshot = page.locator("#chart-genres").screenshot()
                whole = page.screenshot(full_page=True)
            finally:
                browser.close()

        assert requests == [page_file.as_uri()]  # the page itself, nothing else
        for chart, (svgs, paths, texts) in counts.items():
            assert svgs == 1, chart
            assert paths >= 5, (chart, paths)  # bars, cells, axes: drawn, not an empty frame
            assert texts >= 3, (chart, texts)  # tick labels at least
            box = boxes[chart]
            assert box is not None
            assert box["width"] > 300
            assert box["height"] > 100
        assert counts["genres"][1] >= 20  # one bar per canonical genre, at least
        assert row_count == report.LEAST_CONFIDENT_ROWS
        assert first <= last
        assert resorted >= last
        for png in (screenshot, whole):
            pixels = _pixels(png)
            drawn = (pixels[..., :3] < 0.9).any(axis=-1).mean()
            assert 0.02 < drawn < 0.9  # neither blank nor a solid block
            assert len({tuple(p) for p in pixels[::7, ::7, :3].reshape(-1, 3).tolist()}) > 20

    def test_the_file_names_nothing_to_fetch(self, page_file: Path) -> None:
        text = page_file.read_text()
        # No script, style, font or image from anywhere: only the SVG namespaces are URLs.
        assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", text)
        assert "@import" not in text
        assert "url(http" not in text
        assert f"{ITEMS} of {ITEMS} tracks" in text

    def test_a_query_and_an_unanalysed_library_are_said(self) -> None:
        self.add_item(title="waiting", artist="Someone")
        path = self.temp_path / "empty.html"
        self.run_command("genrescore", "--html", str(path), "title:waiting")
        text = path.read_text()
        assert "None of the 1 tracks of query <code>title:waiting</code>" in text
        assert "<svg" not in text


def _figure(page: str, chart: str) -> str:
    """The ``<svg>`` of one chart of the page."""
    start = page.index(f'<figure id="chart-{chart}">')
    return page[start : page.index("</figure>", start)]


_TEXT = re.compile(r'<text style="([^"]*)" x="([-\d.]+)" y="([-\d.]+)"[^>]*>([^<]*)</text>')
_BAR = re.compile(r'<path d="M ([-\d.]+) ([-\d.]+)\s+L ([-\d.]+) ([-\d.]+)\s+L ([-\d.]+) ([-\d.]+)')


def bar_labels(svg: str) -> dict[str, int]:
    """A horizontal bar chart's numbers as drawn: each bar's label (the y tick label at its
    height) -> the number written at the end of the bar."""
    ticks, numbers = [], []
    for style, _, y, text in _TEXT.findall(svg):
        if "text-anchor: end" in style:
            ticks.append((float(y), html.unescape(text)))
        elif "text-anchor: start" in style:
            numbers.append((float(y), int(text)))
    assert len(ticks) == len(numbers)
    # The tick label and the bar's number share the bar's centre line (within a few px).
    drawn = {}
    for y, number in numbers:
        distance, label = min((abs(y - tick_y), label) for tick_y, label in ticks)
        assert distance < 5
        drawn[label] = number
    return drawn


def histogram(svg: str) -> list[float]:
    """A bar chart's bar heights, left to right, in pixels."""
    bars = []
    for match in re.finditer(r'<path d="([^"]*)"[^>]*style="fill: #3a6ea5', svg):
        (x0, y0, _, _, _, y1) = (float(v) for v in _BAR.match(f'<path d="{match[1]}').groups())
        bars.append((x0, abs(y0 - y1)))
    return [height for _, height in sorted(bars)]


class TestReportNumbers(PluginTestHelper):
    """The numbers the page shows are the library's, counted here from the items."""

    plugin: ClassVar[str] = "genrescore"

    def test_the_charts_and_table_show_the_librarys_counts(self) -> None:
        fill_library(self.lib, 300)
        for n in range(7):
            self.add_item(title=f"not analysed {n}")
        path = self.temp_path / "report.html"
        self.run_command("genrescore", "--html", str(path))
        page = path.read_text()

        items = list(self.lib.items())
        analysed = [item for item in items if item.get("genrescore_genre")]
        assert len(analysed) == 300
        assert "300 of 307 tracks of the whole library analysed" in page

        genres = Counter(item.genrescore_genre for item in analysed)
        assert bar_labels(_figure(page, "genres")) == dict(genres)
        instruments = Counter(
            name for item in analysed for name in set(item.genrescore_instruments)
        )
        assert bar_labels(_figure(page, "instruments")) == dict(instruments)
        methods = Counter(item.genrescore_method for item in analysed)
        assert bar_labels(_figure(page, "methods")) == dict(methods)

        # The histogram: 20 bins of 0.05, [0, 0.05) first, 1.0 in the last; written out.
        bins = [0] * 20
        for item in analysed:
            bins[min(int(item.genrescore_confidence / 0.05 + 1e-9), 19)] += 1
        heights = histogram(_figure(page, "confidence"))
        assert len(heights) == 20
        scale = max(heights) / max(bins)
        assert heights == pytest.approx([count * scale for count in bins], abs=0.01)

        # The table: the 200 least confident, by their confidence and id.
        rows = re.findall(r'<tr><td class="num" data-value="([\d.]+)">.*?data-value="(\d+)">', page)
        expected = sorted((item.genrescore_confidence, item.id) for item in analysed)[:200]
        assert sorted((float(c), int(i)) for c, i in rows) == expected

    def test_the_reliability_diagram_and_calibration_error_are_the_librarys(self) -> None:
        from beetsplug.genrescore.insight import lastgenre_tree
        from beetsplug.genrescore.library import user_genres
        from beetsplug.genrescore.scoring.evaluate import accepted

        fill_library(self.lib, 300)
        path = self.temp_path / "report.html"
        self.run_command("genrescore", "--html", str(path))
        page = path.read_text()

        # Counted here: each analysed item with genres of its own, by confidence in bins of
        # 0.1 (1.0 in the last), right when its top-1 lies on the line of one of its genres.
        tree = lastgenre_tree()
        bins: dict[int, list[tuple[float, bool]]] = {}
        for item in self.lib.items():
            mine = list(user_genres(item))
            ok = accepted(mine, tree)
            if not mine or not ok:
                continue
            right = item.genrescore_genre.lower() in ok
            b = min(int(item.genrescore_confidence * 10 + 1e-9), 9)
            bins.setdefault(b, []).append((item.genrescore_confidence, right))
        compared = sum(len(v) for v in bins.values())
        assert compared > 100
        ece = sum(
            len(v) / compared * abs(sum(c for c, _ in v) / len(v) - sum(r for _, r in v) / len(v))
            for v in bins.values()
        )
        shown = re.search(r'<b id="calibration-error">([\d.]+)</b> over ([\d,]+) tracks', page)
        assert shown is not None
        assert float(shown[1]) == pytest.approx(ece, abs=0.0005)
        assert int(shown[2].replace(",", "")) == compared

        svg = _figure(page, "reliability")
        # The bar labels (right/items) left to right, one per non-empty bin.
        labels = sorted(
            (float(x), text)
            for _, x, _, text in _TEXT.findall(svg)
            if re.fullmatch(r"\d+/\d+", text)
        )
        expected = [f"{sum(r for _, r in bins[b])}/{len(bins[b])}" for b in sorted(bins)]
        assert [text for _, text in labels] == expected
        # The bars' heights are the share right on one scale (the y axis is fixed at 0-1.1).
        shares = [sum(r for _, r in bins[b]) / len(bins[b]) for b in sorted(bins)]
        heights = histogram(svg)
        assert len(heights) == len(shares)
        scale = max(heights) / max(shares)
        assert heights == pytest.approx([share * scale for share in shares], abs=0.01)

    def test_no_reliability_diagram_without_genres_of_ones_own(self) -> None:
        fill_library(self.lib, 50)
        for item in self.lib.items():
            if "genres" in item:
                item["genres"] = []
                item.store()
        path = self.temp_path / "report.html"
        self.run_command("genrescore", "--html", str(path))
        page = path.read_text()
        assert "No item has genres of its own" in page
        assert "chart-reliability" not in page
        assert "calibration-error" not in page


def test_the_summary_keeps_the_least_confident_rows_in_bounded_memory() -> None:
    summary = report.Summary(rows=3)
    for index in range(100):
        summary.add(
            genre="Rock",
            confidence=(index * 37 % 100) / 100,
            top=["Rock"],
            instruments=["drums", "drums"],
            method="heuristic",
            item_id=index,
            artist="a",
            title=str(index),
            album="b",
        )
    assert [t.confidence for t in summary.least_confident()] == [0.0, 0.01, 0.02]
    assert summary.instruments["drums"] == 100  # counted once per track
    assert sum(summary.confidence) == 100


def test_the_browser_is_debians_chromium() -> None:
    # The one scripts/setup installs; playwright is never asked to download its own.
    assert shutil.which("chromium") == CHROMIUM
