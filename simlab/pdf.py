"""Figures out of PDFs: embedded images at native resolution, rendered regions otherwise.

A published paper holds its figures one of four ways, and each needs its own reading:

* **one embedded image per figure (or per panel)**: the raster is taken as stored, at its
  native resolution (no re-rendering, no resampling), with the box it is drawn in;
* **tiles**: a figure cut into several images that touch on the page. Their union is
  rendered (at ``dpi``) as one figure, so a panel is never split at a tile seam;
* **vector graphics only** (a plot, a diagram, a chart redrawn from data): there are no
  pixels to take. A cluster of many path objects, an inch or more each way and apart from
  the images, is rendered (at ``dpi``) as one figure of kind ``"vector"``
  (:func:`vector_regions`); tables drawn with rules count as such figures too;
* **a scanned page**: one image covers the page. The page is rendered and the figure
  regions are found on it: large blocks of dense ink, apart from the lines of text.

Images inside form XObjects ("vector-wrapped" figures) are found too: the page's objects
are walked to any depth. Pages are read one at a time (:func:`read_pdf` is a generator),
so a long PDF costs the memory of one page.

Boxes are in **page coordinates**: PDF points (1/72 inch) from the page's top-left corner,
``(x0, y0, x1, y1)`` with y downwards, as a reader sees the page.

pypdfium2 (PDFium's bindings, Apache-2.0/BSD) is imported when a PDF is read, never by
``import simlab``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import DamagedPdfError, EncryptedPdfError, NotAPdfError, PdfError

__all__ = ["PdfFigure", "PdfPage", "read_pdf", "count_pages", "render_page", "is_pdf",
           "figure_regions", "vector_regions", "DEFAULT_DPI"]

#: Rendering resolution for tiled figures and scanned pages: 150 dpi keeps a figure's
#: detail (a 3-inch panel becomes 450 px, more than the 800-px features need for it).
DEFAULT_DPI = 150

#: Images smaller than this (points, either side) are logos, icons or rules, not figures.
MIN_FIGURE_POINTS = 36
#: Embedded images smaller than this (pixels, either side) are ignored for the same reason.
MIN_FIGURE_PIXELS = 32
#: One image covering this share of the page is a scanned page, not a figure.
SCANNED_PAGE_SHARE = 0.7
#: Images whose boxes are closer than this (points) are tiles of one figure.
TILE_GAP_POINTS = 1.0
#: Vector figures: path objects closer than this (points) belong to one figure; a figure
#: has at least this many of them (rules, frames and underlines have a few) and is at
#: least an inch on each side.
VECTOR_GAP_POINTS = 12.0
VECTOR_MIN_PATHS = 8
VECTOR_MIN_POINTS = 72.0


@dataclass
class PdfFigure:
    """One figure of a page: its pixels and where it is drawn.

    Attributes
    ----------
    index : int
        1-based, in reading order on the page (top to bottom, then left to right).
    kind : {"image", "tiles", "scanned", "vector"}
        An embedded image (native pixels), tiles rendered as one, a region found on a
        rendered scanned page, or vector graphics rendered.
    box : tuple of float
        ``(x0, y0, x1, y1)`` in page points from the top-left corner.
    image : ndarray
        ``(H, W, 3)`` uint8 RGB.
    image_index : int or None
        The embedded image's position among the page's image objects (``kind="image"``).
    corner : ndarray or None
        The page just above the image's top-left corner, rendered (``kind="image"``):
        where a panel embedded on its own has its letter printed as text.
    """

    index: int
    kind: str
    box: tuple[float, float, float, float]
    image: np.ndarray = field(repr=False)
    image_index: int | None = None
    corner: np.ndarray | None = field(default=None, repr=False)

    def pixel_to_page(self, box) -> tuple[float, float, float, float]:
        """A box in this figure's pixels as page points (see module notes).

        Examples
        --------
        >>> f = PdfFigure(1, "image", (100.0, 50.0, 300.0, 150.0), np.zeros((50, 100, 3), np.uint8))
        >>> f.pixel_to_page((0, 0, 50, 25))
        (100.0, 50.0, 200.0, 100.0)
        """
        height, width = self.image.shape[:2]
        x0, y0, x1, y1 = self.box
        sx, sy = (x1 - x0) / width, (y1 - y0) / height
        return (round(x0 + box[0] * sx, 2), round(y0 + box[1] * sy, 2),
                round(x0 + box[2] * sx, 2), round(y0 + box[3] * sy, 2))


@dataclass
class PdfPage:
    """One page: its size (points), its figures and, when it has none, why."""

    number: int
    size: tuple[float, float]
    figures: list[PdfFigure] = field(default_factory=list)
    reason: str = ""


def is_pdf(path: str | os.PathLike) -> bool:
    """Whether a path names a PDF (by its ending; the content is checked on reading).

    Examples
    --------
    >>> is_pdf("paper.PDF"), is_pdf("figure.png")
    (True, False)
    """
    return Path(path).suffix.lower() == ".pdf"


def _open(path: str | os.PathLike):
    """The pdfium document, or a clear :class:`PdfError` naming the file and the problem."""
    from .errors import ImageNotFoundError
    from .io import _file_kind

    label = os.fspath(path)
    problem = _file_kind(Path(path))
    if problem is not None:
        raise ImageNotFoundError(problem, label)
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if not head:
        raise NotAPdfError("the file is empty (0 bytes); it is not a PDF", label)
    if b"%PDF-" not in head:
        raise NotAPdfError("does not start like a PDF (no %PDF- header); pass a PDF, an "
                           "image file or a folder", label)
    try:
        import pypdfium2 as pdfium
    except ImportError as exc:  # pragma: no cover - a dependency
        raise PdfError("reading PDFs needs pypdfium2: pip install pypdfium2", label) from exc
    try:
        return pdfium.PdfDocument(os.fspath(path))
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        if "password" in text:
            raise EncryptedPdfError("the PDF is encrypted (password-protected); decrypt it "
                                    "first (e.g. qpdf --decrypt --password=... in.pdf out.pdf)",
                                    label) from None
        raise DamagedPdfError(f"the PDF is damaged or truncated and cannot be opened "
                              f"({exc}); re-download it or repair it (e.g. qpdf in.pdf "
                              f"out.pdf)", label) from None


def count_pages(path: str | os.PathLike) -> int:
    """Pages in a PDF (raises :class:`PdfError` subclasses for unreadable files)."""
    document = _open(path)
    try:
        return len(document)
    finally:
        document.close()


def _bitmap_rgb(bitmap) -> np.ndarray:
    image = bitmap.to_pil()
    return np.asarray(image.convert("RGB"))


def render_page(path_or_page, number: int | None = None, *, dpi: float = DEFAULT_DPI,
                box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A page (or a box of it, in page points from the top-left) rendered as RGB uint8.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from simlab.lab.papers import write_paper
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.pdf"
    >>> _ = write_paper(path, pages=1, figures=1)
    >>> render_page(path, 1, dpi=36).shape
    (396, 306, 3)
    """
    if number is not None:
        document = _open(path_or_page)
        try:
            return render_page(document[number - 1], dpi=dpi, box=box)
        finally:
            document.close()
    page = path_or_page
    width, height = page.get_size()
    crop = (0, 0, 0, 0) if box is None else (
        max(0.0, box[0]), max(0.0, height - box[3]), max(0.0, width - box[2]),
        max(0.0, box[1]))
    return _bitmap_rgb(page.render(scale=dpi / 72.0, crop=crop))


def _top_left(bounds, height: float) -> tuple[float, float, float, float]:
    left, bottom, right, top = bounds
    return (float(left), float(height - top), float(right), float(height - bottom))


def _merge_tiles(boxes: list[tuple[float, ...]]) -> list[list[int]]:
    """Groups of boxes that touch or overlap (tiles of one figure), by index."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            gap_x = max(a[0], b[0]) - min(a[2], b[2])
            gap_y = max(a[1], b[1]) - min(a[3], b[3])
            if gap_x <= TILE_GAP_POINTS and gap_y <= TILE_GAP_POINTS:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def figure_regions(page_image: np.ndarray, *, dpi: float = DEFAULT_DPI
                   ) -> list[tuple[int, int, int, int]]:
    """Figure boxes (pixels) on a rendered page: dense blocks of ink, not lines of text.

    A scanned page has no image objects to read. Ink (anything darker or more coloured
    than the paper) is gathered into blocks; a block is a figure when it is at least half
    an inch on each side and mostly ink, which lines of text (thin strokes on white
    paper) never are. Blocks closer than a gutter with its letters (0.35 inch) join into
    one figure, so a multi-panel figure comes out whole and
    :mod:`simlab.duplicates.panels` splits it; a margin of 0.2 inch keeps its letters.

    Examples
    --------
    >>> page = np.full((600, 400, 3), 255, np.uint8)
    >>> page[100:300, 50:350] = np.random.default_rng(0).integers(0, 200, (200, 300, 3))
    >>> figure_regions(page, dpi=100)
    [(30, 80, 370, 320)]
    """
    import cv2

    grey = cv2.cvtColor(page_image, cv2.COLOR_RGB2GRAY)
    paper = np.percentile(grey, 90)  # the paper's own shade (scans are rarely 255)
    ink = (grey < paper - 30).astype(np.uint8)
    # Close small holes so a photograph's bright patches stay inside its block.
    close = max(3, int(dpi * 0.03)) | 1
    solid = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    smallest = dpi * 0.5
    blocks = []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if w >= smallest and h >= smallest and area >= 0.5 * w * h:
            blocks.append((float(x), float(y), float(x + w), float(y + h)))
    if not blocks:
        return []
    gap = dpi * 0.35
    grown = [(x0 - gap / 2, y0 - gap / 2, x1 + gap / 2, y1 + gap / 2) for x0, y0, x1, y1 in blocks]
    regions = []
    for group in _merge_tiles(grown):
        x0 = min(blocks[i][0] for i in group)
        y0 = min(blocks[i][1] for i in group)
        x1 = max(blocks[i][2] for i in group)
        y1 = max(blocks[i][3] for i in group)
        # A margin keeps the panel letters printed just outside the panels.
        margin = dpi * 0.2
        regions.append((int(max(0, x0 - margin)), int(max(0, y0 - margin)),
                        int(min(page_image.shape[1], x1 + margin)),
                        int(min(page_image.shape[0], y1 + margin))))
    return sorted(regions, key=lambda r: (r[1], r[0]))


def vector_regions(boxes: list[tuple[float, float, float, float]],
                   page_size: tuple[float, float], *, avoid=()
                   ) -> list[tuple[float, float, float, float]]:
    """Boxes (page points) of figures drawn as vector paths, from the paths' boxes.

    Paths closer than :data:`VECTOR_GAP_POINTS` join (on a 2-point grid, so a plot of
    thousands of paths costs one image operation, not a comparison of every pair). A group
    is a figure when it holds :data:`VECTOR_MIN_PATHS` paths and spans
    :data:`VECTOR_MIN_POINTS` each way. The ``avoid`` boxes are the page's images, which
    are read as such: a path enclosing one (a figure's background, a frame) is not drawing,
    and a group reaching over one is left out (frames, ticks and arrows around a picture
    are not a figure of their own, and the picture must not be compared with itself).

    Examples
    --------
    >>> ticks = [(100 + 10 * i, 300, 101 + 10 * i, 305) for i in range(12)]
    >>> axes = [(100, 200, 101, 300), (100, 300, 220, 301)]
    >>> vector_regions(ticks + axes, (612, 792))
    [(100, 200, 220, 305)]
    >>> vector_regions([(50, 700, 560, 701)], (612, 792))   # a rule under the text
    []
    >>> vector_regions(ticks + axes, (612, 792), avoid=[(110, 210, 215, 295)])  # a picture
    []
    """
    import cv2

    def overlap(a, b) -> float:
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * \
            max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    avoid = [tuple(float(v) for v in a) for a in avoid]
    cell = 2.0
    width, height = page_size
    grid = np.zeros((int(height / cell) + 2, int(width / cell) + 2), np.uint8)
    clipped = []
    for x0, y0, x1, y1 in boxes:
        if any(x0 <= a[0] + 1 and y0 <= a[1] + 1 and x1 >= a[2] - 1 and y1 >= a[3] - 1
               for a in avoid):
            continue  # a background or frame behind a picture
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(width, x1), min(height, y1)
        if x1 < x0 or y1 < y0:
            continue
        clipped.append((x0, y0, x1, y1))
        grid[int(y0 / cell):int(y1 / cell) + 1, int(x0 / cell):int(x1 / cell) + 1] = 1
    if not clipped:
        return []
    reach = int(np.ceil(VECTOR_GAP_POINTS / cell))
    grown = cv2.dilate(grid, np.ones((reach + 1, reach + 1), np.uint8))
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    groups: dict[int, list[tuple[float, ...]]] = {}
    for box in clipped:
        groups.setdefault(int(labels[int(box[1] / cell), int(box[0] / cell)]), []).append(box)
    regions = []
    for members in groups.values():
        union = (min(b[0] for b in members), min(b[1] for b in members),
                 max(b[2] for b in members), max(b[3] for b in members))
        if len(members) < VECTOR_MIN_PATHS or min(union[2] - union[0], union[3] - union[1]) \
                < VECTOR_MIN_POINTS:
            continue
        if not any(overlap(union, a) > 0.05 * (a[2] - a[0]) * (a[3] - a[1]) for a in avoid):
            regions.append(union)
    return sorted(regions, key=lambda r: (r[1], r[0]))


def _vector_figures(page, dpi: float, images: list[tuple[float, ...]]) -> list[PdfFigure]:
    """The page's figures drawn in vector graphics, rendered (see :func:`vector_regions`)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    boxes = [_top_left(item.get_bounds(), height)
             for item in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH,
                                                  pdfium_c.FPDF_PAGEOBJ_SHADING],
                                          max_depth=15)]
    figures = []
    for x0, y0, x1, y1 in vector_regions(boxes, (width, height), avoid=images):
        box = (max(0.0, x0 - 4), max(0.0, y0 - 4), min(width, x1 + 4), min(height, y1 + 4))
        figures.append(PdfFigure(0, "vector", box, render_page(page, dpi=dpi, box=box)))
    return figures


def _page_figures(page, dpi: float) -> tuple[list[PdfFigure], str]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    objects = []
    for position, item in enumerate(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE],
                                                     max_depth=15)):
        box = _top_left(item.get_bounds(), height)
        if min(box[2] - box[0], box[3] - box[1]) < MIN_FIGURE_POINTS:
            continue
        try:
            pixels = item.get_px_size()
        except pdfium.PdfiumError:
            pixels = (MIN_FIGURE_PIXELS, MIN_FIGURE_PIXELS)
        if min(pixels) < MIN_FIGURE_PIXELS:
            continue
        objects.append((position, box, item))
    if not objects:
        figures = _vector_figures(page, dpi, [])
        return _numbered(figures), "" if figures else "no images or drawn figures on this page"

    # A scanned page: one image over (most of) the page; its figures must be found.
    page_area = width * height
    largest = max((b[2] - b[0]) * (b[3] - b[1]) for _, b, _ in objects)
    if largest >= SCANNED_PAGE_SHARE * page_area:
        image = render_page(page, dpi=dpi)
        scale = 72.0 / dpi
        figures = [PdfFigure(0, "scanned", (x0 * scale, y0 * scale, x1 * scale, y1 * scale),
                             np.ascontiguousarray(image[y0:y1, x0:x1]))
                   for x0, y0, x1, y1 in figure_regions(image, dpi=dpi)]
        return _numbered(figures), "" if figures else "a scanned page without figures"

    figures = []
    for group in _merge_tiles([b for _, b, _ in objects]):
        if len(group) == 1:
            position, box, item = objects[group[0]]
            try:
                image = _bitmap_rgb(item.get_bitmap(render=False))
            except (pdfium.PdfiumError, OSError, ValueError):
                image = None  # a filter PDFium cannot decode alone: render its box
            if image is not None and min(image.shape[:2]) >= MIN_FIGURE_PIXELS:
                corner = render_page(page, dpi=300, box=(box[0] - 14, box[1] - 16,
                                                         box[0] + 24, box[1] - 0.5))
                figures.append(PdfFigure(0, "image", box, image, image_index=position,
                                         corner=corner))
                continue
            figures.append(PdfFigure(0, "tiles", box, render_page(page, dpi=dpi, box=box)))
            continue
        box = (min(objects[i][1][0] for i in group), min(objects[i][1][1] for i in group),
               max(objects[i][1][2] for i in group), max(objects[i][1][3] for i in group))
        figures.append(PdfFigure(0, "tiles", box, render_page(page, dpi=dpi, box=box)))
    figures += _vector_figures(page, dpi, [b for _, b, _ in objects])
    return _numbered(figures), ""


def _numbered(figures: list[PdfFigure]) -> list[PdfFigure]:
    figures.sort(key=lambda f: (round(f.box[1]), f.box[0]))
    for number, figure in enumerate(figures, start=1):
        figure.index = number
    return figures


def read_pdf(path: str | os.PathLike, *, dpi: float = DEFAULT_DPI, progress: bool = True,
             pages: list[int] | None = None) -> Iterator[PdfPage]:
    """The figures of a PDF, one page at a time.

    Parameters
    ----------
    path : path
        The PDF.
    dpi : float
        Resolution at which tiled figures and scanned pages are rendered (embedded
        images are always taken at their native resolution).
    progress : bool
        A tqdm bar over the pages (notebook-aware).
    pages : list of int, optional
        1-based page numbers to read (default: all).

    Yields
    ------
    PdfPage
        With its figures (see :class:`PdfFigure`), or an empty list and the ``reason``.

    Raises
    ------
    NotAPdfError, EncryptedPdfError, DamagedPdfError
        The file cannot be read as a PDF; the message says what to do.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from simlab.lab.papers import write_paper
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "paper.pdf"
    >>> _ = write_paper(path, pages=2, figures=2, panels=[3], modes=["single"])
    >>> [(p.number, len(p.figures)) for p in read_pdf(path, progress=False)]
    [(1, 1), (2, 1)]
    """
    from tqdm.auto import tqdm

    import pypdfium2 as pdfium

    if float(dpi) <= 0 or float(dpi) > 1200:
        from .errors import InvalidParameterError

        raise InvalidParameterError(f"dpi must lie in (0, 1200]; got {dpi!r}")
    document = _open(path)
    label = os.fspath(path)
    try:
        numbers = list(range(1, len(document) + 1)) if pages is None else list(pages)
        for number in tqdm(numbers, desc=Path(path).name, unit="page", disable=not progress,
                           leave=False):
            try:
                page = document[number - 1]
            except (pdfium.PdfiumError, IndexError) as exc:
                yield PdfPage(number, (0.0, 0.0), [], f"the page cannot be read ({exc})")
                continue
            try:
                figures, reason = _page_figures(page, dpi)
                yield PdfPage(number, tuple(float(v) for v in page.get_size()), figures,
                              reason)
            except pdfium.PdfiumError as exc:
                yield PdfPage(number, tuple(float(v) for v in page.get_size()), [],
                              f"the page is damaged ({exc})")
            finally:
                page.close()
    except pdfium.PdfiumError as exc:
        raise DamagedPdfError(f"the PDF is damaged ({exc})", label) from None
    finally:
        document.close()
