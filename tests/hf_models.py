"""Tiny audio-classification checkpoints with real label sets and feature extractors.

Plain functions so any test module (or a conftest) can build them: each saves a randomly
initialised model, small enough to run in milliseconds, in the layout ``save_pretrained``
writes (``config.json``, ``model.safetensors``, ``preprocessor_config.json``).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import torch
from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    ASTForAudioClassification,
    HubertConfig,
    HubertForSequenceClassification,
    Wav2Vec2FeatureExtractor,
)
from transformers.utils import logging as hf_logging

AUDIOSET_LABELS_CSV = Path(__file__).parent / "data" / "audioset_labels.csv"

#: GTZAN's classes, in the order of the danilotpnta/HuBERT-Genre-Clf head.
GTZAN_LABELS = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)

# Larger than transformers' 0.02 so that a random model's outputs differ visibly between
# inputs: tests compare windows and tracks.
INITIALIZER_RANGE = 0.5


def audioset_labels() -> tuple[str, ...]:
    """AudioSet's 527 display names, in ``id2label`` order (``index,mid,display_name``)."""
    with AUDIOSET_LABELS_CSV.open(newline="") as handle:
        return tuple(row[2] for row in csv.reader(handle))


def _label_maps(labels: tuple[str, ...]) -> dict[str, dict]:
    return {
        "id2label": dict(enumerate(labels)),
        "label2id": {label: index for index, label in enumerate(labels)},
    }


def make_tiny_ast(path: Path | str, *, seed: int = 0) -> Path:
    """A one-layer ``ASTForAudioClassification`` with AudioSet's 527 labels.

    Its input matches the real checkpoint's: 128 mel bins x 1024 frames (10.24 s at 16 kHz).
    """
    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=128,
        max_length=1024,
        initializer_range=INITIALIZER_RANGE,
        **_label_maps(audioset_labels()),
    )
    with warnings.catch_warnings():
        # The 128-bin kaldi filterbank has empty low filters, as in the real checkpoint.
        warnings.filterwarnings("ignore", message="At least one mel filter", category=UserWarning)
        feature_extractor = ASTFeatureExtractor()
    return _save(ASTForAudioClassification, config, feature_extractor, path, seed)


def make_tiny_hubert(path: Path | str, *, seed: int = 0, problem_type: str | None = None) -> Path:
    """A one-layer ``HubertForSequenceClassification`` with GTZAN's 10 genres.

    Its conv front end has the real strides (x320), with 16 channels instead of 512.
    """
    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=16,
        initializer_range=INITIALIZER_RANGE,
        problem_type=problem_type,
        **_label_maps(GTZAN_LABELS),
    )
    feature_extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    return _save(HubertForSequenceClassification, config, feature_extractor, path, seed)


def _save(model_class, config, feature_extractor, path: Path | str, seed: int) -> Path:
    path = Path(path)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = model_class(config)
    progress_bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
    finally:
        if progress_bars:
            hf_logging.enable_progress_bar()
    feature_extractor.save_pretrained(path)
    return path
