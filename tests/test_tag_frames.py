"""The file tags as other players and taggers see them: the raw frames the README documents.

``test_plugin.TestTagRoundTrip`` writes and reads back through the same mediafile field
definitions, so a renamed frame would still read back. Here the frames are read with mutagen
alone (ID3 ``TXXX:GENRESCORE_*``, the MP4 freeform atom ``----:com.apple.iTunes:GENRESCORE_*``,
repeated Vorbis comment keys, ASF ``GenreScore/GENRESCORE_*`` attributes), files tagged that
way by another tool read in beets, and files tagged by the previous release
(``tests/data/tagged_by_05a235d``, ``scripts/make_tag_fixtures``) still read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import mutagen
import pytest
from beets.library import Item
from beets.test.helper import PluginTestHelper
from mediafile import MediaFile
from mutagen.asf import ASF
from mutagen.id3 import ID3, TXXX
from mutagen.mp4 import MP4, MP4FreeForm

from beetsplug.genrescore import tags

from .audio_files import track

#: The values written, as a user's ``beet ls`` would show them.
VALUES: dict[str, Any] = {
    "genrescore_genre": "Country",
    "genrescore_confidence": 0.2697,
    "genrescore_top3": ["Country", "Hip Hop", "Bluegrass"],
    "genrescore_instruments": ["violin", "harmonica"],
    "genrescore_method": "hybrid_ml_instrument",
    "genrescore_bpm": 168.2,
    "genrescore_mood": ["happy", "exciting"],
    "genrescore_vocals": "vocal",
    "genrescore_vocals_score": 0.7312,
}
#: The same values as the text a tag holds (lists: one value each, in order).
TEXT: dict[str, list[str]] = {
    "GENRESCORE_GENRE": ["Country"],
    "GENRESCORE_CONFIDENCE": ["0.2697"],
    "GENRESCORE_TOP3": ["Country", "Hip Hop", "Bluegrass"],
    "GENRESCORE_INSTRUMENTS": ["violin", "harmonica"],
    "GENRESCORE_METHOD": ["hybrid_ml_instrument"],
    "GENRESCORE_BPM": ["168.2"],
    "GENRESCORE_MOOD": ["happy", "exciting"],
    "GENRESCORE_VOCALS": ["vocal"],
    "GENRESCORE_VOCALS_SCORE": ["0.7312"],
}
#: Every format family the README lists, by the extension that selects it.
FORMATS = ("mp3", "m4a", "flac", "ogg", "opus", "wma")
FIXTURES = Path(__file__).parent / "data" / "tagged_by_05a235d"


def raw_tags(path: Path) -> dict[str, list[str]]:
    """The genrescore tags of ``path`` as mutagen reads its frames, keyed by the README's
    names (``GENRESCORE_*``), each value as text; nothing of mediafile is involved."""
    fmt = path.suffix.lstrip(".")
    found: dict[str, list[str]] = {}
    if fmt == "mp3":
        for frame in ID3(path).getall("TXXX"):
            if frame.desc.startswith("GENRESCORE_"):
                found[frame.desc] = [str(text) for text in frame.text]
    elif fmt == "m4a":
        for key, values in (MP4(path).tags or {}).items():
            prefix = "----:com.apple.iTunes:"
            if key.startswith(prefix + "GENRESCORE_"):
                found[key.removeprefix(prefix)] = [bytes(value).decode() for value in values]
    elif fmt == "wma":
        for key, values in (ASF(path).tags or {}).items():
            if key.startswith("GenreScore/"):
                found[key.removeprefix("GenreScore/")] = [str(value.value) for value in values]
    else:  # Vorbis comments: FLAC, Ogg Vorbis, Opus
        tags = mutagen.File(path).tags
        for key, value in tags:  # (key, value) pairs: a repeated key comes once per value
            if key.upper().startswith("GENRESCORE_"):
                found.setdefault(key.upper(), []).append(value)
    return found


def write_raw(path: Path, text: dict[str, list[str]]) -> None:
    """Tag ``path`` the way the README documents, with mutagen alone (another tagger)."""
    fmt = path.suffix.lstrip(".")
    if fmt == "mp3":
        tags = ID3(path)
        for key, values in text.items():
            tags.add(TXXX(encoding=3, desc=key, text=values))
        tags.save(path)
    elif fmt == "m4a":
        mp4 = MP4(path)
        assert mp4.tags is not None
        for key, values in text.items():
            mp4.tags[f"----:com.apple.iTunes:{key}"] = [MP4FreeForm(v.encode()) for v in values]
        mp4.save()
    elif fmt == "wma":
        asf = ASF(path)
        assert asf.tags is not None
        for key, values in text.items():
            asf.tags[f"GenreScore/{key}"] = values
        asf.save()
    else:
        vorbis = mutagen.File(path)
        for key, values in text.items():
            vorbis[key] = values
        vorbis.save()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frames")
    return {fmt: track(folder / f"song.{fmt}", "reel", 4.0) for fmt in FORMATS}


class TestFrames(PluginTestHelper):
    plugin: ClassVar[str] = "genrescore"

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_written_tags_are_the_documented_frames(
        self, sources: dict[str, Path], tmp_path: Path, fmt: str
    ) -> None:
        path = Path(shutil.copyfile(sources[fmt], tmp_path / f"song.{fmt}"))
        item = Item.from_path(path)
        item.update(VALUES)
        item.write()
        # What another player sees: every value under its documented name, lists as one
        # value each (not one joined string), nothing else of ours.
        assert raw_tags(path) == TEXT

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_tags_written_by_another_tagger_read_in_beets(
        self, sources: dict[str, Path], tmp_path: Path, fmt: str
    ) -> None:
        path = Path(shutil.copyfile(sources[fmt], tmp_path / f"song.{fmt}"))
        write_raw(path, TEXT)
        item = Item.from_path(path)
        for field, value in VALUES.items():
            assert item.get(field) == value, field


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("song.*")))
class TestPreviousRelease(PluginTestHelper):
    """Files the previous release (05a235d) tagged read the same today."""

    plugin: ClassVar[str] = "genrescore"

    def test_tags_of_the_previous_release_still_read(self, tmp_path: Path, name: str) -> None:
        path = Path(shutil.copyfile(FIXTURES / name, tmp_path / name))
        item = Item.from_path(path)
        for field, value in VALUES.items():
            assert item.get(field) == value, field
        # And they are the documented frames: the fixture is what the release wrote.
        assert raw_tags(path) == TEXT


def test_every_format_the_readme_lists_has_a_fixture_of_the_previous_release() -> None:
    assert sorted(p.suffix.lstrip(".") for p in FIXTURES.glob("song.*")) == sorted(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_declared_fields_write_the_documented_frames(
    sources: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    """``tags.media_fields()`` built afresh (not the copy beets registered when the plugin
    first loaded), written with mediafile alone, read back with mutagen."""

    class Fresh(MediaFile):
        pass

    # The names beets knows the fields by: the plugin's stored fields, one for one.
    assert sorted(tags.media_fields()) == sorted(VALUES)
    for name, field in tags.media_fields().items():
        setattr(Fresh, name, field)
    path = Path(shutil.copyfile(sources[fmt], tmp_path / f"song.{fmt}"))
    media = Fresh(str(path))
    for name, value in VALUES.items():
        setattr(media, name, value)
    media.save()
    assert raw_tags(path) == TEXT
    again = Fresh(str(path))
    for name, value in VALUES.items():
        assert getattr(again, name) == value, name
