"""VGG16 deep features, tested with random weights (ImageNet weights cannot be fetched)."""

from __future__ import annotations

import numpy as np
import pytest

import simlab
from simlab import errors
from simlab.methods import deep

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_real_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(deep.WEIGHTS_ENV, raising=False)


def test_random_weights_give_unit_vectors_and_cosine_one(original, unrelated):
    features = simlab.extract(original, "vgg16", weights=None)
    vector = features["vector"]
    assert vector.shape == (512,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    same = simlab.compare(original, original, "vgg16", weights=None)
    assert same.score == pytest.approx(1.0, abs=1e-5)
    assert "meaningless" in same.details["weights"]
    other = simlab.compare(original, unrelated, "vgg16", weights=None)
    assert other.raw < same.raw


def test_missing_imagenet_weights_is_unavailable_with_instructions():
    reason = simlab.get_method("vgg16").unavailable_reason()
    assert deep.VGG16_WEIGHTS_FILE in reason and deep.WEIGHTS_ENV in reason
    assert "vgg16" not in simlab.available_methods()


def test_missing_weights_file_is_a_clear_error(original, tmp_path):
    with pytest.raises(errors.WeightsNotFoundError, match="nowhere.h5.*not found"):
        simlab.compare(original, original, "vgg16", weights=str(tmp_path / "nowhere.h5"))


def test_env_variable_naming_a_missing_file(original, monkeypatch, tmp_path):
    monkeypatch.setenv(deep.WEIGHTS_ENV, str(tmp_path / "gone.h5"))
    with pytest.raises(errors.WeightsNotFoundError, match="does not exist"):
        simlab.compare(original, original, "vgg16")


def test_a_broken_weights_file_is_a_clear_error(original, tmp_path, monkeypatch):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5 at all")
    monkeypatch.setenv(deep.WEIGHTS_ENV, str(broken))
    assert simlab.get_method("vgg16").unavailable_reason() is None  # the file exists...
    with pytest.raises(errors.WeightsNotFoundError, match="could not load VGG16 weights"):
        simlab.extract(original, "vgg16")  # ...but Keras cannot read it


def test_saved_weights_file_round_trip(original, tmp_path, monkeypatch):
    # Weights saved from one model load through the env variable into another: the
    # same path a user's downloaded ImageNet file takes.
    model = deep._model(None)
    path = tmp_path / "vgg16.weights.h5"
    model.save_weights(path)
    monkeypatch.setenv(deep.WEIGHTS_ENV, str(path))
    assert "vgg16" in simlab.available_methods()
    ours = simlab.extract(original, "vgg16")["vector"]
    reference = simlab.extract(original, "vgg16", weights=None)["vector"]
    assert np.allclose(ours, reference, atol=1e-5)
