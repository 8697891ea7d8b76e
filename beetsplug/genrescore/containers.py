"""Where each audio container keeps its audio, and whether it is whole: the tag write's guard.

A tag writer rewrites the metadata part of a file and moves the rest along. That is safe only
when the container's own sizes are true: a WAV whose data chunk declares more bytes than the
file holds made mutagen put its tag block inside the audio, a little more noise on every run
(issue 20). :func:`audio_spans` reads a container's structure (headers only, no decoding),
refuses one whose sizes run past the end of the file, and returns the byte ranges that hold
the audio, everything a tag write must leave exactly as it was: the WAV/AIFF chunks other
than the ID3 one, FLAC's stream info and frames, the MP3 frames between the ID3v2 tag and
the ID3v1/APE tags, the Ogg pages after the header packets (body, granule and stream), the
MP4 ``mdat`` and the first bytes at every chunk offset (so that moved offsets still point at
the same audio), the ASF data after the header object.

:func:`same_audio` compares two files' spans. Everything here reads bytes; nothing knows of
beets.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import ContainerDamaged

#: Bytes read at each MP4 chunk offset: enough to tell one AAC/ALAC chunk from another.
MP4_CHUNK_HEAD = 16
#: MP4 atoms whose children may hold the chunk offset tables (``stco``, ``co64``).
_MP4_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})
#: Top-level MP4 atoms a tag writer rewrites or uses as padding.
_MP4_METADATA = frozenset({b"moov", b"free", b"skip", b"wide", b"uuid"})
#: WAV/AIFF chunks that hold the tags mutagen writes.
_ID3_CHUNKS = frozenset({b"id3 ", b"ID3 ", b"ID32"})
#: Header packets before the audio in an Ogg stream, by the first packet's signature
#: (Vorbis: identification, comment, setup; Opus and Speex: head and tags).
_OGG_HEADERS = {b"\x01vorbis": 3, b"OpusHead": 2, b"Speex   ": 2, b"\x80theora": 3}
_ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
#: How far into an MP3 (after its ID3v2 tag) the first frame must start: mutagen looks as far.
MP3_SYNC_WINDOW = 64 * 1024

Span = tuple[int, int]


@dataclass(frozen=True)
class Layout:
    """A container's kind and the byte ranges that hold its audio."""

    kind: str
    spans: tuple[Span, ...]


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise ContainerDamaged(reason)


def _bytes(size: int) -> str:
    return f"{size:,} bytes"


def _riff(data: memoryview, kind: str) -> Layout:
    """WAV (little-endian ``RIFF``) or AIFF (big-endian ``FORM``): every chunk must fit."""
    big = kind == "AIFF"
    size_format = ">I" if big else "<I"
    total = len(data)
    declared = struct.unpack_from(size_format, data, 4)[0]
    # One byte of slack: writers that leave out the last chunk's pad byte are common.
    _check(
        8 + declared <= total + 1,
        f"truncated container: the {kind} header declares {_bytes(8 + declared)}, "
        f"the file holds {_bytes(total)}",
    )
    spans: list[Span] = [(8, 4)]  # the form type
    audio = {b"SSND"} if big else {b"data"}
    found = False
    offset = 12
    end = 8 + declared
    while offset + 8 <= end:
        name = bytes(data[offset : offset + 4])
        size = struct.unpack_from(size_format, data, offset + 4)[0]
        label = name.decode("latin-1").strip() or "?"
        _check(
            offset + 8 + size <= total,
            f"truncated container: the {kind} {label} chunk declares {_bytes(size)}, "
            f"the file holds {_bytes(total - offset - 8)} of it",
        )
        if name not in _ID3_CHUNKS:
            spans.append((offset, 8 + size))
        found = found or name in audio
        offset += 8 + size + (size & 1)
    _check(found, f"damaged container: the {kind} file has no audio chunk")
    return Layout(kind, tuple(spans))


def _id3v2_end(data: memoryview, start: int = 0) -> int:
    """Where the ID3v2 tag at ``start`` ends (``start`` when there is none)."""
    if bytes(data[start : start + 3]) != b"ID3" or len(data) < start + 10:
        return start
    flags = data[start + 5]
    raw = bytes(data[start + 6 : start + 10])
    _check(all(b < 0x80 for b in raw), "damaged container: the ID3v2 tag size is not valid")
    size = (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]
    end = start + 10 + size + (10 if flags & 0x10 else 0)
    _check(
        end <= len(data),
        f"truncated container: the ID3v2 tag declares {_bytes(end - start)}, "
        f"the file holds {_bytes(len(data) - start)}",
    )
    return end


def _tail_tags(data: memoryview, start: int) -> int:
    """Where the audio ends before the ID3v1 and APEv2 tags at the end of the file."""
    end = len(data)
    if end - start >= 128 and bytes(data[end - 128 : end - 125]) == b"TAG":
        end -= 128
    if end - start >= 32 and bytes(data[end - 32 : end - 24]) == b"APETAGEX":
        size, _, flags = struct.unpack_from("<III", data, end - 20)
        size += 32 if flags & 0x80000000 else 0  # a header before the items
        _check(size <= end - start, "damaged container: the APE tag is longer than the file")
        end -= size
    return end


def _flac(data: memoryview, start: int) -> Layout:
    offset = start + 4
    spans: list[Span] = []
    while True:
        _check(offset + 4 <= len(data), "truncated container: the FLAC metadata is cut short")
        header = data[offset]
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        _check(
            offset + 4 + size <= len(data),
            f"truncated container: a FLAC metadata block declares {_bytes(size)}, "
            f"the file holds {_bytes(len(data) - offset - 4)} of it",
        )
        if header & 0x7F == 0:  # STREAMINFO: sample rate, channels, length
            spans.append((offset + 4, size))
        offset += 4 + size
        if header & 0x80:
            break
    _check(
        offset + 2 <= len(data) and data[offset] == 0xFF and data[offset + 1] & 0xFE == 0xF8,
        "truncated container: no FLAC audio frame after the metadata",
    )
    spans.append((offset, _tail_tags(data, offset) - offset))
    return Layout("FLAC", tuple(spans))


def _mp3(data: memoryview, start: int) -> Layout:
    window = bytes(data[start : start + MP3_SYNC_WINDOW])
    sync = next(
        (i for i in range(len(window) - 1) if window[i] == 0xFF and window[i + 1] & 0xE0 == 0xE0),
        None,
    )
    _check(sync is not None, "damaged container: no MPEG audio frame after the ID3v2 tag")
    assert sync is not None
    first = start + sync
    end = _tail_tags(data, start)
    declared = _mp3_declared_bytes(data, first)
    # Some encoders count the ID3v2 tag in: the slack lets them, and still sees a cut file.
    _check(
        declared is None or declared <= end,
        f"truncated container: the MP3 stream header declares {_bytes(declared or 0)} of "
        f"audio, the file holds {_bytes(end - first)}",
    )
    return Layout("MP3", ((start, end - start),))


def _mp3_declared_bytes(data: memoryview, frame: int) -> int | None:
    """The stream size a Xing/Info or VBRI header in the first frame declares, if any."""
    header = int.from_bytes(data[frame : frame + 4], "big")
    mpeg1 = (header >> 19) & 0b11 == 0b11
    mono = (header >> 6) & 0b11 == 0b11
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    xing = frame + 4 + side_info
    if bytes(data[xing : xing + 4]) in (b"Xing", b"Info"):
        flags = struct.unpack_from(">I", data, xing + 4)[0]
        if flags & 0b10:
            at = xing + 8 + (4 if flags & 0b1 else 0)
            return int(struct.unpack_from(">I", data, at)[0])
        return None
    vbri = frame + 4 + 32
    if bytes(data[vbri : vbri + 4]) == b"VBRI":
        return int(struct.unpack_from(">I", data, vbri + 10)[0])
    return None


def _ogg_pages(data: memoryview) -> Iterator[tuple[int, int, int, list[int]]]:
    """Each page: its offset, header size, serial number and lacing values."""
    offset = 0
    while offset < len(data):
        _check(
            bytes(data[offset : offset + 4]) == b"OggS",
            f"damaged container: no Ogg page where one should start (byte {offset:,})",
        )
        _check(offset + 27 <= len(data), "truncated container: the last Ogg page is cut short")
        count = data[offset + 26]
        lacing = list(data[offset + 27 : offset + 27 + count])
        header = 27 + count
        serial = struct.unpack_from("<I", data, offset + 14)[0]
        _check(
            offset + header + sum(lacing) <= len(data) and len(lacing) == count,
            "truncated container: the last Ogg page is cut short",
        )
        yield offset, header, serial, lacing
        offset += header + sum(lacing)


def _ogg(data: memoryview) -> Layout:
    headers: dict[int, int] = {}  # serial -> header packets still to come
    spans: list[Span] = []
    for offset, header, serial, lacing in _ogg_pages(data):
        if serial not in headers:
            first = bytes(data[offset + header : offset + header + 8])
            headers[serial] = next(
                (n for sig, n in _OGG_HEADERS.items() if first.startswith(sig)), 0
            )
            if first.startswith(b"\x7fFLAC"):  # the mapping header counts the others
                headers[serial] = 1 + int.from_bytes(first[7:9], "big")
        if headers[serial] > 0:
            headers[serial] -= sum(value < 255 for value in lacing)
            continue
        spans.append((offset + 6, 12))  # granule position and stream serial number
        spans.append((offset + header, sum(lacing)))
    return Layout("Ogg", tuple(spans))


def _mp4_atoms(data: memoryview, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Each atom between ``start`` and ``end``: its name, payload offset and payload end."""
    offset = start
    while offset + 8 <= end:
        size, name = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            _check(offset + 16 <= end, "truncated container: an MP4 atom header is cut short")
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:
            size = end - offset
        label = name.decode("latin-1")
        _check(size >= header, f"damaged container: the MP4 {label} atom has a bad size")
        _check(
            offset + size <= end,
            f"truncated container: the MP4 {label} atom declares {_bytes(size)}, "
            f"the file holds {_bytes(end - offset)} of it",
        )
        yield name, offset + header, offset + size
        offset += size


def _mp4_chunk_offsets(data: memoryview, start: int, end: int) -> Iterator[int]:
    for name, payload, stop in _mp4_atoms(data, start, end):
        if name in _MP4_CONTAINERS:
            yield from _mp4_chunk_offsets(data, payload, stop)
        elif name in (b"stco", b"co64"):
            count = struct.unpack_from(">I", data, payload + 4)[0]
            width = 4 if name == b"stco" else 8
            _check(payload + 8 + count * width <= stop, "damaged container: a bad MP4 stco")
            fmt = f">{count}{'I' if width == 4 else 'Q'}"
            yield from struct.unpack_from(fmt, data, payload + 8)


def _mp4(data: memoryview) -> Layout:
    spans: list[Span] = []
    moov = None
    has_mdat = False
    for name, payload, stop in _mp4_atoms(data, 0, len(data)):
        if name == b"moov":
            moov = (payload, stop)
        elif name not in _MP4_METADATA:
            spans.append((payload - 8, stop - payload + 8))
        has_mdat = has_mdat or name == b"mdat"
    _check(moov is not None, "damaged container: the MP4 file has no moov atom")
    _check(has_mdat, "damaged container: the MP4 file has no mdat atom")
    assert moov is not None
    for chunk in _mp4_chunk_offsets(data, *moov):
        _check(chunk < len(data), "truncated container: an MP4 chunk lies past the end")
        spans.append((chunk, min(MP4_CHUNK_HEAD, len(data) - chunk)))
    return Layout("MP4", tuple(spans))


def _asf(data: memoryview) -> Layout:
    _check(len(data) >= 30, "truncated container: the ASF header is cut short")
    size = struct.unpack_from("<Q", data, 16)[0]
    _check(
        size <= len(data),
        f"truncated container: the ASF header declares {_bytes(size)}, "
        f"the file holds {_bytes(len(data))}",
    )
    if len(data) >= size + 24:
        data_size = struct.unpack_from("<Q", data, size + 16)[0]
        _check(
            size + data_size <= len(data),
            f"truncated container: the ASF data object declares {_bytes(data_size)}, "
            f"the file holds {_bytes(len(data) - size)} of it",
        )
    return Layout("ASF", ((size, len(data) - size),))


def _apev2_family(kind: str) -> Callable[[memoryview, int], Layout]:
    def layout(data: memoryview, start: int) -> Layout:
        return Layout(kind, ((start, _tail_tags(data, start) - start),))

    return layout


_TAGGED_AT_END = {
    b"MAC ": _apev2_family("APE"),
    b"wvpk": _apev2_family("WavPack"),
    b"MPCK": _apev2_family("Musepack"),
    b"MP+": _apev2_family("Musepack"),
}


def layout(data: memoryview) -> Layout | None:
    """The container's audio spans; ``None`` for a container not known here.

    Raises
    ------
    ContainerDamaged
        The container's sizes run past the end of the file, or it lacks its audio.
    """
    _check(len(data) > 0, "the file is empty")
    head = bytes(data[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _riff(data, "WAV")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _riff(data, "AIFF")
    if head[:4] == b"OggS":
        return _ogg(data)
    if head[4:8] == b"ftyp":
        return _mp4(data)
    if head == _ASF_HEADER:
        return _asf(data)
    start = _id3v2_end(data)
    after = bytes(data[start : start + 4])
    if after == b"fLaC":
        return _flac(data, start)
    for magic, build in _TAGGED_AT_END.items():
        if after.startswith(magic):
            return build(data, start)
    if start or (len(after) > 1 and after[0] == 0xFF and after[1] & 0xE0 == 0xE0):
        return _mp3(data, start)
    return None


@dataclass(frozen=True)
class Audio:
    """What :func:`read_audio` found: the container and a digest of its audio bytes."""

    kind: str
    digest: str
    #: Bytes hashed (the audio's share of the file).
    size: int


def read_audio(path: bytes | str) -> Audio | None:
    """The container and a digest of the bytes that hold the audio; ``None`` when the
    container is not one known here.

    Raises
    ------
    ContainerDamaged
        The container is not consistent (:func:`layout`).
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise ContainerDamaged("the file is empty")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                found = layout(view)
                if found is None:
                    return None
                digest = hashlib.sha256()  # SHA-NI: twice blake2b's speed on an EPYC
                total = 0
                for offset, length in found.spans:
                    digest.update(view[offset : offset + length])
                    total += length
                return Audio(found.kind, digest.hexdigest(), total)
            except (struct.error, IndexError) as exc:
                raise ContainerDamaged("damaged container: its headers are cut short") from exc
            finally:
                view.release()
