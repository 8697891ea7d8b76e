"""The hybrid ensemble inside beets, with real model-loading code on locally saved models."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest
from beets.exceptions import UserError
from beets.library import Item
from mediafile import MediaFile

from .audio_files import copy
from .hf_models import make_tiny_ast, make_tiny_hubert
from .test_plugin import GenrescoreTestHelper, messages


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "genre": str(make_tiny_hubert(folder / "hubert-gtzan")),
        "instruments": str(make_tiny_ast(folder / "ast-audioset")),
    }


class TestHybrid(GenrescoreTestHelper):
    DEFAULTS: ClassVar[dict[str, Any]] = {"jobs": 0}

    def add(self, audio_dir: Path, names: list[str]) -> list[Item]:
        items = []
        for name in names:
            item = Item.from_path(copy(audio_dir / name, self.lib_path / name))
            item.add(self.lib)
            items.append(item)
        return items

    def test_import_with_local_checkpoints_stores_hybrid_results(
        self, audio_dir: Path, tiny_models: dict[str, str]
    ) -> None:
        incoming = self.temp_path / "incoming"
        copy(audio_dir / "reel.flac", incoming / "reel.flac")
        copy(audio_dir / "techno.mp3", incoming / "techno.mp3")
        self.config["import"]["write"] = True
        self.config["genrescore"].set({"models": tiny_models})
        self.load_plugins()

        self.run_command("import", "-A", "-q", "-s", str(incoming))

        items = list(self.lib.items())
        assert len(items) == 2
        for item in items:
            kind, _, names = item.genrescore_method.partition(":")
            assert kind == "hybrid_ml_instrument"
            assert names == "+".join(
                Path(tiny_models[role]).name for role in ("genre", "instruments")
            )
            assert len(item.genrescore_top3) == 3
            # A random tiny tagger hears something; what it hears is written and queryable.
            assert item.genrescore_instruments
            assert MediaFile(item.filepath).genrescore_instruments == item.genrescore_instruments
            first = item.genrescore_instruments[0]
            assert item.id in {i.id for i in self.lib.items(f"genrescore_instruments:{first}")}

    def test_explain_shows_the_three_components_and_the_boosts(
        self, audio_dir: Path, tiny_models: dict[str, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.add(audio_dir, ["reel.flac"])
        self.configure(models=tiny_models)
        self.run_command("genrescore", "--explain")
        out = capsys.readouterr().out
        assert "method: hybrid_ml_instrument:" in out
        assert f"genre model ({tiny_models['genre']}):" in out
        assert f"instrument tagger ({tiny_models['instruments']}):" in out
        assert "tagger's genre classes:" in out
        assert "heuristics (heuristic):" in out
        assert "boost " in out
        assert "weights used: heuristics" in out
        assert "genre model" in out.split("weights used:")[1]

    def test_a_model_that_is_not_downloaded_falls_back_and_says_so_once(
        self, audio_dir: Path, tiny_models: dict[str, str], caplog: pytest.LogCaptureFixture
    ) -> None:
        self.add(audio_dir, ["reel.flac", "techno.mp3"])
        self.configure(
            models={"genre": "someone/genre-model", "instruments": tiny_models["instruments"]},
            cache_dir=str(self.temp_path / "empty-cache"),
        )
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        fallback = [w for w in warnings if "someone/genre-model" in w]
        assert len(fallback) == 1
        assert "beet genrescore --fetch-models" in fallback[0]
        assert "using efficientat-genre instead" in fallback[0]
        for item in self.lib.items():
            assert item.genrescore_method.startswith(
                "mixed_hybrid_ml_instrument:efficientat-genre+"
            )

    def test_no_model_at_all_means_heuristics_and_the_method_says_so(self, audio_dir: Path) -> None:
        self.add(audio_dir, ["reel.flac"])
        self.configure(models={"genre": "none", "instruments": "none"})
        self.run_command("genrescore")
        (item,) = self.lib.items()
        assert item.genrescore_method == "heuristic"

    def test_a_corrupt_model_directory_is_named_in_the_warning(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        broken = self.temp_path / "broken-model"
        broken.mkdir()
        (broken / "config.json").write_text("{not json")
        self.add(audio_dir, ["reel.flac"])
        self.configure(models={"genre": str(broken), "instruments": "none"})
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore")
        assert str(broken) in messages(caplog)
        (item,) = self.lib.items()
        assert item.genrescore_genre  # the run went on with the embedded model

    def test_fetch_models_reports_an_unreachable_hub(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
        self.configure(models={"genre": "someone/genre-model", "instruments": "none"},
                       cache_dir=str(self.temp_path / "cache"))  # fmt: skip
        with pytest.raises(UserError, match="someone/genre-model"):
            self.run_command("genrescore", "--fetch-models")
