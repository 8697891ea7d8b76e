"""The custom file tags genrescore writes: each field :data:`.library.FIELDS` declares with a
:class:`~.library.FileTag`, under that tag's name in each format (``FileTag.names``).

ID3 frames are TXXX with a ``GENRESCORE_*`` description; MP4 uses iTunes freeform atoms;
Vorbis comments (FLAC, Ogg, Opus) and APE use plain ``GENRESCORE_*`` keys; ASF (WMA)
``GenreScore/*`` attributes. Lists are stored as multiple values where the format has them.
"""

from __future__ import annotations

import mediafile

from .library import FIELDS, FileTag


def _styles(tag: FileTag) -> list[mediafile.StorageStyle]:
    names = tag.names
    if tag.multi:
        return [
            mediafile.MP3ListDescStorageStyle(desc=names["id3"]),
            mediafile.MP4ListStorageStyle(names["mp4"]),
            mediafile.ListStorageStyle(names["vorbis"]),
            mediafile.ASFStorageStyle(names["asf"]),
        ]
    places = tag.float_places
    return [
        mediafile.MP3DescStorageStyle(names["id3"], float_places=places),
        mediafile.MP4StorageStyle(names["mp4"], float_places=places),
        mediafile.StorageStyle(names["vorbis"], float_places=places),
        mediafile.ASFStorageStyle(names["asf"], float_places=places),
    ]


def media_fields() -> dict[str, mediafile.MediaField]:
    """Field name -> descriptor, for ``BeetsPlugin.add_media_field``: each field
    :data:`.library.FIELDS` declares a file tag."""
    fields: dict[str, mediafile.MediaField] = {}
    for field in FIELDS:
        tag = field.tag
        if tag is None:
            continue
        if tag.multi:
            fields[field.name] = mediafile.ListMediaField(*_styles(tag))
        elif field.type.model_type is float:
            fields[field.name] = mediafile.MediaField(*_styles(tag), out_type=float)
        else:
            fields[field.name] = mediafile.MediaField(*_styles(tag))
    return fields
