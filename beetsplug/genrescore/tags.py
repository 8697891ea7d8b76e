"""The custom file tags genrescore writes (the fields :data:`.library.FIELDS` declares as
tags), each with a style per format.

ID3 frames are TXXX with a ``GENRESCORE_*`` description; MP4 uses iTunes freeform atoms;
Vorbis comments (FLAC, Ogg, Opus) and APE use plain ``GENRESCORE_*`` keys; ASF (WMA)
``GenreScore/*`` attributes. Lists are stored as multiple values where the format has them.
"""

from __future__ import annotations

import mediafile
from beets.dbcore import types

from .library import FIELDS


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
    """Field name -> descriptor, for ``BeetsPlugin.add_media_field``: each field
    :data:`.library.FIELDS` declares a file tag, under its name in capitals."""
    fields: dict[str, mediafile.MediaField] = {}
    for field in FIELDS:
        if not field.tag:
            continue
        key = field.name.upper()
        if field.multi:
            fields[field.name] = mediafile.ListMediaField(*_styles(key, multi=True))
        elif isinstance(field.type, types.Float):
            styles = _styles(key, multi=False, float_places=field.float_places)
            fields[field.name] = mediafile.MediaField(*styles, out_type=float)
        else:
            fields[field.name] = mediafile.MediaField(*_styles(key, multi=False))
    return fields
