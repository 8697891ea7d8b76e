"""The embedded EfficientAT ``mn04_as``: numpy front end + ONNX graph == upstream's torch code.

The fixture (``tests/data/efficientat/upstream.npz``) was written once by
``tools/convert_efficientat.py --record-fixtures`` running upstream's own ``AugmentMelSTFT``
and ``get_model`` (github.com/fschmid56/EfficientAT @ a425fdc) on four test signals, stored
as 16-bit PCM: its mel spectrograms (two of them) and every signal's logits and embedding.
The Kaldi mel filters upstream takes from torchaudio are checked here against Kaldi's own
formula, bin by bin (mel-computations.cc), since the fixture run used the plugin's port.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from beetsplug.genrescore.backends import efficientat
from beetsplug.genrescore.backends.base import BackendOptions, Role
from beetsplug.genrescore.errors import BackendUnavailable, ModelLoadError
from beetsplug.genrescore.scoring.taxonomy import GENRES, genre_for_label, instrument_for_label
from beetsplug.genrescore.scoring.traits import VOCAL_LABELS

FIXTURE = Path(__file__).parent / "data" / "efficientat" / "upstream.npz"
SIGNALS = ("music", "chirp", "noise", "short")
#: log-mel: float32 power spectra of bands with almost no energy (a chirp's silent bands)
#: differ in their last digits between torch's float32 STFT and numpy's float64 one, which
#: ``log`` turns into ~1e-4; logits: float32 rounding through 17 layers.
MEL_ATOL = 5e-4
LOGIT_ATOL = 1e-4


@pytest.fixture(scope="module")
def upstream() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def backend() -> efficientat.EfficientatBackend:
    return efficientat.EfficientatBackend(BackendOptions(device="cpu"))


def _audio(upstream: dict[str, np.ndarray], name: str) -> np.ndarray:
    return upstream[f"{name}_pcm"].astype(np.float32) / 32768.0


def _kaldi_bank(bins: int, n_fft: int, sr: float, low: float, high: float) -> np.ndarray:
    """Kaldi's ``MelBanks`` constructor written out with scalars (no VTLN)."""

    def mel(freq: float) -> float:
        return 1127.0 * math.log(1.0 + freq / 700.0)

    width = sr / n_fft
    low_mel, high_mel = mel(low), mel(high)
    delta = (high_mel - low_mel) / (bins + 1)
    out = np.zeros((bins, n_fft // 2 + 1))
    for b in range(bins):
        left, centre, right = (low_mel + (b + k) * delta for k in range(3))
        for i in range(n_fft // 2):
            m = mel(width * i)
            if left < m < right:
                out[b, i] = (
                    (m - left) / (centre - left) if m <= centre else (right - m) / (right - centre)
                )
    return out


def test_mel_banks_are_kaldis() -> None:
    banks = efficientat.kaldi_mel_banks()
    assert banks.shape == (128, 513)
    assert banks.dtype == np.float32
    want = _kaldi_bank(128, 1024, 32000.0, 0.0, 15000.0)
    np.testing.assert_allclose(banks, want, atol=1e-6)
    assert not banks[:, -1].any()  # the Nyquist column upstream pads with zeros
    assert not banks[:, 481:].any()  # 15 kHz is bin 480: nothing above it


def test_front_end_matches_upstream(upstream: dict[str, np.ndarray]) -> None:
    for name in ("chirp", "short"):
        want = upstream[f"{name}_mel"]
        got = efficientat.log_mel(_audio(upstream, name))
        assert got.shape == want.shape
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=MEL_ATOL, err_msg=name)


def test_front_end_frames() -> None:
    # torch.stft, centred: 1 + (samples after pre-emphasis) // hop frames.
    assert efficientat.log_mel(np.zeros(32000, np.float32) + 0.1).shape == (128, 100)
    assert efficientat.log_mel(np.ones(32001, np.float32)).shape == (128, 101)
    with pytest.raises(ValueError, match="too short"):
        efficientat.log_mel(np.ones(400, np.float32))


def test_front_end_blocks_are_seamless(monkeypatch: pytest.MonkeyPatch) -> None:
    # log_mel transforms the frames a block at a time to bound its memory: every frame is
    # computed once, at its place, and the result is the whole-window one to the bit (a
    # track's fingerprint and stored evidence must not depend on the block size).
    y = np.random.default_rng(5).standard_normal(32000 * 3 + 4321).astype(np.float32)
    frames = 1 + (len(y) - 1) // efficientat.HOP_LENGTH
    assert frames % efficientat.FRAME_BLOCK not in (0, 1)  # a ragged last block
    blocked = efficientat.log_mel(y)
    for block in (1, 7, frames - 1, frames, frames + 1000):
        monkeypatch.setattr(efficientat, "FRAME_BLOCK", block)
        np.testing.assert_array_equal(efficientat.log_mel(y), blocked, err_msg=str(block))


def test_graph_on_upstream_mel(
    upstream: dict[str, np.ndarray], backend: efficientat.EfficientatBackend
) -> None:
    for name in ("chirp", "short"):
        mel = upstream[f"{name}_mel"][None, None]
        got = backend.session.run(mel, max_batch=4, width=efficientat.N_CLASSES)[0]
        np.testing.assert_allclose(got, upstream[f"{name}_logits"], atol=LOGIT_ATOL, err_msg=name)


def test_backend_matches_upstream(
    upstream: dict[str, np.ndarray], backend: efficientat.EfficientatBackend
) -> None:
    tracks = [[_audio(upstream, name)] for name in SIGNALS]
    logits = backend.logits(tracks)
    scores = backend.predict(tracks)
    for name, got, track_scores in zip(SIGNALS, logits, scores, strict=True):
        want = upstream[f"{name}_logits"]
        np.testing.assert_allclose(got[0], want, atol=LOGIT_ATOL, err_msg=name)
        probabilities = 1 / (1 + np.exp(-want.astype(np.float64)))
        assert list(track_scores) == list(backend.labels)
        np.testing.assert_allclose(list(track_scores.values()), probabilities, atol=1e-5)
    # What the signals are, in upstream's own top class: music, a sweep, noise, a sine.
    top = {name: backend.labels[int(np.argmax(upstream[f"{name}_logits"]))] for name in SIGNALS}
    assert top["music"] == "Music"
    assert top["noise"] in {"White noise", "Pink noise", "Static", "Noise"}
    assert top["short"] in {"Sine wave", "Beep, bleep"}


def test_windows_batch_like_alone(
    upstream: dict[str, np.ndarray], backend: efficientat.EfficientatBackend
) -> None:
    music, chirp = _audio(upstream, "music"), _audio(upstream, "chirp")
    together = backend.logits([[music, chirp[:32000], music[:32000]], [chirp]])
    alone = [backend.logits([[w]])[0][0] for w in (music, chirp[:32000], music[:32000], chirp)]
    np.testing.assert_allclose(together[0], np.stack(alone[:3]), atol=1e-5)
    np.testing.assert_allclose(together[1][0], alone[3], atol=1e-5)
    # A track's score is the mean of its windows' sigmoids.
    mean = (1 / (1 + np.exp(-together[0].astype(np.float64)))).mean(axis=0)
    scores = backend.predict([[music, chirp[:32000], music[:32000]]])[0]
    np.testing.assert_allclose(list(scores.values()), mean, atol=1e-6)


def test_labels_and_instruments(backend: efficientat.EfficientatBackend) -> None:
    assert len(backend.labels) == 527
    assert backend.labels[0] == "Speech"
    assert backend.labels[137] == "Music"
    named = {instrument_for_label(label) for label in backend.labels} - {None}
    assert set(backend.instrument_thresholds()) <= named | {"didgeridoo"}
    for expected in ("banjo", "harmonica", "accordion", "violin", "saxophone", "piano"):
        assert expected in named
    assert backend.fingerprint.endswith(f"-port{efficientat.PORT_VERSION}")
    assert backend.sample_rate == 32000
    assert backend.multi_label


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="missing"):
        efficientat.EfficientatBackend(BackendOptions(device="cpu"), tmp_path / "none.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"junk\.onnx"):
        efficientat.EfficientatBackend(BackendOptions(device="cpu"), junk)


def test_factory() -> None:
    options = BackendOptions(device="cpu")
    assert efficientat.build("efficientat", Role.INSTRUMENTS, options).name == "efficientat"
    assert efficientat.build("efficientat-genre", Role.GENRE, options).name == "efficientat-genre"
    with pytest.raises(BackendUnavailable):
        efficientat.build("mn10", Role.GENRE, options)


# --- the learned genre head ----------------------------------------------------------------


def _head_file(path: Path, classes: tuple[str, ...], weights: np.ndarray) -> Path:
    np.savez(
        path,
        weights=weights.astype(np.float32),
        bias=np.zeros(len(classes), np.float32),
        inputs=np.array(GENRES),
        classes=np.array(classes),
    )
    return path


def test_head_reads_the_genre_classes(
    tmp_path: Path, upstream: dict[str, np.ndarray], backend: efficientat.EfficientatBackend
) -> None:
    # A head over two genres, with known weights: its answer written out by hand.
    classes = ("jazz", "electronic")
    weights = np.zeros((len(GENRES), 2))
    weights[GENRES.index("jazz"), 0] = 1.0
    weights[GENRES.index("electronic"), 1] = 2.0
    weights[GENRES.index("ambient"), 1] = -0.5
    path = _head_file(tmp_path / "head.npz", classes, weights)
    genre = efficientat.EfficientatGenreBackend(BackendOptions(device="cpu"), backend, path)
    assert genre.labels == classes
    assert not genre.multi_label
    music, noise = _audio(upstream, "music"), _audio(upstream, "noise")
    tracks = [[music, music[:48000]], [noise]]
    got = genre.predict(tracks)
    for scores, window_logits in zip(got, backend.logits(tracks), strict=True):
        mean = (1 / (1 + np.exp(-window_logits.astype(np.float64)))).mean(axis=0)
        strongest: dict[str, float] = {}
        for label, score in zip(backend.labels, mean, strict=True):
            name = genre_for_label(label)
            if name is not None:
                strongest[name] = max(strongest.get(name, 0.0), score)
        log = {g: math.log(max(strongest.get(g, 0.0), efficientat.HEAD_FLOOR)) for g in GENRES}
        z = np.array([log["jazz"], 2.0 * log["electronic"] - 0.5 * log["ambient"]])
        want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose([scores["jazz"], scores["electronic"]], want, atol=1e-5)
    # mn04's voice classes ride along, as the tagger scores them (the vocals read them).
    for scores, tagged in zip(got, backend.predict(tracks), strict=True):
        assert set(scores) == set(classes) | set(VOCAL_LABELS)
        for label in VOCAL_LABELS:
            assert scores[label] == pytest.approx(tagged[label], abs=1e-6)
    assert genre.voices == efficientat.NAME
    assert genre.fingerprint.startswith(backend.fingerprint + "-head")


def test_head_and_tagger_share_one_run(
    upstream: dict[str, np.ndarray], backend: efficientat.EfficientatBackend
) -> None:
    genre = efficientat.EfficientatGenreBackend(BackendOptions(device="cpu"), backend)
    tracks = [[_audio(upstream, "music")]]
    first = backend.logits(tracks)
    genre.predict(tracks)
    assert backend.logits(tracks) is first  # the same windows: the network did not run again
    assert backend.logits([[_audio(upstream, "music")]]) is not first  # new arrays: it does


def test_shipped_head() -> None:
    from beetsplug.genrescore.backends.base import build_backend

    options = BackendOptions(device="cpu")
    genre = build_backend(efficientat.HEAD_MODEL, Role.GENRE, options)
    tagger = build_backend(efficientat.NAME, Role.INSTRUMENTS, options)
    assert isinstance(genre, efficientat.EfficientatGenreBackend)
    assert genre.tagger is tagger  # one network per process for both roles
    assert set(genre.labels) <= set(GENRES)
    assert len(genre.labels) >= 10


def test_bad_head(tmp_path: Path, backend: efficientat.EfficientatBackend) -> None:
    options = BackendOptions(device="cpu")
    junk = tmp_path / "head.npz"
    junk.write_bytes(b"nothing")
    with pytest.raises(ModelLoadError, match=r"head\.npz"):
        efficientat.EfficientatGenreBackend(options, backend, junk)
    wrong = _head_file(tmp_path / "wrong.npz", ("jazz",), np.zeros((len(GENRES), 1)))
    with np.load(wrong) as data:
        arrays = dict(data)
    arrays["weights"] = np.zeros((len(GENRES) - 1, 1), np.float32)
    np.savez(wrong, **arrays)
    with pytest.raises(ModelLoadError, match="shape"):
        efficientat.EfficientatGenreBackend(options, backend, wrong)


# --- through the analysis path -------------------------------------------------------------


def test_analysis_with_the_head_and_yamnet(tmp_path: Path) -> None:
    """``models: {genre: efficientat-genre}``: a synthesized track analysed end to end, its
    method, its genre from the head's classes, the head's vote and the calibrated confidence."""
    import confuse

    from beetsplug.genrescore.analyzer import Analyzer, load_models
    from beetsplug.genrescore.demo import synth
    from beetsplug.genrescore.scoring import traits
    from beetsplug.genrescore.scoring.ensemble import FITTED_CONFIDENCE, Component
    from beetsplug.genrescore.settings import DEFAULTS, read_settings

    from .audio_files import encode

    user = {"models": {"genre": "efficientat-genre", "instruments": "yamnet"}, "jobs": 0}
    settings = read_settings(
        confuse.RootView([confuse.ConfigSource.of(user), confuse.ConfigSource.of(DEFAULTS)])
    )
    notes: list[str] = []
    analyzer = Analyzer(settings, load_models(settings, notes.append))
    assert notes == []
    assert 32000 in analyzer.plan.rates
    path = encode(synth.STYLES["rock"](20.0), synth.SR, tmp_path / "rock.flac")
    result = analyzer.analyze(str(path))
    assert result.method == "embedded_hybrid_ml_instrument:efficientat-genre+yamnet"
    (vote,) = [r for r in result.components if r.component is Component.ML]
    assert vote.source == "efficientat-genre"
    assert set(vote.genres) <= set(analyzer.models.genre.labels)  # type: ignore[union-attr]
    assert sum(vote.genres.values()) == pytest.approx(1.0)
    assert {label for label, _ in vote.raw} <= set(GENRES)  # no voice class among the genres
    decision = result.decision
    want = FITTED_CONFIDENCE[("efficientat-genre", "yamnet")](
        decision.share, decision.ranking[1][1]
    )
    assert decision.confidence == pytest.approx(want)
    assert result.genre in GENRES
    # The vocals come from mn04's voice classes under mn04's rule, not from YAMNet's.
    genre_raw = analyzer._run(analyzer.models.genre, [analyzer.prepare(str(path))])[0]
    assert result.vocals == traits.vocals(genre_raw, traits.EFFICIENTAT_VOCALS)
    assert result.vocals.label in VOCAL_LABELS
