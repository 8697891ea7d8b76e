"""The embedded EfficientAT tagger: ``mn04_as``, a MobileNetV3 distilled from AudioSet
transformers (Schmid et al., ICASSP 2023; MIT), 527 AudioSet classes, run in ONNX Runtime.

AudioSet mAP 0.432 with 0.98 M parameters (YAMNet: 0.306, 3.7 M). Its labels are AudioSet's
display names, the vocabulary YAMNet and AST speak, so ``scoring.taxonomy``'s tables map them
onto instruments and genres unchanged. The weights ship as ``data/efficientat/mn04_as.onnx``
(``tools/convert_efficientat.py`` exports it from upstream's state dict; licence next to it).

The front end is upstream's ``AugmentMelSTFT`` in eval mode written out in numpy
(:func:`log_mel`): mono 32 kHz, pre-emphasis ``x[t] - 0.97 x[t-1]``, a centred STFT (reflect
padding) of n_fft 1024 with an 800-sample symmetric Hann window, hop 320 (10 ms), the power
spectrum, 128 Kaldi mel bands from 0 to 15 kHz (:func:`kaldi_mel_banks`), ``log(x + 1e-5)``
and ``(x + 4.5) / 5``. ``tests/test_efficientat.py`` checks it, and the ONNX graph, against
upstream's own code run once (``tests/data/efficientat/upstream.npz``).

Scores are sigmoid probabilities per window (the network pools over time; trained on 10 s
clips); :meth:`EfficientatBackend.predict` averages a track's windows.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from ..errors import BackendUnavailable, ModelLoadError
from ..scoring.ensemble import InstrumentScale
from ..scoring.taxonomy import GENRES, genre_for_label
from .base import DATA_DIR, EMBEDDED_BY_NAME, Backend, BackendOptions, Role
from .kit import REINSTALL_HINT, sigmoid, weights_id

if TYPE_CHECKING:
    from .base import Waveform

NAME: Final = "efficientat"
#: Bumped whenever the backend computes different numbers from the same file (front end,
#: windows, pooling); part of the fingerprint.
PORT_VERSION: Final = "1"
#: Version of the ONNX file's metadata layout (``tools/convert_efficientat.py`` writes it).
FORMAT_VERSION: Final = "1"
ONNX_NAME: Final = EMBEDDED_BY_NAME[NAME].files["onnx"]
#: The learned genre head (tools/train_genre_head.py writes it) and its registry name.
HEAD_MODEL: Final = "efficientat-genre"
HEAD_NAME: Final = EMBEDDED_BY_NAME[HEAD_MODEL].files["head"]
#: Bumped when the head's output changes for the same files: 2, mn04's voice classes ride
#: along (the vocals). Part of its fingerprint.
HEAD_OUTPUT_VERSION: Final = "2"
#: The genre head's inputs are log-scores, never below log of this (a class that is silent).
HEAD_FLOOR: Final = 1e-4
DATA: Final = DATA_DIR / "efficientat"
ONNX_PATH: Final = DATA / ONNX_NAME
HEAD_PATH: Final = DATA / HEAD_NAME

#: Upstream's front end (``models/preprocess.py``, ``inference.py``'s arguments).
SAMPLE_RATE: Final = 32000
N_FFT: Final = 1024
WIN_LENGTH: Final = 800
HOP_LENGTH: Final = 320
N_MELS: Final = 128
FMIN: Final = 0.0
#: ``sr // 2 - fmax_aug_range // 2`` with upstream's default ``fmax_aug_range`` of 2000.
FMAX: Final = 15000.0
PREEMPHASIS: Final = 0.97
LOG_OFFSET: Final = 1e-5
#: Upstream's "fast normalization": ``(log_mel + 4.5) / 5``.
NORM_SHIFT: Final = 4.5
NORM_SCALE: Final = 5.0
#: Frames whose spectrum :func:`log_mel` computes at once.
FRAME_BLOCK: Final = 128
N_CLASSES: Final = 527

#: Seconds of each analysis window the model hears: upstream's training clip length. One
#: 10 s window costs a few ms in ONNX Runtime (README of the reference folder; measured in
#: ``benchmarks/accuracy.py --timing``), so there is no reason to hear less.
WINDOW_SECONDS: Final = 10.0
#: Most windows per ONNX pass: one. ONNX Runtime runs here without a memory arena, so a
#: pass allocates its activations anew; a track's three 10 s windows in one pass added
#: 85 MB to a decoder worker's peak, one at a time 28 MB, at the same CPU time and with
#: the same logits to the bit (each window is pooled on its own).
MAX_WINDOWS: Final = 1

# How the track scores read as instruments (the mean over windows of each window's sigmoid
# score): a display threshold and a share of the strongest instrument, as YAMNet's. Grid on
# the dev set's 141 clips with instruments (benchmarks/accuracy.py's cached scores, its
# found/false rules), solo-instrument recall / false instruments per clip:
#
#     display  relative 0.0        0.2          0.3
#     0.03     72.5 % / 1.49       70.6 / 1.04  68.6 / 0.84
#     0.05     66.7 / 0.96         66.7 / 0.79  66.7 / 0.61
#     0.1      58.8 / 0.47         58.8 / 0.43  58.8 / 0.40   <- chosen
#     0.15     52.9 / 0.30         52.9 / 0.30  52.9 / 0.30
#
# Chosen by recall minus half the false instruments per clip, as YAMNet's; the choice made on
# four fifths of the artists and measured on the rest (5 folds): 56.9 % / 0.46. YAMNet on the
# same clips: 80.4 % / 0.86. Its recall never reaches YAMNet's at any threshold (72.5 % at
# most). The dev set was then decoded at 22.05 kHz, above which mn04's 15 kHz front end heard
# nothing; re-cut at full band (2026-12-07) it is no better: 56.9 % / 0.47 (YAMNet 78.4 % /
# 0.86). Most solo clips are sequenced sample-library phrases. So YAMNet keeps the instrument
# role, and mn04 serves the default as the genre model (its learned head, below) and for the
# vocals (its voice classes).
#: Shown in ``genrescore_instruments`` from this score on.
DISPLAY_THRESHOLD: Final = 0.1
#: The rule of an instrument boosts its genres from this score on (YAMNet's ratio of floor to
#: display threshold, not tuned) ...
BOOST_FLOOR: Final = 0.04
#: ... and fully from this one (likewise YAMNet's ratio).
BOOST_FULL: Final = 0.4
#: Share of the strongest instrument's score-over-threshold another needs to be shown.
RELATIVE_DISPLAY: Final = 0.3


def _mel_scale(freq: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Kaldi's mel scale, ``1127 ln(1 + f / 700)``."""
    return np.asarray(1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0))


def kaldi_mel_banks(
    *,
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    sr: float = SAMPLE_RATE,
    fmin: float = FMIN,
    fmax: float = FMAX,
) -> npt.NDArray[np.float32]:
    """Kaldi's triangular mel filters (``torchaudio.compliance.kaldi.get_mel_banks`` without
    VTLN warping), with the zero column for the Nyquist bin that upstream appends.

    Kaldi's mel scale is ``1127 ln(1 + f / 700)``; ``n_mels`` triangles are spaced evenly on
    it between ``fmin`` and ``fmax`` (``n_mels + 1`` steps), each rising from its left
    neighbour's centre to its own and falling to its right neighbour's, over the first
    ``n_fft / 2`` FFT bins. Computed in float64, returned in float32.

    Returns
    -------
    numpy.ndarray [shape=(n_mels, n_fft // 2 + 1)]
    """
    low, high = float(_mel_scale(fmin)), float(_mel_scale(fmax))
    delta = (high - low) / (n_mels + 1)
    index = np.arange(n_mels, dtype=np.float64)[:, None]
    left, centre, right = low + index * delta, low + (index + 1) * delta, low + (index + 2) * delta
    mel = _mel_scale(sr / n_fft * np.arange(n_fft // 2, dtype=np.float64))[None, :]
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


def _hann_symmetric(length: int) -> npt.NDArray[np.float64]:
    """``torch.hann_window(length, periodic=False)``."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2 * math.pi * n / (length - 1))


_BANKS: npt.NDArray[np.float32] | None = None
_WINDOW: npt.NDArray[np.float64] | None = None


def _front_end_tables() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    global _BANKS, _WINDOW
    if _BANKS is None or _WINDOW is None:
        _BANKS = kaldi_mel_banks()
        offset = (N_FFT - WIN_LENGTH) // 2  # torch.stft centres a shorter window
        window = np.zeros(N_FFT)
        window[offset : offset + WIN_LENGTH] = _hann_symmetric(WIN_LENGTH)
        _WINDOW = window
    return _BANKS, _WINDOW


def log_mel(y: Waveform) -> npt.NDArray[np.float32]:
    """Upstream's eval-mode front end on one mono 32 kHz window (module docstring).

    Parameters
    ----------
    y : numpy.ndarray [shape=(n,)]
        Mono audio at :data:`SAMPLE_RATE`, more than ``N_FFT / 2 + 1`` samples.

    Returns
    -------
    numpy.ndarray [shape=(N_MELS, 1 + (n - 1) // HOP_LENGTH)], float32

    Raises
    ------
    ValueError
        The window is too short for the STFT's reflect padding.
    """
    banks, window = _front_end_tables()
    x = np.asarray(y, dtype=np.float32)
    emphasised = (x[1:] - np.float32(PREEMPHASIS) * x[:-1]).astype(np.float64)
    if len(emphasised) <= N_FFT // 2:
        raise ValueError(f"a window of {len(x)} samples is too short (at least {N_FFT // 2 + 2})")
    padded = np.pad(emphasised, N_FFT // 2, mode="reflect")
    del emphasised
    frames = 1 + (len(padded) - N_FFT) // HOP_LENGTH
    strided = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:frames]
    # The float64 spectrum a block of frames at a time: whole, a 10 s window's spectrum took
    # the front end's peak to 21.5 MB, in blocks 7.8 MB, and 15 ms of CPU to 6.6 ms (the
    # blocks stay in cache); each frame's transform is its own: the power is the same to the
    # bit.
    power = np.empty((frames, N_FFT // 2 + 1), dtype=np.float32)
    for start in range(0, frames, FRAME_BLOCK):
        spectrum = np.fft.rfft(strided[start : start + FRAME_BLOCK] * window, axis=1)
        power[start : start + FRAME_BLOCK] = spectrum.real**2 + spectrum.imag**2
    mel = banks @ power.T
    out: npt.NDArray[np.float32] = (
        (np.log(mel + np.float32(LOG_OFFSET)) + np.float32(NORM_SHIFT)) / np.float32(NORM_SCALE)
    ).astype(np.float32)
    return out


def _same_windows(a: Sequence[Sequence[Waveform]], b: Sequence[Sequence[Waveform]]) -> bool:
    """The very same window arrays (identity, not equality), track by track."""
    return len(a) == len(b) and all(
        len(x) == len(y) and all(u is v for u, v in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


class EfficientatBackend(Backend):
    """The embedded ``mn04_as`` tagger on ONNX Runtime (CPU, float32).

    Parameters
    ----------
    options
        Device, precision and batch size. The model runs on the CPU whatever the device: a
        10 s window costs a few ms, less than moving it to a GPU would save.
    path
        The ONNX file (default: the shipped one).

    Raises
    ------
    ModelLoadError
        The file is missing, not loadable, or not of this format.
    """

    family = "efficientat"
    sample_rate = SAMPLE_RATE
    window_seconds = WINDOW_SECONDS
    multi_label = True
    instrument_relative = RELATIVE_DISPLAY

    def __init__(self, options: BackendOptions, path: Path | None = None) -> None:
        from . import onnx

        super().__init__(options)
        self.name = NAME
        self.path = path if path is not None else ONNX_PATH
        if not self.path.is_file():
            raise ModelLoadError(NAME, f"{self.path} is missing", REINSTALL_HINT)
        self.session = onnx.OnnxModel(self.path, NAME)
        metadata = self.session.metadata
        if (
            metadata.get("format") != "genrescore-efficientat"
            or metadata.get("format_version") != FORMAT_VERSION
        ):
            reason = f"{self.path} is not an EfficientAT file of format {FORMAT_VERSION}"
            raise ModelLoadError(NAME, reason, REINSTALL_HINT)
        self.labels = tuple(json.loads(metadata["labels"]))
        self._weights_id = weights_id(self.path, NAME)
        # The last call's windows (the arrays themselves, so their identity is a safe key)
        # and logits: the genre head and the tagger run on the same windows of a batch (the
        # analyzer hands both the same arrays), so the network runs once for both.
        self._last: tuple[list[list[Waveform]], list[npt.NDArray[np.float32]]] | None = None

    @property
    def accelerated(self) -> bool:
        return False  # ONNX Runtime on the CPU, whatever the device setting

    @property
    def fingerprint(self) -> str:
        return f"{self._weights_id}-port{PORT_VERSION}"

    def logits(self, tracks: Sequence[Sequence[Waveform]]) -> list[npt.NDArray[np.float32]]:
        """Each window's 527 logits, per track: shape ``(windows, 527)``.

        Windows of one length go through the network together; a shorter one (the end of a
        short file) alone, since the network pools over all the frames it is given. Called
        again with the very same window arrays (the genre head after the tagger), it returns
        the same logits without running the network again.

        Raises
        ------
        ValueError
            A track has no windows, or a window is not one-dimensional or too short.
        """
        key = [list(windows) for windows in tracks]
        if self._last is not None and _same_windows(self._last[0], key):
            return self._last[1]
        mels: list[npt.NDArray[np.float32]] = []
        owner: list[int] = []
        for index, windows in enumerate(tracks):
            if not windows:
                raise ValueError(f"track {index} has no windows")
            for window in windows:
                if np.ndim(window) != 1:
                    raise ValueError(f"track {index}: windows must be mono, 1-D arrays")
                mels.append(log_mel(window))
                owner.append(index)
        out = np.zeros((len(mels), N_CLASSES), dtype=np.float32)
        by_frames: dict[int, list[int]] = {}
        for position, mel in enumerate(mels):
            by_frames.setdefault(mel.shape[1], []).append(position)
        for positions in by_frames.values():
            batch = np.stack([mels[p] for p in positions])[:, None, :, :]
            out[positions] = self.session.run(batch, max_batch=MAX_WINDOWS, width=N_CLASSES)
        owners = np.asarray(owner)
        result = [out[owners == index] for index in range(len(tracks))]
        self._last = (key, result)
        return result

    def predict(self, tracks: Sequence[Sequence[Waveform]]) -> list[dict[str, float]]:
        """Each label's sigmoid score, averaged over the track's windows."""
        return [
            dict(zip(self.labels, sigmoid(window_logits).mean(axis=0).tolist(), strict=True))
            for window_logits in self.logits(tracks)
        ]

    def instrument_thresholds(self) -> Mapping[str, float]:
        """Display thresholds of the instruments AudioSet names (see the constants)."""
        from .yamnet import INSTRUMENTS

        return dict.fromkeys(INSTRUMENTS, DISPLAY_THRESHOLD)

    def instrument_scales(self) -> Mapping[str, InstrumentScale]:
        """Display thresholds, and a soft boost from a floor below them to a full level above."""
        return {
            name: InstrumentScale(display=threshold, floor=BOOST_FLOOR, full=BOOST_FULL)
            for name, threshold in self.instrument_thresholds().items()
        }


def head_features(
    logits: npt.NDArray[np.float32], labels: Sequence[str] | None = None
) -> npt.NDArray[np.float32]:
    """The genre head's input for tracks, ``(tracks, len(taxonomy.GENRES))``, from their
    windows' logits ``(tracks, windows, 527)`` in the order of ``labels`` (default: the
    shipped model's).

    For each canonical genre, the log of the strongest AudioSet genre class that folds into
    it (``taxonomy.genre_for_label``), from the mean of the windows' sigmoid scores, never
    below :data:`HEAD_FLOOR`.
    """
    names = labels if labels is not None else _audioset_labels()
    columns = _genre_columns(tuple(names))
    scores = sigmoid(logits).mean(axis=1)
    out = np.full((len(scores), len(GENRES)), HEAD_FLOOR, dtype=np.float32)
    for genre, indices in columns:
        out[:, genre] = np.maximum(out[:, genre], scores[:, indices].max(axis=1))
    folded: npt.NDArray[np.float32] = np.log(out)
    return folded


@functools.cache
def _genre_columns(labels: tuple[str, ...]) -> tuple[tuple[int, list[int]], ...]:
    by_genre: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        genre = genre_for_label(label)
        if genre is not None:
            by_genre.setdefault(GENRES.index(genre), []).append(index)
    return tuple(sorted(by_genre.items()))


def _audioset_labels() -> tuple[str, ...]:
    from .onnx import OnnxModel

    return tuple(json.loads(OnnxModel(ONNX_PATH, NAME).metadata["labels"]))


class GenreHead:
    """The learned genre head (``tools/train_genre_head.py``): a multinomial logistic
    regression over :func:`head_features`, whose weights were pulled towards the identity
    (genre class g votes for genre g): AudioSet's genre classes calibrated per class.

    Raises
    ------
    ModelLoadError
        The file is missing, or not a head over :data:`taxonomy.GENRES`.
    """

    def __init__(self, path: Path) -> None:
        try:
            with np.load(path) as data:
                self.weights = data["weights"].astype(np.float32)
                self.bias = data["bias"].astype(np.float32)
                inputs = tuple(str(c) for c in data["inputs"])
                self.classes = tuple(str(c) for c in data["classes"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(HEAD_MODEL, f"cannot read {path}: {exc}", REINSTALL_HINT) from exc
        if inputs != GENRES or self.weights.shape != (len(GENRES), len(self.classes)):
            reason = f"{path}: weights of shape {self.weights.shape} over other genres"
            raise ModelLoadError(HEAD_MODEL, reason, REINSTALL_HINT)

    def probabilities(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Class probabilities of tracks, ``(tracks, classes)``, from :func:`head_features`."""
        z = features @ self.weights + self.bias
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: npt.NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out


class EfficientatGenreBackend(Backend):
    """The embedded genre model: mn04's logits read by the learned head (:class:`GenreHead`).

    Its labels are canonical genre names and its scores a softmax over them. It runs the
    tagger's network (one :class:`EfficientatBackend` per process, shared with the
    instrument role), so with ``efficientat`` as the tagger too the network runs once.
    """

    family = "efficientat"
    sample_rate = SAMPLE_RATE
    window_seconds = WINDOW_SECONDS
    multi_label = False
    #: mn04's voice classes ride along with the genres: they tell sung from instrumental far
    #: better than YAMNet's (docs/accuracy.md, "Vocals"), and cost nothing more.
    voices = NAME

    def __init__(
        self, options: BackendOptions, tagger: EfficientatBackend, head: Path | None = None
    ) -> None:
        super().__init__(options)
        self.name = HEAD_MODEL
        self.tagger = tagger
        path = head if head is not None else HEAD_PATH
        self.head = GenreHead(path)
        self.labels = self.head.classes
        self._fingerprint = (
            f"{tagger.fingerprint}-head{weights_id(path, HEAD_MODEL)}-v{HEAD_OUTPUT_VERSION}"
        )

    @property
    def accelerated(self) -> bool:
        return False

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def predict(self, tracks: Sequence[Sequence[Waveform]]) -> list[dict[str, float]]:
        """Each track's genre probabilities (the head over its :func:`head_features`), and
        mn04's scores of AudioSet's voice classes (:attr:`voices`; no genre is named so)."""
        from ..scoring.traits import VOCAL_LABELS

        logits = self.tagger.logits(tracks)
        inputs = np.concatenate([head_features(x[None], self.tagger.labels) for x in logits])
        columns = [self.tagger.labels.index(label) for label in VOCAL_LABELS]
        out = []
        for x, row in zip(logits, self.head.probabilities(inputs), strict=True):
            voices = sigmoid(x[:, columns]).mean(axis=0).tolist()
            out.append(
                {
                    **dict(zip(self.labels, row.tolist(), strict=True)),
                    **dict(zip(VOCAL_LABELS, voices, strict=True)),
                }
            )
        return out


def build(value: str, role: Role, options: BackendOptions) -> Backend:
    """Registry factory (``base.EMBEDDED``): ``efficientat``, the ``mn04_as`` tagger (either
    role), or ``efficientat-genre``, the learned genre head over it."""
    from .base import built_once

    def tagger() -> EfficientatBackend:
        return EfficientatBackend(options)

    if value == NAME:
        return built_once(tagger, NAME, Role.INSTRUMENTS, options)
    if value == HEAD_MODEL:
        shared = built_once(tagger, NAME, Role.INSTRUMENTS, options)
        assert isinstance(shared, EfficientatBackend)
        del role
        return EfficientatGenreBackend(options, shared)
    raise BackendUnavailable(value, f"not an embedded model; use {NAME!r} or {HEAD_MODEL!r}")
