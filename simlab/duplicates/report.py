"""Pictures and pages for flagged pairs: what ``simlab pairs DIR --out OUT`` writes.

Each picture shows the two images side by side with **only the RANSAC inliers** joined
(a blog post's per-pair loop drew every ratio-test match, which is why its pictures were
hard to trust) and the matched region outlined in both images: the part of each image
the other covers once aligned, or, for copy-move, the two copies inside one image.
"""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["draw_pair", "plot_pair_match", "load_pair_images", "write_report",
           "pairs_payload", "PICTURE_MAX_WIDTH", "PICTURE_QUALITY"]

#: Pictures are JPEG, at most this wide (two images side by side): a report of
#: hundreds of pairs stays tens of MB, not hundreds.
PICTURE_MAX_WIDTH = 1200
PICTURE_QUALITY = 85

_INLIER = (50, 220, 50)
_REGION = (255, 200, 0)
_SOURCE = (0, 190, 255)
_MIN_HEIGHT = 360  # small panels are enlarged so lines and outlines stay legible


def load_pair_images(match, *, max_side: int | None = 800, sources: dict | None = None):
    """The two images of a :class:`~simlab.duplicates.PairMatch`, at the size the
    features were extracted from (``max_side`` as given to :func:`~simlab.duplicates.find`).
    Panels of PDFs (ids in ``sources``, see :func:`~simlab.duplicates.papers.find_in_papers`)
    are read again from their PDF.
    """
    from .papers import load_item

    def load(name):  # a file, or a panel of a PDF (its page, figure and box in sources)
        return load_item((sources or {}).get(name, {"file": name}), max_side=max_side)

    image_a = load(match.a)
    image_b = image_a if match.b == match.a else load(match.b)
    return image_a, image_b


def draw_pair(image_a: np.ndarray, image_b: np.ndarray, match, *,
              max_lines: int = 150) -> np.ndarray:
    """The explaining picture of one pair, as an RGB array.

    Inliers are joined by green lines (at most ``max_lines``, evenly chosen), the matched
    region is outlined in amber in both images; for copy-move (``a == b``) the image is
    shown twice, the source copy outlined in blue on the left and its copy in amber on
    the right. A header line states the kind, score, inliers and transform.

    Examples
    --------
    >>> from simlab import samples, duplicates
    >>> image = samples.sample_image("camera", max_side=160)
    >>> copy = samples.rotate(image, 90)
    >>> match = duplicates.verify_pair(duplicates.extract_features(image),
    ...                                duplicates.extract_features(copy))
    >>> picture = draw_pair(image, copy, match)
    >>> picture.dtype, picture.shape[2], picture.shape[0] >= 360
    (dtype('uint8'), 3, True)
    """
    import cv2

    from ..plotting import side_by_side

    canvas, offset = side_by_side(image_a, image_b)
    zoom = max(1.0, _MIN_HEIGHT / canvas.shape[0])
    if zoom > 1.0:
        canvas = cv2.resize(canvas, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    canvas = np.ascontiguousarray(canvas)
    thickness = max(1, round(canvas.shape[0] / 300))

    def at(points: np.ndarray, shift: float) -> np.ndarray:
        # pixel centres -> zoomed canvas pixels, in 1/16 px for sub-pixel drawing
        placed = (np.asarray(points, np.float64) + [shift, 0.0] + 0.5) * zoom - 0.5
        return np.round(placed * 16).astype(np.int32)

    copy_move = match.a == match.b
    for region, shift, colour in ((match.region_a, 0, _SOURCE if copy_move else _REGION),
                                  (match.region_b, offset, _REGION)):
        if len(region) >= 3:
            cv2.polylines(canvas, [at(region, shift).reshape(-1, 1, 2)], True, colour,
                          thickness + 1, cv2.LINE_AA, shift=4)
    count = len(match.points_a)
    chosen = np.linspace(0, count - 1, min(count, max_lines)).round().astype(int) \
        if count else np.zeros(0, int)
    left, right = at(match.points_a[chosen], 0), at(match.points_b[chosen], offset)
    for start, end in zip(left, right):
        cv2.line(canvas, tuple(map(int, start)), tuple(map(int, end)), _INLIER, thickness,
                 cv2.LINE_AA, shift=4)
    for point in np.concatenate([left, right]):
        cv2.circle(canvas, tuple(map(int, point)), (thickness + 1) * 16, _INLIER, -1,
                   cv2.LINE_AA, shift=4)
    return _with_header(canvas, _caption(match, shown=len(chosen)))


def _caption(match, shown: int | None = None) -> str:
    text = (f"{match.kind}: {_nfa_text(getattr(match, 'log_nfa', math.inf))}, "
            f"{match.inliers} inliers of {match.matches} matches")
    if shown is not None and shown < len(match.points_a):
        text += f" ({shown} drawn)"
    text += f", rotation {match.rotation_degrees:g} deg, scale {match.scale:.2f}"
    if match.mirrored:
        text += ", mirrored"
    return text


def _with_header(canvas: np.ndarray, text: str) -> np.ndarray:
    import cv2

    scale = 0.5
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    scale *= min(1.0, (canvas.shape[1] - 12) / max(width, 1))
    band = np.full((28, canvas.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.concatenate([band, canvas])


def plot_pair_match(image_a: np.ndarray, image_b: np.ndarray, match, *, ax=None,
                    max_lines: int = 150):
    """:func:`draw_pair` in a matplotlib figure titled with the two file names.

    Takes ``ax=None`` (a new figure) or an Axes, returns the Figure, never shows it.

    Examples
    --------
    >>> from simlab import samples, duplicates
    >>> image = samples.sample_image("camera", max_side=128)
    >>> features = duplicates.extract_features(image)
    >>> fig = plot_pair_match(image, image, duplicates.verify_pair(features, features))
    """
    from ..plotting import new_figure

    if ax is None:
        fig, ax = new_figure(figsize=(9, 4.5))
    else:
        fig = ax.figure
    ax.imshow(draw_pair(image_a, image_b, match, max_lines=max_lines))
    names = (Path(match.a).name,) if match.a == match.b else (Path(match.a).name,
                                                              Path(match.b).name)
    ax.set_title("  |  ".join(names), fontsize="medium")
    ax.axis("off")
    return fig


def _flag_rule(stats: dict) -> str:
    """The significance rule of a run in words, e.g. "a finding is flagged when it is at
    most 1" (one bound) or the two bounds of the defaults.

    Examples
    --------
    >>> _flag_rule({"options": {"max_log_nfa": 0.0,
    ...                         "cross_image_max_log_nfa": -10.0}}).split(" (")[0]
    'a copy-move is flagged when its NFA is at most 1, a pair of images when at most 1e-10'
    >>> _flag_rule({"options": {"max_log_nfa": -2.0}})
    'a finding is flagged when its NFA is at most 0.01'
    """
    options = stats.get("options", {})
    copy_bound = options.get("max_log_nfa", 0.0)
    cross_bound = options.get("cross_image_max_log_nfa", copy_bound)
    if cross_bound == copy_bound:
        return f"a finding is flagged when its NFA is at most {_nfa_text(copy_bound)[4:]}"
    return (f"a copy-move is flagged when its NFA is at most {_nfa_text(copy_bound)[4:]}, a "
            f"pair of images when at most {_nfa_text(cross_bound)[4:]} (look-alike textures "
            "fool the chance model more often across images)")


def _nfa_text(log_nfa: float) -> str:
    """The number of false alarms in words: "NFA 1e-12" (``inf``: "not significant")."""
    if not math.isfinite(log_nfa):
        return "NFA -"
    return f"NFA 1e{math.floor(log_nfa):+d}".replace("+", "") if log_nfa < -3 or \
        log_nfa > 3 else f"NFA {10 ** log_nfa:.2g}"


def _picture_name(rank: int, match) -> str:
    stems = [re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(p).stem)[:40] for p in (match.a, match.b)]
    return f"{rank:04d}_{stems[0]}__{stems[1]}.jpg"


def _entry(match, row=None) -> dict[str, Any]:
    """One finding, JSON-ready: the keys of earlier versions plus its significance."""
    log_nfa = float(getattr(match, "log_nfa", math.inf))
    entry = {"a": match.a, "b": match.b, "score": match.score, "inliers": match.inliers,
             "transform": match.transform(), "kind": match.kind, "matches": match.matches,
             "inlier_ratio": match.inlier_ratio,
             "log_nfa": log_nfa if math.isfinite(log_nfa) else None,
             "nfa": 10 ** log_nfa if math.isfinite(log_nfa) and log_nfa < 300 else None,
             "probability": getattr(match, "probability", None),
             "reasons": list(getattr(match, "reasons", ()))}
    if getattr(match, "ruled_out", ""):
        entry["ruled_out"] = match.ruled_out
    if row is not None and hasattr(row, "picture"):
        entry["picture"] = row.picture
    return entry


def _image_sizes(paths) -> dict[str, int]:
    """Pixels of each file, from its header (for which copy to keep)."""
    from PIL import Image

    sizes = {}
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes[path] = image.size[0] * image.size[1]
        except Exception:  # not a plain image file (a PDF's image, say): size unknown
            sizes[path] = 0
    return sizes


def findings(result) -> dict[str, Any]:
    """The report's sections: cross-image pairs, copy-moves, what was ruled out, the
    groups and the redundant copies (see :mod:`simlab.duplicates.groups`)."""
    from .groups import groups, redundant_copies

    flagged = list(result)
    cross = [m for m in flagged if m.a != m.b]
    within = [m for m in flagged if m.a == m.b]
    ruled_out = sorted((m for m in getattr(result, "verified", [])
                        if m.a == m.b and getattr(m, "ruled_out", "")),
                       key=lambda m: m.log_nfa)
    members = groups(cross)
    names = {name for group in members for name in group}
    return {"cross_image": cross, "copy_move": within, "ruled_out": ruled_out,
            "groups": members,
            "redundant": redundant_copies(cross, _image_sizes(sorted(names)))}


def pairs_payload(result, table=None) -> dict[str, Any]:
    """The JSON of ``simlab pairs --json``: flagged pairs and skipped files.

    ``pairs`` lists every flagged finding, most significant first (as in earlier
    versions); ``cross_image`` and ``copy_move`` split them by kind of finding;
    ``ruled_out`` lists copy-moves verified but explained by a pattern (with why);
    ``groups`` the connected sets of images sharing content and ``redundant`` the
    copies that another file of their group holds whole (nothing is deleted). Each
    finding carries ``log_nfa`` (log10 of the number of false alarms among the
    comparisons made), ``nfa``, ``probability`` (calibrated) and ``reasons``.
    ``table`` is :func:`write_report`'s (with the pictures' names), else
    ``result.table``.

    Examples
    --------
    >>> from simlab.results import PairsResult
    >>> payload = pairs_payload(PairsResult.empty(skipped=[{"path": "x.png", "reason": "empty"}]))
    >>> payload["pairs"], payload["skipped"], payload["groups"]
    ([], [{'path': 'x.png', 'reason': 'empty'}], [])
    """
    from ..files import json_ready

    matches = result.matches
    frame = result.table if table is None else table
    pairs = [_entry(matches[(row.a, row.b)], row) for row in frame.itertuples(index=False)]
    sections = findings(result)
    ruled_out = [_entry(m) for m in sections["ruled_out"]]
    sources = getattr(result, "sources", None) or {}
    if sources:  # items out of PDFs: where each side comes from
        for entry in pairs + ruled_out:
            entry["source"] = {side: _source(sources, entry[side]) for side in ("a", "b")}
    payload = {
        "pairs": pairs, "skipped": list(result.skipped),
        "cross_image": [p for p in pairs if p["a"] != p["b"]],
        "copy_move": [p for p in pairs if p["a"] == p["b"]],
        "ruled_out": ruled_out,
        "groups": [{"group": number, "size": len(members), "images": members}
                   for number, members in enumerate(sections["groups"], start=1)],
        "redundant": sections["redundant"],
        "tests": result.stats.get("tests", {})}
    if "papers" in result.stats:
        payload["papers"] = result.stats["papers"]
    return json_ready(payload)


#: The keys of a finding's ``source`` (per side) in the JSON: a file's own entry has
#: ``page``, ``figure``, ``panel``, ``label`` and ``box`` None. ``pixel_box`` (in the
#: figure's pixels) and ``dpi`` let :func:`~simlab.duplicates.papers.load_item` read the
#: panel again.
SOURCE_KEYS = ("file", "page", "figure", "figure_kind", "image", "panel", "label", "box",
               "figure_box", "page_size", "pixel_box", "dpi")


def _source(sources: dict, name: str) -> dict[str, Any]:
    found = sources.get(name, {"file": name})
    return {key: found.get(key) for key in SOURCE_KEYS}


#: What each picture of ``pictures/`` was drawn from (a hash), so a re-run redraws only
#: the pictures whose finding or files changed.
DRAWN = "pictures.json"
#: Part of every picture's hash: raise it when the drawing changes.
PICTURE_VERSION = 1


def _read_drawn(path: Path) -> dict[str, str]:
    import json

    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(record, dict) else {}


def _picture_key(match, max_side) -> str | None:
    """A hash of everything the picture of ``match`` shows (None: cannot tell)."""
    import hashlib

    digest = hashlib.sha256(repr((PICTURE_VERSION, max_side, match.row(), match.log_nfa,
                                  match.probability, match.ruled_out, match.reasons,
                                  match.frame)).encode("utf-8", "surrogateescape"))
    for path in dict.fromkeys((match.a, match.b)):
        try:
            info = os.stat(path)
        except OSError:
            return None
        digest.update(f"{os.path.abspath(path)}\0{info.st_size}\0{info.st_mtime_ns}".encode(
            "utf-8", "surrogateescape"))
    for array in (match.points_a, match.points_b, match.region_a, match.region_b,
                  match.matrix):
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def write_report(result, out: str | os.PathLike, *, max_side: int | None = None,
                 progress: bool = True):
    """Write ``pairs.csv``, ``skipped.csv``, ``groups.csv``, ``redundant.csv``, one JPEG
    picture per flagged finding and ``index.html`` (cross-image and copy-move findings in
    separate sections, what was ruled out, the groups and the redundant copies).

    Parameters
    ----------
    result : PairsResult
        From :func:`simlab.duplicates.find`.
    out : path
        Output folder (created). Every file is written atomically; pictures of an
        earlier run that this one does not rewrite are removed.
    max_side : int, optional
        The ``max_side`` ``find`` used (default: read from ``result.stats``).

    Returns
    -------
    pandas.DataFrame
        ``result.table`` with a ``picture`` column (file name inside ``out/pictures``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from simlab.results import PairsResult
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_report(PairsResult.empty(), out, progress=False)
    >>> sorted(p.name for p in out.iterdir())
    ['groups.csv', 'index.html', 'pairs.csv', 'pictures', 'redundant.csv', 'skipped.csv']
    """
    import cv2
    import pandas as pd
    from tqdm.auto import tqdm

    from ..files import atomic_path

    out = Path(out)
    pictures = out / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    stats = result.stats
    if max_side is None:
        max_side = stats.get("options", {}).get("max_side")
    matches = result.matches
    names = []
    rows = list(result.table.itertuples(index=False))
    # A re-run that finds the same thing keeps the pictures it would draw again the same.
    drawn_before = _read_drawn(out / DRAWN)
    drawn = {}
    for rank, row in enumerate(tqdm(rows, desc="pictures", unit="pair", disable=not progress,
                                    leave=False), start=1):
        match = matches[(row.a, row.b)]
        name = _picture_name(rank, match)
        key = _picture_key(match, max_side)  # None for panels of PDFs: always redrawn
        drawn[name] = key
        if key is not None and drawn_before.get(name) == key and (pictures / name).is_file():
            names.append(name)
            continue
        picture = draw_pair(*load_pair_images(match, max_side=max_side,
                                              sources=getattr(result, "sources", None)),
                            match)
        if picture.shape[1] > PICTURE_MAX_WIDTH:
            shrink = PICTURE_MAX_WIDTH / picture.shape[1]
            picture = cv2.resize(picture, None, fx=shrink, fy=shrink,
                                 interpolation=cv2.INTER_AREA)
        with atomic_path(pictures / name) as temporary:
            if not cv2.imwrite(str(temporary), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, PICTURE_QUALITY]):
                raise OSError(f"could not write {pictures / name}")
        names.append(name)
    # Pictures of an earlier run that this one did not rewrite would be shown as evidence.
    for pattern in ("[0-9][0-9][0-9][0-9]_*.png", "[0-9][0-9][0-9][0-9]_*.jpg"):
        for stale in pictures.glob(pattern):
            if stale.name not in names:
                stale.unlink()
    if drawn or (out / DRAWN).exists():
        from ..files import write_json

        write_json(out / DRAWN, {name: key for name, key in drawn.items() if key})
    table = result.table.copy()
    table["picture"] = names
    with atomic_path(out / "pairs.csv") as temporary:
        table.to_csv(temporary, index=False)
    skipped = pd.DataFrame(result.skipped, columns=["path", "reason"])
    with atomic_path(out / "skipped.csv") as temporary:
        skipped.to_csv(temporary, index=False)
    sections = findings(result)
    group_rows = pd.DataFrame([{"group": number, "size": len(members),
                                "images": " | ".join(members)}
                               for number, members in enumerate(sections["groups"], 1)],
                              columns=["group", "size", "images"])
    with atomic_path(out / "groups.csv") as temporary:
        group_rows.to_csv(temporary, index=False)
    redundant = pd.DataFrame(sections["redundant"], columns=["path", "keep", "kind",
                                                             "overlap"])
    with atomic_path(out / "redundant.csv") as temporary:
        redundant.to_csv(temporary, index=False)
    _write_page_thumbnails(result, table, out)
    with atomic_path(out / "index.html") as temporary:
        temporary.write_text(_html(table, skipped, stats, result, sections),
                             encoding="utf-8")
    return table


#: Page thumbnails of the report (PDF findings) are this wide, JPEG of this quality: a
#: page with photographs took 25-30 ms to write as PNG (150 KB), 1 ms as JPEG (50 KB).
PAGE_THUMBNAIL_WIDTH = 420
PAGE_THUMBNAIL_QUALITY = 90


def _page_name(source: dict[str, Any]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source["file"]).stem)[:40]
    import hashlib

    # Two folders may hold papers of the same name: the full path tells them apart.
    digest = hashlib.sha1(os.path.realpath(source["file"]).encode()).hexdigest()[:6]
    return f"{stem}-{digest}-p{int(source['page']):03d}.jpg"


def _pdf_sources(result, table) -> dict[str, dict[str, Any]]:
    """The sources of the flagged items that come out of PDFs."""
    sources = getattr(result, "sources", None) or {}
    names = {name for row in table.itertuples(index=False) for name in (row.a, row.b)}
    return {name: sources[name] for name in names
            if sources.get(name, {}).get("page") is not None}


def _write_page_thumbnails(result, table, out: Path) -> None:
    """One JPEG per page holding a flagged panel (``pages/``), rendered from its PDF."""
    from PIL import Image

    from ..files import atomic_path

    pages = {}
    for source in _pdf_sources(result, table).values():
        pages.setdefault(_page_name(source), source)
    if not pages:
        return
    from .papers import page_thumbnail

    folder = out / "pages"
    folder.mkdir(exist_ok=True)
    for name, source in pages.items():
        thumbnail = page_thumbnail(source["file"], int(source["page"]),
                                   width=PAGE_THUMBNAIL_WIDTH)
        with atomic_path(folder / name) as temporary:
            Image.fromarray(thumbnail).save(temporary, format="JPEG",
                                            quality=PAGE_THUMBNAIL_QUALITY)
    for stale in (*folder.glob("*.png"), *folder.glob("*.jpg")):  # pages of earlier runs
        if stale.name not in pages:
            stale.unlink()


def _page_figure(source: dict[str, Any], boxes: list[tuple[dict[str, Any], str, str]],
                 *, width: int, anchor: str = "") -> str:
    """A page thumbnail with boxes drawn over it (percent of the page), each a link."""
    escape = html.escape
    page_width, page_height = source["page_size"]
    drawn = []
    for box_source, css, (href, title) in boxes:
        x0, y0, x1, y1 = box_source["box"]
        style = (f"left:{100 * x0 / page_width:.2f}%;top:{100 * y0 / page_height:.2f}%;"
                 f"width:{100 * (x1 - x0) / page_width:.2f}%;"
                 f"height:{100 * (y1 - y0) / page_height:.2f}%")
        drawn.append(f'<a class="box {css}" style="{style}" href="{escape(href)}" '
                     f'title="{escape(title)}"></a>')
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return (f'<span class="page"{ident} style="width:{width}px">'
            f'<img src="pages/{escape(_page_name(source))}" width="{width}" '
            f'alt="{escape(Path(source["file"]).name)} page {source["page"]}">'
            + "".join(drawn) + "</span>")


def _page_anchor(source: dict[str, Any]) -> str:
    return "page-" + _page_name(source)[:-4]


def _side_text(source: dict[str, Any]) -> str:
    from .papers import describe

    return describe(source)


def _rows(table, result, copy_move: bool) -> list[str]:
    escape = html.escape
    rows = []
    for rank, row in enumerate(table.itertuples(index=False), start=1):
        if (row.a == row.b) != copy_move:
            continue
        match = result.matches[(row.a, row.b)]
        pair = escape(row.a) if row.a == row.b else f"{escape(row.a)}<br>{escape(row.b)}"
        transform = (f"rotation {row.rotation_degrees:g}&deg;, scale {row.scale:.2f}"
                     f"{', mirrored' if row.mirrored else ''}<br>"
                     + (f"copies of {row.overlap_a:.0%} and {row.overlap_b:.0%} of the image"
                        if copy_move else
                        f"overlap {row.overlap_a:.0%} of a, {row.overlap_b:.0%} of b"))
        probability = getattr(match, "probability", None)
        verdict = escape(_nfa_text(getattr(match, "log_nfa", math.inf)))
        if probability is not None:
            verdict += f"<br>probability {probability:.2f}"
        why = "".join(f"<li>{escape(reason)}</li>" for reason in getattr(match, "reasons", ()))
        link = f"pictures/{escape(row.picture)}"
        pdf = _pdf_sources(result, table)
        if pdf:
            pages = []
            sides = [row.a] if row.a == row.b else [row.a, row.b]
            for side in sides:
                if side not in pdf:
                    continue
                source = pdf[side]
                pages.append(_page_figure(source, [(source, "this", (
                    f"#{_page_anchor(source)}", _side_text(source)))], width=150))
            where = [escape(_side_text(pdf[name])) if name in pdf else escape(name)
                     for name in dict.fromkeys((row.a, row.b))]
            pair = "<br>".join(where)
            pages_cell = f"<td class=\"pages\">{''.join(pages)}</td>"
        else:
            pages_cell = ""
        rows.append(
            f"<tr id=\"finding-{rank}\"><td>{rank}</td><td>{pair}</td>{pages_cell}"
            f"<td>{escape(row.kind)}</td>"
            f"<td>{verdict}</td><td>{row.inliers} / {row.matches}</td>"
            f"<td>{transform}</td><td><ul class=\"why\">{why}</ul></td>"
            f"<td><a href=\"{link}\"><img src=\"{link}\" loading=\"lazy\" width=\"420\" "
            f"alt=\"inliers of finding {rank}\"></a></td></tr>")
    return rows


def _html(table, skipped, stats: dict[str, Any], result=None, sections=None) -> str:
    escape = html.escape
    seconds = stats.get("seconds", {})
    tests = stats.get("tests", {})
    summary = (f"{stats.get('images', '?')} images read, {len(skipped)} skipped, "
               f"{stats.get('pairs_verified', stats.get('candidates', '?'))} of "
               f"{stats.get('pairs_possible', '?')} pairs "
               f"verified after pruning, {len(table)} flagged, "
               f"{seconds.get('total', float('nan')):.1f} s")
    sections = sections or {"ruled_out": [], "groups": [], "redundant": []}
    pdf = _pdf_sources(result, table) if result is not None else {}
    head = ("<tr><th>#</th><th>images</th>" + ("<th>on the pages</th>" if pdf else "")
            + "<th>kind</th><th>significance</th>"
            "<th>inliers / matches</th><th>transform</th><th>why it was raised</th>"
            "<th>picture</th></tr>")
    pages_section = _pages_section(table, pdf) if pdf else ""
    cross = _rows(table, result, False) if result is not None else []
    within = _rows(table, result, True) if result is not None else []
    ruled = "".join(f"<li><code>{escape(m.a)}</code>: {escape(m.ruled_out)} "
                    f"({m.inliers} inliers, {escape(_nfa_text(m.log_nfa))})</li>"
                    for m in sections["ruled_out"])
    group_items = "".join(
        f"<li>group {number} ({len(members)} images): "
        + ", ".join(f"<code>{escape(name)}</code>" for name in members) + "</li>"
        for number, members in enumerate(sections["groups"], start=1))
    redundant = "".join(f"<li><code>{escape(item['path'])}</code>: a {escape(item['kind'])} "
                        f"of <code>{escape(item['keep'])}</code> ({item['overlap']:.0%} of it "
                        f"inside)</li>" for item in sections["redundant"])
    skipped_rows = "".join(f"<li><code>{escape(str(r.path))}</code>: {escape(str(r.reason))}"
                           f"</li>" for r in skipped.itertuples(index=False))
    options = escape(", ".join(f"{k}={v}" for k, v in stats.get("options", {}).items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>simlab pairs: flagged duplicates</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} code{{font-size:90%}}
ul.why{{margin:0;padding-left:1.1em;max-width:22em;font-size:90%}}
.page{{position:relative;display:inline-block;margin:2px;border:1px solid #999;
vertical-align:top}} .page img{{display:block}}
.box{{position:absolute;border:2px solid #e8a000;box-sizing:border-box}}
.box.other{{border-color:#00a0e8}} .box:hover{{background:rgba(232,160,0,.25)}}
.box .tag{{position:absolute;top:-1.3em;left:0;font-size:11px;background:#e8a000;
color:#000;padding:0 2px}}</style>
</head><body>
<h1>Flagged findings, most significant first</h1>
<p>{escape(summary)}</p>
<p>Significance: the <b>NFA</b> (number of false alarms) is how many findings this strong
chance alone would give among all the comparisons made here
({tests.get('cross-image', '?')} image pairs, plain and mirrored;
{tests.get('copy-move', '?')} images searched for copy-move); {escape(_flag_rule(stats))}. The
<b>probability</b> of a true copy is calibrated on labelled benchmark pairs. Each picture
joins only the verified inliers (green) and outlines the matched region in amber (for
copy-move, the source copy in blue). Kinds: <b>copy</b> (same orientation, whole image:
exact, re-saved or recoloured), <b>crop</b> (partial overlap), <b>rotation</b>,
<b>mirror</b>, <b>copy-move</b> (a region repeated inside one image).</p>
<h2 id="cross-image">Across images ({len(cross)})</h2>
<table>{head}
{''.join(cross) or f'<tr><td colspan="{9 if pdf else 8}">no pair of images flagged</td></tr>'}
</table>
<h2 id="copy-move">Within one image: copy-move ({len(within)})</h2>
<table>{head}
{''.join(within) or f'<tr><td colspan="{9 if pdf else 8}">no copy-move flagged</td></tr>'}
</table>
{pages_section}
<h2 id="ruled-out">Ruled out: repeated content explained by a pattern ({len(sections['ruled_out'])})</h2>
<ul>{ruled or '<li>none</li>'}</ul>
<h2 id="groups">Groups of images sharing content ({len(sections['groups'])})</h2>
<ul>{group_items or '<li>none</li>'}</ul>
<h2 id="redundant">Redundant copies ({len(sections['redundant'])})</h2>
<p>Files whose whole content a larger file of their group holds: candidates to remove
(nothing was deleted). Listed in <code>redundant.csv</code>; groups in
<code>groups.csv</code>.</p>
<ul>{redundant or '<li>none</li>'}</ul>
<h2>Skipped files ({len(skipped)})</h2>
<ul>{skipped_rows or '<li>none</li>'}</ul>
<p><small>options: {options}</small></p>
</body></html>
"""


def _pages_section(table, pdf: dict[str, dict[str, Any]]) -> str:
    """Every page holding a flagged panel, each finding's boxes drawn and numbered; a
    box links to its finding, whose row links back to the page."""
    escape = html.escape
    by_page: dict[str, list] = {}
    first: dict[str, dict[str, Any]] = {}
    for rank, row in enumerate(table.itertuples(index=False), start=1):
        sides = [(row.a, row.b)] if row.a == row.b else [(row.a, row.b), (row.b, row.a)]
        for side, other in sides:
            if side not in pdf:
                continue
            name = _page_name(pdf[side])
            first.setdefault(name, pdf[side])
            partner = _side_text(pdf[other]) if other in pdf else other
            by_page.setdefault(name, []).append((rank, pdf[side], row.kind, partner))
    blocks = []
    for name, items in sorted(by_page.items()):
        source = first[name]
        boxes = [(item, "this" if number % 2 else "other",
                  (f"#finding-{rank}", f"finding {rank}: {kind} with {partner}"))
                 for number, (rank, item, kind, partner) in enumerate(items, start=1)]
        figure = _page_figure(source, boxes, width=PAGE_THUMBNAIL_WIDTH,
                              anchor=_page_anchor(source))
        # Number each box with its finding (a tag inside the link).
        for rank, item, kind, partner in items:
            figure = figure.replace(
                f'href="#finding-{rank}" title="', f'href="#finding-{rank}" data-rank="{rank}" '
                f'title="', 1)
        figure = re.sub(r'data-rank="(\d+)"([^>]*)></a>',
                        r'data-rank="\1"\2><span class="tag">\1</span></a>', figure)
        listed = "".join(f'<li><a href="#finding-{rank}">finding {rank}</a>: {escape(kind)}, '
                         f'{escape(_side_text(item))} with {escape(partner)}</li>'
                         for rank, item, kind, partner in items)
        blocks.append(f'<div class="pageblock"><h3>{escape(Path(source["file"]).name)}, '
                      f'page {source["page"]}</h3>{figure}<ul>{listed}</ul></div>')
    return (f'<h2 id="pages">On the pages ({len(by_page)} pages)</h2>\n<p>Each box is a '
            f'panel of a finding, numbered as in the tables; click it for the finding, '
            f'and a finding\'s small pages for its page here.</p>\n' + "\n".join(blocks))
