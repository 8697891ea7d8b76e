"""The output fields (``library.FIELDS``): each declared field reaches the database, the file
tags, ``--report``'s JSON and the docs' field table, from a real analysis of a real file."""

from __future__ import annotations

import re
from pathlib import Path

import confuse
import pytest
from beets.library import Item, Library

from beetsplug.genrescore import library, tags
from beetsplug.genrescore.analyzer import Analyzer, TrackResult, load_models, to_json
from beetsplug.genrescore.demo.synth import SR, reel
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import encode
from .test_tag_frames import TEXT, VALUES

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"
RESULT = [field for field in library.FIELDS if field.result]
TAGGED = [field for field in library.FIELDS if field.tag]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> TrackResult:
    # The embedded default: every result field has a value (mood and vocals need YAMNet).
    user = {"jobs": 0}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    analyzer = Analyzer(settings, load_models(settings, print))
    path = encode(reel(12.0), SR, tmp_path_factory.mktemp("fields") / "reel.flac")
    return analyzer.analyze(str(path))


def test_the_tables_are_the_declarations() -> None:
    names = [field.name for field in library.FIELDS]
    assert len(set(names)) == len(names)
    assert list(library.FIELD_TYPES) == names
    assert tuple(field.name for field in RESULT) == library.RESULT_FIELDS
    assert all(field.result for field in TAGGED)  # a tag is a result's


def test_every_result_field_reaches_the_database(
    result: TrackResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Item, "_types", {**Item._types, **library.FIELD_TYPES})
    lib = Library(str(tmp_path / "library.db"))
    item = Item(path=b"/music/reel.flac", title="reel")
    lib.add(item)
    values = library.result_values(result, "fp")
    assert set(library.RESULT_FIELDS) <= set(values)
    assert set(values) <= set(library.FIELD_TYPES)
    item.update(values)
    item.store()
    stored = Library(str(tmp_path / "library.db")).get_item(item.id)
    for name in library.RESULT_FIELDS:
        assert values[name] is not None, name  # the embedded default sets every one
        assert stored[name] == values[name], name


def test_every_tagged_field_is_a_file_tag_with_its_frames_checked() -> None:
    fields = tags.media_fields()
    assert list(fields) == [field.name for field in TAGGED]
    # test_tag_frames writes each one in every format and reads the raw frames back.
    assert set(VALUES) == set(fields)
    assert set(TEXT) == {field.name.upper() for field in TAGGED}


def test_every_result_field_is_in_the_report(result: TrackResult) -> None:
    report = to_json(result)
    for field in RESULT:
        assert field.report is not None, field.name
        assert report[field.report] is not None, field.name


def test_the_docs_table_lists_every_field_with_its_tag() -> None:
    text = DOCS.read_text()
    section = text[text.index("## What is stored") :]
    rows = {
        match[1]: match[2].strip()
        for match in re.finditer(r"^\| `(genrescore_\w+)` \|.*\| (.+) \|$", section, re.M)
    }
    assert set(rows) == {field.name for field in RESULT}
    for field in RESULT:
        assert rows[field.name] == (f"`{field.name.upper()}`" if field.tag else "-"), field.name
