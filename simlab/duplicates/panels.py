"""Split a composite figure into its panels, and read the panel letters.

A multi-panel figure is a grid (or a nest of rows and columns) of pictures separated by
**gutters**: rows or columns of the figure's background colour. The splitter cuts along
them recursively (an XY-cut): rows of background that cross the whole piece, then
columns, then rows again inside each part, until no gutter is left. Each piece is trimmed
of its background margin. Pieces too small to be a panel are the letters (A, B, C...)
and stray marks printed in the gutters; a letter beside a panel's top-left corner names
that panel.

Letters are read cheaply, without an OCR engine: a small isolated blob of ink is
compared (normalised correlation of the blurred shapes) with the letters A-J rendered in
the fonts matplotlib ships (DejaVu Sans and Serif, bold and regular); below a clear match
the label stays ``None``.

Where no straight gutter is left but a piece still holds several solid pictures apart
from each other (a pinwheel or stepped layout, which an XY-cut cannot separate), its
**connected regions** of ink are the panels.

A figure's ground is flat and light (white, a scan's paper) or black; a picture whose own
field has the border's colour (cells on a grey field, a deep-field sky) is not cut at the
gaps of that field.

Limits: a figure without gutters (panels touching, or a single picture) is kept whole;
panels that overlap and insets are not separated, nor pictures that are not solid
rectangles (plots, cells on a white ground) unless a gutter crosses between them; a gutter
whose colour differs from the figure's border is not seen, nor a figure on a mid-grey or
coloured ground; letters drawn inside a panel over the picture are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Panel", "split_panels", "framed_picture", "read_label", "LETTERS"]

#: The letters a panel label is read as.
LETTERS = "ABCDEFGHIJ"

#: A panel is at least this share of the figure's shorter side, and this many pixels.
MIN_PANEL_SHARE = 0.12
MIN_PANEL_PIXELS = 40
#: Colour distance (max over channels) within which a pixel counts as background.
BACKGROUND_TOLERANCE = 18
#: A line is a gutter when this share of it is background (JPEG noise, stray marks).
GUTTER_SHARE = 0.995
#: A figure's ground is flat: this share of its border's ground pixels lie within
#: FLAT_TOLERANCE of its colour. Measured on generated papers: composites 0.99-1.0; a
#: single deep-field picture whose dark sky was read as ground and cut into pieces 0.82.
FLAT_TOLERANCE = 6
FLAT_SHARE = 0.9
#: A figure's ground is light (white, a scan's paper: every channel at least LIGHT_GROUND)
#: or black (every channel at most DARK_GROUND); a mid-grey field is a picture's own.
LIGHT_GROUND = 200
DARK_GROUND = 30


@dataclass(frozen=True)
class Panel:
    """One panel of a figure.

    Attributes
    ----------
    index : int
        1-based, in reading order.
    box : tuple of int
        ``(x0, y0, x1, y1)`` in the figure's pixels.
    label : str or None
        The letter printed beside it, when one was read.
    """

    index: int
    box: tuple[int, int, int, int]
    label: str | None = None


def _background(image: np.ndarray) -> np.ndarray | None:
    """The figure's background colour (its border's), or None when the border is not plain.

    Panels may touch the figure's edges, so the ground shows on only part of the border
    (its top row, above the letters), and dark pictures along three edges can outnumber
    it there. Of the commonest border colours (coarsely binned), the first that fills a
    whole edge is the ground; when none does, the commonest.
    """
    lines = [image[0], image[-1], image[:, 0], image[:, -1]]
    border = np.concatenate(lines).astype(int)
    bins = border // 16
    keys, counts = np.unique(bins, axis=0, return_counts=True)
    candidates = [np.median(border[(bins == keys[i]).all(axis=1)], axis=0)
                  for i in np.argsort(-counts, kind="stable")[:3]]

    def near(pixels, colour):
        return np.abs(pixels.astype(int) - colour).max(axis=-1) <= BACKGROUND_TOLERANCE

    colour = next((c for c in candidates
                   if any(near(line, c).mean() >= GUTTER_SHARE for line in lines)),
                  candidates[0])
    plain = near(border, colour).mean()
    return colour if plain >= 0.2 else None


def _runs(line_is_gutter: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    """Content intervals between gutters at least ``shortest`` long (margins dropped)."""
    pieces, start, gap = [], None, 0
    for position, gutter in enumerate(line_is_gutter):
        if gutter:
            gap += 1
            if start is not None and gap >= shortest:
                pieces.append((start, position - gap + 1))
                start = None
        else:
            if start is None:
                start = position
            gap = 0
    if start is not None:
        end = len(line_is_gutter)
        while end > start and line_is_gutter[end - 1]:
            end -= 1
        pieces.append((start, end))
    return pieces


def _cut(mask: np.ndarray, box, shortest: int, depth: int = 0, *,
         smallest: float = np.inf) -> list[tuple[int, ...]]:
    """Recursive XY-cut of the content ``mask`` (True: not background) inside ``box``;
    a piece no gutter crosses is tried for separate pictures (:func:`_regions`)."""
    x0, y0, x1, y1 = box
    part = mask[y0:y1, x0:x1]
    rows = (~part).mean(axis=1) >= GUTTER_SHARE
    columns = (~part).mean(axis=0) >= GUTTER_SHARE
    if rows.all():
        return []
    row_runs = _runs(rows, shortest)
    column_runs = _runs(columns, shortest)
    if len(row_runs) <= 1 and len(column_runs) <= 1:  # no gutter left: trim and stop
        (top, bottom), (left, right) = row_runs[0], column_runs[0]
        trimmed = (x0 + left, y0 + top, x0 + right, y0 + bottom)
        return _regions(mask, trimmed, smallest) or [trimmed]
    if depth > 12:
        return [box]
    pieces = []
    if len(row_runs) > 1:
        for top, bottom in row_runs:
            pieces += _cut(mask, (x0, y0 + top, x1, y0 + bottom), shortest, depth + 1,
                           smallest=smallest)
    else:
        for left, right in column_runs:
            pieces += _cut(mask, (x0 + left, y0, x0 + right, y1), shortest, depth + 1,
                           smallest=smallest)
    return pieces


#: A connected region is a picture when it fills this share of its box (holes filled):
#: photographs and micrographs are solid rectangles; plots, cells on a white ground and
#: letters are not.
SOLID_SHARE = 0.9
#: Separate pictures must hold this share of a piece's ink (the rest: letters, marks).
PICTURES_SHARE = 0.9


def _filled_area(mask: np.ndarray) -> int:
    """Pixels of ``mask`` with its holes filled (as ``scipy.ndimage.binary_fill_holes``,
    whose import alone took 0.26 s of a paper's run): what the ground, 4-connected,
    cannot reach from outside.

    Examples
    --------
    >>> ring = np.ones((5, 5), bool); ring[2, 2] = False
    >>> _filled_area(ring), _filled_area(np.eye(4, dtype=bool))
    (25, 4)
    """
    import cv2

    ground = np.pad(mask, 1).astype(np.uint8)  # a frame of ground all round
    cv2.floodFill(ground, None, (0, 0), 1, flags=4)
    return int(mask.sum()) + int((ground == 0).sum())


def _regions(mask: np.ndarray, box, smallest: float) -> list[tuple[int, ...]]:
    """Pictures that no straight gutter separates (a pinwheel or stepped layout): the
    solid connected regions of ink of one piece, when there are two or more of them and
    they hold nearly all of its ink; otherwise none (the piece stays whole)."""
    import cv2

    x0, y0, x1, y1 = box
    part = np.ascontiguousarray(mask[y0:y1, x0:x1], np.uint8)
    if not np.isfinite(smallest) or min(part.shape) < 2 * smallest:
        return []  # too small to hold two panels side by side or stacked
    count, labels, stats, _ = cv2.connectedComponentsWithStats(part, connectivity=8)
    pictures, ink = [], 0
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if w < smallest or h < smallest:
            continue
        if _filled_area(labels[y:y + h, x:x + w] == label) >= SOLID_SHARE * w * h:
            pictures.append((x0 + x, y0 + y, x0 + x + w, y0 + y + h))
            ink += area
    if len(pictures) < 2 or ink < PICTURES_SHARE * part.sum():
        return []
    return pictures


@lru_cache(maxsize=1)
def _templates() -> tuple[str, np.ndarray]:
    """Letters rendered in the fonts matplotlib ships, as normalised glyph arrays."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    names, arrays = [], []
    for family in ("DejaVu Sans", "DejaVu Serif"):
        for weight in ("bold", "normal"):
            font = ImageFont.truetype(font_manager.findfont(font_manager.FontProperties(
                family=family, weight=weight)), 64)
            for letter in LETTERS + LETTERS.lower():
                canvas = Image.new("L", (110, 110), 0)
                ImageDraw.Draw(canvas).text((10, 0), letter, fill=255, font=font)
                ink = np.asarray(canvas) > 127
                ys, xs = np.nonzero(ink)
                names.append(letter.upper())
                arrays.append(_glyph(ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]))
    return "".join(names), np.stack(arrays)


def _glyph(ink: np.ndarray, size: int = 32) -> np.ndarray:
    """A blob as a square, blurred, zero-mean unit vector: its shape, not its stroke."""
    import cv2

    height, width = ink.shape
    side = max(height, width)
    square = np.zeros((side, side), np.float32)  # padded, so an I stays a bar
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = ink
    glyph = cv2.GaussianBlur(cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA),
                             (0, 0), 1.5)
    return _normalised(glyph)


def _normalised(glyph: np.ndarray) -> np.ndarray:
    glyph = glyph - glyph.mean()
    norm = np.linalg.norm(glyph)
    return glyph / norm if norm > 0 else glyph


def read_label(image: np.ndarray, *, min_correlation: float = 0.75) -> str | None:
    """The letter in a small crop (dark ink on a light ground, or the reverse), or None.

    Examples
    --------
    >>> from PIL import Image, ImageDraw, ImageFont
    >>> from matplotlib import font_manager
    >>> font = ImageFont.truetype(font_manager.findfont(font_manager.FontProperties(
    ...     family="DejaVu Sans", weight="bold")), 20)
    >>> canvas = Image.new("RGB", (30, 30), "white")
    >>> ImageDraw.Draw(canvas).text((5, 2), "C", fill="black", font=font)
    >>> read_label(np.asarray(canvas))
    'C'
    """
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    if grey.size == 0 or grey.max() - grey.min() < 60:
        return None
    ink = grey < (int(grey.max()) + int(grey.min())) / 2
    if ink.mean() > 0.5:  # light letter on a dark ground
        ink = ~ink
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), 8)
    if count < 2:
        return None
    # The letter is the largest blob; specks and neighbours' edges are smaller.
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, _ = stats[largest]
    if h < 6 or w < 1 or w > 3 * h:
        return None
    glyph = _glyph(labels[y:y + h, x:x + w] == largest)
    names, templates = _templates()
    scores = templates.reshape(len(names), -1) @ glyph.ravel()
    best = int(np.argmax(scores))
    return names[best] if scores[best] >= min_correlation else None


def split_panels(image: np.ndarray, *, min_panel_share: float = MIN_PANEL_SHARE,
                 read_labels: bool = True) -> list[Panel]:
    """The panels of a figure, in reading order; one panel (the whole) without gutters.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` uint8 RGB figure.
    min_panel_share : float
        Pieces whose sides are both below this share of the figure's shorter side are
        letters or marks, not panels.
    read_labels : bool
        Read the letter beside each panel (see :func:`read_label`).

    Returns
    -------
    list of Panel
        Boxes in the figure's pixels. A figure whose border is not a plain colour, or
        that has no gutter, comes back as a single panel covering it.

    Examples
    --------
    >>> figure = np.full((100, 210, 3), 255, np.uint8)
    >>> rng = np.random.default_rng(0)
    >>> figure[10:90, 5:100] = rng.integers(0, 200, (80, 95, 3))
    >>> figure[10:90, 110:205] = rng.integers(0, 200, (80, 95, 3))
    >>> [p.box for p in split_panels(figure)]
    [(5, 10, 100, 90), (110, 10, 205, 90)]
    >>> [p.box for p in split_panels(rng.integers(0, 255, (50, 60, 3), dtype=np.uint8))]
    [(0, 0, 60, 50)]
    """
    height, width = image.shape[:2]
    whole = [Panel(1, (0, 0, width, height))]
    colour = _background(image)
    if colour is None:
        return whole
    distance = np.abs(image.astype(np.int16) - colour.astype(np.int16)).max(axis=2)
    content = distance > BACKGROUND_TOLERANCE
    # Flatness is read on the border, where the ground shows: bright picture pixels
    # inside (a sky, a page) are near white but not ground.
    border = np.concatenate([distance[0], distance[-1], distance[:, 0], distance[:, -1]])
    ground = border[border <= BACKGROUND_TOLERANCE]
    paper_like = colour.min() >= LIGHT_GROUND or colour.max() <= DARK_GROUND
    if not paper_like or (len(ground) and (ground <= FLAT_TOLERANCE).mean() < FLAT_SHARE):
        # A grey field of cells, a dark sky, a shadow: one picture, not a figure's ground.
        return whole
    # Two lines of ground are a gutter: letters sit a point or two above their panels
    # (3 px at 150 dpi), and a letter left on a panel is content both copies share.
    shortest = 2
    smallest = max(MIN_PANEL_PIXELS, min_panel_share * min(height, width))
    pieces = _cut(content, (0, 0, width, height), shortest, smallest=smallest)
    panels = [p for p in pieces if (p[2] - p[0]) >= smallest and (p[3] - p[1]) >= smallest]
    marks = [p for p in pieces if p not in panels]
    if len(panels) <= 1:
        return whole  # one picture: kept whole, with its margin

    panels.sort(key=lambda p: (p[1], p[0]))
    panels = _reading_order(panels)
    labels = _labels(image, panels, marks) if read_labels else [None] * len(panels)
    return [Panel(i, tuple(int(v) for v in box), label)
            for i, (box, label) in enumerate(zip(panels, labels), start=1)]


#: framed_picture: the flat colours of a frame are the few most common (5-bit-per-channel
#: bins) that together cover at least FRAME_GROUND of what lies outside the picture, and
#: the picture is one solid region (FRAME_SOLID of its box) of FRAME_SHARE of the image.
FRAME_COLOURS, FRAME_GROUND, FRAME_SOLID, FRAME_SHARE = 4, 0.6, 0.7, (0.05, 0.85)


def framed_picture(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box ``(x0, y0, x1, y1)`` of the picture inside a frame of flat colours (a
    screenshot of a viewer window, a slide), or None.

    The frame's colours are the few most common ones; the picture is the largest solid
    region of other colours, and what lies outside it is mostly frame (menus' text and
    small thumbnails are not). A photograph is seldom taken for one: 45 of the 714
    pictures of ``simlab bench search`` were (a flat surround, clip art on white), and
    the search looks for a frame only where no match covers the query.

    Examples
    --------
    >>> window = np.full((300, 400, 3), 230, np.uint8)
    >>> window[:20] = 60                                     # a title bar
    >>> window[60:260, 120:360] = np.random.default_rng(0).integers(0, 255, (200, 240, 3))
    >>> framed_picture(window)
    (120, 60, 360, 260)
    >>> framed_picture(np.random.default_rng(1).integers(0, 255, (90, 90, 3), np.uint8))
    """
    import cv2

    height, width = image.shape[:2]
    if image.ndim != 3 or min(height, width) < 64:
        return None
    bins = (image[..., 0] >> 3).astype(np.int32) << 10 | (image[..., 1] >> 3).astype(
        np.int32) << 5 | (image[..., 2] >> 3)
    counts = np.bincount(bins.ravel(), minlength=1 << 15)
    common = np.argsort(-counts)[:FRAME_COLOURS]
    ground = np.isin(bins, common[counts[common] > 0])
    content = cv2.morphologyEx((~ground).astype(np.uint8), cv2.MORPH_CLOSE,
                               np.ones((9, 9), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(content, connectivity=8)
    if count < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = (int(v) for v in stats[best])
    share = w * h / float(height * width)
    if not FRAME_SHARE[0] <= share <= FRAME_SHARE[1] or area < FRAME_SOLID * w * h:
        return None
    outside = np.ones((height, width), bool)
    outside[y:y + h, x:x + w] = False
    if ground[outside].mean() < FRAME_GROUND:
        return None
    return x, y, x + w, y + h


def _reading_order(boxes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Rows (boxes whose vertical extents overlap) top to bottom, each left to right."""
    rows: list[list[tuple[int, ...]]] = []
    for box in sorted(boxes, key=lambda b: b[1]):
        for row in rows:
            top, bottom = min(b[1] for b in row), max(b[3] for b in row)
            if box[1] < bottom and box[3] > top and box[1] - top < (bottom - top) / 2:
                row.append(box)
                break
        else:
            rows.append([box])
    return [box for row in rows for box in sorted(row, key=lambda b: b[0])]


def _labels(image: np.ndarray, panels, marks) -> list[str | None]:
    """The letter of each panel: a mark just above or left of its top-left corner."""
    labels: list[str | None] = []
    for x0, y0, x1, y1 in panels:
        reach = max(8, int(0.25 * min(x1 - x0, y1 - y0)))
        near = [m for m in marks
                if m[2] <= x0 + reach and m[0] >= x0 - reach
                and m[3] <= y0 + reach and m[1] >= y0 - reach
                and (m[3] <= y0 + 2 or m[2] <= x0 + 2)]  # outside the panel
        near.sort(key=lambda m: abs(m[0] - x0) + abs(m[3] - y0))
        label = None
        for m in near[:2]:
            pad = 2
            crop = image[max(0, m[1] - pad):m[3] + pad, max(0, m[0] - pad):m[2] + pad]
            label = read_label(crop)
            if label:
                break
        labels.append(label)
    return labels
