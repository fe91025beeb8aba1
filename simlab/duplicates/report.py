"""Pictures and pages for flagged pairs: what ``simlab pairs DIR --out OUT`` writes.

Each picture shows the two images side by side with **only the RANSAC inliers** joined
(a blog post's per-pair loop drew every ratio-test match, which is why its pictures were
hard to trust) and the matched region outlined in both images: the part of each image
the other covers once aligned, or, for copy-move, the two copies inside one image.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["draw_pair", "plot_pair_match", "load_pair_images", "write_report",
           "pairs_payload"]

_INLIER = (50, 220, 50)
_REGION = (255, 200, 0)
_SOURCE = (0, 190, 255)
_MIN_HEIGHT = 360  # small panels are enlarged so lines and outlines stay legible


def load_pair_images(match, *, max_side: int | None = 800):
    """The two images of a :class:`~simlab.duplicates.PairMatch`, at the size the
    features were extracted from (``max_side`` as given to :func:`~simlab.duplicates.find`).
    """
    from ..io import load_image

    image_a = load_image(match.a, max_side=max_side)
    image_b = image_a if match.b == match.a else load_image(match.b, max_side=max_side)
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
    text = (f"{match.kind}: score {match.score:.2f}, {match.inliers} inliers of "
            f"{match.matches} matches")
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


def _picture_name(rank: int, match) -> str:
    stems = [re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(p).stem)[:40] for p in (match.a, match.b)]
    return f"{rank:04d}_{stems[0]}__{stems[1]}.png"


def pairs_payload(result, table=None) -> dict[str, Any]:
    """The JSON of ``simlab pairs --json``: flagged pairs and skipped files.

    ``table`` is :func:`write_report`'s (with the pictures' names), else
    ``result.table``.

    Examples
    --------
    >>> from simlab.results import PairsResult
    >>> pairs_payload(PairsResult.empty(skipped=[{"path": "x.png", "reason": "empty"}]))
    {'pairs': [], 'skipped': [{'path': 'x.png', 'reason': 'empty'}]}
    """
    from ..files import json_ready

    matches = result.matches
    frame = result.table if table is None else table
    pairs = []
    for row in frame.itertuples(index=False):
        match = matches[(row.a, row.b)]
        entry = {"a": row.a, "b": row.b, "score": row.score, "inliers": row.inliers,
                 "transform": match.transform(), "kind": row.kind, "matches": row.matches,
                 "inlier_ratio": row.inlier_ratio}
        if "picture" in frame.columns:
            entry["picture"] = row.picture
        pairs.append(entry)
    return json_ready({"pairs": pairs, "skipped": list(result.skipped)})


def write_report(result, out: str | os.PathLike, *, max_side: int | None = None,
                 progress: bool = True):
    """Write ``pairs.csv``, ``skipped.csv``, one picture per flagged pair and ``index.html``.

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
    ['index.html', 'pairs.csv', 'pictures', 'skipped.csv']
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
    for rank, row in enumerate(tqdm(rows, desc="pictures", unit="pair", disable=not progress,
                                    leave=False), start=1):
        match = matches[(row.a, row.b)]
        picture = draw_pair(*load_pair_images(match, max_side=max_side), match)
        name = _picture_name(rank, match)
        with atomic_path(pictures / name) as temporary:
            if not cv2.imwrite(str(temporary), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
                raise OSError(f"could not write {pictures / name}")
        names.append(name)
    # Pictures of an earlier run that this one did not rewrite would be shown as evidence.
    for stale in pictures.glob("[0-9][0-9][0-9][0-9]_*.png"):
        if stale.name not in names:
            stale.unlink()
    table = result.table.copy()
    table["picture"] = names
    with atomic_path(out / "pairs.csv") as temporary:
        table.to_csv(temporary, index=False)
    skipped = pd.DataFrame(result.skipped, columns=["path", "reason"])
    with atomic_path(out / "skipped.csv") as temporary:
        skipped.to_csv(temporary, index=False)
    with atomic_path(out / "index.html") as temporary:
        temporary.write_text(_html(table, skipped, stats), encoding="utf-8")
    return table


def _html(table, skipped, stats: dict[str, Any]) -> str:
    escape = html.escape
    seconds = stats.get("seconds", {})
    summary = (f"{stats.get('images', '?')} images read, {len(skipped)} skipped, "
               f"{stats.get('candidates', '?')} of {stats.get('pairs_possible', '?')} pairs "
               f"verified after pruning, {len(table)} flagged, "
               f"{seconds.get('total', float('nan')):.1f} s")
    rows = []
    for rank, row in enumerate(table.itertuples(index=False), start=1):
        pair = escape(row.a) if row.a == row.b else f"{escape(row.a)}<br>{escape(row.b)}"
        transform = (f"rotation {row.rotation_degrees:g}&deg;, scale {row.scale:.2f}"
                     f"{', mirrored' if row.mirrored else ''}<br>overlap "
                     f"{row.overlap_a:.0%} of a, {row.overlap_b:.0%} of b")
        link = f"pictures/{escape(row.picture)}"
        rows.append(
            f"<tr><td>{rank}</td><td>{pair}</td><td>{escape(row.kind)}</td>"
            f"<td>{row.score:.2f}</td><td>{row.inliers} / {row.matches}</td>"
            f"<td>{transform}</td><td><a href=\"{link}\"><img src=\"{link}\" "
            f"loading=\"lazy\" width=\"420\" alt=\"inliers of pair {rank}\"></a></td></tr>")
    skipped_rows = "".join(f"<li><code>{escape(str(r.path))}</code>: {escape(str(r.reason))}"
                           f"</li>" for r in skipped.itertuples(index=False))
    options = escape(", ".join(f"{k}={v}" for k, v in stats.get("options", {}).items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>simlab pairs: flagged duplicates</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} code{{font-size:90%}}</style>
</head><body>
<h1>Flagged pairs, most certain first</h1>
<p>{escape(summary)}</p>
<p>Each picture joins only the RANSAC inliers (green) and outlines the matched region in
amber (for copy-move, the source copy in blue). Kinds: <b>copy</b> (same orientation, whole
image: exact, re-saved or recoloured), <b>crop</b> (partial overlap), <b>rotation</b>,
<b>mirror</b>, <b>copy-move</b> (a region repeated inside one image).</p>
<table><tr><th>#</th><th>images</th><th>kind</th><th>score</th><th>inliers / matches</th>
<th>transform (b = T(a))</th><th>picture</th></tr>
{''.join(rows) or '<tr><td colspan="7">no pair flagged</td></tr>'}
</table>
<h2>Skipped files ({len(skipped)})</h2>
<ul>{skipped_rows or '<li>none</li>'}</ul>
<p><small>options: {options}</small></p>
</body></html>
"""
