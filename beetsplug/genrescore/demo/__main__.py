"""Build a small demo library from synthesized audio, import it with genrescore, list it.

``python -m beetsplug.genrescore.demo [FOLDER]`` (default ``./demo``): writes a few tracks in
several formats, imports them with the real ``beet`` command into a library inside FOLDER
(its own config; your beets library is not touched), and prints what genrescore found.
No download: the audio is synthesized, the models are the embedded ones unless the
configured ones are in the local cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import synth

#: (file name, style, format): one of each supported container, varied styles.
TRACKS = (
    ("Fiddle Reel", "reel", "mp3"),
    ("Warehouse Loop", "techno", "flac"),
    ("Boom Bap", "hiphop", "ogg"),
    ("Power Chords", "rock", "m4a"),
    ("Night Piano", "piano", "opus"),
)
LIST_FORMAT = (
    "$title | $genrescore_genre $genrescore_confidence | $genrescore_top3 | "
    "$genrescore_instruments | $bpm BPM | $genrescore_mood | $genrescore_vocals"
)
SECONDS = 30.0


def _encode(y: object, path: Path, title: str) -> None:
    import soundfile

    wav = path.with_suffix(".wav")
    soundfile.write(wav, y, synth.SR)
    metadata = ["-metadata", f"title={title}", "-metadata", "artist=genrescore demo",
                "-metadata", "album=Synthesized Styles"]  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), *metadata, str(path)],
        check=True,
    )
    wav.unlink()


def build(folder: Path) -> Path:
    """Write the demo tracks and a beets config into ``folder``; return the config path."""
    incoming = folder / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    for index, (title, style, fmt) in enumerate(TRACKS, start=1):
        path = incoming / f"{index:02d} {title}.{fmt}"
        if not path.exists():
            _encode(synth.STYLES[style](SECONDS), path, title)
    config = folder / "config.yaml"
    config.write_text(
        f"directory: {folder / 'library'}\n"
        f"library: {folder / 'library.db'}\n"
        "plugins: [genrescore]\n"
        "import: {copy: yes, write: yes, autotag: no, log: null}\n"
        "create_backup_before_migrations: no\n"
        "genrescore: {}\n"
    )
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="demo", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        sys.stderr.write("the demo needs ffmpeg to encode its tracks (apt-get install ffmpeg)\n")
        return 1
    folder = args.folder.resolve()
    if (folder / "library.db").exists():
        (folder / "library.db").unlink()
        shutil.rmtree(folder / "library", ignore_errors=True)
    config = build(folder)
    beet = [str(Path(sys.executable).with_name("beet")), "-c", str(config)]
    env = {**os.environ, "BEETSDIR": str(folder)}
    subprocess.run([*beet, "import", "-q", str(folder / "incoming")], check=True, env=env)
    subprocess.run([*beet, "ls", "-f", LIST_FORMAT], check=True, env=env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
