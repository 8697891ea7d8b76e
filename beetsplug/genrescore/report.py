"""One self-contained HTML page on what genrescore found across a library (``--html``).

The page needs no network when it is viewed: the charts are inline SVG drawn by matplotlib
(text kept as ``<text>``, so it stays small and searchable; the viewer's own sans-serif font
shows it), the table sorts with a few lines of inline script, and nothing is linked.

Its size does not grow with the library: every chart is drawn from counts
(:class:`Summary` accumulates them item by item, in bounded memory), and the table lists only
the :data:`LEAST_CONFIDENT_ROWS` least confident tracks. ``benchmarks/report.py`` measures
size, build and render time at 50,000 tracks.

Beets stays out of it: ``insight.py`` reads the items and feeds the summary.
"""

from __future__ import annotations

import heapq
import html
import io
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .scoring.evaluate import Evaluation, format_evaluation
from .scoring.taxonomy import display_name

#: Rows of the "check these by hand" table. A user checks a few hundred tracks by hand at
#: most; past that, ``beet ls genrescore_confidence:..0.3`` lists them all. Bounding it keeps
#: the page's size and render time independent of the library's size.
LEAST_CONFIDENT_ROWS = 200
#: Confidence histogram bins over [0, 1].
CONFIDENCE_BINS = 20
#: Instruments shown in the frequency chart and the heatmap's columns, most frequent first
#: (the vocabulary has 37; all fit, the limit only guards a future larger one).
INSTRUMENTS_SHOWN = 40
#: Chart width in inches at matplotlib's 72 points per inch: about 720 px, the page's column.
CHART_WIDTH = 10.0
#: Inches per bar in the horizontal bar charts, so that labels never overlap.
BAR_HEIGHT = 0.28
COLOR = "#3a6ea5"
COLOR_2 = "#e08a2c"


@dataclass(frozen=True)
class Track:
    """One row of the least-confident table."""

    confidence: float
    item_id: int
    artist: str
    title: str
    album: str
    top: tuple[str, ...]


@dataclass
class Summary:
    """Counts over a library's items, added one at a time (memory bounded by vocabularies)."""

    rows: int = LEAST_CONFIDENT_ROWS
    items: int = 0
    analysed: int = 0
    genres: Counter[str] = field(default_factory=Counter)
    confidence: list[int] = field(default_factory=lambda: [0] * CONFIDENCE_BINS)
    instruments: Counter[str] = field(default_factory=Counter)
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    _least: list[tuple[float, int, Track]] = field(default_factory=list)
    _order: Any = field(default_factory=itertools.count)

    def add(
        self,
        *,
        genre: str,
        confidence: float,
        top: Sequence[str],
        instruments: Sequence[str],
        method: str,
        item_id: int,
        artist: str,
        title: str,
        album: str,
    ) -> None:
        """Count one item; ``genre`` empty when it has not been analysed."""
        self.items += 1
        if not genre:
            return
        self.analysed += 1
        self.genres[genre] += 1
        index = min(int(confidence * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)
        self.confidence[max(index, 0)] += 1
        for instrument in dict.fromkeys(instruments):
            self.instruments[instrument] += 1
            self.pairs[(genre, instrument)] += 1
        self.methods[method or "unknown"] += 1
        # A max-heap of the least confident, by negated confidence: the root is the most
        # confident row kept, the one a less confident track replaces.
        key = (-confidence, -next(self._order))
        if len(self._least) < self.rows or key > self._least[0][:2]:
            track = Track(confidence, item_id, artist, title, album, tuple(top))
            if len(self._least) < self.rows:
                heapq.heappush(self._least, (*key, track))
            elif self.rows:
                heapq.heapreplace(self._least, (*key, track))

    def least_confident(self) -> list[Track]:
        """The kept tracks, least confident first."""
        return [entry[2] for entry in sorted(self._least, key=lambda e: (-e[0], -e[1]))]


def _svg(figure: Any, name: str) -> str:
    """A figure as an ``<svg>`` element to inline (no XML prolog, ids unique per chart)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(height: float) -> Any:
    # Figure, not pyplot: no global state, no GUI backend chosen.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(CHART_WIDTH, max(height, 1.6)))
    return figure


def _barh(counts: Sequence[tuple[str, int]], name: str, xlabel: str) -> str:
    figure = _figure(BAR_HEIGHT * len(counts) + 0.9)
    axes = figure.add_subplot()
    labels = [label for label, _ in counts][::-1]
    values = [value for _, value in counts][::-1]
    bars = axes.barh(labels, values, color=COLOR)
    axes.bar_label(bars, padding=3, fontsize=8)
    axes.set_xlabel(xlabel)
    axes.margins(x=0.08)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, name)


def genre_chart(summary: Summary) -> str:
    counts = [(display_name(g), n) for g, n in summary.genres.most_common()]
    return _barh(counts, "genres", "tracks")


def instrument_chart(summary: Summary) -> str:
    counts = summary.instruments.most_common(INSTRUMENTS_SHOWN)
    return _barh(counts, "instruments", "tracks on which it was heard")


def method_chart(summary: Summary) -> str:
    return _barh(summary.methods.most_common(), "methods", "tracks")


def confidence_chart(summary: Summary) -> str:
    figure = _figure(3.0)
    axes = figure.add_subplot()
    width = 1.0 / CONFIDENCE_BINS
    lefts = [i * width for i in range(CONFIDENCE_BINS)]
    axes.bar(lefts, summary.confidence, width=width, align="edge", color=COLOR, edgecolor="white")
    axes.set_xlim(0.0, 1.0)
    # Since issue 22 the stored confidence is the top share read through the Platt map fitted
    # on the dev set (scoring/ensemble.py), where one was fitted for the models and weights.
    axes.set_xlabel("confidence (genrescore_confidence; a probability where calibrated)")
    axes.set_ylabel("tracks")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "confidence")


def heatmap_chart(summary: Summary) -> str:
    """Share of each genre's tracks on which each instrument was heard."""
    genres = [g for g, _ in summary.genres.most_common()]
    instruments = [i for i, _ in summary.instruments.most_common(INSTRUMENTS_SHOWN)]
    shares = [[summary.pairs[(g, i)] / summary.genres[g] for i in instruments] for g in genres]
    figure = _figure(0.3 * len(genres) + 1.8)
    axes = figure.add_subplot()
    mesh = axes.pcolormesh(shares, cmap="Blues", vmin=0.0, vmax=1.0, edgecolors="white")
    axes.set_xticks([x + 0.5 for x in range(len(instruments))], instruments, rotation=60)
    axes.set_yticks([y + 0.5 for y in range(len(genres))], [display_name(g) for g in genres])
    axes.tick_params(axis="x", labelsize=8)
    for label in axes.get_xticklabels():
        label.set_horizontalalignment("right")
    axes.invert_yaxis()
    figure.colorbar(mesh, ax=axes, label="share of the genre's tracks", fraction=0.03)
    return _svg(figure, "heatmap")


def agreement_chart(evaluation: Evaluation) -> str:
    scores = [s for s in evaluation.per_genre if s.predicted or s.labelled]
    figure = _figure(BAR_HEIGHT * 2 * len(scores) + 1.0)
    axes = figure.add_subplot()
    ys = list(range(len(scores)))[::-1]
    # No bar (NaN) where a rate is undefined: a genre never predicted has no precision,
    # which is not a precision of 0.
    nan = float("nan")
    precision = [nan if s.precision is None else 100.0 * s.precision for s in scores]
    recall = [nan if s.recall is None else 100.0 * s.recall for s in scores]
    axes.barh([y + 0.2 for y in ys], precision, height=0.4, color=COLOR, label="precision")
    axes.barh([y - 0.2 for y in ys], recall, height=0.4, color=COLOR_2, label="recall")
    # Every bar says its value, so that 0 % and "undefined" (-) are told apart.
    for y, values in ((0.2, precision), (-0.2, recall)):
        for base, value in zip(ys, values, strict=True):
            text = "-" if value != value else f"{value:.0f} %"  # NaN != NaN
            at = 0.0 if value != value else value
            axes.text(at + 1.0, base + y, text, va="center", fontsize=7)
    axes.set_yticks(ys, [display_name(s.genre) for s in scores])
    axes.set_xlim(0, 108)
    axes.set_xlabel("% (top-1, a sub-genre counting for its parent; -: no track to count)")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "agreement")


def reliability_chart(evaluation: Evaluation) -> str:
    """Share of the tracks genrescore got right (top-1 against your genres) in each
    confidence bin, against the diagonal a calibrated confidence would follow."""
    figure = _figure(3.4)
    axes = figure.add_subplot()
    bins = evaluation.reliability
    width = [b.high - b.low for b in bins]
    bars = axes.bar(
        [b.low for b in bins],
        [b.accuracy for b in bins],
        width=width,
        align="edge",
        color=COLOR,
        edgecolor="white",
    )
    # Each bar says how many of its tracks were right, so that a bin of 2 is not read as
    # firmly as a bin of 2,000.
    for bar, b in zip(bars, bins, strict=True):
        axes.text(
            bar.get_x() + bar.get_width() / 2,
            b.accuracy + 0.02,
            f"{b.right}/{b.items}",
            ha="center",
            fontsize=7,
        )
    axes.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color=COLOR_2, label="calibrated")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.1)
    axes.set_xlabel("confidence (genrescore_confidence)")
    axes.set_ylabel("share whose top-1 agrees")
    axes.legend(loc="upper left", frameon=False, fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "reliability")


def _reliability(evaluation: Evaluation) -> str:
    error = evaluation.calibration_error
    if error is None:
        return ""
    return (
        "<h3>Is the confidence a probability?</h3>"
        f'<p class="numbers">Expected calibration error <b id="calibration-error">{error:.3f}'
        f"</b> over {evaluation.compared:,} tracks with genres of their own: among the tracks "
        "shown with confidence 0.8, about 80 % should agree with your genres, and the "
        "error is the average gap, weighted by the tracks in each bin "
        f"({len(evaluation.reliability)} bins with tracks, of width 0.1).</p>"
        f'<figure id="chart-reliability">{reliability_chart(evaluation)}</figure>'
    )


_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 62em; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
section svg { max-width: 100%; height: auto; }
.numbers { font-size: 1.1em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { text-align: left; padding: 0.25em 0.5em; border-bottom: 1px solid #ddd; }
th { cursor: pointer; background: #f3f3f3; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""

# Sorting by a click on a header: numbers by value (data-value), text by locale order.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach((th, column) => {
  th.addEventListener("click", () => {
    const table = th.closest("table");
    const body = table.tBodies[0];
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const key = (row) => row.cells[column].dataset.value ?? row.cells[column].textContent;
    const numeric = th.dataset.type === "number";
    const rows = Array.from(body.rows).sort((a, b) => {
      const x = key(a), y = key(b);
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    body.append(...rows);
  });
});
"""


def _table(tracks: list[Track]) -> str:
    e = html.escape
    rows = []
    for track in tracks:
        rows.append(
            "<tr>"
            f'<td class="num" data-value="{track.confidence:.4f}">{track.confidence:.2f}</td>'
            f"<td>{e(track.artist)}</td><td>{e(track.title)}</td><td>{e(track.album)}</td>"
            f"<td>{e(', '.join(track.top))}</td>"
            f'<td class="num" data-value="{track.item_id}">{track.item_id}</td>'
            "</tr>"
        )
    header = (
        '<tr><th data-type="number" aria-sort="ascending">confidence</th><th>artist</th>'
        '<th>title</th><th>album</th><th>top 3</th><th data-type="number">id</th></tr>'
    )
    return (
        f'<table class="sortable" id="least-confident"><thead>{header}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _agreement(evaluation: Evaluation | None) -> str:
    if evaluation is None or not evaluation.compared:
        return (
            "<p>No item has genres of its own to compare with (genres genrescore wrote "
            "itself do not count).</p>"
        )
    text = html.escape("\n".join(format_evaluation(evaluation)))
    return (
        f'<p class="numbers">Top-1 agreement <b>{100.0 * (evaluation.top1_rate or 0):.1f} %</b>'
        f", top-3 <b>{100.0 * (evaluation.top3_rate or 0):.1f} %</b> over "
        f"{evaluation.compared:,} tracks with genres of their own.</p>"
        f'<figure id="chart-agreement">{agreement_chart(evaluation)}</figure>'
        f"{_reliability(evaluation)}"
        f"<details><summary>The whole evaluation (as <code>beet genrescore --evaluate"
        f"</code> prints it)</summary><pre>{text}</pre></details>"
    )


def render(summary: Summary, evaluation: Evaluation | None = None, *, query: str = "") -> str:
    """The report page as one HTML string."""
    e = html.escape
    scope = f"query <code>{e(query)}</code>" if query else "the whole library"
    if not summary.analysed:
        body = (
            f"<p>None of the {summary.items} tracks of {scope} has been analysed yet: "
            "run <code>beet genrescore</code> first.</p>"
        )
    else:
        tracks = summary.least_confident()
        bound = (
            f"the {len(tracks)} least confident of {summary.analysed:,}"
            if summary.analysed > len(tracks)
            else f"all {len(tracks)}"
        )
        none = "<p>No instrument was detected (no instrument tagger ran).</p>"
        instruments = instrument_chart(summary) if summary.instruments else none
        heatmap = heatmap_chart(summary) if summary.instruments else none
        body = f"""
<p class="numbers">{summary.analysed:,} of {summary.items:,} tracks of {scope} analysed.</p>
<section><h2>Genres</h2><figure id="chart-genres">{genre_chart(summary)}</figure></section>
<section><h2>Confidence</h2>
<figure id="chart-confidence">{confidence_chart(summary)}</figure></section>
<section><h2>Instruments</h2>
<figure id="chart-instruments">{instruments}</figure></section>
<section><h2>Instruments by genre</h2>
<figure id="chart-heatmap">{heatmap}</figure></section>
<section><h2>Methods (which models decided)</h2>
<figure id="chart-methods">{method_chart(summary)}</figure></section>
<section id="agreement"><h2>Agreement with your own genres</h2>
{_agreement(evaluation)}</section>
<section><h2>Least confident tracks</h2>
<p>Check these by hand: {bound} (the page stays small for any library; all of them:
<code>beet ls genrescore_confidence:..0.3</code>). Click a header to sort.</p>
{_table(tracks)}</section>"""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>genrescore report</title><style>{_STYLE}</style></head>
<body><h1>genrescore report</h1>{body}
<script>{_SCRIPT}</script></body></html>
"""
