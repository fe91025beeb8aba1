"""Image input: the one place that turns files, arrays and PIL images into RGB uint8.

Every method in simlab works on ``(H, W, 3)`` ``uint8`` RGB arrays. :func:`load_image`
produces them from a path, a :class:`pathlib.Path`, a numpy array or a PIL image, and
raises a named :class:`~simlab.errors.SimlabError` for every kind of bad input.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import (
    EmptyImageFileError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidArrayError,
    NotAnImageError,
    TruncatedImageError,
)

__all__ = ["load_image", "load_scaled", "list_images", "simlab_output_kind",
           "resize_longest_side", "describe_source", "IMAGE_EXTENSIONS", "MIN_SIDE",
           "DEFAULT_MAX_PIXELS"]

ImageSource = Union[str, os.PathLike, np.ndarray, Image.Image]

#: File name endings :func:`list_images` treats as images.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".ppm", ".pgm"}
)
#: Smallest side, in pixels, an image may have: smaller ones carry too little to compare.
MIN_SIDE = 16
#: Default pixel limit (a decompression-bomb guard); override with ``max_pixels=`` or the
#: ``SIMLAB_MAX_PIXELS`` environment variable.
DEFAULT_MAX_PIXELS = 150_000_000


def describe_source(source: ImageSource, name: str | None = None) -> str:
    """Short human name for an image source, used in messages and tables.

    Examples
    --------
    >>> describe_source("figures/a.png")
    'figures/a.png'
    >>> import numpy as np
    >>> describe_source(np.zeros((20, 30, 3), np.uint8))
    'array(20x30x3 uint8)'
    """
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, np.ndarray):
        return f"array({'x'.join(map(str, source.shape))} {source.dtype})"
    if isinstance(source, Image.Image):
        return f"PIL image({source.width}x{source.height} {source.mode})"
    return type(source).__name__


def _max_pixels(max_pixels: int | None) -> int:
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get("SIMLAB_MAX_PIXELS")
    return int(env) if env else DEFAULT_MAX_PIXELS


def _open_file(path: Path, limit: int, max_side: int | None = None) -> Image.Image:
    label = os.fspath(path)
    if not path.exists():
        raise ImageNotFoundError("no such file; check the path and the working directory",
                                 label)
    if not path.is_file():
        raise ImageNotFoundError("is a directory, not an image file", label)
    if path.stat().st_size == 0:
        raise EmptyImageFileError("the file is empty (0 bytes); re-export or re-download it",
                                  label)
    try:
        with warnings.catch_warnings():
            # simlab applies its own pixel limit below, with a message that says how to raise it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except UnidentifiedImageError:
        raise NotAnImageError(
            "not a recognised image format (PNG, JPEG, TIFF, BMP, GIF, WebP...); "
            "is it the file you meant?", label) from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{exc}; simlab refuses images this large", label) from None
    except OSError as exc:
        raise NotAnImageError(f"cannot be read as an image ({exc})", label) from None
    _check_pixels(image.width, image.height, limit, label)
    if max_side and image.format == "JPEG":
        # libjpeg decodes at 1/2, 1/4 or 1/8 size directly (still at least max_side):
        # several times faster than decoding a large photo and shrinking it.
        image.info["simlab_file_size"] = image.size
        image.draft(None, (int(max_side), int(max_side)))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImageError(
            f"the image data is truncated or corrupt ({exc}); re-export the file", label
        ) from None
    return image


def _check_pixels(width: int, height: int, limit: int, label: str) -> None:
    if width * height > limit:
        raise ImageTooLargeError(
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,}; "
            "pass max_pixels=... (or set SIMLAB_MAX_PIXELS) if you trust the file",
            label,
        )


def _pil_to_array(image: Image.Image, label: str) -> np.ndarray:
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not make a readable image unreadable
        pass
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return _array_to_rgb(np.asarray(image), label)
    if mode == "F":
        return _array_to_rgb(np.asarray(image, dtype=np.float32), label)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        return _array_to_rgb(np.asarray(image.convert("RGBA")), label)
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32)
    return np.clip(rgb * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)


def _array_to_rgb(array: np.ndarray, label: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidArrayError(
            f"expected an image of shape (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, got shape "
            f"{array.shape}; for a stack of images pass one slice at a time", label)
    dtype = array.dtype
    if dtype == np.uint8:
        out = array
    elif dtype == np.bool_:
        out = array.astype(np.uint8) * 255
    elif dtype == np.uint16:
        # 16-bit images use the full 0..65535 range; 257 maps 65535 exactly to 255.
        out = np.round(array / 257.0).astype(np.uint8)
    elif dtype in (np.int32, np.int64, np.uint32) and array.size and array.min() >= 0 \
            and array.max() <= 65535:
        out = np.round(array / (257.0 if array.max() > 255 else 1.0)).astype(np.uint8)
    elif np.issubdtype(dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidArrayError("float image contains NaN or infinity; clean it first",
                                    label)
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidArrayError(
                f"float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                "scale it (e.g. array / array.max()) or pass uint8", label)
        out = np.round(array * 255.0).astype(np.uint8)
    else:
        raise InvalidArrayError(
            f"unsupported dtype {dtype}; pass uint8 (0-255), uint16 (0-65535), bool or "
            "float in [0, 1]", label)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    elif out.shape[2] == 4:
        out = _composite_on_white(out)
    return np.ascontiguousarray(out)


def resize_longest_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink ``image`` so that its longest side is at most ``max_side`` pixels.

    Images already small enough are returned unchanged; area interpolation avoids the
    aliasing that would create spurious keypoints.

    Examples
    --------
    >>> import numpy as np
    >>> resize_longest_side(np.zeros((100, 400, 3), np.uint8), 200).shape
    (50, 200, 3)
    """
    import cv2

    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side is None or longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_image(source: ImageSource, *, max_side: int | None = None,
               max_pixels: int | None = None, name: str | None = None) -> np.ndarray:
    """Load an image as an ``(H, W, 3)`` ``uint8`` RGB array.

    Parameters
    ----------
    source : str, os.PathLike, numpy.ndarray or PIL.Image.Image
        A file path, or an image already in memory. Arrays are read as **RGB** (not
        OpenCV's BGR): ``(H, W)`` grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, of dtype
        uint8, uint16 (scaled by 1/257), bool, or float in ``[0, 1]``.
    max_side : int, optional
        Shrink the image so its longest side is at most this many pixels (for speed).
    max_pixels : int, optional
        Refuse images with more pixels than this (default 150 million, or the
        ``SIMLAB_MAX_PIXELS`` environment variable): a guard against decompression bombs.
    name : str, optional
        Name used in error messages instead of the path or array description.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 RGB. Grey is expanded to three channels, alpha is composited
        on white, 16-bit is scaled to 8-bit, and EXIF orientation is applied.

    Raises
    ------
    ImageNotFoundError, EmptyImageFileError, NotAnImageError, TruncatedImageError,
    ImageTooSmallError, ImageTooLargeError, InvalidArrayError

    Examples
    --------
    >>> import numpy as np
    >>> load_image(np.zeros((32, 48), np.uint8)).shape
    (32, 48, 3)
    """
    return _load(source, max_side, max_pixels, name)[0]


def load_scaled(source: ImageSource, max_side: int | None, *, upscale: bool = False,
                max_pixels: int | None = None, name: str | None = None
                ) -> tuple[np.ndarray, float]:
    """Load an image at ``max_side`` pixels (longest side) and say by how much it moved.

    :func:`load_image` with ``max_side``, plus the scale (loaded / original size) that
    maps coordinates back to the file's pixels. With ``upscale=True`` smaller images are
    enlarged to ``max_side`` too, so that a shrunk copy and its source are described at
    the same size.

    Examples
    --------
    >>> image, scale = load_scaled(np.zeros((100, 400, 3), np.uint8), 200)
    >>> image.shape, scale
    ((50, 200, 3), 0.5)
    """
    array, original = _load(source, max_side, max_pixels, name)
    longest = max(array.shape[:2])
    if max_side and upscale and longest < max_side:
        import cv2

        factor = max_side / longest
        size = (round(array.shape[1] * factor), round(array.shape[0] * factor))
        array = cv2.resize(array, size, interpolation=cv2.INTER_CUBIC)
    return array, max(array.shape[:2]) / float(original)


def _load(source: ImageSource, max_side: int | None, max_pixels: int | None,
          name: str | None) -> tuple[np.ndarray, int]:
    """The RGB array (at most ``max_side``) and the longest side of the original."""
    label = describe_source(source, name)
    limit = _max_pixels(max_pixels)
    if isinstance(source, (str, os.PathLike)):
        image = _open_file(Path(source), limit, max_side)
        # A drafted JPEG decodes smaller than the file (EXIF rotation keeps the longest).
        original = max(image.info.get("simlab_file_size", image.size))
        try:
            array = _pil_to_array(image, label)
        finally:
            image.close()
    elif isinstance(source, Image.Image):
        _check_pixels(source.width, source.height, limit, label)
        array = _pil_to_array(source, label)
        original = max(array.shape[:2])
    elif isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_pixels(source.shape[1], source.shape[0], limit, label)
        array = _array_to_rgb(source, label)
        original = max(array.shape[:2])
    else:
        raise InvalidArrayError(
            f"cannot read an image from a {type(source).__name__}; pass a path, a numpy "
            "array or a PIL image", label)
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageTooSmallError(
            f"{width}x{height} pixels is too small to compare (the minimum side is "
            f"{MIN_SIDE} px); use a larger version of the image", label)
    if max_side is not None:
        array = resize_longest_side(array, int(max_side))
    return array, original


def simlab_output_kind(folder: str | os.PathLike) -> str | None:
    """``"index"`` or ``"pairs report"`` when simlab wrote ``folder``, else None.

    An index holds ``index.json`` and ``arrays-*.npz``; a pairs report ``pairs.csv``,
    ``skipped.csv``, ``index.html`` and ``pictures/``. Folder jobs skip both, so a
    report written inside its own input is never read back as input.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> simlab_output_kind(d) is None
    True
    >>> for name in ("pairs.csv", "skipped.csv", "index.html"):
    ...     _ = (d / name).write_text("")
    >>> (d / "pictures").mkdir(); simlab_output_kind(d)
    'pairs report'
    """
    folder = Path(folder)
    if (folder / "index.json").is_file() and any(folder.glob("arrays-*.npz")):
        return "index"
    if all((folder / name).is_file() for name in ("pairs.csv", "skipped.csv", "index.html")
           ) and (folder / "pictures").is_dir():
        return "pairs report"
    return None


def list_images(folder: str | os.PathLike | Iterable[str | os.PathLike], *,
                recursive: bool = True,
                exclude: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """List the image files in a folder (sorted), or pass through a list of paths.

    Files are chosen by name ending (see :data:`IMAGE_EXTENSIONS`); hidden files and
    folders are skipped, and so are the folders in ``exclude`` and every folder simlab
    wrote (an index or a pairs report, see :func:`simlab_output_kind`). Whether files
    really decode is checked later, by :func:`load_image`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.png").write_bytes(b""); _ = (d / "notes.txt").write_text("x")
    >>> (d / "out").mkdir(); _ = (d / "out" / "b.png").write_bytes(b"")
    >>> [p.name for p in list_images(d)], [p.name for p in list_images(d, exclude=[d / "out"])]
    (['a.png', 'b.png'], ['a.png'])
    """
    if not isinstance(folder, (str, os.PathLike)):
        return [Path(p) for p in folder]
    root = Path(folder)
    if not root.is_dir():
        raise ImageNotFoundError("is not a folder", os.fspath(root))
    skipped = {os.path.realpath(p) for p in exclude}
    seen = {os.path.realpath(root)}  # symlinked folders are followed, each once
    found = []
    for current, folders, files in os.walk(root, followlinks=True):
        # Prune in place: os.walk then never descends into what we skip.
        kept = []
        for name in sorted(folders):
            real = os.path.realpath(os.path.join(current, name))
            if (recursive and not name.startswith(".") and real not in skipped
                    and real not in seen and simlab_output_kind(real) is None):
                seen.add(real)
                kept.append(name)
        folders[:] = kept
        found.extend(Path(current) / name for name in files
                     if not name.startswith(".")
                     and Path(name).suffix.lower() in IMAGE_EXTENSIONS
                     and os.path.isfile(os.path.join(current, name)))
    return sorted(found)
