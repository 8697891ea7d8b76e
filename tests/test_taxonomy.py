"""The canonical vocabulary agrees with beets' lastgenre data, and every model maps onto it."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from safetensors import safe_open

from beetsplug.genrescore.backends import yamnet
from beetsplug.genrescore.scoring import taxonomy

# lastgenre's data files, found without importing it (it needs pylast).
_SPEC = importlib.util.find_spec("beetsplug.lastgenre")
assert _SPEC is not None
assert _SPEC.submodule_search_locations
LASTGENRE = Path(next(iter(_SPEC.submodule_search_locations)))
DATA = Path(__file__).parent / "data"

GTZAN = [
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
]
MSD_GENRE_TAGS = {
    "rock": "rock", "pop": "pop", "alternative": "rock", "indie": "rock",
    "electronic": "electronic",
    "dance": "electronic", "alternative rock": "rock", "jazz": "jazz", "metal": "heavy metal",
    "chillout": "ambient", "classic rock": "rock", "soul": "soul", "indie rock": "rock",
    "electronica": "electronic", "folk": "folk", "punk": "punk rock", "blues": "blues",
    "hard rock": "rock", "ambient": "ambient", "Hip-Hop": "hip hop", "country": "country",
    "easy listening": "easy listening", "funk": "funk", "electro": "electronic",
    "heavy metal": "heavy metal", "Progressive rock": "rock", "rnb": "r&b", "indie pop": "pop",
    "House": "electronic",
}  # fmt: skip


def _tree_parents() -> dict[str, list[str]]:
    """Every node of lastgenre's tree -> its ancestors, nearest first."""
    parents: dict[str, list[str]] = {}

    def walk(node: object, chain: list[str]) -> None:
        if isinstance(node, dict):
            for name, children in node.items():
                parents[name] = list(reversed(chain))
                walk(children, [*chain, name])
        elif isinstance(node, list):
            for child in node:
                walk(child, chain)
        elif isinstance(node, str):
            parents[node] = list(reversed(chain))

    walk(yaml.safe_load((LASTGENRE / "genres-tree.yaml").read_text()), [])
    return parents


def test_every_canonical_genre_is_a_lastgenre_genre_with_the_same_parents() -> None:
    whitelist = set((LASTGENRE / "genres.txt").read_text().lower().split("\n"))
    tree = _tree_parents()
    for genre in taxonomy.GENRES:
        assert genre in whitelist or genre in tree, genre
        ours = taxonomy.ancestors(genre)
        if ours:
            assert ours[0] in tree[genre], (genre, tree[genre])


@pytest.mark.parametrize("label", GTZAN)
def test_gtzan_labels_map_onto_the_vocabulary(label: str) -> None:
    genre = taxonomy.genre_for_label(label)
    assert genre in taxonomy.GENRES
    if label == "hiphop":
        assert genre == "hip hop"


def test_bluegrass_is_a_kind_of_country() -> None:
    assert taxonomy.ancestors("bluegrass") == ["country"]


@pytest.mark.parametrize(("label", "genre"), MSD_GENRE_TAGS.items())
def test_msd_tags_fold_into_broad_genres(label: str, genre: str) -> None:
    assert taxonomy.genre_for_label(label) == genre


@pytest.mark.parametrize(
    "label", ["00s", "female vocalists", "beautiful", "Mellow", "sad", "happy"]
)
def test_mood_decade_and_vocal_tags_are_not_genres(label: str) -> None:
    assert taxonomy.genre_for_label(label) is None


def test_audioset_genre_classes_map_onto_the_vocabulary() -> None:
    with open(DATA / "audioset_labels.csv", newline="") as handle:
        labels = {int(index): name for index, _mid, name in csv.reader(handle)}
    genres = {labels[i]: taxonomy.genre_for_label(labels[i]) for i in range(216, 266)}
    assert genres["Hip hop music"] == "hip hop"
    assert genres["Country"] == "country"
    assert genres["Bluegrass"] == "bluegrass"
    assert genres["Heavy metal"] == "heavy metal"
    assert genres["Classical music"] == "classical"
    mapped = [g for g in genres.values() if g is not None]
    assert len(mapped) >= 40
    assert set(mapped) <= set(taxonomy.GENRES)
    instruments = {labels[i]: taxonomy.instrument_for_label(labels[i]) for i in range(137, 216)}
    assert instruments["Violin, fiddle"] == "violin"
    assert instruments["Drum kit"] == "drums"
    assert instruments["Steel guitar, slide guitar"] == "steel guitar"
    assert instruments["Banjo"] == "banjo"
    assert {v for v in instruments.values() if v} <= set(taxonomy.INSTRUMENTS)


def test_softmax_labels_sum_and_tags_take_the_maximum() -> None:
    softmax = taxonomy.genre_distribution(
        {"rock": 0.3, "metal": 0.3, "hiphop": 0.4}, multi_label=False
    )
    assert softmax == {
        "rock": pytest.approx(0.3),
        "heavy metal": pytest.approx(0.3),
        "hip hop": pytest.approx(0.4),
    }
    tags = taxonomy.genre_distribution(
        {"rock": 0.6, "classic rock": 0.5, "jazz": 0.2, "female vocalists": 0.9}, multi_label=True
    )
    assert tags == {"rock": pytest.approx(0.75), "jazz": pytest.approx(0.25)}


def test_display_names_are_title_case_like_lastgenre() -> None:
    assert taxonomy.display_name("hip hop") == "Hip Hop"
    assert taxonomy.display_name("r&b") == "R&B"


def _yamnet_labels() -> tuple[str, ...]:
    # The labels as the shipped weights carry them (without building the model).
    with safe_open(str(yamnet.WEIGHTS_PATH), framework="np") as weights:
        metadata = weights.metadata()
    return tuple(json.loads(metadata["labels"]))


def test_ast_and_yamnet_share_one_audioset_mapping() -> None:
    # Both speak AudioSet's display names: every class YAMNet maps is mapped the same way in
    # AST's 527 labels, keyed by name (YAMNet's 521 lack only a few non-music classes).
    with open(DATA / "audioset_labels.csv", newline="") as handle:
        ast = {name for _index, _mid, name in csv.reader(handle)}
    yam = set(_yamnet_labels())
    assert len(yam) == 521
    assert not {label for label in yam - ast if taxonomy.instrument_for_label(label)}
    assert not {label for label in yam - ast if taxonomy.genre_for_label(label)}
    mapped = {label for label in yam if taxonomy.instrument_for_label(label)}
    assert len(mapped) >= 45
    # Related classes fold into one instrument.
    assert {taxonomy.instrument_for_label(x) for x in ("Drum kit", "Bass drum", "Snare drum",
        "Hi-hat")} == {"drums"}  # fmt: skip
    assert {taxonomy.instrument_for_label(x) for x in ("Brass instrument", "French horn")} == {
        "brass"
    }
    assert taxonomy.instrument_for_label("Trumpet") == "trumpet"
    assert taxonomy.instrument_scores({"Drum kit": 0.2, "Bass drum": 0.5, "Hi-hat": 0.1}) == {
        "drums": 0.5
    }
