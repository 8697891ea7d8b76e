"""What the safe tag write costs per file (issue 20): the old copy-write-rename against
:func:`writing.write_item` (container check, copy, write, owner and mode, audio compared,
rename), on 3-minute stereo 44.1 kHz files in every README format, same machine, same run.

    .venv/bin/python benchmarks/write_cost.py [--seconds 180] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from beets.library import Item
from mediafile import MediaFile

from beetsplug.genrescore import containers, tags, writing

FORMATS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "256k"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "6"],
    "opus": ["-c:a", "libopus", "-b:a", "128k", "-ar", "48000"],
    "m4a": ["-c:a", "aac", "-b:a", "256k", "-movflags", "+faststart"],
    "wav": ["-c:a", "pcm_s16le"],
    "aiff": ["-c:a", "pcm_s16be"],
    "wma": ["-c:a", "wmav2", "-b:a", "192k"],
}


def old_write(item: Item) -> None:
    """The write before issue 20: copy, write into the copy, rename."""
    path = item.path
    folder, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix=b".old-", suffix=os.path.splitext(name)[1],
                                         dir=folder)  # fmt: skip
    os.close(handle)
    shutil.copy2(path, temporary)
    item.write(path=temporary)
    os.replace(temporary, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for field, descriptor in tags.media_fields().items():
        if field not in vars(MediaFile):
            MediaFile.add_field(field, descriptor)
            Item._media_fields.add(field)  # what BeetsPlugin.add_media_field does
    folder = Path(tempfile.mkdtemp(prefix="write-cost-"))
    print(f"{args.seconds:.0f} s stereo (pink noise); ms, median and best of {args.repeat}")
    print(f"{'format':6} {'MB':>6} {'old':>13} {'new':>13} {'extra':>13} {'one check':>13}")
    for fmt, codec in FORMATS.items():
        path = folder / f"track.{fmt}"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
             f"anoisesrc=d={args.seconds}:c=pink:a=0.2,aformat=channel_layouts=stereo",
             "-ar", "44100", *codec, str(path)],  # a codec's own -ar comes last and wins
            check=True,
        )  # fmt: skip
        item = Item.from_path(os.fsencode(path))
        item.genrescore_genre = "Rock"
        item.genrescore_method = "hybrid_ml_instrument"
        old, new, check = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            old_write(item)
            old.append(time.perf_counter() - start)
            start = time.perf_counter()
            writing.write_item(item)
            new.append(time.perf_counter() - start)
            start = time.perf_counter()
            containers.read_audio(os.fsencode(path))
            check.append(time.perf_counter() - start)
        size = path.stat().st_size / 1e6
        medians = [statistics.median(times) * 1000 for times in (old, new, check)]
        bests = [min(times) * 1000 for times in (old, new, check)]
        medians.insert(2, medians[1] - medians[0])  # what the checks add to a write
        bests.insert(2, bests[1] - bests[0])
        cells = [f"{m:6.1f} {b:6.1f}" for m, b in zip(medians, bests, strict=True)]
        print(f"{fmt:6} {size:6.1f} " + " ".join(cells))
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
