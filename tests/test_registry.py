"""The embedded models' registry (``backends.base.EMBEDDED_MODELS``): one entry per model says
what the rest of the plugin reads about it, and the entry matches the model it builds."""

from __future__ import annotations

import pytest

from beetsplug.genrescore.analyzer import Models
from beetsplug.genrescore.backends import base, efficientat, musicnn, yamnet
from beetsplug.genrescore.backends.base import (
    EMBEDDED,
    EMBEDDED_BY_NAME,
    EMBEDDED_DEFAULTS,
    EMBEDDED_FAMILIES,
    EMBEDDED_MODELS,
    BackendOptions,
    EmbeddedModel,
    Role,
    build_backend,
)

CPU = BackendOptions(device="cpu", precision="fp32")
MODELS = [pytest.param(model, id=model.name) for model in EMBEDDED_MODELS]


@pytest.mark.parametrize("model", MODELS)
def test_every_file_an_entry_names_ships(model: EmbeddedModel) -> None:
    assert model.files
    for kind in model.files:
        assert model.path(kind).is_file(), (model.name, kind)
        assert model.path(kind).parent == base.DATA_DIR / model.family


@pytest.mark.parametrize("model", MODELS)
def test_an_entry_builds_its_family_in_every_role_it_names(model: EmbeddedModel) -> None:
    assert model.roles
    for role in model.roles:
        backend = build_backend(model.name, role, CPU)
        assert backend is not None
        assert backend.name == model.name
        assert backend.family == model.family


def test_the_tables_the_rest_reads_come_from_the_entries() -> None:
    assert list(EMBEDDED) == [model.name for model in EMBEDDED_MODELS]
    assert len(EMBEDDED_BY_NAME) == len(EMBEDDED_MODELS)  # no name twice
    assert {"musicnn", "yamnet", "efficientat"} == EMBEDDED_FAMILIES
    assert EMBEDDED_DEFAULTS == {Role.GENRE: "efficientat-genre", Role.INSTRUMENTS: "yamnet"}
    for role, name in EMBEDDED_DEFAULTS.items():
        assert role in EMBEDDED_BY_NAME[name].roles
    # The backends' own paths are the entries'.
    assert musicnn.WEIGHT_FILES == {
        "musicnn-msd": "msd_musicnn.safetensors",
        "musicnn-mtt": "mtt_musicnn.safetensors",
    }
    assert musicnn.ONNX_FILES == {
        "musicnn-msd": "msd_musicnn.onnx",
        "musicnn-mtt": "mtt_musicnn.onnx",
    }
    assert yamnet.WEIGHTS_PATH == base.DATA_DIR / "yamnet" / "yamnet.safetensors"
    assert yamnet.ONNX_PATH == base.DATA_DIR / "yamnet" / "yamnet.onnx"
    assert efficientat.ONNX_PATH == base.DATA_DIR / "efficientat" / "mn04_as.onnx"
    assert efficientat.HEAD_PATH == base.DATA_DIR / "efficientat" / "genre_head.npz"


@pytest.mark.parametrize("model", MODELS)
def test_any_embedded_model_makes_the_method_embedded(model: EmbeddedModel) -> None:
    role = model.roles[0]
    backend = build_backend(model.name, role, CPU)
    other = build_backend(EMBEDDED_DEFAULTS[Role.INSTRUMENTS], Role.INSTRUMENTS, CPU)
    models = Models(genre=backend, instruments=other)
    assert models.method.startswith("embedded_hybrid_ml_instrument:")
    assert models.method.endswith(f":{model.name}+yamnet")


def test_a_family_left_out_of_the_registry_would_make_the_method_mixed() -> None:
    # The check above can fail: a backend whose family no entry names is not embedded.
    backend = build_backend("yamnet", Role.INSTRUMENTS, CPU)
    assert backend is not None

    class Unregistered(type(backend)):  # type: ignore[misc]
        family = "unregistered"

    stray = Unregistered.__new__(Unregistered)
    stray.__dict__.update(backend.__dict__)
    assert Models(genre=stray, instruments=backend).method.startswith("mixed_")
