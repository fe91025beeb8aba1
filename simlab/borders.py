"""The uniform fill around a rotated, padded or pasted image.

A panel turned by a few degrees comes back with its corners filled with one colour
(white in a figure, black in a letterboxed frame). That fill is not part of the
picture: counted in contrast statistics or colour histograms it makes the copy look
unlike its original. :func:`fill_mask` finds it so those statistics can skip it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_mask"]


def fill_mask(image: np.ndarray, *, tolerance: int = 2, extreme: int = 8, seam: int = 2,
              min_fraction: float = 0.01, max_fraction: float = 0.95) -> np.ndarray | None:
    """Near-black or near-white pixels connected to the image's corners, or None.

    Each corner that is within ``extreme`` grey levels of black or white is
    flood-filled (4-connected) over pixels within ``tolerance`` grey levels of the
    corner's own value; the tolerance lets JPEG noise in a flat fill pass. Only the
    extremes count because padding is black or white, while a flat grey sky in a
    corner is picture. The union counts as fill only when it covers between
    ``min_fraction`` and ``max_fraction`` of the image: a few flat corner pixels are
    picture, and an almost uniform image has no picture left to describe once its fill
    is dropped.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` RGB or ``(H, W)`` grey, uint8.
    tolerance : int
        Largest grey-level difference from the corner pixel that still counts as fill.
    extreme : int
        How close to 0 or 255 a corner must be to start a fill.
    seam : int
        The mask grows by this many pixels into the picture, over the seam where
        resampling blended fill and picture.
    min_fraction, max_fraction : float
        The share of the image the fill must cover to be reported.

    Returns
    -------
    ndarray of bool or None
        ``(H, W)``, True on fill pixels; None when there is no fill.

    Examples
    --------
    >>> from simlab import samples
    >>> turned = samples.rotate(samples.sample_image("camera", max_side=128), 10)
    >>> mask = fill_mask(turned)
    >>> bool(mask[0, 0]), bool(mask[64, 64])
    (True, False)
    >>> fill_mask(samples.sample_image("camera", max_side=128)) is None
    True
    """
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    height, width = grey.shape
    # floodFill's mask is 2 px larger than the image and also marks what was filled.
    filled = np.zeros((height + 2, width + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    for x, y in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
        value = int(grey[y, x])
        if min(value, 255 - value) <= extreme and not filled[y + 1, x + 1]:
            cv2.floodFill(grey, filled, (x, y), 0, tolerance, tolerance, flags)
    mask = filled[1:-1, 1:-1]
    if mask.any() and seam > 0:
        # Interpolation blends the fill into the picture's edge; that seam is neither,
        # and its in-between values would set a contrast stretch just as the fill would.
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=int(seam))
    # Checked after the seam is added, so some picture is always left outside.
    return mask.astype(bool) if min_fraction <= mask.mean() <= max_fraction else None
