"""Image input: the one place that turns files, arrays and PIL images into RGB uint8.

Every method in simlab works on ``(H, W, 3)`` ``uint8`` RGB arrays. :func:`load_image`
produces them from a path, a :class:`pathlib.Path`, a numpy array or a PIL image, and
raises a named :class:`~simlab.errors.SimlabError` for every kind of bad input.
"""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path
from struct import error as struct_error
from typing import Iterable, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import (
    EmptyImageFileError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidArrayError,
    InvalidParameterError,
    NotAFileError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedImageFormatError,
)

__all__ = ["load_image", "load_scaled", "list_images", "scan_images", "simlab_output_kind",
           "resize_longest_side", "describe_source", "IMAGE_EXTENSIONS",
           "UNSUPPORTED_EXTENSIONS", "MIN_SIDE",
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
    env = os.environ.get("SIMLAB_MAX_PIXELS", "").strip()
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(env.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidParameterError(
            f"SIMLAB_MAX_PIXELS={env!r} is not a positive whole number of pixels; set it "
            f"like SIMLAB_MAX_PIXELS=200000000, or unset it for the default "
            f"{DEFAULT_MAX_PIXELS:,}")
    return value


def _check_max_side(max_side: int | None, label: str) -> int | None:
    if max_side is None:
        return None
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) \
            or max_side < MIN_SIDE:
        raise InvalidParameterError(
            f"max_side must be a whole number of pixels of at least {MIN_SIDE}, got "
            f"{max_side!r} (None keeps the full size)", label)
    return int(max_side)


#: Image-like files simlab cannot read, and what to do instead. :func:`scan_images`
#: lists them as skipped rather than leaving them out silently.
UNSUPPORTED_EXTENSIONS = {
    ".svg": "SVG is a vector format; export it to PNG first",
    ".svgz": "SVG is a vector format; export it to PNG first",
    ".heic": "HEIC/HEIF is not supported; convert it to JPEG or PNG first",
    ".heif": "HEIC/HEIF is not supported; convert it to JPEG or PNG first",
    ".avif": "AVIF is not supported; convert it to JPEG or PNG first",
    ".jxl": "JPEG XL is not supported; convert it to JPEG or PNG first",
    ".psd": "Photoshop files are not supported; export a PNG or JPEG",
    ".npy": "a numpy array file, not an image; load it with numpy.load(..., "
            "allow_pickle=False) and pass the array to simlab",
    ".npz": "a numpy archive, not an image; load it with numpy.load(..., "
            "allow_pickle=False) and pass an array to simlab",
    ".raw": "camera raw files are not supported; export a PNG, TIFF or JPEG",
    ".cr2": "camera raw files are not supported; export a PNG, TIFF or JPEG",
    ".nef": "camera raw files are not supported; export a PNG, TIFF or JPEG",
    ".arw": "camera raw files are not supported; export a PNG, TIFF or JPEG",
    ".dng": "camera raw files are not supported; export a PNG, TIFF or JPEG",
}

#: Pillow modes ``Image.reduce`` handles directly; others are converted first.
_REDUCIBLE_MODES = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK",
                              "YCbCr", "I", "F"})


def _file_kind(path: Path) -> str | None:
    """Why ``path`` is not a regular file to open, or None when it is one."""
    import stat

    try:
        info = path.stat()
    except FileNotFoundError:
        return ("a symbolic link to a missing file" if path.is_symlink()
                else "no such file; check the path and the working directory")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"cannot be examined ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not an image file"
    if stat.S_ISFIFO(info.st_mode):
        return "is a FIFO (named pipe), not an image file"
    if stat.S_ISSOCK(info.st_mode):
        return "is a socket, not an image file"
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        return "is a device, not an image file"
    return None


def _open_file(path: Path, limit: int, max_side: int | None = None) -> Image.Image:
    """Open, check the header against ``limit`` and decode, at reduced size if allowed.

    With ``max_side``, a JPEG is decoded by libjpeg at 1/2, 1/4 or 1/8 of its size, and
    any other image is reduced (box filter) right after decoding to no less than twice
    ``max_side``, before any conversion copies it: a 12000x12000 PNG of 140 KB then costs
    one decoded copy, not four. ``info["simlab_file_size"]`` keeps the file's own size.
    """
    label = os.fspath(path)
    problem = _file_kind(path)
    if problem is not None:
        if problem.startswith("no such file") or "missing file" in problem:
            raise ImageNotFoundError(problem, label)
        raise NotAFileError(problem, label)
    if path.suffix.lower() in UNSUPPORTED_EXTENSIONS:
        raise UnsupportedImageFormatError(UNSUPPORTED_EXTENSIONS[path.suffix.lower()], label)
    if path.stat().st_size == 0:
        raise EmptyImageFileError("the file is empty (0 bytes); re-export or re-download it",
                                  label)
    if Image.MAX_IMAGE_PIXELS is not None and limit >= 2 * Image.MAX_IMAGE_PIXELS:
        # Pillow refuses twice its own limit in Image.open; simlab's limit (checked below,
        # from the header, before decoding) is the one the user controls.
        Image.MAX_IMAGE_PIXELS = limit // 2 + 1
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
            f"{exc}; pass max_pixels=... (or set SIMLAB_MAX_PIXELS) above that if you "
            "trust the file", label) from None
    except PermissionError:
        raise NotAnImageError("permission denied: simlab cannot read this file", label) \
            from None
    except OSError as exc:
        raise NotAnImageError(f"cannot be read as an image ({exc})", label) from None
    except (SyntaxError, ValueError, EOFError) as exc:  # broken headers in some plugins
        raise NotAnImageError(f"cannot be read as an image ({exc})", label) from None
    _check_pixels(image.width, image.height, limit, label)
    _check_min_side(image.width, image.height, label)  # before decoding, too
    image.info["simlab_file_size"] = image.size
    if max_side and image.format == "JPEG":
        # libjpeg decodes at 1/2, 1/4 or 1/8 size directly (still at least max_side):
        # several times faster than decoding a large photo and shrinking it.
        image.draft(None, (int(max_side), int(max_side)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError, struct_error) as exc:
        raise TruncatedImageError(
            f"the image data is truncated or corrupt ({exc}); re-export the file", label
        ) from None
    except MemoryError:
        raise ImageTooLargeError(
            f"ran out of memory decoding {image.width}x{image.height} pixels; lower "
            "SIMLAB_MAX_PIXELS or free memory", label) from None
    if max_side:
        image = _reduce(image, int(max_side))
    return image


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """Box-reduce a decoded image by a whole factor, keeping at least 2 * ``max_side``."""
    factor = max(image.size) // (2 * max_side)
    if factor < 2:
        return image
    info = dict(image.info)
    source = image
    if image.mode.startswith("I;16"):
        source = image.convert("I")
    elif image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        source = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode == "1":
        source = image.convert("L")
    if source.mode not in _REDUCIBLE_MODES:
        return image
    reduced = source.reduce(factor)
    if image.mode.startswith("I;16"):  # back to 16 bits, so it is scaled as 16-bit data
        reduced = Image.fromarray(np.asarray(reduced).astype(np.uint16))
    reduced.info.update(info)
    image.close()
    return reduced


def _check_pixels(width: int, height: int, limit: int, label: str) -> None:
    if width * height > limit:
        raise ImageTooLargeError(
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,}; "
            "pass max_pixels=... (or set SIMLAB_MAX_PIXELS) if you trust the file",
            label,
        )


def _check_min_side(width: int, height: int, label: str) -> None:
    if min(height, width) < MIN_SIDE:
        raise ImageTooSmallError(
            f"{width}x{height} pixels is too small to compare (the minimum side is "
            f"{MIN_SIDE} px); use a larger version of the image", label)


def _pil_to_array(image: Image.Image, label: str, *, owned: bool = False) -> np.ndarray:
    """RGB uint8 of a PIL image; ``owned``: simlab opened it and may close it early."""
    try:
        # exif_transpose copies even an upright image: only call it when EXIF rotates.
        if image.getexif().get(0x0112, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not make a readable image unreadable
        pass
    mode = image.mode
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F", "L", "RGB", "RGBA"):
        pass  # numpy reads these modes directly (grey without Pillow's 4-byte RGB copy)
    elif has_alpha:
        image = image.convert("RGBA")
    else:
        image = image.convert("RGB")
    array = _pil_as_array(image)
    if owned:
        image.close()  # the decoded copy is not needed any more: free it before converting
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        return array
    return _array_to_rgb(array, label)


def _pil_as_array(image: Image.Image) -> np.ndarray:
    """The pixels of a decoded image as a numpy array, copied a band of rows at a time:
    ``np.asarray(image)`` goes through ``tobytes()``, which holds two more copies."""
    width, height = image.size
    first = np.asarray(image.crop((0, 0, width, min(height, 1))))
    out = np.empty((height, *first.shape[1:]), first.dtype)
    rows = max(1, (1 << 24) // max(1, first.nbytes))  # bands of about 16 MB
    for top in range(0, height, rows):
        out[top:top + rows] = np.asarray(image.crop((0, top, width, min(height, top + rows))))
    return out


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    def composite(block: np.ndarray) -> np.ndarray:
        alpha = block[..., 3:4].astype(np.float32) / 255.0
        rgb = block[..., :3].astype(np.float32)
        return np.clip(rgb * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255)

    return _by_rows(rgba, composite, (*rgba.shape[:2], 3))


def _by_rows(array: np.ndarray, convert, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``convert(array)`` as uint8, a band of rows at a time: the float or wide-integer
    temporaries of a 150-megapixel image would otherwise cost several GB."""
    out = np.empty(shape or array.shape, np.uint8)
    row_values = max(1, int(np.prod(array.shape[1:])))
    rows = max(1, (1 << 22) // row_values)  # about 4 million values per band
    for start in range(0, array.shape[0], rows):
        out[start:start + rows] = convert(array[start:start + rows])
    return out


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
        # (x + 128) // 257 is round(x / 257) exactly, without a float64 copy.
        out = _by_rows(array, lambda block: (block.astype(np.uint32) + 128) // 257)
    elif dtype in (np.int32, np.int64, np.uint32) and array.size and array.min() >= 0 \
            and array.max() <= 65535:
        divisor = 257.0 if array.max() > 255 else 1.0
        out = _by_rows(array, lambda block: np.round(block / divisor))
    elif np.issubdtype(dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidArrayError("float image contains NaN or infinity; clean it first",
                                    label)
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidArrayError(
                f"float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                "scale it (e.g. array / array.max()) or pass uint8", label)
        out = _by_rows(array, lambda block: np.round(block * 255.0))
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
    max_side = _check_max_side(max_side, label)
    limit = _max_pixels(max_pixels)
    if isinstance(source, (str, os.PathLike)):
        image = _open_file(Path(source), limit, max_side)
        # A drafted or reduced image is smaller than the file (EXIF rotation keeps the
        # longest side, and the shortest).
        file_size = image.info.get("simlab_file_size", image.size)
        original = max(file_size)
        _check_min_side(*file_size, label)
        try:
            array = _pil_to_array(image, label, owned=True)
        except MemoryError:
            raise ImageTooLargeError(
                f"ran out of memory converting {file_size[0]}x{file_size[1]} pixels; pass "
                "max_side=... (or --max-side) to work on a smaller copy", label) from None
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
    if not isinstance(source, (str, os.PathLike)):  # files: checked on the file's size
        _check_min_side(array.shape[1], array.shape[0], label)
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
    really decode is checked later, by :func:`load_image`. :func:`scan_images` also
    says which image-like entries were left out, and why.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.png").write_bytes(b""); _ = (d / "notes.txt").write_text("x")
    >>> (d / "out").mkdir(); _ = (d / "out" / "b.png").write_bytes(b"")
    >>> [p.name for p in list_images(d)], [p.name for p in list_images(d, exclude=[d / "out"])]
    (['a.png', 'b.png'], ['a.png'])
    """
    return scan_images(folder, recursive=recursive, exclude=exclude)[0]


def scan_images(folder: str | os.PathLike | Iterable[str | os.PathLike], *,
                recursive: bool = True, exclude: Iterable[str | os.PathLike] = ()
                ) -> tuple[list[Path], list[dict[str, str]]]:
    """The image files of a folder (sorted), and the image-like entries left out.

    Left out, each with a reason: files in a format simlab cannot read (SVG, HEIC,
    ``.npy``..., see :data:`UNSUPPORTED_EXTENSIONS`), image-named FIFOs, sockets and
    devices, broken symbolic links and link loops, and folders that cannot be listed.
    Linked folders are followed, each once; the folders in ``exclude`` and those simlab
    wrote (:func:`simlab_output_kind`) are not read. Hidden entries and files with other
    endings (``.txt``...) are ignored silently. A list of paths is passed through.

    Returns
    -------
    paths : list of pathlib.Path
    skipped : list of dict
        ``{"path", "reason"}``, the shape every folder job uses for skipped files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.png").write_bytes(b""); _ = (d / "logo.svg").write_text("<svg/>")
    >>> paths, skipped = scan_images(d)
    >>> [p.name for p in paths], [pathlib.Path(s["path"]).name for s in skipped]
    (['a.png'], ['logo.svg'])
    """
    if not isinstance(folder, (str, os.PathLike)):
        return [Path(p) for p in folder], []
    root = Path(folder)
    if not root.is_dir():
        raise ImageNotFoundError("is not a folder", os.fspath(root))
    excluded = {os.path.realpath(p) for p in exclude}
    seen = {os.path.realpath(root)}  # symlinked folders are followed, each once
    found: list[Path] = []
    skipped: list[dict[str, str]] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            skipped.append({"path": os.fspath(directory),
                            "reason": f"this folder cannot be listed ({exc.strerror or exc})"})
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            suffix = path.suffix.lower()
            image_like = suffix in IMAGE_EXTENSIONS or suffix in UNSUPPORTED_EXTENSIONS
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                real = os.path.realpath(path)
                if not recursive:
                    if image_like:
                        skipped.append({"path": os.fspath(path),
                                        "reason": "is a directory, not an image file"})
                # Our own outputs (an index, a pairs report) and what the caller excludes
                # are not input; a folder reached twice (a link loop) is read once.
                elif real in seen and entry.is_symlink():
                    skipped.append({"path": os.fspath(path), "reason": (
                        "a symbolic link to a folder that is already read (a link loop)")})
                elif real not in excluded and real not in seen \
                        and simlab_output_kind(real) is None:
                    seen.add(real)
                    pending.append(path)
                continue
            problem = _file_kind(path)
            if problem is not None and (image_like or "link" in problem):
                if problem.startswith("no such file"):
                    continue  # deleted while we listed the folder
                skipped.append({"path": os.fspath(path), "reason": problem})
            elif problem is None and suffix in UNSUPPORTED_EXTENSIONS:
                skipped.append({"path": os.fspath(path),
                                "reason": UNSUPPORTED_EXTENSIONS[suffix]})
            elif problem is None and suffix in IMAGE_EXTENSIONS:
                found.append(path)
    return sorted(found), sorted(skipped, key=lambda item: item["path"])
