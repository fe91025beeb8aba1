"""Errors raised by simlab.

Every error simlab raises on purpose is a :class:`SimlabError`. Each message names the
file (or array) and says how to fix the input, so a user never has to read a traceback
from deep inside OpenCV or Pillow.
"""

from __future__ import annotations

__all__ = [
    "SimlabError",
    "ImageLoadError",
    "ImageNotFoundError",
    "EmptyImageFileError",
    "NotAnImageError",
    "TruncatedImageError",
    "ImageTooSmallError",
    "ImageTooLargeError",
    "InvalidArrayError",
    "NotAFileError",
    "UnsupportedImageFormatError",
    "NoImagesError",
    "SizeMismatchError",
    "UnknownMethodError",
    "InvalidParameterError",
    "MethodUnavailableError",
    "WeightsNotFoundError",
    "InvalidFeaturesError",
    "IndexError_",
    "IndexNotFoundError",
    "CorruptIndexError",
    "ForeignIndexError",
    "IndexVersionError",
    "ReportError",
    "WidgetAssetsMissingError",
    "IndexLockedError",
    "IndexConflictError",
    "PdfError",
    "NotAPdfError",
    "EncryptedPdfError",
    "DamagedPdfError",
]


class SimlabError(Exception):
    """Base class of every error simlab raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong and how to fix it.
    path : str, optional
        The file (or a description of the array) the error is about.
    """

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    def reason_for(self, path: str) -> str:
        """The message without the ``path:`` prefix when it is about ``path``.

        Examples
        --------
        >>> SimlabError("empty", "a.png").reason_for("a.png")
        'empty'
        >>> SimlabError("empty", "a.png").reason_for("b.png")
        'a.png: empty'
        """
        return self.message if self.path == path else str(self)


class ImageLoadError(SimlabError):
    """An image could not be turned into an RGB uint8 array."""


class ImageNotFoundError(ImageLoadError, FileNotFoundError):
    """The path does not exist or is not a file."""


class EmptyImageFileError(ImageLoadError):
    """The file is zero bytes long."""


class NotAnImageError(ImageLoadError):
    """The file exists but no image format could be recognised."""


class TruncatedImageError(ImageLoadError):
    """The file starts like an image but its data ends early or is corrupt."""


class ImageTooSmallError(ImageLoadError):
    """The image is smaller than the minimum side length simlab can analyse."""


class ImageTooLargeError(ImageLoadError):
    """The image has more pixels than the configured limit (a decompression-bomb guard)."""


class InvalidArrayError(ImageLoadError, ValueError):
    """A numpy array has a dtype or shape that is not an image."""


class NotAFileError(ImageLoadError):
    """The path is a directory, a FIFO, a socket or a device, not a regular file."""


class UnsupportedImageFormatError(NotAnImageError):
    """An image-like file in a format simlab cannot read (SVG, HEIC, a ``.npy``...)."""


class NoImagesError(SimlabError):
    """A job was given a folder or list with no image simlab could read."""


class SizeMismatchError(SimlabError, ValueError):
    """Two images must have the same size for this method and policy."""


class UnknownMethodError(SimlabError, KeyError):
    """No method is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class InvalidParameterError(SimlabError, ValueError):
    """A method parameter is unknown or has a value out of range."""


class MethodUnavailableError(SimlabError):
    """A method cannot run here: a package or a model file is missing."""


class WeightsNotFoundError(MethodUnavailableError):
    """Deep-model weights are not available offline."""


class InvalidFeaturesError(SimlabError, ValueError):
    """Features given to a job are not the kind it takes (missing keys, other descriptor)."""


class IndexError_(SimlabError):
    """An index directory cannot be used (base class of the index errors).

    Named with a trailing underscore so it does not shadow Python's ``IndexError``.
    """


class IndexNotFoundError(IndexError_, FileNotFoundError):
    """No index at that path."""


class CorruptIndexError(IndexError_):
    """The index files are damaged: unreadable JSON, truncated arrays, mismatched parts.

    The message names the field (``index.json: files[3].path ...``) that is wrong.
    """


class ForeignIndexError(IndexError_):
    """The path holds something that is not a simlab index (or another method's index)."""


class IndexVersionError(IndexError_):
    """The index was written in a format version this simlab does not read."""


class ReportError(SimlabError):
    """A notebook failed while building the report."""


class WidgetAssetsMissingError(SimlabError):
    """The offline widget renderer files (npm packages) are not installed."""
class IndexLockedError(IndexError_):
    """Another process is updating the index (it holds the index's lock file)."""

    def __init__(self, message: str, path: str | None = None, pid: int | None = None):
        self.pid = pid
        super().__init__(message, path)


class IndexConflictError(IndexError_):
    """The index changed on disk since it was loaded: saving would lose that update."""


class PdfError(SimlabError):
    """A PDF cannot be read (base class of the PDF errors)."""


class NotAPdfError(PdfError):
    """The file does not start like a PDF (``%PDF-``)."""


class EncryptedPdfError(PdfError):
    """The PDF is password-protected: simlab cannot read its pages without the password."""


class DamagedPdfError(PdfError):
    """The PDF starts like one but its structure is truncated or corrupt."""
