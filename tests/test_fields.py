"""The output fields (``library.FIELDS``): each declared field has its computation, reaches
the database, the file tags (under its names per format), ``--report``'s JSON and the docs'
field table, from a real analysis of a real file through ``beet genrescore``; and only what
was measured is stored or written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from beets.library import Item
from mediafile import MediaFile

from beetsplug.genrescore import library, tags

from .audio_files import copy
from .test_plugin import GenrescoreTestHelper
from .test_tag_frames import TEXT, VALUES, raw_tags, write_raw

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"
RESULT = [field for field in library.FIELDS if field.result]
TAGGED = [field for field in library.FIELDS if field.tag is not None]

#: Every result field measured: a genre model and an AudioSet tagger (mood, vocals).
EVERY_MODEL = {"models": {"genre": "musicnn-msd", "instruments": "yamnet"}, "jobs": 0}
#: An AudioSet tagger alone (mood, vocals), and MagnaTagATune's tagger (neither).
AUDIOSET = {"models": {"genre": "none", "instruments": "yamnet"}, "jobs": 0}
MTT = {"models": {"genre": "none", "instruments": "musicnn-mtt"}, "jobs": 0}
#: The tags only an AudioSet tagger measures (a mood only when one is heard).
AUDIOSET_TAGS = {"GENRESCORE_MOOD", "GENRESCORE_VOCALS", "GENRESCORE_VOCALS_SCORE"}
VOCALS_TAGS = {"GENRESCORE_VOCALS", "GENRESCORE_VOCALS_SCORE"}


def test_the_tables_are_the_declarations() -> None:
    names = [field.name for field in library.FIELDS]
    assert len(set(names)) == len(names)
    assert list(library.FIELD_TYPES) == names
    assert tuple(field.name for field in RESULT) == library.RESULT_FIELDS
    for field in RESULT:  # a result's field says how it is computed, from one place
        assert (field.of_result is None) != (field.of_decision is None), field.name
    assert all(field.result for field in TAGGED)  # a tag is a result's
    assert {field.measured_with for field in library.FIELDS} - {None} <= set(names)
    # decision_values is what a re-blend stores: the blend's fields, nothing else.
    blended = {field.name for field in library.FIELDS if field.of_decision is not None}
    assert blended == {library.GENRE, library.CONFIDENCE, library.TOP, library.INSTRUMENTS,
                       library.SCORES}  # fmt: skip


def test_every_tagged_field_is_a_file_tag_under_its_declared_names() -> None:
    fields = tags.media_fields()
    assert list(fields) == [field.name for field in TAGGED]
    # test_tag_frames writes each one in every format and reads the raw frames back, by the
    # names the README documents; they are the ones declared.
    assert set(VALUES) == set(fields)
    assert set(TEXT) == {field.tag.key for field in TAGGED if field.tag is not None}
    for field in TAGGED:
        assert field.tag is not None
        key = field.tag.key
        assert key == field.name.upper()
        assert field.tag.names == {
            "id3": key,
            "mp4": f"----:com.apple.iTunes:{key}",
            "vorbis": key,
            "asf": f"GenreScore/{key}",
        }


def test_the_docs_table_lists_every_field_with_its_tag() -> None:
    text = DOCS.read_text()
    section = text[text.index("## What is stored") :]
    rows = {
        match[1]: match[2].strip()
        for match in re.finditer(r"^\| `(genrescore_\w+)` \|.*\| (.+) \|$", section, re.M)
    }
    assert set(rows) == {field.name for field in RESULT}
    for field in RESULT:
        tag = f"`{field.tag.key}`" if field.tag is not None else "-"
        assert rows[field.name] == tag, field.name


def _tag_value(field: library.OutputField, text: list[str]) -> Any:
    """A raw tag's text as the field's value."""
    assert field.tag is not None
    if field.tag.multi:
        return text
    (value,) = text
    return float(value) if field.type.model_type is float else value


class TestEveryField(GenrescoreTestHelper):
    @pytest.mark.parametrize("name", ["techno.mp3", "classical.m4a", "rock.ogg"])
    def test_a_real_analysis_reaches_the_database_the_file_and_the_report(
        self, audio_dir: Path, tmp_path: Path, name: str
    ) -> None:
        item = Item.from_path(copy(audio_dir / name, self.lib_path / name))
        item.add(self.lib)
        self.configure(**EVERY_MODEL)
        report = tmp_path / "report.jsonl"
        self.run_command("genrescore", "-w", "--report", str(report))
        item.load()
        (entry,) = [json.loads(line) for line in report.read_text().splitlines()]
        written = raw_tags(item.filepath)
        measured = {field.name for field in RESULT if item.get(field.name) not in (None, [])}
        # Everything but a mood (heard on these only sometimes) and instruments (the same).
        assert measured >= set(library.RESULT_FIELDS) - {library.MOOD, library.INSTRUMENTS}
        for field in RESULT:
            if field.name not in measured:
                continue
            assert field.report is not None
            assert entry[field.report.key] is not None, field.name
            if field.tag is not None:
                assert _tag_value(field, written[field.tag.key]) == item[field.name], field.name
        assert set(written) == {
            field.tag.key for field in TAGGED if field.tag and field.name in measured
        }
        for name_ in (library.FINGERPRINT, library.AUDIO_FILE, library.EVIDENCE, library.BLEND):
            assert item.get(name_), name_


class TestOnlyWhatWasMeasured(GenrescoreTestHelper):
    """A value genrescore did not measure is in neither the library nor the file: not a
    null beets read from a file without the tag, nor a value an earlier analysis with
    another model measured (docs/configuration.md, "What is stored")."""

    @pytest.mark.parametrize("name", ["techno.mp3", "classical.m4a", "reel.flac"])
    def test_analysed_again_without_an_audioset_tagger_drops_mood_and_vocals(
        self, audio_dir: Path, name: str
    ) -> None:
        item = Item.from_path(copy(audio_dir / name, self.lib_path / name))
        item.add(self.lib)
        self.configure(**AUDIOSET)
        self.run_command("genrescore", "-w")
        assert set(raw_tags(item.filepath)) >= VOCALS_TAGS
        self.unload_plugins()
        self.configure(**MTT)
        self.run_command("genrescore", "-w")
        item.load()
        assert item.genrescore_method.endswith(":musicnn-mtt")
        for field in ("genrescore_mood", "genrescore_vocals", "genrescore_vocals_score"):
            assert field not in item.keys(with_album=False), field
        written = raw_tags(item.filepath)
        assert not AUDIOSET_TAGS & set(written), written
        assert written["GENRESCORE_GENRE"] == [item.genrescore_genre]

    def test_nulls_read_on_import_are_not_written_back(self, audio_dir: Path) -> None:
        # beets reads every registered tag of an imported file; one it lacks is a null
        # (0.0, "", []) on the item, which a later write (here `beet modify`) wrote out:
        # GENRESCORE_BPM 0.0, GENRESCORE_VOCALS_SCORE 0.0000 on a file never analysed.
        incoming = copy(audio_dir / "rock.ogg", self.temp_path / "incoming" / "rock.ogg")
        self.configure(auto=False)
        self.config["import"]["write"] = True
        self.run_command("import", "-A", "-q", "-s", str(incoming.parent))
        (item,) = self.lib.items()
        assert not [key for key in item.keys(with_album=False) if key in library.FIELD_TYPES]
        self.run_command("modify", "-y", "-w", "title=Renamed")
        (item,) = self.lib.items()  # moved to its new name
        assert MediaFile(item.filepath).title == "Renamed"  # the file was written
        assert raw_tags(item.filepath) == {}

    def test_values_a_file_holds_are_imported_and_written_back(
        self, audio_dir: Path, tmp_path: Path
    ) -> None:
        # Tagged by genrescore on another machine: the values are measurements, kept.
        source = copy(audio_dir / "rock.ogg", tmp_path / "incoming" / "rock.ogg")
        write_raw(source, {"GENRESCORE_GENRE": ["Rock"], "GENRESCORE_BPM": ["121.5"]})
        self.configure(auto=False)
        self.config["import"]["write"] = True
        self.run_command("import", "-A", "-q", "-s", str(source.parent))
        (item,) = self.lib.items()
        assert (item.genrescore_genre, item.genrescore_bpm) == ("Rock", 121.5)
        assert "genrescore_vocals_score" not in item.keys(with_album=False)
        self.run_command("modify", "-y", "-w", "comments=kept")
        (item,) = self.lib.items()
        assert raw_tags(item.filepath) == {
            "GENRESCORE_GENRE": ["Rock"],
            "GENRESCORE_BPM": ["121.5"],
        }

    def test_a_tagger_that_hears_no_vocals_writes_none(self, audio_dir: Path) -> None:
        incoming = copy(audio_dir / "techno.mp3", self.temp_path / "incoming" / "techno.mp3")
        self.configure(**MTT)
        self.config["import"]["write"] = True
        self.run_command("import", "-A", "-q", "-s", str(incoming.parent))
        assert self.lib.items()[0].genrescore_genre
        self.run_command("modify", "-y", "-w", "title=Renamed")
        (item,) = self.lib.items()
        written = raw_tags(item.filepath)
        assert "GENRESCORE_GENRE" in written
        assert not AUDIOSET_TAGS & set(written), written
