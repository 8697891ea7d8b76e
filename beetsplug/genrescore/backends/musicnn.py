"""The embedded default models: musicnn's MSD tagger (genre) and MTT tagger (instruments).

Both are ports of the ``musicnn`` 0.1.0 taggers (:mod:`.musicnn_net`) whose weights ship with
the plugin in ``data/musicnn/``, so they work offline and need nothing but ONNX Runtime on the
CPU (torch on a GPU or in bf16).
``musicnn-msd`` answers with the 50 Million Song Dataset / Last.fm tags (rock, electronic,
jazz...); ``musicnn-mtt`` with the 50 MagnaTagATune tags, which name eleven instruments.
Scores are independent sigmoid probabilities, averaged over every 3 s patch of a track.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from ..errors import BackendUnavailable
from . import musicnn_net
from .base import DATA_DIR, EMBEDDED_MODELS, Backend, BackendOptions, EmbeddedBackend, Role
from .kit import sigmoid

if TYPE_CHECKING:
    from .base import Waveform
    from .musicnn_torch import MusicnnNet

#: Bumped whenever the port computes different numbers from the same weights (preprocessing,
#: patching, averaging); part of the backend's fingerprint.
PORT_VERSION: Final = "1"
#: Where the converted weights ship (``tools/convert_musicnn.py`` writes them).
WEIGHTS_DIR: Final = DATA_DIR / "musicnn"
_MODELS = [model for model in EMBEDDED_MODELS if model.family == "musicnn"]
#: Registry name -> weights file (from the registry, ``base.EMBEDDED_MODELS``).
WEIGHT_FILES: Final[Mapping[str, str]] = {model.name: model.files["weights"] for model in _MODELS}
#: Registry name -> the ONNX file exported from its weights (``tools/export_onnx.py``).
ONNX_FILES: Final[Mapping[str, str]] = {model.name: model.files["onnx"] for model in _MODELS}
#: One patch's log-mel frames and bands (the model's input, after the batch axis).
PATCH_FRAMES: Final = musicnn_net.PATCH_FRAMES
N_MELS: Final = musicnn_net.N_MELS
#: Seconds of each analysis window the models look at: one of musicnn's 3 s patches, the
#: input length it was trained on. With the analyzer's default of three windows both models
#: together take about 0.2 s per track on two CPU cores; 9 s windows (three patches each)
#: take about 0.5 s (benchmarks/musicnn_speed.py). More windows are the better way to spend
#: more time: patches spread over the track see different sections, while the extra patches
#: of a longer window repeat the bars next to the first.
WINDOW_SECONDS: Final = musicnn_net.PATCH_SECONDS
#: Most patches per forward pass on the CPU. A patch needs about 9 MB for its largest
#: activation (204 x 187 x 59 float32); up to three stay under glibc's 32 MB mmap threshold,
#: so the allocator reuses its heap instead of mapping and faulting in fresh pages on every
#: call. Measured on 4 tracks x 3 windows x 9 s, both models: 36 patches per pass cost
#: 0.78 s/track (0.56 s of it system time, 220k page faults per track) and 1.2 GB peak RSS;
#: 3 patches per pass 0.45-0.51 s/track, almost no faults and 0.53 GB
#: (benchmarks/musicnn_speed.py).
CPU_MAX_PATCHES: Final = 3
#: The same for ONNX Runtime: one patch per pass. Its timbral convolution is compute-bound
#: (about 1.1 G multiply-adds a patch), so bigger passes only cost memory (about 12 MB of
#: columns and activations a patch): a track's 3 patches in one pass took 125 ms of CPU and
#: a 235 MB peak, one at a time 92-100 ms and 180 MB (both models in one process).
ONNX_MAX_PATCHES: Final = 1

# MTT instrument tag thresholds, on the track-level probability (the mean over the patches of
# three 3 s windows at 25/50/75 % of the track, as the analyzer cuts them). Chosen from the
# port's output on the five reference clips in tests/data/musicnn (violin; distorted guitar +
# bass + drums; piano; techno saw lead + drum machine; a sine/sweep/pink-noise tone) and on
# synthetic signals (a -60 dBFS noise floor, white and pink noise, a 440 Hz sine, a sawtooth
# arpeggio, a kick/snare/hi-hat loop, Karplus-Strong plucks, arpeggio + drums); the script
# and its full table are in benchmarks/musicnn_thresholds.py. "present" is the lowest score
# where the instrument plays, "absent" the highest where it does not. MTT's tags were
# annotated sparsely, so even clear instruments often score well under 0.5.
MTT_INSTRUMENT_THRESHOLDS: Final[Mapping[str, float]] = {
    # present 0.74 (violin clip); absent <= 0.024.
    "violin": 0.2,
    # present 0.52 (violin clip: MTT tags a solo violin "strings" too); absent <= 0.06.
    "strings": 0.2,
    # present 0.33 (rock), 0.46 (plucks); absent 0.285 (noise floor), 0.16 (piano clip).
    # Set nearer the noise floor: rock guitar varies from 0.2 to 0.5 between patches.
    "guitar": 0.3,
    # present 0.74 (piano clip); absent <= 0.15 (noise floor).
    "piano": 0.3,
    # present 0.063 (arpeggio + drums), 0.076 (techno), 0.095 (rock), 0.28 (drum loop);
    # absent <= 0.029, except the bare sawtooth arpeggio (0.078), whose hard-gated 16th notes
    # the model hears as percussion. MTT's "drums" stays low even on a drum machine; a value
    # above 0.078 would miss the techno clip, so that false positive is accepted.
    "drums": 0.05,
    # present 0.23 (arpeggio + drums), 0.48 (techno); absent <= 0.14 (drum loop, rock's
    # distorted guitar). The bare sawtooth arpeggio (0.12) is missed: it cannot be told from
    # those here.
    "synthesizer": 0.2,
    # No flute among the signals; a plain sine scores 0.57 and the tone clip 0.56, so flute
    # needs more than that to be believed.
    "flute": 0.7,
    # No example among the signals; absent <= 0.06. Unverified: a conservative default.
    "cello": 0.2,
    "harpsichord": 0.2,
    "harp": 0.2,
    "sitar": 0.2,
}


class MusicnnBackend(EmbeddedBackend[musicnn_net.MusicnnWeights, "MusicnnNet"]):
    """One embedded musicnn tagger.

    Parameters
    ----------
    name
        ``"musicnn-msd"`` or ``"musicnn-mtt"``.
    options
        Device, precision and batch size.
    weights
        The safetensors file (default: the shipped one for ``name``).
    engine
        ``"onnx"`` or ``"torch"``, to override the default (onnx for float32 on the CPU).

    Raises
    ------
    ModelLoadError
        The weights file is missing or corrupt.
    """

    family = "musicnn"
    sample_rate = musicnn_net.SAMPLE_RATE
    window_seconds = WINDOW_SECONDS
    multi_label = True
    port_version = PORT_VERSION

    def __init__(
        self,
        name: str,
        options: BackendOptions,
        weights: Path | None = None,
        *,
        engine: str | None = None,
    ) -> None:
        path = weights if weights is not None else WEIGHTS_DIR / WEIGHT_FILES[name]
        super().__init__(
            name,
            options,
            path,
            musicnn_net.load_musicnn,
            path.with_name(ONNX_FILES[name]),
            engine=engine,
        )
        patches_per_window = int(self.window_seconds // musicnn_net.PATCH_SECONDS)
        self.max_batch = max(1, self.batch_size * patches_per_window)
        if self.engine == "onnx":
            self.max_batch = min(self.max_batch, ONNX_MAX_PATCHES)
        elif not self.placement.accelerated:
            self.max_batch = min(self.max_batch, CPU_MAX_PATCHES)

    def torch_module(self, weights: musicnn_net.MusicnnWeights) -> MusicnnNet:
        """The network as a torch module (imports torch)."""
        from . import musicnn_torch

        return musicnn_torch.MusicnnNet(weights).eval()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Tag logits of log-mel patches ``(patches, PATCH_FRAMES, N_MELS)`` on the chosen
        engine, ``(patches, tags)`` float32."""
        if self.session is not None:
            return self.session.run(batch, max_batch=self.max_batch, width=len(self.labels))
        from . import musicnn_torch

        assert self.model is not None
        return musicnn_torch.predict_logits(
            model=self.model,
            batch=batch,
            max_batch=self.max_batch,
            device=self.device,
            dtype=self.dtype,
        )

    def predict(self, tracks: Sequence[Sequence[Waveform]]) -> list[dict[str, float]]:
        """Mean tag probabilities over all patches of each track, all tracks in one batch.

        Raises
        ------
        ValueError
            A track has no windows, or a window is not one-dimensional.
        """
        self.check_tracks(tracks)
        per_window = []
        patches_per_track = []
        for windows in tracks:
            track_patches = [musicnn_net.window_patches(audio=window) for window in windows]
            per_window.extend(track_patches)
            patches_per_track.append(sum(len(patches) for patches in track_patches))
        batch, _ = musicnn_net.stack_patches(windows=per_window)
        probabilities = sigmoid(self.logits(batch))
        per_track = np.split(probabilities, np.cumsum(patches_per_track)[:-1])
        return [
            dict(zip(self.labels, track.mean(axis=0).tolist(), strict=True)) for track in per_track
        ]

    def instrument_thresholds(self) -> Mapping[str, float]:
        """Thresholds for the MTT tagger's instrument tags; the MSD tagger names none."""
        return MTT_INSTRUMENT_THRESHOLDS if self.name == "musicnn-mtt" else {}


def build(value: str, role: Role, options: BackendOptions) -> Backend:
    """Registry factory (``base.EMBEDDED``): build the embedded model ``value`` names.

    Either model may serve either role: MTT's tags include genres (rock, techno, classical),
    so it can also vote on the genre; MSD's name no instrument the tagger role could use.
    """
    del role  # both models produce their own tags whatever they are used for
    if value not in WEIGHT_FILES:
        raise BackendUnavailable(value, f"not an embedded model; use one of {sorted(WEIGHT_FILES)}")
    return MusicnnBackend(value, options)
