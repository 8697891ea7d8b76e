"""The labelled development set: devset/manifest.csv, built by scripts/build_devset.

Real recordings from freely licensed Debian packages and GitHub repositories (see
docs/accuracy.md for the sources and how the labels were decided). A clip's ``genre`` is a
canonical genre or ``None`` (the clip only counts for instruments); ``instruments`` are
canonical instrument names; ``complete`` says the instrument list names everything that
plays (only then does a detected instrument that is not listed count as false), and
``solo`` that exactly one instrument plays. ``vocals`` is ``"vocal"`` (a voice sings or raps
in the clip), ``"instrumental"`` or ``None`` (not labelled); ``group`` names the artist or
album a clip comes from, so that folds can be split by it (no artist on both sides).
``origin`` is ``"recorded"`` for clips cut from recordings and ``"sequenced"`` for clips
assembled note by note from recorded samples (manifest kinds ``sequence``, ``drums`` and
``arrange``; the genre of an ``arrange`` clip is the idiom it was arranged in), so results
can be reported for each apart.

    from benchmarks.devset import load_manifest
    clips = load_manifest()          # raises when the audio is not built yet
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from beetsplug.genrescore.scoring.taxonomy import GENRES, INSTRUMENTS  # noqa: E402

MANIFEST = ROOT / "devset" / "manifest.csv"
#: Manifest kinds whose clips are sequenced from single recorded notes or hits.
SEQUENCED_KINDS = frozenset({"sequence", "drums", "arrange"})
AUDIO = ROOT / "devset" / "audio"
#: Values of the ``vocals`` column (empty: not labelled).
VOCALS = frozenset({"vocal", "instrumental"})


@dataclass(frozen=True)
class Clip:
    id: str
    #: The built clip (devset/audio/ID.flac).
    path: Path
    genre: str | None
    instruments: tuple[str, ...]
    solo: bool
    complete: bool
    source: str
    label_source: str
    duration: float
    #: "recorded" (cut from a recording) or "sequenced" (assembled from recorded notes).
    origin: str = "recorded"
    #: "vocal", "instrumental", or None when not labelled.
    vocals: str | None = None
    #: The artist or album the clip comes from: split folds by it.
    group: str = ""

    @property
    def fold_group(self) -> str:
        """What keeps the clip on one side of a cross-validation split: its ``group``, else
        its source (the repository or package, without the version)."""
        return self.group or self.source.split("@")[0]


class ManifestError(ValueError):
    """A manifest row names an unknown genre or instrument, or a clip is not built."""


def _flag(row: dict[str, str], key: str) -> bool:
    value = row[key].strip().lower()
    if value not in ("yes", "no"):
        raise ManifestError(f"{row['id']}: {key} must be yes or no, not {row[key]!r}")
    return value == "yes"


def load_manifest(
    manifest: Path = MANIFEST, audio_dir: Path = AUDIO, *, require_audio: bool = True
) -> list[Clip]:
    """Every clip of the manifest, checked against the canonical vocabulary.

    Raises
    ------
    ManifestError
        An unknown genre or instrument, a solo clip without exactly one instrument, or (with
        ``require_audio``) a clip not built yet: run ``scripts/build_devset``.
    """
    clips: list[Clip] = []
    seen: set[str] = set()
    with manifest.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            clip_id = row["id"]
            if clip_id in seen:
                raise ManifestError(f"{clip_id}: duplicate id")
            seen.add(clip_id)
            genre = row["genre"].strip() or None
            if genre is not None and genre not in GENRES:
                raise ManifestError(f"{clip_id}: unknown genre {genre!r}")
            instruments = tuple(name for name in row["instruments"].split(";") if name)
            unknown = [name for name in instruments if name not in INSTRUMENTS]
            if unknown:
                raise ManifestError(f"{clip_id}: unknown instrument {unknown[0]!r}")
            solo = _flag(row, "solo")
            if solo and len(instruments) != 1:
                raise ManifestError(f"{clip_id}: solo clips name exactly one instrument")
            vocals = row.get("vocals", "").strip() or None
            if vocals is not None and vocals not in VOCALS:
                raise ManifestError(
                    f"{clip_id}: vocals must be vocal or instrumental, not {vocals!r}"
                )
            path = audio_dir / f"{clip_id}.flac"
            if require_audio and not path.exists():
                raise ManifestError(f"{path} is missing: run scripts/build_devset")
            clips.append(
                Clip(
                    id=clip_id,
                    path=path,
                    genre=genre,
                    instruments=instruments,
                    solo=solo,
                    complete=_flag(row, "complete"),
                    source=row["source"],
                    label_source=row["label_source"],
                    duration=float(row["duration"]),
                    origin="sequenced" if row["kind"] in SEQUENCED_KINDS else "recorded",
                    vocals=vocals,
                    group=row.get("group", "").strip(),
                )
            )
    return clips


__all__ = [
    "AUDIO",
    "MANIFEST",
    "SEQUENCED_KINDS",
    "VOCALS",
    "Clip",
    "ManifestError",
    "load_manifest",
]
