"""Real audio files for the tests, synthesized and encoded here with real encoders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile

from beetsplug.genrescore.demo import synth

#: Formats the tests write, and the ffmpeg arguments that encode them.
ENCODERS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    "opus": ["-c:a", "libopus", "-b:a", "96k"],
    "m4a": ["-c:a", "aac", "-b:a", "128k"],
    "wav": ["-c:a", "pcm_s16le"],
    "wma": ["-c:a", "wmav2", "-b:a", "128k"],
}


def pcm(path: Path) -> bytes:
    """The file's decoded samples, by ffmpeg: an independent look at the audio."""
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "quiet", "-i", str(path), "-map", "0:a", "-f", "s16le", "-"],
        capture_output=True,
        check=False,
    ).stdout


def encode(y: np.ndarray, sr: int, path: Path, tags: dict[str, str] | None = None) -> Path:
    """Write ``y`` to ``path`` in the format its extension names, through ffmpeg."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_name(path.name + ".src.wav")
    soundfile.write(wav, y, sr)
    fmt = path.suffix.lstrip(".")
    metadata = [
        arg for key, value in (tags or {}).items() for arg in ("-metadata", f"{key}={value}")
    ]
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(wav),
            *ENCODERS[fmt],
            *metadata,
            str(path),
        ],
        check=True,
    )
    wav.unlink()
    return path


def track(path: Path, style: str = "techno", seconds: float = 20.0, **tags: str) -> Path:
    """A synthesized track of ``style`` in the format of ``path``'s extension."""
    y = synth.STYLES[style](seconds)
    defaults = {"title": path.stem, "artist": "Synth Band", "album": "Synth Album"}
    return encode(y, synth.SR, path, defaults | tags)


def bad_files(folder: Path, good: Path) -> dict[str, Path]:
    """The bad inputs of issue 2, by name; ``good`` is a valid mp3 to cut and rename."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["empty"] = folder / "empty.mp3"
    files["empty"].write_bytes(b"")
    files["random"] = folder / "random.mp3"
    files["random"].write_bytes(np.random.default_rng(7).bytes(64_000))
    ogg = track(folder / "ogg-inside.ogg", "reel", 8.0)
    files["ogg_as_mp3"] = ogg.rename(folder / "ogg-inside.mp3")
    files["truncated"] = folder / "truncated.mp3"
    # Its first second: too little for ffmpeg, the fallback, to decode enough of it either.
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 20])
    files["short"] = encode(synth.techno(0.5), synth.SR, folder / "short.mp3")
    files["silence"] = encode(
        np.zeros(synth.SR * 1200, np.float32), synth.SR, folder / "silence.flac"
    )
    return files


def copy(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest
