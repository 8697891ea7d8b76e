"""The custom file tags genrescore writes, each declared once with a style per format.

ID3 frames are TXXX with a ``GENRESCORE_*`` description; MP4 uses iTunes freeform atoms;
Vorbis comments (FLAC, Ogg, Opus) and APE use plain ``GENRESCORE_*`` keys; ASF (WMA)
``GenreScore/*`` attributes. Lists are stored as multiple values where the format has them.
"""

from __future__ import annotations

import mediafile


def _styles(key: str, *, multi: bool, float_places: int = 2) -> list[mediafile.StorageStyle]:
    if multi:
        return [
            mediafile.MP3ListDescStorageStyle(desc=key),
            mediafile.MP4ListStorageStyle(f"----:com.apple.iTunes:{key}"),
            mediafile.ListStorageStyle(key),
            mediafile.ASFStorageStyle(f"GenreScore/{key}"),
        ]
    return [
        mediafile.MP3DescStorageStyle(key, float_places=float_places),
        mediafile.MP4StorageStyle(f"----:com.apple.iTunes:{key}", float_places=float_places),
        mediafile.StorageStyle(key, float_places=float_places),
        mediafile.ASFStorageStyle(f"GenreScore/{key}", float_places=float_places),
    ]


def media_fields() -> dict[str, mediafile.MediaField]:
    """Field name -> descriptor, for ``BeetsPlugin.add_media_field``."""
    return {
        "genrescore_genre": mediafile.MediaField(*_styles("GENRESCORE_GENRE", multi=False)),
        "genrescore_confidence": mediafile.MediaField(
            *_styles("GENRESCORE_CONFIDENCE", multi=False, float_places=4), out_type=float
        ),
        "genrescore_top3": mediafile.ListMediaField(*_styles("GENRESCORE_TOP3", multi=True)),
        "genrescore_instruments": mediafile.ListMediaField(
            *_styles("GENRESCORE_INSTRUMENTS", multi=True)
        ),
        "genrescore_method": mediafile.MediaField(*_styles("GENRESCORE_METHOD", multi=False)),
        # beets' own ``bpm`` goes to the standard tag (TBPM, tmpo, BPM); this keeps the
        # detected tempo in the file whatever the bpm policy did.
        "genrescore_bpm": mediafile.MediaField(
            *_styles("GENRESCORE_BPM", multi=False, float_places=1), out_type=float
        ),
        "genrescore_mood": mediafile.ListMediaField(*_styles("GENRESCORE_MOOD", multi=True)),
        "genrescore_vocals": mediafile.MediaField(*_styles("GENRESCORE_VOCALS", multi=False)),
        "genrescore_vocals_score": mediafile.MediaField(
            *_styles("GENRESCORE_VOCALS_SCORE", multi=False, float_places=4), out_type=float
        ),
    }
