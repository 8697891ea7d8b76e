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
    assert set(kinds) <= {"cut", "mix", "sequence", "drums"}
    for row in rows:
        assert row["source"].split(":", 1)[0] in ("debian", "github"), row["id"]
        assert "@" in row["source"], row["id"]
        assert len(row["path"].split("|")) == len(row["sha256"].split("|")), row["id"]
        assert all(len(h) == 64 for h in row["sha256"].split("|")), row["id"]
        if row["source"].startswith("github:"):
            assert len(row["clip_sha256"]) == 64, row["id"]
        assert row["licence"], row["id"]
        assert row["label_source"], row["id"]
        duration = float(row["duration"])
        assert 10 <= duration <= 30 or row["id"] == "lib-trumpet", row["id"]
