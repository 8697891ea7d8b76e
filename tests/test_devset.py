"""The dev set's manifest stays valid: canonical labels, enough variety, no held-out source."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from benchmarks.devset import MANIFEST, Clip, load_manifest

#: Sources of the held-out test set (and what derives from them): never in the dev set.
HELD_OUT = (
    "gcompris",
    "wesnoth",
    "openclonk",
    "widelands",
    "freedroid",
    "nexuiz",
    "xonotic",
    "supertuxkart",
    "sonic-pi",
    "stk",
    "soundfont",
    "fluid",
    "freepats",
)


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    return load_manifest(require_audio=False)


def test_enough_clips_genres_and_instruments(clips: list[Clip]) -> None:
    assert len(clips) >= 60
    assert len({c.genre for c in clips if c.genre}) >= 8
    assert len({n for c in clips for n in c.instruments}) >= 15


def test_no_held_out_source() -> None:
    with MANIFEST.open(newline="") as handle:
        for row in csv.DictReader(handle):
            text = f"{row['source']} {row['path']}".lower()
            hits = [name for name in HELD_OUT if name in text]
            assert not hits, f"{row['id']} comes from a held-out source: {hits}"


def test_rows_are_reproducible() -> None:
    with MANIFEST.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    kinds = Counter(row["kind"] for row in rows)
    assert set(kinds) <= {"cut", "mix", "sequence", "drums", "arrange"}
    for row in rows:
        sources = row["source"].split("|")
        for source in sources:
            assert source.split(":", 1)[0] in ("debian", "github"), row["id"]
            assert "@" in source, row["id"]
        if len(sources) > 1:
            assert row["kind"] == "arrange", row["id"]
            for entry in row["path"].split("|"):
                index, _, _ = entry.partition(":")
                assert index.isdigit(), (row["id"], entry)
                assert int(index) < len(sources), (row["id"], entry)
        assert len(row["path"].split("|")) == len(row["sha256"].split("|")), row["id"]
        assert all(len(h) == 64 for h in row["sha256"].split("|")), row["id"]
        if any(source.startswith("github:") for source in sources):
            assert len(row["clip_sha256"]) == 64, row["id"]
        assert row["licence"], row["id"]
        assert row["label_source"], row["id"]
        duration = float(row["duration"])
        assert 10 <= duration <= 30 or row["id"] == "lib-trumpet", row["id"]


def test_sequenced_clips_are_marked_and_have_recipes(clips: list[Clip]) -> None:
    from devset.sequence import RECIPES

    with MANIFEST.open(newline="") as handle:
        rows = {row["id"]: row for row in csv.DictReader(handle)}
    arranged = {i for i, row in rows.items() if row["kind"] == "arrange"}
    assert arranged <= set(RECIPES)
    for clip_id in arranged:
        row = rows[clip_id]
        assert row["notes"] == "sequenced", clip_id
        assert row["label_source"].startswith("sequenced from"), clip_id
        assert float(row["duration"]) == RECIPES[clip_id].seconds, clip_id
    origins = {c.id: c.origin for c in clips}
    assert all(origins[i] == "sequenced" for i in arranged)
    assert all(origins[i] == "recorded" for i, r in rows.items() if r["kind"] in ("cut", "mix"))


def test_covers_the_genres_and_instruments_that_matter(clips: list[Clip]) -> None:
    genres = Counter(c.genre for c in clips)
    for genre in ("country", "bluegrass", "folk", "blues", "jazz"):
        assert genres[genre] >= 2, genre
    instruments = Counter(n for c in clips for n in c.instruments)
    wanted = ("banjo", "mandolin", "acoustic guitar", "double bass", "bagpipes", "clarinet")
    for name in (*wanted, "trombone", "saxophone", "violin", "trumpet"):
        assert instruments[name] >= 2, name


def test_covers_the_fiddle_and_brass_cases(clips: list[Clip]) -> None:
    """Fiddle in bluegrass/country bands, solo fiddle, trumpet in jazz combos with a sax."""
    fiddle_bands = [
        c for c in clips if "violin" in c.instruments and c.genre in ("bluegrass", "country")
    ]
    assert sum(c.genre == "bluegrass" for c in fiddle_bands) >= 2
    assert any("banjo" in c.instruments for c in fiddle_bands)
    assert sum(c.instruments == ("violin",) and c.origin == "sequenced" for c in clips) >= 2
    brass_jazz = [
        c
        for c in clips
        if c.genre == "jazz" and {"trumpet", "saxophone"} <= set(c.instruments) and c.complete
    ]
    assert len(brass_jazz) >= 2
