"""Generated papers: multi-page PDFs with multi-panel figures and planted reuse.

The papers the image-integrity sleuths read are PDFs whose figures hold several panels
with gutters and letters, among captions and body text. These are made the same way,
from images that ship with scikit-image (photographs, microscopy, astronomy; tiles of
the larger ones) and microscopy-like synthetic cells, with ReportLab (BSD):

* figures of 2-9 panels in a grid with gutters, a letter (A, B, C...) above each panel,
  a caption below and body text around;
* three ways of holding a figure: one embedded image (``"single"``), one embedded image
  per panel (``"separate"``), or the whole page rasterised as if scanned (``"scanned"``);
* planted reuse: a panel shown again in another figure (of this paper or another),
  cropped, rotated, mirrored, with its contrast or colours changed, or rescaled; and
  copy-move: a region of a panel pasted elsewhere in the same panel.

Every panel box (page points from the top-left, as :mod:`simlab.pdf` reports them) and
every planted reuse is in the returned ground truth, for the tests and ``simlab bench
papers``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = ["make_papers", "write_paper", "panel_pool", "REUSE_KINDS", "LABELS"]

#: How a planted panel differs from its source, and the kind the finder should report.
REUSE_KINDS = {"crop": "crop", "rotation": "rotation", "mirror": "mirror",
               "contrast": "copy", "rescale": "copy"}
LABELS = "ABCDEFGHI"

PAGE = (612.0, 792.0)  # US letter, points
MARGIN = 54.0
GUTTER = 10.0          # between panels, points
LABEL_STRIP = 13.0     # room above each panel for its letter
PIXELS_PER_POINT = 2.0  # embedded figure rasters: 144 dpi
_WORDS = ("cells were imaged after staining and the signal was quantified in each field "
          "samples from three independent experiments show the same response under the "
          "treatment while controls remained unchanged across the time course and the "
          "antibody specificity was confirmed by western blot of whole lysates").split()


def panel_pool(count: int, *, side: int = 256, random_state: int = 0) -> list[np.ndarray]:
    """``count`` distinct panel images: tiles of scikit-image samples and synthetic cells.

    Tiles of one photograph never overlap, so two pool images share no content unless a
    reuse is planted.

    Examples
    --------
    >>> pool = panel_pool(5, side=64)
    >>> len(pool), pool[0].shape
    (5, (64, 64, 3))
    """
    import cv2

    from .samples import sample_image, synthetic_cells

    rng = np.random.default_rng(random_state)
    tiles: list[np.ndarray] = []
    for name in ("hubble_deep_field", "immunohistochemistry", "astronaut", "coffee",
                 "chelsea", "rocket", "retina", "coins", "camera", "moon", "cat"):
        image = sample_image(name, max_side=None)
        for y in range(0, image.shape[0] - side + 1, side):
            for x in range(0, image.shape[1] - side + 1, side):
                tile = image[y:y + side, x:x + side]
                # Flat tiles (a retina's black corners, sky) have nothing to match.
                if cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY).std() > 25:
                    tiles.append(np.ascontiguousarray(tile))
    order = rng.permutation(len(tiles))
    pool = [tiles[i] for i in order]
    while len(pool) < count:  # microscopy-like cells, as many as needed
        cells = synthetic_cells(rng)
        pool.append(cv2.resize(cells, (side, side), interpolation=cv2.INTER_AREA))
    return pool[:count]


def _reuse(image: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The planted copy of a panel (see :data:`REUSE_KINDS`); same size as the panel."""
    import cv2

    from .samples import brightness_contrast, hue_shift

    height, width = image.shape[:2]
    out = image
    for part in kind.split("+"):
        if part == "crop":  # 60% of the area, from a corner, enlarged back
            h, w = int(height * 0.78), int(width * 0.78)
            y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
            out = cv2.resize(out[y:y + h, x:x + w], (width, height),
                             interpolation=cv2.INTER_CUBIC)
        elif part == "rotation":
            out = np.ascontiguousarray(np.rot90(out, k=int(rng.choice([1, 2, 3]))))
        elif part == "mirror":
            out = np.ascontiguousarray(out[:, ::-1])
        elif part == "contrast":
            out = brightness_contrast(out, gamma=0.6, contrast=1.3)
        elif part == "recolour":
            out = hue_shift(out, 90)
        elif part == "rescale":  # shown at 55% resolution, blown up again
            small = cv2.resize(out, None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        else:
            raise ValueError(f"unknown reuse {part!r}; use {', '.join(REUSE_KINDS)}")
    return out


def _copy_move(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """A quarter-side square of the panel pasted elsewhere in it; the two boxes (pixels)."""
    height, width = image.shape[:2]
    side = int(min(height, width) * 0.3)
    out = image.copy()
    while True:
        y0, x0 = rng.integers(0, height - side, 2)
        y1, x1 = rng.integers(0, height - side, 2)
        if abs(int(y0) - int(y1)) > side or abs(int(x0) - int(x1)) > side:
            break
    out[y1:y1 + side, x1:x1 + side] = image[y0:y0 + side, x0:x0 + side]
    return out, [[int(x0), int(y0), int(x0 + side), int(y0 + side)],
                 [int(x1), int(y1), int(x1 + side), int(y1 + side)]]


def _layout(count: int, top: float) -> tuple[list[tuple[float, ...]], float]:
    """Panel boxes (points, top-left origin) of a figure of ``count`` panels; its bottom."""
    columns = 1 if count == 1 else 2 if count in (2, 4) else 3
    rows = math.ceil(count / columns)
    width = PAGE[0] - 2 * MARGIN
    side = min((width - (columns - 1) * GUTTER) / columns, 150.0 if rows > 2 else 190.0)
    left = MARGIN + (width - (columns * side + (columns - 1) * GUTTER)) / 2
    boxes = []
    for index in range(count):
        row, column = divmod(index, columns)
        x0 = left + column * (side + GUTTER)
        y0 = top + row * (side + LABEL_STRIP + GUTTER) + LABEL_STRIP
        boxes.append((x0, y0, x0 + side, y0 + side))
    bottom = top + rows * (side + LABEL_STRIP + GUTTER) - GUTTER
    return boxes, bottom


def _font(size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont(font_manager.FontProperties(
        family="DejaVu Sans", weight="bold")), size)


def _figure_raster(panels: list[np.ndarray], boxes, figure_box) -> np.ndarray:
    """One image holding every panel and its letter, at :data:`PIXELS_PER_POINT`."""
    import cv2
    from PIL import Image, ImageDraw

    x0, y0, x1, y1 = figure_box
    scale = PIXELS_PER_POINT
    canvas = Image.new("RGB", (round((x1 - x0) * scale), round((y1 - y0) * scale)), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(int(LABEL_STRIP * 0.8 * scale))
    for number, (panel, box) in enumerate(zip(panels, boxes)):
        left, top = round((box[0] - x0) * scale), round((box[1] - y0) * scale)
        size = (round((box[2] - box[0]) * scale), round((box[3] - box[1]) * scale))
        canvas.paste(Image.fromarray(cv2.resize(panel, size, interpolation=cv2.INTER_AREA
                                                if panel.shape[1] > size[0]
                                                else cv2.INTER_CUBIC)), (left, top))
        draw.text((left, top - LABEL_STRIP * scale), LABELS[number], fill="black", font=font)
    return np.asarray(canvas)


def _text_lines(rng: np.random.Generator, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        words = rng.choice(_WORDS, size=int(rng.integers(11, 15)))
        lines.append(" ".join(words).capitalize() + ".")
    return lines


def _draw_page(canvas, page: dict[str, Any], rng: np.random.Generator) -> None:
    """Body text, figures (as planned) and captions of one page."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    height = PAGE[1]
    canvas.setFont("Times-Roman", 10)
    y = MARGIN
    canvas.drawString(MARGIN, height - y, f"{page['title']} - page {page['number']}")
    y += 16
    for figure in page["figures"]:
        for line in _text_lines(rng, 3):
            canvas.drawString(MARGIN, height - y - 10, line)
            y += 13
        boxes = [p["box"] for p in figure["panels"]]
        fx0, fy0, fx1, fy1 = figure["box"]
        if figure["mode"] == "separate":
            canvas.setFont("Helvetica-Bold", 10)
            for panel, pixels in zip(figure["panels"], figure["pixels"]):
                x0, y0, x1, y1 = panel["box"]
                canvas.drawImage(ImageReader(Image.fromarray(pixels)), x0, height - y1,
                                 x1 - x0, y1 - y0)
                canvas.drawString(x0, height - y0 + 3, panel["label"])
        else:
            raster = _figure_raster(figure["pixels"], boxes, figure["box"])
            canvas.drawImage(ImageReader(Image.fromarray(raster)), fx0, height - fy1,
                             fx1 - fx0, fy1 - fy0)
        canvas.setFont("Times-Italic", 9)
        canvas.drawString(MARGIN, height - fy1 - 14,
                          f"Figure {figure['figure']}. {_text_lines(rng, 1)[0]}")
        canvas.setFont("Times-Roman", 10)
        y = fy1 + 30
    while y < height - MARGIN - 12:
        canvas.drawString(MARGIN, height - y - 10, _text_lines(rng, 1)[0])
        y += 13


def _scan(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rendered page made to look scanned: greyish paper, a little noise and blur."""
    import cv2

    paper = image.astype(np.float32) * (242 / 255.0)
    paper += rng.normal(0, 3.0, paper.shape).astype(np.float32)
    return cv2.GaussianBlur(np.clip(paper, 0, 255).astype(np.uint8), (3, 3), 0)


def _plan(papers: int, pages: int, figures: int, panels, modes, scanned: int,
          rng: np.random.Generator) -> list[list[dict[str, Any]]]:
    """Which page holds which figure, with how many panels and how it is embedded."""
    plan = []
    for paper in range(papers):
        on_pages = sorted(rng.choice(pages, size=min(figures, pages), replace=False)) \
            if figures <= pages else list(range(pages))
        sheet = [{"number": n + 1, "figures": []} for n in range(pages)]
        for number in range(figures):
            page = on_pages[number % len(on_pages)]
            count = int(panels[number % len(panels)]) if not isinstance(panels, tuple) \
                else int(rng.integers(panels[0], panels[1] + 1))
            sheet[page]["figures"].append({"count": count,
                                           "mode": modes[number % len(modes)]})
        # Rasterise some pages holding figures, as if the paper had been scanned.
        holding = [p for p in sheet if p["figures"]]
        for page in holding[len(holding) - scanned:] if scanned else []:
            page["scanned"] = True
        plan.append(sheet)
    return plan


def make_papers(folder: str | os.PathLike, *, papers: int = 1, pages: int = 4,
                figures: int = 2, panels: tuple[int, int] | Iterable[int] = (2, 9),
                modes: Iterable[str] = ("single", "separate"), scanned_pages: int = 0,
                reuse: Iterable[str] = ("rotation",), cross_paper: Iterable[str] = (),
                copy_move: int = 0, random_state: int = 0, progress: bool = False
                ) -> dict[str, Any]:
    """Write generated papers (``paper1.pdf``...) and ``truth.json`` into ``folder``.

    Parameters
    ----------
    papers, pages, figures : int
        How many PDFs, pages per PDF and figures per PDF (at most two figures a page).
    panels : (low, high) or list of int
        Panels per figure: drawn in ``[low, high]``, or taken in turn from a list.
    modes : iterable of {"single", "separate"}
        How figures are embedded, in turn: one image, or one image per panel.
    scanned_pages : int
        Pages with figures (the last ones of each paper) rasterised as if scanned.
    reuse : iterable of str
        One planted reuse each, inside each paper, between two figures: a kind of
        :data:`REUSE_KINDS`, or several joined by ``+`` (``"rotation+recolour"``).
    cross_paper : iterable of str
        Reuses planted from the first paper into the others.
    copy_move : int
        Panels per paper with a region pasted elsewhere inside them.
    random_state : int
        Makes the papers repeatable.

    Returns
    -------
    dict
        ``papers``: per file its ``path``, ``pages`` and ``figures`` (each with
        ``figure``, ``page``, ``mode``, ``scanned``, ``box`` and ``panels``: ``label``,
        ``box`` in page points from the top-left); ``reuse``: per planted finding its
        ``kind`` (what :func:`simlab.duplicates.find` should report), ``planted`` (the
        edit) and ``a``, ``b`` (``file``, ``page``, ``figure``, ``label``, ``box``); for
        copy-move ``a == b``.

    Examples
    --------
    >>> import tempfile
    >>> truth = make_papers(tempfile.mkdtemp(), pages=2, figures=2, panels=[2, 3])
    >>> [len(f["panels"]) for f in truth["papers"][0]["figures"]], truth["reuse"][0]["kind"]
    ([2, 3], 'rotation')
    """
    import pypdfium2 as pdfium
    from reportlab.pdfgen import canvas as pdf_canvas
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(random_state)
    panels = tuple(panels) if isinstance(panels, tuple) else list(panels)
    modes, reuse, cross_paper = list(modes), list(reuse), list(cross_paper)
    plan = _plan(papers, pages, figures, panels, modes, scanned_pages, rng)
    needed = sum(f["count"] for sheet in plan for page in sheet for f in page["figures"])
    pool = iter(panel_pool(needed, random_state=random_state))

    truth: dict[str, Any] = {"papers": [], "reuse": []}
    figures_of: list[list[dict[str, Any]]] = []
    for number, sheet in enumerate(plan, start=1):
        path = folder / f"paper{number}.pdf"
        listed = []
        for page in sheet:
            top = MARGIN + 16 + 3 * 13
            for figure in page["figures"]:
                boxes, bottom = _layout(figure["count"], top)
                box = (min(b[0] for b in boxes), min(b[1] for b in boxes) - LABEL_STRIP,
                       max(b[2] for b in boxes), max(b[3] for b in boxes))
                figure.update(figure=len(listed) + 1, page=page["number"], box=box,
                              scanned=bool(page.get("scanned")),
                              pixels=[next(pool) for _ in boxes],
                              panels=[{"label": LABELS[i], "box": tuple(
                                  round(v, 2) for v in b)} for i, b in enumerate(boxes)])
                listed.append(figure)
                top = bottom + 30 + 3 * 13
        figures_of.append(listed)
        truth["papers"].append({"path": str(path), "pages": len(sheet), "figures": listed})

    def side(paper: int, figure: dict[str, Any], panel: int) -> dict[str, Any]:
        return {"file": truth["papers"][paper]["path"], "page": figure["page"],
                "figure": figure["figure"], "label": figure["panels"][panel]["label"],
                "box": list(figure["panels"][panel]["box"])}

    used: set[tuple[int, int, int]] = set()

    def free_panel(paper: int, exclude_figure: int | None = None):
        choices = [(f, p) for f, figure in enumerate(figures_of[paper])
                   for p in range(len(figure["panels"]))
                   if (paper, f, p) not in used and f != exclude_figure]
        if not choices:
            raise ValueError(f"paper {paper + 1} has too few panels for the reuse asked "
                             "for: add figures or panels")
        f, p = choices[int(rng.integers(len(choices)))]
        used.add((paper, f, p))
        return f, p

    for paper in range(papers):
        for kind in reuse:
            f, p = free_panel(paper)
            g, q = free_panel(paper, exclude_figure=f)
            source, target = figures_of[paper][f], figures_of[paper][g]
            target["pixels"][q] = _reuse(source["pixels"][p], kind, rng)
            truth["reuse"].append({"kind": REUSE_KINDS[kind.split("+")[0]], "planted": kind,
                                   "a": side(paper, source, p), "b": side(paper, target, q)})
    for paper in range(1, papers):
        for kind in cross_paper:
            f, p = free_panel(0)
            g, q = free_panel(paper)
            source, target = figures_of[0][f], figures_of[paper][g]
            target["pixels"][q] = _reuse(source["pixels"][p], kind, rng)
            truth["reuse"].append({"kind": REUSE_KINDS[kind.split("+")[0]], "planted": kind,
                                   "across": "papers",
                                   "a": side(0, source, p), "b": side(paper, target, q)})
    for paper in range(papers):
        for _ in range(copy_move):
            f, p = free_panel(paper)
            figure = figures_of[paper][f]
            figure["pixels"][p], copies = _copy_move(figure["pixels"][p], rng)
            entry = side(paper, figure, p)
            truth["reuse"].append({"kind": "copy-move", "planted": "copy-move", "a": entry,
                                   "b": entry, "copies_pixels": copies})

    for number, sheet in enumerate(tqdm(plan, desc="papers", unit="paper",
                                        disable=not progress), start=1):
        path = folder / f"paper{number}.pdf"
        title = f"Generated paper {number}"
        scans = {}
        if any(page.get("scanned") for page in sheet):
            draft = folder / f".paper{number}-draft.pdf"
            canvas = pdf_canvas.Canvas(str(draft), pagesize=PAGE, invariant=1)
            order = []
            for page in sheet:
                if page.get("scanned"):
                    _draw_page(canvas, {**page, "title": title},
                               np.random.default_rng([random_state, number, page["number"]]))
                    canvas.showPage()
                    order.append(page["number"])
            canvas.save()
            document = pdfium.PdfDocument(str(draft))
            for index, page_number in enumerate(order):
                image = document[index].render(scale=150 / 72.0).to_pil().convert("RGB")
                scans[page_number] = _scan(np.asarray(image), rng)
            document.close()
            draft.unlink()
        canvas = pdf_canvas.Canvas(str(path) + ".part", pagesize=PAGE, invariant=1)
        canvas.setTitle(title)
        for page in sheet:
            if page["number"] in scans:
                from PIL import Image
                from reportlab.lib.utils import ImageReader

                canvas.drawImage(ImageReader(Image.fromarray(scans[page["number"]])), 0, 0,
                                 PAGE[0], PAGE[1])
            else:
                _draw_page(canvas, {**page, "title": title},
                           np.random.default_rng([random_state, number, page["number"]]))
            canvas.showPage()
        canvas.save()
        os.replace(str(path) + ".part", path)

    for paper in truth["papers"]:
        for figure in paper["figures"]:
            figure.pop("pixels", None)
            figure.pop("count", None)
            figure["box"] = [round(v, 2) for v in figure["box"]]
            for panel in figure["panels"]:
                panel["box"] = list(panel["box"])
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def write_paper(path: str | os.PathLike, *, pages: int = 2, figures: int = 1,
                **options: Any) -> dict[str, Any]:
    """One generated paper at ``path`` (see :func:`make_papers`); its ground truth.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "paper.pdf"
    >>> truth = write_paper(path, pages=1, figures=1, reuse=(), panels=[4])
    >>> path.is_file(), len(truth["papers"][0]["figures"][0]["panels"])
    (True, 4)
    """
    path = Path(path)
    options.setdefault("reuse", () if figures < 2 else ("rotation",))
    truth = make_papers(path.parent / f".{path.stem}-parts", pages=pages, figures=figures,
                        **options)
    made = Path(truth["papers"][0]["path"])
    os.replace(made, path)
    for item in [truth["papers"][0]] + [s for r in truth["reuse"] for s in (r["a"], r["b"])]:
        if "path" in item:
            item["path"] = str(path)
        if item.get("file") == str(made):
            item["file"] = str(path)
    import shutil

    shutil.rmtree(made.parent, ignore_errors=True)
    return truth
