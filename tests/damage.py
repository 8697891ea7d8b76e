"""Damaged copies of real audio files, the way disks, downloads and users damage them.

A seeded generator: the same seed gives the same bytes, so a failure names a file that can
be built again. Every variant keeps its category, so a test can say how each kind fared.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Formats the plugin supports; each gets every per-format kind of damage.
FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav")
#: Cuts that leave only the first bytes: a header and no audio. 66-151 bytes passed the
#: plugin's first-bytes check and made beets drop the file without a word (issue 9).
SHORT_CUTS = (66, 100, 120, 151)
#: Size of the blocks that are zeroed, shuffled and duplicated (a disk sector or a few).
BLOCK = 4096
#: Bytes at the start of a file that are left in place when its blocks are shuffled, so
#: that the file still looks like its format and reaches the decoder.
KEEP_HEAD = 1024
#: Size of the large sparse file (it takes no disk space).
SPARSE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Variant:
    """One damaged (or oddly named) file."""

    path: Path
    category: str
    fmt: str


def ogg_pages(data: bytes) -> list[bytes]:
    """Split an Ogg stream at its page headers (``OggS``)."""
    starts = [i for i in range(len(data) - 3) if data[i : i + 4] == b"OggS"]
    if not starts:
        return [data]
    bounds = [*starts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _chunks(data: bytes, fmt: str) -> tuple[bytes, list[bytes]]:
    """A file as a head left alone and the chunks after it (Ogg: pages after the headers)."""
    if fmt in ("ogg", "opus"):
        pages = ogg_pages(data)
        return b"".join(pages[:3]), pages[3:]
    head, rest = data[:KEEP_HEAD], data[KEEP_HEAD:]
    return head, [rest[i : i + BLOCK] for i in range(0, len(rest), BLOCK)]


def flip(data: bytes, rng: random.Random, start: int, stop: int, count: int) -> bytes:
    out = bytearray(data)
    stop = min(stop, len(out))
    for _ in range(count):
        position = rng.randrange(start, stop)
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def zero(data: bytes, start: int, length: int) -> bytes:
    return data[:start] + bytes(min(length, len(data) - start)) + data[start + length :]


def shuffle_chunks(data: bytes, fmt: str, rng: random.Random) -> bytes:
    head, chunks = _chunks(data, fmt)
    rng.shuffle(chunks)
    return head + b"".join(chunks)


def duplicate_chunks(data: bytes, fmt: str, rng: random.Random) -> bytes:
    head, chunks = _chunks(data, fmt)
    index = rng.randrange(len(chunks))
    twice = chunks[: index + 1] + chunks[index : index + 3] + chunks[index + 1 :]
    return head + b"".join(twice)


def _damages(fmt: str) -> dict[str, Callable[[bytes, random.Random], bytes]]:
    middle = 0.5

    def in_middle(data: bytes) -> int:
        return int(len(data) * middle)

    kinds: dict[str, Callable[[bytes, random.Random], bytes]] = {
        "header-flip-a": lambda d, r: flip(d, r, 0, 64, 4),
        "header-flip-b": lambda d, r: flip(d, r, 4, 200, 12),
        "middle-flip": lambda d, r: flip(d, r, in_middle(d) - 2000, in_middle(d) + 2000, 24),
        "zero-start": lambda d, r: zero(d, 0, 512),
        "zero-middle": lambda d, r: zero(d, in_middle(d), BLOCK),
        "shuffled": lambda d, r: shuffle_chunks(d, fmt, r),
        "duplicated": lambda d, r: duplicate_chunks(d, fmt, r),
        "truncated-4k": lambda d, r: d[:BLOCK],
        "truncated-half": lambda d, r: d[: len(d) // 2],
    }
    for cut in SHORT_CUTS:
        kinds[f"truncated-{cut}"] = lambda d, r, cut=cut: d[:cut]
    return kinds


#: Odd names given to intact copies (and one damaged file): they must import and analyse.
ODD_NAMES = {
    "newline": b"new\nline",
    "quotes": b'it\'s "quoted"',
    "non-utf8": b"caf\xe9 \xff\xfe latin-1",
}


def corpus(folder: Path, sources: dict[str, Path], seed: int = 9) -> list[Variant]:
    """Write the damaged variants of ``sources`` (format -> a good file) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    variants: list[Variant] = []

    def write(name: bytes, data: bytes, category: str, fmt: str) -> None:
        path = os.path.join(os.fsencode(folder), name)
        with open(path, "wb") as handle:
            handle.write(data)
        variants.append(Variant(Path(os.fsdecode(path)), category, fmt))

    for index, fmt in enumerate(FORMATS):
        good = sources[fmt].read_bytes()
        for category, damage in _damages(fmt).items():
            write(f"{category}.{fmt}".encode(), damage(good, rng), category, fmt)
        other = FORMATS[(index + 1) % len(FORMATS)]
        write(f"wrong-ext-{fmt}.{other}".encode(), good, "wrong-extension", fmt)
        write(f"empty.{fmt}".encode(), b"", "empty", fmt)
        write(f"one-byte.{fmt}".encode(), good[:1], "one-byte", fmt)
        kind, odd = list(ODD_NAMES.items())[index % len(ODD_NAMES)]
        write(odd + f" {fmt}.{fmt}".encode(), good, f"odd-name-{kind}", fmt)
    ogg = sources["ogg"].read_bytes()
    write(b"shuffled \xff name.ogg", shuffle_chunks(ogg, "ogg", rng), "odd-name-damaged", "ogg")

    sparse = folder / "sparse.flac"
    with open(sparse, "wb") as handle:
        handle.truncate(SPARSE_BYTES)
    variants.append(Variant(sparse, "sparse-2GB", "flac"))
    loop = folder / "loop.mp3"
    loop.symlink_to(loop.name)
    variants.append(Variant(loop, "symlink-loop", "mp3"))
    return variants


def cut_tail(data: bytes) -> bytes:
    """The file without its last ~2 %: its headers promise more than it holds (issue 20's
    WAV was ``head -c 175859`` of 176,478 bytes)."""
    return data[: len(data) - max(619, len(data) // 50)]


def data_size_lie(data: bytes) -> bytes:
    """A WAV whose data chunk declares a block more than it holds, the file otherwise whole."""
    at = data.index(b"data") + 4
    size = int.from_bytes(data[at : at + 4], "little") + BLOCK
    return data[:at] + size.to_bytes(4, "little") + data[at + 4 :]


def container_corpus(folder: Path, sources: dict[str, Path]) -> list[Variant]:
    """Containers whose own sizes lie (a tag writer trusts them: issue 20), and an intact
    copy of each format, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    variants = []
    for fmt in FORMATS:
        good = sources[fmt].read_bytes()
        kinds = {"intact": good, "tail-cut": cut_tail(good)}
        if fmt == "wav":
            kinds["data-size-lie"] = data_size_lie(good)
        for category, data in kinds.items():
            path = folder / f"{category}.{fmt}"
            path.write_bytes(data)
            variants.append(Variant(path, category, fmt))
    return variants
