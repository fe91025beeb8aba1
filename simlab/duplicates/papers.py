"""Papers in, reused panels out: the pairs job over PDFs, with provenance.

Each PDF is read page by page (:func:`simlab.pdf.read_pdf`): its figures are split into
panels (:func:`simlab.duplicates.panels.split_panels`) and every panel becomes one item of
the ordinary pairs job (:func:`simlab.duplicates.find`), with features extracted once,
as for a file. Nothing else changes: the same pruning, verification, significance,
copy-move search and report.

Each item has a stable id, ``paper.pdf#page=3&figure=2&panel=4``, used where a file path
would be (``a`` and ``b`` of a finding), and a **source**: the file, page, figure (and
embedded image), panel number and letter, and the box in page coordinates (points from
the page's top-left corner). The pixels are not kept: the report reads the few panels it
draws again from the PDF (:func:`load_item`), so memory stays that of one page plus the
features.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = ["find_in_papers", "collect_items", "item_id", "load_item", "page_thumbnail",
           "split_inputs", "describe", "plot_on_pages"]


def describe(source: dict[str, Any]) -> str:
    """Where an item comes from, in words.

    Examples
    --------
    >>> describe({"file": "a/paper.pdf", "page": 3, "figure": 2, "panel": 4, "label": "D"})
    'paper.pdf p. 3, figure 2, panel D'
    >>> describe({"file": "a/b.png"})
    'a/b.png'
    """
    if source.get("page") is None:
        return str(source["file"])
    panel = source.get("label") or f"#{source.get('panel')}"
    return (f"{Path(source['file']).name} p. {source['page']}, figure {source['figure']}, "
            f"panel {panel}")


def item_id(file: str, page: int, figure: int, panel: int) -> str:
    """The stable id of a panel of a PDF.

    Examples
    --------
    >>> item_id("paper.pdf", 3, 2, 1)
    'paper.pdf#page=3&figure=2&panel=1'
    """
    return f"{file}#page={page}&figure={figure}&panel={panel}"


def split_inputs(inputs: Iterable[str | os.PathLike], *, exclude: Iterable = ()
                 ) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """PDFs and image files among ``inputs`` (files and folders, searched recursively).

    Returns
    -------
    pdfs, images : list of str
    skipped : list of dict
        ``{"path", "reason"}`` for what cannot be read (see :func:`simlab.io.scan_images`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.png").write_bytes(b""); _ = (d / "p.pdf").write_bytes(b"%PDF-1.4")
    >>> pdfs, images, _ = split_inputs([d]); [pathlib.Path(p).name for p in pdfs + images]
    ['p.pdf', 'a.png']
    """
    from ..errors import ImageNotFoundError
    from ..io import scan_images, simlab_output_kind
    from ..pdf import is_pdf

    excluded = {os.path.realpath(p) for p in exclude}
    pdfs: list[str] = []
    images: list[str] = []
    skipped: list[dict[str, str]] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            found, left_out = scan_images(path, exclude=exclude)
            images += [str(p) for p in found]
            skipped += left_out
            for pdf in sorted(path.rglob("*")):
                parts = pdf.relative_to(path).parts
                if not is_pdf(pdf) or any(p.startswith(".") for p in parts) or \
                        not pdf.is_file():
                    continue
                real = os.path.realpath(pdf.parent)
                if any(real == e or real.startswith(e + os.sep) for e in excluded) or \
                        simlab_output_kind(pdf.parent) is not None:
                    continue
                pdfs.append(str(pdf))
        elif is_pdf(path):
            pdfs.append(str(path))
        elif path.exists() or path.is_symlink():
            images.append(str(path))
        else:
            raise ImageNotFoundError("no such file or folder; check the path", str(path))
    return list(dict.fromkeys(pdfs)), list(dict.fromkeys(images)), skipped


def _label_from_corner(figure) -> str | None:
    from .panels import read_label

    if figure.corner is None or figure.corner.size == 0:
        return None
    return read_label(figure.corner)


def collect_items(pdf: str | os.PathLike, *, dpi: float = 150, split: bool = True,
                  max_side: int | None = 800, method: str = "rootsift",
                  max_keypoints: int = 1000, contrast_threshold: float = 0.01,
                  copy_move: bool = True, workers: int = 2, progress: bool = True
                  ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """Features and sources of every panel of one PDF, read page by page.

    Returns
    -------
    features : dict
        Item id (:func:`item_id`) -> features (:func:`extract_features`).
    sources : dict
        Item id -> ``{"file", "page", "figure", "figure_kind", "image", "panel",
        "label", "box", "figure_box", "pixel_box", "page_size"}`` (boxes in page points
        from the top-left; ``pixel_box`` in the figure's pixels).
    summary : dict
        ``pages``, ``figures``, ``panels`` and ``empty``: the pages without figures, with
        why (``{"page", "reason"}``).

    Raises
    ------
    simlab.errors.PdfError
        The file is not a readable PDF (encrypted, damaged, not a PDF).
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from ..io import load_scaled
    from ..pdf import read_pdf
    from .features import extract_features
    from .panels import Panel, split_panels

    file = str(pdf)
    features: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    summary: dict[str, Any] = {"pages": 0, "figures": 0, "panels": 0, "empty": []}
    options = dict(method=method, max_keypoints=max_keypoints,
                   contrast_threshold=contrast_threshold, copy_move=copy_move,
                   compact=True)  # SIFT's bytes, as encode_folder holds them

    def extract(key: str, pixels: np.ndarray):
        image, scale = load_scaled(np.ascontiguousarray(pixels), max_side, name=key)
        return extract_features(image, scale=scale, **options)

    # Panels are extracted on the pool while the next pages are read and split, so
    # reading (one thread: PDFium is not thread-safe) and SIFT overlap. At most
    # ``waiting`` panels are in flight: a panel holds its page's pixels until it is done.
    workers = max(1, int(workers))
    waiting = 4 * workers
    pending: deque = deque()

    def collect(until: int) -> None:
        while len(pending) > until:  # in submission order: features keep page order
            key, future = pending.popleft()
            features[key] = future.result()

    with ThreadPoolExecutor(workers) as pool:
        for page in read_pdf(pdf, dpi=dpi, progress=progress):
            summary["pages"] += 1
            if not page.figures:
                summary["empty"].append({"page": page.number, "reason": page.reason})
                continue
            for figure in page.figures:
                summary["figures"] += 1
                height, width = figure.image.shape[:2]
                panels = split_panels(figure.image) if split else \
                    [Panel(1, (0, 0, width, height))]
                for panel in panels:
                    label = panel.label
                    if label is None and len(panels) == 1:  # a panel embedded on its own
                        label = _label_from_corner(figure)
                    x0, y0, x1, y1 = panel.box
                    key = item_id(file, page.number, figure.index, panel.index)
                    sources[key] = {
                        "file": file, "page": page.number, "figure": figure.index,
                        "figure_kind": figure.kind, "image": figure.image_index,
                        "panel": panel.index, "label": label,
                        "box": list(figure.pixel_to_page(panel.box)),
                        "figure_box": [round(v, 2) for v in figure.box],
                        "pixel_box": [int(x0), int(y0), int(x1), int(y1)],
                        "page_size": [round(v, 2) for v in page.size], "dpi": dpi}
                    pending.append((key, pool.submit(extract, key,
                                                     figure.image[y0:y1, x0:x1])))
                    summary["panels"] += 1
                    collect(waiting)
            del page  # its pixels stay only in the panels still in flight
        collect(0)
    return features, sources, summary


def find_in_papers(inputs: Iterable[str | os.PathLike] | str | os.PathLike, *,
                   dpi: float = 150, split: bool = True, method: str = "rootsift",
                   max_side: int | None = 800, max_keypoints: int = 1000,
                   contrast_threshold: float = 0.01, copy_move: bool = True,
                   workers: int = 2, progress: bool = True, exclude: Iterable = (),
                   **find_options: Any):
    """Reused panels across the figures of PDFs (and image files, and folders).

    Parameters
    ----------
    inputs : path or list of paths
        PDFs, image files and folders (searched recursively for both).
    dpi : float
        Rendering resolution for tiled figures and scanned pages (:func:`simlab.pdf.read_pdf`).
    split : bool
        Split figures into panels (:func:`simlab.duplicates.panels.split_panels`); with
        False each figure is one item.
    find_options
        The options of :func:`simlab.duplicates.find` (``max_log_nfa``, ``threshold``,
        ``neighbours``...).

    Returns
    -------
    PairsResult
        As :func:`simlab.duplicates.find`, with ``sources`` (item id -> where it comes
        from; image files map to ``{"file": path}``) and ``stats["papers"]``: per PDF
        its pages, figures, panels and pages without figures; unreadable PDFs are in
        ``skipped`` with the reason.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from simlab.lab.papers import write_paper
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "paper.pdf"
    >>> _ = write_paper(path, pages=2, figures=2, panels=[3], modes=["single"],
    ...                 reuse=["mirror"])
    >>> result = find_in_papers([path], progress=False)
    >>> [(m.kind, result.sources[m.a]["page"], result.sources[m.b]["page"]) for m in result]
    [('mirror', 1, 2)]
    """
    from ..errors import NoImagesError, PdfError
    from .find import find

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    started = time.perf_counter()
    pdfs, images, skipped = split_inputs(inputs, exclude=exclude)
    features: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    papers = []
    for pdf in pdfs:
        try:
            found, where, summary = collect_items(
                pdf, dpi=dpi, split=split, max_side=max_side, method=method,
                max_keypoints=max_keypoints, contrast_threshold=contrast_threshold,
                copy_move=copy_move, workers=workers, progress=progress)
        except PdfError as exc:
            skipped.append({"path": pdf, "reason": exc.reason_for(pdf)})
            continue
        if not found:
            reasons = sorted({e["reason"] for e in summary["empty"]}) or ["no pages"]
            skipped.append({"path": pdf, "reason": "no figures found in the PDF ("
                            + "; ".join(reasons) + ")"})
        features.update(found)
        sources.update(where)
        papers.append({"file": pdf, **summary})
    read_seconds = time.perf_counter() - started
    items = list(features) + images
    if not items:
        from ..results import PairsResult

        result = PairsResult.empty(skipped=skipped, stats={
            "images": 0, "skipped": len(skipped), "candidates": 0, "pairs_verified": 0,
            "pairs_possible": 0,
            "flagged": 0, "seconds": {"total": round(read_seconds, 3)},
            "tests": {"cross-image": 0, "copy-move": 0},
            "options": {"method": method, "max_side": max_side, "dpi": dpi,
                        "split": split}, "papers": papers})
        result.sources = sources
        if not skipped:
            raise NoImagesError("no PDF or image given")
        return result

    def pixels(name):  # a panel read again from its PDF, an image file as find reads it
        return load_item(sources.get(name, {"file": name}), max_side=max_side)

    result = find(items, method=method, max_side=max_side, max_keypoints=max_keypoints,
                  contrast_threshold=contrast_threshold, copy_move=copy_move,
                  workers=workers, progress=progress, features=features, pixels=pixels,
                  **find_options)
    result.skipped = skipped + result.skipped
    for image in images:
        sources.setdefault(image, {"file": image})
    result.sources = sources
    pages = sum(p["pages"] for p in papers)
    total = time.perf_counter() - started
    result.stats["skipped"] = len(result.skipped)
    result.stats["seconds"]["read_pdf"] = round(read_seconds, 3)
    result.stats["seconds"]["total"] = round(total, 3)
    result.stats["options"].update(dpi=dpi, split=split)
    result.stats["papers"] = papers
    result.stats["pages"] = pages
    result.stats["pages_per_second"] = round(pages / total, 3) if total > 0 else None
    return result


@lru_cache(maxsize=4)
def _page_figures(file: str, page: int, dpi: float):
    from ..pdf import read_pdf

    return next(iter(read_pdf(file, dpi=dpi, progress=False, pages=[page]))).figures


def load_item(source: dict[str, Any], *, max_side: int | None = 800) -> np.ndarray:
    """The pixels of a panel, read again from its PDF (a file: loaded as usual).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from simlab.lab.papers import write_paper
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "paper.pdf"
    >>> _ = write_paper(path, pages=1, figures=1, panels=[2], reuse=[])
    >>> source = {"file": str(path), "page": 1, "figure": 1, "pixel_box": [0, 0, 50, 40],
    ...           "dpi": 150}
    >>> load_item(source).shape
    (40, 50, 3)
    """
    from ..io import load_image, resize_longest_side

    if source.get("page") is None:
        return load_image(source["file"], max_side=max_side)
    figures = _page_figures(source["file"], int(source["page"]), float(source.get("dpi", 150)))
    figure = next(f for f in figures if f.index == source["figure"])
    x0, y0, x1, y1 = source["pixel_box"]
    crop = np.ascontiguousarray(figure.image[y0:y1, x0:x1])
    return resize_longest_side(crop, max_side) if max_side else crop


def page_thumbnail(file: str | os.PathLike, page: int, *, width: int = 360) -> np.ndarray:
    """A page rendered ``width`` pixels wide, for the report."""
    import pypdfium2 as pdfium

    from ..pdf import _open, _bitmap_rgb

    document = _open(file)
    try:
        handle = document[page - 1]
        try:
            scale = width / handle.get_size()[0]
            return _bitmap_rgb(handle.render(scale=scale))
        finally:
            handle.close()
    except pdfium.PdfiumError:
        return np.full((int(width * 1.3), width, 3), 255, np.uint8)
    finally:
        document.close()


def plot_on_pages(result, match, *, axes=None, width: int = 500):
    """The pages holding a finding's two panels, each panel boxed (amber: ``a``, blue:
    ``b``); one page when both are on it. Returns the Figure, never shows it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from simlab.lab.papers import write_paper
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "paper.pdf"
    >>> _ = write_paper(path, pages=2, figures=2, panels=[3], modes=["single"],
    ...                 reuse=["mirror"])
    >>> result = find_in_papers([path], progress=False)
    >>> len(plot_on_pages(result, next(iter(result))).axes)
    2
    """
    from matplotlib.patches import Rectangle

    from ..plotting import new_figure

    sides = [(match.a, "#e8a000"), (match.b, "#00a0e8")]
    pages: dict[tuple[str, int], list] = {}
    for name, colour in sides:
        source = result.sources[name]
        if source.get("page") is None:
            continue
        boxes = pages.setdefault((source["file"], int(source["page"])), [])
        if (source, colour) not in boxes and not any(b[0] is source for b in boxes):
            boxes.append((source, colour))
    if axes is None:
        fig, axes = new_figure(1, max(1, len(pages)), figsize=(5 * max(1, len(pages)), 6.5),
                               squeeze=False)
        axes = list(axes.ravel())
    fig = axes[0].figure
    for ax, ((file, page), boxes) in zip(axes, pages.items()):
        image = page_thumbnail(file, page, width=width)
        scale = image.shape[1] / boxes[0][0]["page_size"][0]
        ax.imshow(image)
        for source, colour in boxes:
            x0, y0, x1, y1 = (v * scale for v in source["box"])
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=2.5,
                                   edgecolor=colour))
            ax.text(x0, y0 - 4, f"panel {source.get('label') or source['panel']}",
                    color=colour, fontsize=9, weight="bold")
        ax.set_title(f"{Path(file).name}, page {page}", fontsize=10)
        ax.set_axis_off()
    return fig
