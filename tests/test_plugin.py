"""The plugin in real beets: importer, `beet` commands, a real library, real files."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
from beets.exceptions import UserError
from beets.importer import Action
from beets.library import Item
from beets.test.helper import AutotagImportHelper, ImportHelper, PluginMixin, PluginTestHelper
from mediafile import MediaFile

from beetsplug.genrescore import library
from beetsplug.genrescore.scoring import evidence as codec
from beetsplug.genrescore.scoring import traits
from beetsplug.genrescore.scoring.ensemble import (
    Component,
    EnsembleConfig,
    Evidence,
    GenreVote,
    InstrumentRule,
    Weights,
    blend,
)
from beetsplug.genrescore.scoring.taxonomy import display_name
from beetsplug.genrescore.settings import DEFAULT_RULES

from .audio_files import copy, track
from .conftest import FORMATS

HEURISTICS_ONLY = {"models": {"genre": "none", "instruments": "none"}}
#: The instrument rules as the plugin ships them (settings.DEFAULT_RULES).
SHIPPED_RULES = tuple(
    InstrumentRule(
        name,
        body["boost"],
        body.get("unless", {}),
        body.get("unless_heard", {}),
        body.get("threshold"),
        body.get("floor"),
    )
    for name, body in DEFAULT_RULES.items()
)
FIELDS = ("genrescore_genre", "genrescore_confidence", "genrescore_top3", "genrescore_method")


class GenrescoreTestHelper(PluginTestHelper):
    """beets with genrescore loaded when a test says so: ``configure`` sets ``DEFAULTS`` plus the
    test's options, and the import writes no tags (so that only ``-w`` does)."""

    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False
    DEFAULTS: ClassVar[dict[str, Any]] = HEURISTICS_ONLY

    def configure(self, **options: Any) -> None:
        self.config["genrescore"].set({**self.DEFAULTS, **options})
        self.config["import"]["write"] = False
        self.load_plugins()


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def retitle(path: Path) -> None:
    """Title a file after its name, so that items can be told apart after the import."""
    try:
        tags = MediaFile(path)
    except Exception:  # unreadable on purpose (the bad files); beets will refuse them too
        return
    tags.title = path.name
    tags.save()


def messages(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def assert_analysed(item: Item) -> None:
    assert item.genrescore_genre
    assert 0.0 < item.genrescore_confidence <= 1.0
    assert len(item.genrescore_top3) == 3
    assert item.genrescore_genre == item.genrescore_top3[0]
    assert item.genrescore_method == "heuristic"


class TestImport(PluginMixin, ImportHelper):
    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False

    def test_as_is_import_of_good_and_bad_files_via_the_beet_command(
        self, audio_dir: Path, bad_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        incoming = self.temp_path / "incoming"
        for path in audio_dir.iterdir():
            copy(path, incoming / path.name)
        copy(audio_dir / "reel.flac", incoming / "Ünïcödé — 日本語 ♫.flac")
        for path in bad_dir.iterdir():
            copy(path, incoming / path.name)
        for path in incoming.iterdir():
            retitle(path)
        before = digest(incoming)
        self.config["genrescore"].set(HEURISTICS_ONLY)
        self.config["import"]["write"] = True
        # The cut and renamed copies share their source's tags; import them all the same.
        self.config["import"]["duplicate_action"] = "keep"
        self.load_plugins()

        with caplog.at_level(logging.INFO):
            self.run_command("import", "-A", "-q", "-s", str(incoming))

        items = {item.title: item for item in self.lib.items()}
        for name in ("techno.mp3", "reel.flac", "rock.ogg", "hiphop.opus", "classical.m4a"):
            item = items[name]
            assert_analysed(item)
            tags = MediaFile(item.filepath)  # written to the library copy, as-is import
            assert tags.genrescore_genre == item.genrescore_genre
            assert tags.genrescore_top3 == item.genrescore_top3
            assert tags.genres == item.genres == item.genrescore_top3  # policy fill
        assert_analysed(items["Ünïcödé — 日本語 ♫.flac"])

        log = messages(caplog)
        for name, reason in [
            ("ogg-inside.mp3", "the file holds Ogg data but its name ends in .mp3"),
            ("truncated.mp3", "truncated or corrupt"),
            ("short.mp3", "too short to analyse"),
            ("silence.flac", "silent"),
        ]:
            assert name in items
            assert not items[name].get("genrescore_genre")
            assert f"{incoming / name}: {reason}" in log
        # beets itself refuses the unreadable ones and says so.
        for name in ("empty.mp3", "random.mp3"):
            assert name not in items
            assert name in log
        assert digest(incoming) == before  # the user's source files are untouched

    def test_import_with_write_off_stores_fields_but_leaves_files(self, audio_dir: Path) -> None:
        incoming = self.temp_path / "incoming"
        copy(audio_dir / "techno.mp3", incoming / "techno.mp3")
        self.config["genrescore"].set(HEURISTICS_ONLY)
        self.config["import"]["write"] = False
        self.load_plugins()

        self.run_command("import", "-A", "-q", "-s", str(incoming))

        (item,) = self.lib.items()
        assert_analysed(item)
        assert MediaFile(item.filepath).genrescore_genre is None

    def test_auto_off_leaves_imports_alone(self, audio_dir: Path) -> None:
        incoming = self.temp_path / "incoming"
        copy(audio_dir / "techno.mp3", incoming / "techno.mp3")
        self.config["genrescore"].set({**HEURISTICS_ONLY, "auto": False})
        self.load_plugins()
        self.run_command("import", "-A", "-q", "-s", str(incoming))
        (item,) = self.lib.items()
        assert not item.get("genrescore_genre")

    def test_a_bad_config_value_stops_the_import_before_any_file_is_touched(
        self, audio_dir: Path
    ) -> None:
        incoming = self.temp_path / "incoming"
        copy(audio_dir / "techno.mp3", incoming / "techno.mp3")
        self.config["genrescore"].set({"genres_policy": "replace"})
        self.load_plugins()
        with pytest.raises(UserError, match="fill, merge, overwrite, keep"):
            self.run_command("import", "-A", "-q", "-s", str(incoming))
        assert not list(self.lib.items())


class TestAutotaggedImport(PluginMixin, AutotagImportHelper):
    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False

    def test_applied_album_match_writes_fields_and_album_values(self, audio_dir: Path) -> None:
        album = self.import_path / "album"
        for number, style in enumerate(("techno", "rock"), start=1):
            tags = {"album": "Tag Album", "artist": "Tag Artist", "track": str(number)}
            track(album / f"track_{number}.mp3", style, 12.0, title=f"Tag Track {number}", **tags)
        self.config["genrescore"].set(HEURISTICS_ONLY)
        self.load_plugins()
        self.setup_importer(write=True)
        self.importer.add_choice(Action.APPLY)
        self.importer.run()

        (imported,) = self.lib.albums()
        items = list(imported.items())
        assert len(items) == 2
        for item in items:
            assert item.album == "Applied Album"  # the match was applied
            assert_analysed(item)
            assert MediaFile(item.filepath).genrescore_genre == item.genrescore_genre
        assert imported.genrescore_genre in {item.genrescore_genre for item in items} | set(
            items[0].genrescore_top3 + items[1].genrescore_top3
        )
        assert imported.genrescore_confidence > 0


class TestCommand(GenrescoreTestHelper):
    def add_tracks(self, audio_dir: Path, names: list[str], **fields: Any) -> list[Item]:
        items = []
        for name in names:
            path = copy(audio_dir / name, self.lib_path / name)
            item = Item.from_path(path)
            item.update(fields)
            item.add(self.lib)
            items.append(item)
        return items

    def test_analyses_stores_then_skips_what_is_done(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.add_tracks(audio_dir, ["techno.mp3", "reel.flac"])
        self.configure()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "analysed 2, skipped 0, failed 0, written 0" in messages(caplog)
        for item in self.lib.items():
            assert_analysed(item)
            assert MediaFile(item.filepath).genrescore_genre is None  # import.write is off

        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "analysed 0, skipped 2, failed 0, written 0" in messages(caplog)

        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore", "-f", "title:techno")
        assert "analysed 1, skipped 0, failed 0, written 0" in messages(caplog)

    @pytest.mark.parametrize("change", [{"windows": 2}, {"window_seconds": 5.0}])
    def test_a_change_of_the_windows_analyses_again(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture, change: dict[str, Any]
    ) -> None:
        """Fewer or shorter windows hear other audio: the stored results are stale."""
        self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure()
        self.run_command("genrescore")
        self.unload_plugins()  # settings are read once per plugin instance
        self.configure(**change)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "analysed 1, skipped 0, failed 0" in messages(caplog)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "analysed 0, skipped 1, failed 0" in messages(caplog)

    @pytest.mark.parametrize("update", [True, False])
    def test_a_replaced_song_is_analysed_again(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path, update: bool
    ) -> None:
        """The user re-encodes or replaces a file (and runs ``beet update``, or not): the old
        song's genre must not stay on the new one."""
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure()
        self.run_command("genrescore")
        item.load()
        old = (item.genrescore_genre, item.genrescore_bpm, item.genrescore_fingerprint)
        # Another song (a fiddle reel, not techno), other length, same path and format.
        track(tmp_path / "new.mp3", "reel", 14.0, title="techno song")
        shutil.copyfile(tmp_path / "new.mp3", item.path.decode())
        if update:
            self.run_command("update")
        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "analysed 1, skipped 0, failed 0" in messages(caplog)
        item.load()
        assert (item.genrescore_genre, item.genrescore_bpm) != old[:2]
        assert item.genrescore_fingerprint != old[2]

    def test_write_puts_the_values_in_the_files(self, audio_dir: Path) -> None:
        self.add_tracks(audio_dir, ["rock.ogg"])
        self.configure()
        self.run_command("genrescore", "-w")
        (item,) = self.lib.items()
        tags = MediaFile(item.filepath)
        assert tags.genrescore_genre == item.genrescore_genre
        assert tags.genrescore_confidence == pytest.approx(item.genrescore_confidence, abs=1e-4)
        assert tags.genres == item.genrescore_top3

    def test_pretend_shows_changes_and_stores_nothing(
        self, audio_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"])
        before = digest(self.lib_path)
        self.configure()
        self.run_command("genrescore", "-p", "-w")
        out = capsys.readouterr().out
        assert "genrescore_genre" in out
        assert "genres" in out
        item.load()
        assert not item.get("genrescore_genre")
        assert digest(self.lib_path) == before

    def test_explain_shows_every_component_and_the_blend(
        self, audio_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure()
        self.run_command("genrescore", "--explain")
        out = capsys.readouterr().out
        assert "method: heuristic" in out
        assert "heuristics (heuristic):" in out
        assert "because" in out
        assert "instruments detected: none" in out
        assert "weights used: heuristics 100%" in out
        assert "result:" in out

    def test_report_writes_one_json_object_per_track(self, audio_dir: Path) -> None:
        self.add_tracks(audio_dir, ["techno.mp3", "reel.flac"])
        self.configure()
        report = self.temp_path / "report.jsonl"
        self.run_command("genrescore", "--report", str(report))
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert len(rows) == 2
        by_path = {Path(row["path"]).name: row for row in rows}
        item = self.lib.items("title:techno").get()
        assert by_path["techno.mp3"]["genre"].title() == item.genrescore_genre
        assert by_path["techno.mp3"]["components"][0]["component"] == "heuristic"
        assert "tempo" in by_path["techno.mp3"]["descriptors"]

    def test_typed_fields_answer_queries(self, audio_dir: Path) -> None:
        self.add_tracks(audio_dir, ["techno.mp3", "reel.flac", "rock.ogg"])
        self.configure()
        self.run_command("genrescore")
        items = list(self.lib.items())
        some = items[0]

        def ids(query: str) -> set[int]:
            return {item.id for item in self.lib.items(query)}

        assert some.id in ids(f"genrescore_genre:{some.genrescore_genre.lower()}")
        low = min(item.genrescore_confidence for item in items)
        assert len(self.lib.items(f"genrescore_confidence:{low:.4f}..")) == 3
        assert len(self.lib.items(f"genrescore_confidence:..{low - 0.0001:.4f}")) == 0
        second = some.genrescore_top3[1]
        assert some.id in ids(f"genrescore_top3:{second}")

    @pytest.mark.parametrize(
        ("policy", "existing", "expected"),
        [
            ("fill", [], "top"),
            ("fill", ["Polka"], ["Polka"]),
            ("merge", ["Polka"], ["Polka", "+top"]),
            ("overwrite", ["Polka"], "top"),
            ("keep", ["Polka"], ["Polka"]),
            ("keep", [], []),
        ],
    )
    def test_genres_policy(
        self, audio_dir: Path, policy: str, existing: list[str], expected: Any
    ) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"], genres=existing)
        self.configure(genres_policy=policy)
        self.run_command("genrescore")
        item.load()
        top = list(item.genrescore_top3)
        want = top if expected == "top" else expected
        if expected == ["Polka", "+top"]:
            want = ["Polka", *top]
        assert item.genres == want
        # Whatever the policy wrote, the user's own genres are known (--evaluate, --tune).
        assert library.user_genres(item) == existing
        item.genres = ["Bebop"]  # the user edits them afterwards: those are theirs now
        item.store()
        assert library.user_genres(item) == ["Bebop"]

    def test_fill_refreshes_genres_that_genrescore_filled_itself(self, audio_dir: Path) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure()
        self.run_command("genrescore")
        item.load()
        assert item.genres == item.genrescore_top3
        item.genrescore_top3 = ["Old", "Guess", "Here"]
        item.genres = ["Old", "Guess", "Here"]
        item.store()
        self.run_command("genrescore", "-f")
        item.load()
        assert item.genres == item.genrescore_top3 != ["Old", "Guess", "Here"]

    def test_a_weights_change_reblends_without_reading_the_audio(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        (item,) = self.add_tracks(audio_dir, ["reel.flac"])
        self.configure(models={"genre": "musicnn-msd", "instruments": "yamnet"}, jobs=0)
        self.run_command("genrescore")
        item.load()
        analysed = item.genrescore_scores
        assert item.genrescore_evidence.startswith('{"v":1')
        Path(item.filepath).unlink()  # nothing left to decode: only the evidence can serve
        self.unload_plugins()  # settings are read once per plugin instance
        # Every component still weighs: the re-blend must use all of the stored evidence.
        weights = {"ml": 1.0, "instruments": 0.3, "heuristic": 0.1, "tagger_genres": 0.05}
        self.config["genrescore"]["weights"].set(weights)
        self.load_plugins()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "analysed 0, skipped 0, failed 0, written 0, re-blended 1" in messages(caplog)
        item.load()
        assert item.genrescore_scores != analysed
        genre_model = json.loads(item.genrescore_evidence)["votes"][1]
        assert genre_model[:2] == ["ml", "musicnn-msd"]
        # The oracle: the stored evidence, all of it, blended by the core with these weights
        # and the shipped rules.
        stored = codec.decode(item.genrescore_evidence)
        assert stored.instruments is not None
        assert stored.instruments.scores
        expected = blend(stored, EnsembleConfig(Weights(**weights), SHIPPED_RULES))
        assert item.genrescore_genre == display_name(expected.genre)
        assert item.genrescore_confidence == pytest.approx(expected.confidence, abs=1e-4)
        assert item.genrescore_top3 == [display_name(genre) for genre in expected.top]
        assert item.genrescore_instruments == [name for name, _ in expected.instruments]

    def test_album_aggregate_reads_the_tracks_full_distributions(self, audio_dir: Path) -> None:
        """Each track's top genre differs, but one genre is every track's close second: the
        album's genre is that one (the stored top-1 strings alone would not show it)."""
        items = self.add_tracks(audio_dir, ["techno.mp3", "rock.ogg"])
        album = self.lib.add_album(items)
        self.configure(count=1)
        heuristic = {"jazz": 0.45}
        for item, top in zip(items, ("rock", "pop"), strict=True):
            said = Evidence(
                (GenreVote(Component.HEURISTIC, "heuristic", {top: 0.55, **heuristic}),)
            )
            item.update(library.decision_values(blend(said, EnsembleConfig(count=1))))
            item[library.EVIDENCE] = codec.encode(said)
            item.store()
        assert {item.genrescore_scores for item in self.lib.items()} == {
            "Rock 0.5500",
            "Pop 0.5500",
        }
        self.run_command("genrescore", "--reblend", "-a")  # no audio: only what is stored
        assert {item.genrescore_genre for item in self.lib.items()} == {"Rock", "Pop"}
        album.load()
        assert album.genrescore_genre == "Jazz"
        assert album.genrescore_confidence == pytest.approx(0.45)

    def test_album_values_do_not_overwrite_track_values(self, audio_dir: Path) -> None:
        items = self.add_tracks(audio_dir, ["techno.mp3", "reel.flac", "rock.ogg"])
        album = self.lib.add_album(items)
        self.configure()
        self.run_command("genrescore")
        own = {item.id: dict(item) for item in self.lib.items()}

        self.run_command("genrescore", "-a")

        album.load()
        assert album.genrescore_genre
        assert 0 < album.genrescore_confidence <= 1
        assert album.genrescore_method == "heuristic"
        track_genres = {values["genrescore_genre"] for values in own.values()}
        assert album.genrescore_genre in track_genres | {
            genre for values in own.values() for genre in values["genrescore_top3"]
        }
        for item in self.lib.items():
            for field in (*FIELDS, "genrescore_scores", "genres"):
                assert item[field] == own[item.id][field], field

    def test_missing_and_bad_files_are_reported_and_the_rest_goes_on(
        self, audio_dir: Path, bad_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        items = self.add_tracks(audio_dir, ["techno.mp3", "reel.flac"])
        gone = items[1]
        Path(gone.filepath).unlink()
        truncated = copy(bad_dir / "truncated.mp3", self.lib_path / "truncated.mp3")
        bad = Item(path=str(truncated), title="truncated")
        bad.add(self.lib)
        before = digest(self.lib_path)
        self.configure()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore", "-w")
        log = messages(caplog)
        assert f"{gone.filepath}: file not found" in log
        assert f"{truncated}: truncated or corrupt" in log
        assert "analysed 1, skipped 0, failed 2, written 1" in log
        items[0].load()
        assert_analysed(items[0])
        after = digest(self.lib_path)
        assert after["truncated.mp3"] == before["truncated.mp3"]

    def test_bad_config_stops_the_command_with_the_valid_values(self, audio_dir: Path) -> None:
        self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure(weights={"ml": "high"})
        with pytest.raises(UserError, match=r"genrescore.weights.ml: 'high' is not valid"):
            self.run_command("genrescore")

    @pytest.mark.parametrize(
        ("policy", "existing", "expected"),
        [
            ("fill", 0, "detected"),
            ("fill", 97, 97),
            ("overwrite", 97, "detected"),
            ("keep", 0, 0),
        ],
    )
    def test_bpm_policy(self, audio_dir: Path, policy: str, existing: int, expected: Any) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"], bpm=existing)
        self.configure(bpm_policy=policy)
        self.run_command("genrescore")
        item.load()
        assert item.genrescore_bpm == pytest.approx(128.0, rel=0.02)  # always stored
        want = round(item.genrescore_bpm) if expected == "detected" else expected
        assert item.bpm == want

    def test_fill_refreshes_a_bpm_that_genrescore_filled_itself(self, audio_dir: Path) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure()
        self.run_command("genrescore")
        item.load()
        item.genrescore_bpm = 64.0  # as if an older analysis had read half the tempo
        item.bpm = 64
        item.store()
        self.run_command("genrescore", "-f")
        item.load()
        assert item.bpm == round(item.genrescore_bpm) != 64

    def test_below_min_confidence_genres_are_left_alone_and_counted_uncertain(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        items = self.add_tracks(audio_dir, ["techno.mp3", "reel.flac"])
        self.configure(min_confidence=0.99)
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert "uncertain 2 (genres left alone)" in messages(caplog)
        for item in items:
            item.load()
            assert item.genrescore_genre  # the fields are stored all the same
            assert item.genrescore_confidence < 0.99
            assert not item.genres
        assert len(self.lib.items("genrescore_confidence:..0.99")) == 2

    def test_min_confidence_zero_writes_every_result(self, audio_dir: Path) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure(min_confidence=0)
        self.run_command("genrescore")
        item.load()
        assert item.genres == item.genrescore_top3

    def test_min_confidence_must_be_a_fraction(self, audio_dir: Path) -> None:
        self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure(min_confidence=1.5)
        with pytest.raises(UserError, match=r"min_confidence: 1\.5 is not valid"):
            self.run_command("genrescore")

    def test_heuristics_alone_store_a_bpm_but_no_mood_or_vocals(self, audio_dir: Path) -> None:
        (item,) = self.add_tracks(audio_dir, ["techno.mp3"])
        self.configure()
        self.run_command("genrescore")
        item.load()
        assert item.genrescore_bpm > 0
        assert not item.get("genrescore_mood")
        assert not item.get("genrescore_vocals")

    def test_mood_and_vocals_answer_queries_with_the_embedded_tagger(
        self, audio_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        self.add_tracks(audio_dir, ["classical.m4a", "techno.mp3"])
        self.configure(models={"genre": "none", "instruments": "yamnet"}, jobs=0)
        report = tmp_path / "report.jsonl"
        self.run_command("genrescore", "--explain", "--report", str(report))
        out = capsys.readouterr().out
        assert "bpm: " in out
        assert "mood: " in out
        assert "vocals: instrumental" in out
        assert len(self.lib.items("genrescore_vocals:instrumental")) == 2
        assert not self.lib.items("genrescore_vocals:vocal")
        for item in self.lib.items():
            assert item.genrescore_vocals_score < 0.5
            assert item.genrescore_mood_scores.count(",") == 5  # all six moods
        (classical,) = self.lib.items("genrescore_mood:tender")
        assert classical.path.endswith(b"classical.m4a")
        lines = [json.loads(line) for line in report.read_text().splitlines()]
        assert {line["vocals"]["vocals"] for line in lines} == {"instrumental"}
        assert all(set(line["mood_scores"]) == set(traits.MOOD_LABELS.values()) for line in lines)
        assert all(line["bpm"]["bpm"] > 0 for line in lines)


class TestTagRoundTrip(PluginTestHelper):
    plugin: ClassVar[str] = "genrescore"

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_custom_tags_read_back_in_every_format(
        self, audio_dir: Path, tmp_path: Path, fmt: str
    ) -> None:
        path = shutil.copyfile(next(audio_dir.glob(f"*.{fmt}")), tmp_path / f"song.{fmt}")
        item = Item.from_path(path)
        item.update(
            {
                "genrescore_genre": "Country",
                "genrescore_confidence": 0.2697,
                "genrescore_top3": ["Country", "Hip Hop", "Bluegrass"],
                "genrescore_instruments": ["violin", "harmonica"],
                "genrescore_method": "hybrid_ml_instrument",
                "genres": ["Country", "Hip Hop", "Bluegrass"],
                "bpm": 168,
                "genrescore_bpm": 168.2,
                "genrescore_mood": ["happy", "exciting"],
                "genrescore_vocals": "vocal",
                "genrescore_vocals_score": 0.7312,
            }
        )
        item.write()
        back = Item.from_path(path)
        assert back.genrescore_genre == "Country"
        assert back.genrescore_confidence == pytest.approx(0.2697)
        assert back.genrescore_top3 == ["Country", "Hip Hop", "Bluegrass"]
        assert back.genrescore_instruments == ["violin", "harmonica"]
        assert back.genrescore_method == "hybrid_ml_instrument"
        assert back.genres == ["Country", "Hip Hop", "Bluegrass"]
        assert back.bpm == 168
        assert MediaFile(path).bpm == 168  # the standard tag
        assert back.genrescore_bpm == pytest.approx(168.2)
        assert back.genrescore_mood == ["happy", "exciting"]
        assert back.genrescore_vocals == "vocal"
        assert back.genrescore_vocals_score == pytest.approx(0.7312)
