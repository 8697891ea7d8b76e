"""The dev set's manifest stays valid: canonical labels, enough variety, no held-out source."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
from collections import Counter

import numpy as np
import pytest

from beetsplug.genrescore.scoring.taxonomy import ancestors
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
    "general-midi",
    "general_midi",
    "generaluser",
    "timidity",
    ".sf2",
    "sonicpi",
    "sonic_pi",
    "gtzan",
    "genres_original",
)
#: A GTZAN-style file name (``blues.00001.wav``): no copy of GTZAN in any form.
GTZAN_NAME = re.compile(r"(blues|classical|country|disco|hiphop|jazz|metal|pop|reggae|rock)\.\d{5}")
#: librosa's "Vibe Ace" is in the held-out set too: its two old rows stay, no more.
VIBE_ACE_ROWS = 2
#: Genres the real recordings must cover, and how many clips each at least.
REAL_GENRES = (
    "blues",
    "classical",
    "country",
    "disco",
    "hip hop",
    "jazz",
    "heavy metal",
    "pop",
    "reggae",
    "rock",
    "electronic",
    "folk",
)
#: The floor per genre that the dev set holds today (the goal is 8 or more each; see
#: devset/README.md for the genres still short of it).
MIN_REAL_PER_GENRE = {
    "blues": 9,
    "classical": 13,
    "country": 17,
    "disco": 16,
    "hip hop": 13,
    "jazz": 16,
    "heavy metal": 24,
    "pop": 18,
    "reggae": 16,
    "rock": 16,
    "electronic": 33,
    "folk": 13,
}


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    return load_manifest(require_audio=False)


def test_enough_clips_genres_and_instruments(clips: list[Clip]) -> None:
    assert len(clips) >= 270
    assert len({c.genre for c in clips if c.genre}) >= 8
    assert len({n for c in clips for n in c.instruments}) >= 15


def _rows() -> list[dict[str, str]]:
    with MANIFEST.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_no_held_out_source() -> None:
    vibe_ace = 0
    for row in _rows():
        text = f"{row['source']} {row['path']} {row['label_source']} {row['notes']}".lower()
        hits = [name for name in HELD_OUT if name in text]
        assert not hits, f"{row['id']} comes from a held-out source: {hits}"
        assert not GTZAN_NAME.search(row["path"].lower()), f"{row['id']}: a GTZAN-style file"
        vibe_ace += "vibe_ace" in row["path"].lower() or "vibe ace" in row["path"].lower()
    assert vibe_ace <= VIBE_ACE_ROWS


def test_held_out_check_catches_each_source() -> None:
    """The check itself: every held-out name and a GTZAN file name are caught."""
    paths = [
        "usr/share/gcompris/music/a.ogg",
        "github:wesnoth/wesnoth@1 data/core/music/x.ogg",
        "debian:openclonk-data@1 Music.ocg",
        "widelands/music/x.ogg",
        "freedroid/sound/music.ogg",
        "debian:nexuiz-music@1 a.ogg",
        "xonotic/sound/cdtracks/a.ogg",
        "supertuxkart/music/a.ogg",
        "sonic-pi/etc/samples/loop_amen.flac",
        "stk/rawwaves/a.raw",
        "renders/FluidR3_GM.sf2/a.wav",
        "gtzan/genres/blues/blues.00001.wav",
        "data/genres_original/jazz/a.wav",
    ]
    for path in paths:
        text = path.lower()
        assert any(name in text for name in HELD_OUT) or GTZAN_NAME.search(text), path
    assert GTZAN_NAME.search("music/reggae.00042.au")
    assert not GTZAN_NAME.search("mp3/Yuanan_-_Miedo_-_Yuanan.mp3")


def test_rows_are_reproducible() -> None:
    rows = _rows()
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

    rows = {row["id"]: row for row in _rows()}
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


def test_committed_clips_match_the_manifest() -> None:
    clips_dir = MANIFEST.parent / "clips"
    listed = set()
    for row in _rows():
        if not row["clip_sha256"]:
            continue
        clip = clips_dir / f"{row['id']}.opus"
        listed.add(clip.name)
        assert clip.is_file(), clip
        assert hashlib.sha256(clip.read_bytes()).hexdigest() == row["clip_sha256"], row["id"]
    assert {p.name for p in clips_dir.glob("*.opus")} == listed


#: Committed clips whose sources are full band (the incompetech download, a 44.1 kHz song
#: pack mp3, a sequenced phrase of 48 kHz samples): content above 15 kHz must survive the cut.
FULL_BAND_CLIPS = ("km-aurea-carmina-a", "usdx-coulton-better", "seq-bagpipes-a")


def _band_db(path: str, low: float, high: float, rate: int = 48000) -> float:
    """Share of the clip's power between ``low`` and ``high`` Hz, in dB (decoded by ffmpeg)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-ac", "1", "-ar", str(rate)]
    raw = subprocess.run([*cmd, "-f", "f32le", "-"], check=True, capture_output=True).stdout
    y = np.frombuffer(raw, dtype=np.float32)
    n = 4096
    frames = np.stack([y[i : i + n] * np.hanning(n) for i in range(0, len(y) - n, n // 2)])
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    band = power[(freqs >= low) & (freqs < high)].sum()
    return float(10 * np.log10(band / power.sum() + 1e-30))


def test_committed_clips_are_full_band() -> None:
    """The clips are cut at full band: the taggers read mel bands up to 15 kHz (EfficientAT
    at 32 kHz), and a clip resampled to 22.05 kHz has nothing above 11 kHz (-120 dB)."""
    clips_dir = MANIFEST.parent / "clips"
    for clip_id in FULL_BAND_CLIPS:
        share = _band_db(str(clips_dir / f"{clip_id}.opus"), 15000, 20000)
        assert share > -70, (clip_id, share)


def test_every_clip_names_its_group_and_the_vocals_are_labelled(clips: list[Clip]) -> None:
    """Folds are split by ``group`` (artist or album); sung genres carry a vocals label."""
    assert all(c.group for c in clips)
    real = [c for c in clips if c.origin == "recorded" and c.genre]
    groups = {c.group for c in real}
    assert len(groups) >= 20
    vocal = [c for c in clips if c.vocals == "vocal"]
    assert len(vocal) >= 30
    assert sum(c.vocals == "instrumental" and c.origin == "recorded" for c in clips) >= 60


def real_genre_counts(clips: list[Clip]) -> Counter[str]:
    """Real recordings per genre of REAL_GENRES; a sub-genre not listed there counts for its
    nearest listed parent (``punk rock`` for ``rock``, ``bluegrass`` for ``country``)."""
    counts: Counter[str] = Counter()
    for clip in clips:
        if clip.origin != "recorded" or not clip.genre:
            continue
        listed = [g for g in (clip.genre, *ancestors(clip.genre)) if g in REAL_GENRES]
        if listed:
            counts[listed[0]] += 1
    return counts


def test_real_recordings_cover_the_genres(clips: list[Clip]) -> None:
    counts = real_genre_counts(clips)
    for genre in REAL_GENRES:
        assert counts[genre] >= MIN_REAL_PER_GENRE[genre], (genre, counts[genre])
