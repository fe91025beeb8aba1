"""Deep features: Keras VGG16 (ImageNet) embeddings compared by cosine similarity.

The convolutional part of VGG16 with global average pooling turns an image into a
512-number description of "what is in it". Similar content gives close vectors even
when pixels differ a lot, but a CNN also calls two different photos of cats similar.

TensorFlow and Keras are imported only when this method runs (``import simlab`` stays
fast). Weights are never downloaded silently in tests; see :func:`resolve_weights`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from ..errors import WeightsNotFoundError
from ..registry import Features, Method, Param, register
from ..results import Similarity

__all__ = ["vgg16_features", "compare_vectors", "resolve_weights", "VGG16_WEIGHTS_FILE",
           "WEIGHTS_ENV"]

#: File name Keras looks for in ``$KERAS_HOME/models/`` (md5 6d6bbae143d832006294945121d1f1fc).
VGG16_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
#: Environment variable naming a local VGG16 weights file.
WEIGHTS_ENV = "SIMLAB_VGG16_WEIGHTS"
INPUT_SIDE = 224

_models: dict[str | None, Any] = {}
_models_lock = threading.Lock()


def _keras_cache_file() -> Path:
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "models" / VGG16_WEIGHTS_FILE


def _how_to_provide() -> str:
    return (f"download {VGG16_WEIGHTS_FILE} on a machine with internet (e.g. run "
            "python -c \"import keras; keras.applications.VGG16(include_top=False, "
            "weights='imagenet')\") and copy it to "
            f"{_keras_cache_file()}, or set {WEIGHTS_ENV}=/path/to/weights.h5, or pass "
            "weights='/path/to/weights.h5'")


def resolve_weights(weights: str | None) -> str | None:
    """Turn the ``weights`` parameter into what Keras loads: a file path, or None.

    Order: ``None`` -> random initialisation (for tests; scores are meaningless);
    a path -> that file; ``"imagenet"`` -> the file named by ``SIMLAB_VGG16_WEIGHTS`` if
    set, else Keras' cache ``$KERAS_HOME/models/vgg16_..._notop.h5``, else
    ``"imagenet"``, which the method refuses with instructions instead of letting Keras
    try a download that fails offline.

    Examples
    --------
    >>> resolve_weights(None) is None
    True
    """
    if weights is None:
        return None
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise WeightsNotFoundError(f"VGG16 weights file not found; {_how_to_provide()}",
                                       weights)
        return weights
    env_path = os.environ.get(WEIGHTS_ENV)
    if env_path:
        if not Path(env_path).is_file():
            raise WeightsNotFoundError(
                f"{WEIGHTS_ENV} names a file that does not exist; {_how_to_provide()}",
                env_path)
        return env_path
    cached = _keras_cache_file()
    return str(cached) if cached.is_file() else "imagenet"


def _check_available(params: Mapping[str, Any]) -> None:
    if resolve_weights(params.get("weights")) == "imagenet":
        raise WeightsNotFoundError(
            f"VGG16 ImageNet weights are not available offline; {_how_to_provide()}")


def _model(weights: str | None):
    with _models_lock:
        if weights in _models:
            return _models[weights]
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras  # deferred: several seconds to import

        try:
            model = keras.applications.VGG16(include_top=False, pooling="avg",
                                             weights=weights,
                                             input_shape=(INPUT_SIDE, INPUT_SIDE, 3))
        except Exception as exc:  # Keras raises plain Exception/ValueError/OSError here
            raise WeightsNotFoundError(
                f"could not load VGG16 weights ({type(exc).__name__}: {exc}); "
                f"{_how_to_provide()}", str(weights)) from None
        _models[weights] = model
        return model


def vgg16_features(image: np.ndarray, params: Mapping[str, Any]) -> Features:
    """Unit-length 512-d VGG16 embedding of an RGB uint8 image.

    The image is resized to 224x224 and passed through ``preprocess_input``
    (ImageNet mean subtraction, BGR order) before the network.

    Examples
    --------
    >>> import numpy as np
    >>> f = vgg16_features(np.full((64, 64, 3), 128, np.uint8), {"weights": None})
    >>> f["vector"].shape
    (512,)
    """
    model = _model(resolve_weights(params.get("weights", "imagenet")))
    from keras.applications.vgg16 import preprocess_input

    resized = cv2.resize(image, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
    batch = preprocess_input(resized[None].astype(np.float32))
    vector = np.asarray(model(batch, training=False))[0].astype(np.float32)
    norm = float(np.linalg.norm(vector))
    return {"vector": vector / norm if norm > 0 else vector}


def compare_vectors(name: str, features_a: Features, features_b: Features,
                    params: Mapping[str, Any]) -> Similarity:
    """Cosine similarity of two unit vectors; score ``max(cosine, 0)``."""
    vector_a, vector_b = features_a["vector"], features_b["vector"]
    details: dict[str, Any] = {"dimensions": int(vector_a.size),
                               "weights": _weights_label(params.get("weights", "imagenet"))}
    if not vector_a.any() or not vector_b.any():
        details["reason"] = "the network returned an all-zero feature vector"
        return Similarity(name, 0.0, 0.0, details)
    cosine = float(np.dot(vector_a, vector_b))
    return Similarity(name, float(np.clip(cosine, 0.0, 1.0)), cosine, details)


def _weights_label(weights: str | None) -> str:
    return "random (weights=None): scores are meaningless" if weights is None else str(weights)


register(Method(
    name="vgg16",
    summary="Keras VGG16 (ImageNet, avg pooling) 512-d embedding, cosine similarity; "
            "semantic, needs weights",
    score_doc="max(cosine, 0); raw = cosine similarity",
    extract=vgg16_features,
    score=lambda fa, fb, p: compare_vectors("vgg16", fa, fb, p),
    params=(
        Param("weights", "imagenet", "'imagenet' (Keras cache or $SIMLAB_VGG16_WEIGHTS), a "
              ".h5 path, or None (random, for tests)", extract=True),
    ),
    requires=("keras", "tensorflow"),
    check_available=_check_available,
    draws="pair",
))
