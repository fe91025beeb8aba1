"""Built-in images and their edited copies, with known ground truth.

Every image comes from a package that ships it (scikit-image's ``data`` module), so
nothing is downloaded. :func:`transform` makes the edits that break or spare each
method (crop, JPEG, downscale, rotation, recolouring, flip, text, brightness), and
:func:`teaching_pairs` names pairs whose relation is known, for tests, notebooks and
benchmarks.
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np
from PIL import Image

__all__ = ["quick_mode", "sample_image", "SAMPLE_NAMES", "crop", "jpeg", "downscale", "rotate",
           "hue_shift", "flip", "text_overlay", "brightness_contrast", "grayscale",
           "transform", "TRANSFORMS", "Pair", "teaching_pairs", "synthetic_cells"]

#: Names of :func:`skimage.data` images that ship with scikit-image and load offline
#: (others, such as ``brain`` or ``cells3d``, need a download).
SAMPLE_NAMES = ("astronaut", "camera", "coffee", "chelsea", "coins", "moon", "retina",
                "rocket", "immunohistochemistry", "hubble_deep_field", "cell", "cat",
                "page", "text", "clock", "horse", "grass", "gravel", "brick")


def quick_mode() -> bool:
    """True when ``SIMLAB_QUICK`` is set (not "0"): notebooks and demos shrink their work.

    The test suite sets it so that every notebook runs in seconds; reports leave it
    unset for full-size results.

    Examples
    --------
    >>> import os
    >>> os.environ["SIMLAB_QUICK"] = "1"; quick_mode()
    True
    >>> del os.environ["SIMLAB_QUICK"]; quick_mode()
    False
    """
    import os

    return os.environ.get("SIMLAB_QUICK", "0") not in ("", "0")


def sample_image(name: str = "astronaut", *, max_side: int | None = 512) -> np.ndarray:
    """A built-in image from :mod:`skimage.data` as RGB uint8.

    Parameters
    ----------
    name : str
        One of :data:`SAMPLE_NAMES`.
    max_side : int or None
        Shrink so the longest side is at most this (default 512; None keeps it).

    Examples
    --------
    >>> sample_image("camera").shape
    (512, 512, 3)
    """
    from skimage import data

    from ..errors import InvalidParameterError
    from ..io import load_image

    if name not in SAMPLE_NAMES:
        raise InvalidParameterError(
            f"unknown sample {name!r}; try one of: {', '.join(SAMPLE_NAMES)}")
    return load_image(getattr(data, name)(), max_side=max_side, name=f"skimage.data.{name}")


def crop(image: np.ndarray, area: float = 0.7, *, anchor: str = "center") -> np.ndarray:
    """Keep ``area`` (0..1] of the image, same aspect ratio, at the centre or a corner.

    Examples
    --------
    >>> crop(np.zeros((100, 200, 3), np.uint8), 0.25).shape
    (50, 100, 3)
    """
    side = float(np.sqrt(area))
    height, width = image.shape[:2]
    new_h, new_w = max(16, round(height * side)), max(16, round(width * side))
    if anchor == "center":
        top, left = (height - new_h) // 2, (width - new_w) // 2
    elif anchor == "top-left":
        top, left = 0, 0
    else:
        top, left = height - new_h, width - new_w
    return np.ascontiguousarray(image[top:top + new_h, left:left + new_w])


def jpeg(image: np.ndarray, quality: int = 30) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (1-100), like a re-saved web image.

    Examples
    --------
    >>> jpeg(np.zeros((32, 32, 3), np.uint8), 10).shape
    (32, 32, 3)
    """
    buffer = _io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def downscale(image: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Shrink by ``factor`` (area interpolation).

    Examples
    --------
    >>> downscale(np.zeros((100, 60, 3), np.uint8), 0.5).shape
    (50, 30, 3)
    """
    height, width = image.shape[:2]
    size = (max(16, round(width * factor)), max(16, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def rotate(image: np.ndarray, degrees: float = 10.0) -> np.ndarray:
    """Rotate counter-clockwise about the centre; right angles are exact and lossless.

    Other angles keep the size and fill the uncovered corners with white, as a rotated
    panel pasted into a figure would look.

    Examples
    --------
    >>> rotate(np.zeros((20, 40, 3), np.uint8), 90).shape
    (40, 20, 3)
    """
    if degrees % 90 == 0:
        return np.ascontiguousarray(np.rot90(image, int(degrees // 90) % 4))
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def hue_shift(image: np.ndarray, degrees: float = 60.0) -> np.ndarray:
    """Rotate every hue by ``degrees`` (a recoloured copy, like a recoloured figure panel).

    Examples
    --------
    >>> hue_shift(np.zeros((16, 16, 3), np.uint8), 90).shape
    (16, 16, 3)
    """
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    # OpenCV stores hue in 0..179 (degrees / 2).
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(degrees / 2)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def flip(image: np.ndarray, direction: str = "horizontal") -> np.ndarray:
    """Mirror left-right (``"horizontal"``) or top-bottom (``"vertical"``).

    Examples
    --------
    >>> flip(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))[0, 0].tolist()
    [9, 10, 11]
    """
    axis = 1 if direction == "horizontal" else 0
    return np.ascontiguousarray(np.flip(image, axis=axis))


def text_overlay(image: np.ndarray, text: str = "simlab (c) 2026", *,
                 size: float = 0.08) -> np.ndarray:
    """Stamp a caption across the lower part, ``size`` = text height / image height.

    Examples
    --------
    >>> plain = np.zeros((64, 64, 3), np.uint8)
    >>> bool((text_overlay(plain) != plain).any())
    True
    """
    out = image.copy()
    height, width = out.shape[:2]
    scale = max(0.3, size * height / 22.0)
    thickness = max(1, round(scale * 2))
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = (max(0, (width - text_w) // 2), int(height * 0.85))
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                thickness + 2, cv2.LINE_AA)
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                thickness, cv2.LINE_AA)
    return out


def brightness_contrast(image: np.ndarray, gamma: float = 1.5, *,
                        contrast: float = 1.0) -> np.ndarray:
    """Apply a gamma curve then stretch contrast about mid-grey.

    Examples
    --------
    >>> int(brightness_contrast(np.full((16, 16, 3), 64, np.uint8), 0.5)[0, 0, 0])
    128
    """
    normalised = image.astype(np.float32) / 255.0
    adjusted = normalised ** gamma
    adjusted = (adjusted - 0.5) * contrast + 0.5
    return np.clip(adjusted * 255.0 + 0.5, 0, 255).astype(np.uint8)


def grayscale(image: np.ndarray) -> np.ndarray:
    """Drop colour (kept as three equal channels).

    Examples
    --------
    >>> grayscale(np.zeros((16, 16, 3), np.uint8)).shape
    (16, 16, 3)
    """
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


# kind -> (function of (image, strength), what strength 0..1 maps to)
TRANSFORMS: dict[str, tuple[Callable[[np.ndarray, float], np.ndarray], str]] = {
    "identical": (lambda im, s: im.copy(), "no change"),
    "crop": (lambda im, s: crop(im, 1.0 - 0.8 * s), "keep 1 - 0.8*s of the area (centre)"),
    "jpeg": (lambda im, s: jpeg(im, round(95 - 90 * s)), "JPEG quality 95 - 90*s"),
    "downscale": (lambda im, s: downscale(im, 1.0 - 0.85 * s), "scale by 1 - 0.85*s"),
    "rotate": (lambda im, s: rotate(im, 45.0 * s), "rotate by 45*s degrees"),
    "hue": (lambda im, s: hue_shift(im, 180.0 * s), "shift hue by 180*s degrees"),
    "brightness": (lambda im, s: brightness_contrast(im, 1.0 + 2.0 * s),
                   "gamma 1 + 2*s (darker)"),
    "text": (lambda im, s: text_overlay(im, size=0.02 + 0.2 * s),
             "caption of height (0.02 + 0.2*s) of the image"),
    "flip": (lambda im, s: flip(im) if s > 0 else im.copy(), "mirror left-right when s > 0"),
    "grayscale": (lambda im, s: grayscale(im) if s > 0 else im.copy(),
                  "drop colour when s > 0"),
}


def transform(image: np.ndarray, kind: str, strength: float = 0.5) -> np.ndarray:
    """Edit ``image`` by ``kind`` at ``strength`` in [0, 1] (0 = unchanged, 1 = harsh).

    One scale for every kind, so robustness curves can share an x axis; the mapping to
    each edit's natural parameter is in :data:`TRANSFORMS` (e.g. jpeg: quality 95-90*s).

    Examples
    --------
    >>> img = sample_image("coffee", max_side=128)
    >>> transform(img, "crop", 0.5).shape[0] < img.shape[0]
    True
    """
    from ..errors import InvalidParameterError

    if kind not in TRANSFORMS:
        raise InvalidParameterError(
            f"unknown transformation {kind!r}; try one of: {', '.join(TRANSFORMS)}")
    if not 0.0 <= strength <= 1.0:
        raise InvalidParameterError(f"strength must lie in [0, 1]; got {strength}")
    return TRANSFORMS[kind][0](image, float(strength))


@dataclass(frozen=True)
class Pair:
    """Two images with a known relation, for teaching, tests and benchmarks."""

    name: str
    image_a: np.ndarray = field(repr=False)
    image_b: np.ndarray = field(repr=False)
    relation: str
    same_source: bool
    parameters: dict[str, Any] = field(default_factory=dict)


def teaching_pairs(base: str = "astronaut", *, other: str = "coffee",
                   max_side: int = 384) -> dict[str, Pair]:
    """Named pairs from built-in images: the original against an edited copy.

    Examples
    --------
    >>> pairs = teaching_pairs(max_side=128)
    >>> pairs["unrelated"].same_source, pairs["crop"].same_source
    (False, True)
    """
    original = sample_image(base, max_side=max_side)
    edits = {
        "identical": (original.copy(), {}),
        "crop": (crop(original, 0.6), {"area": 0.6}),
        "jpeg": (jpeg(original, 15), {"quality": 15}),
        "downscale": (downscale(original, 0.4), {"factor": 0.4}),
        "rotation": (rotate(original, 15), {"degrees": 15}),
        "colour shift": (hue_shift(original, 90), {"degrees": 90}),
        "flip": (flip(original), {"direction": "horizontal"}),
        "text overlay": (text_overlay(original), {"text": "simlab (c) 2026"}),
        "brightness/contrast": (brightness_contrast(original, 1.8, contrast=1.3),
                                {"gamma": 1.8, "contrast": 1.3}),
    }
    pairs = {name: Pair(name, original, edited, name, True, params)
             for name, (edited, params) in edits.items()}
    pairs["unrelated"] = Pair("unrelated", original, sample_image(other, max_side=max_side),
                              "unrelated", False, {"other": other})
    return pairs


def synthetic_cells(rng: np.random.Generator) -> np.ndarray:
    """A grey, low-texture, microscopy-like field: smoothed blobs, nuclei and noise.

    Examples
    --------
    >>> synthetic_cells(np.random.default_rng(0)).dtype
    dtype('uint8')
    """
    import cv2
    from skimage.data import binary_blobs

    side = int(rng.integers(160, 288))
    blobs = binary_blobs(length=side, blob_size_fraction=float(rng.uniform(0.04, 0.12)),
                         volume_fraction=float(rng.uniform(0.15, 0.4)),
                         rng=int(rng.integers(2**31))).astype(np.float32)
    field = cv2.GaussianBlur(blobs, (0, 0), float(rng.uniform(1.5, 4.0)))
    field = 40 + field * float(rng.uniform(60, 150))
    field += rng.normal(0, float(rng.uniform(2, 6)), field.shape).astype(np.float32)
    grey = np.clip(field, 0, 255).astype(np.uint8)
    tint = rng.uniform(0.6, 1.0, 3) if rng.random() < 0.4 else np.ones(3)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
