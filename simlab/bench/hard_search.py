"""The hard reverse-search benchmark: the queries people really send.

Built on the database of :func:`simlab.bench.search.build_dataset` (images shipped in
installed packages, near-duplicates removed), seeded, with known ground truth:

* 50 database images are held out of the index (:data:`ABSENT`): three edited copies of
  each (150) are the *no-source* queries, whose right answer is "no match";
* 12 kinds of query (:data:`HARD_KINDS`), 10 each by default, made from indexed images:
  tiny crops (8-20 % of the area, upscaled back), 90/180/270-degree turns, perspective
  (a photo of a print: corners moved 4-15 %, on a backdrop, blurred), heavy JPEG
  (quality 5 at 0.2x), blur with noise, intensity inversion, channel swaps, sepia, a
  flip plus a 20-30-degree rotation, screenshots (the image inside a drawn viewer
  window, with a strip of thumbnails of *other* indexed images), collages (2-4 indexed
  images in a grid, or 1-2 pasted into a picture that is not indexed), and
  combinations of three edits.

The score follows the rules of the task: a query's top hit is right when it is one of
the images the query was made from, and counts as neither right nor wrong when it is
another indexed image that is also inside the query (a screenshot's thumbnails).

The texture packs hold families the database's de-duplication misses (``tilefloor7``
and ``tilefloor7_ow``, ``marble02`` and ``marble02b_s``, ``concrete`` in two folders:
the same picture, relit or retouched), and search rightly matches them with hundreds
of inliers. So images are grouped by :func:`family` (their name without variant
suffixes), and by content (:func:`content_relatives`: the unedited database searched
against itself; many textures share a layer of dirt, a tile pattern or a photo grain
under different names, such as ``metalfloor_wall_15`` and ``metalfloor_wall_15ow``):
only images with no relative of either kind are held out, and a source's relatives
count as inside the query (neither right nor wrong).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .search import crop_anywhere

__all__ = ["build_hard_set", "run_hard", "hard_report", "family", "HARD_KINDS", "ABSENT",
           "HARD_CONFIGURATIONS"]

HARD_KINDS = ("tiny-crop", "turn", "perspective", "heavy-jpeg", "blur+noise", "inversion",
              "channel-swap", "sepia", "flip+rotation", "screenshot", "collage",
              "combination")
#: Database images held out of the hard index (their edits are the no-source queries).
ABSENT = 50
_HARD_VERSION = 3
#: Thresholds on log10(NFA) the report reads off the default run's hits.
SWEEP = (0.0, -5.0, -10.0, -15.0, -20.0, -30.0)


def family(name: str) -> str:
    """A texture's family: its last name part without variant suffixes.

    Examples
    --------
    >>> family("openarena-base_floor-tilefloor7_ow.jpg"), family("openarena-base_wall-concrete.jpg")
    ('tilefloor', 'concrete')
    >>> family("wallpaper-symbolic-d.jpg")
    'symbolic'
    """
    import re

    stem = name.rsplit(".", 1)[0].lower()
    while True:
        shorter = re.sub(r"(_ow|_s|big|_glow|_shiny|_dark|_light|-[a-z]|(?<=\d)[a-z]|\d+|_)$",
                         "", stem)
        if shorter == stem or len(shorter) < 3:
            break
        stem = shorter
    return stem.rsplit("-", 1)[-1]


def content_relatives(root: str | os.PathLike, names: Sequence[str], *,
                      method: str = "bow-verify", progress: bool = True,
                      workers: int = 2) -> dict[str, list[str]]:
    """Database images that share content with each other, by searching the unedited set.

    Every image of ``root/db`` is indexed and searched; each match other than itself
    (the search's own significance rule, see :meth:`simlab.Index.search`) makes the
    two relatives. Relatives are direct neighbours, not connected components, so a
    chain of partial overlaps does not make strangers relatives.

    Returns ``{name: sorted relatives}`` (names with none are left out).
    """
    from ..index import Index, build

    root = Path(root)
    index_dir = root / "indexes" / f"content-{method}"
    build([root / "db" / n for n in names], method=method, path=index_dir, rebuild=True,
          workers=workers, progress=progress)
    index = Index.load(index_dir)
    found: dict[str, set[str]] = {}
    from tqdm.auto import tqdm

    for name in tqdm(names, desc="relatives by content", unit="image", disable=not progress):
        for hit in index.search(root / "db" / name, top=5):
            other = Path(hit.path).name
            if other != name and hit.details.get("match", False):
                found.setdefault(name, set()).add(other)
                found.setdefault(other, set()).add(name)
    return {name: sorted(others) for name, others in sorted(found.items())}


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    shrink = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (max(1, int(width)), max(1, int(height))),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resized to fit inside width x height, keeping its aspect."""
    factor = min(width / image.shape[1], height / image.shape[0])
    return _resize(image, round(image.shape[1] * factor), round(image.shape[0] * factor))


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])


def _sepia(image: np.ndarray) -> np.ndarray:
    matrix = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    return np.clip(image.astype(np.float32) @ matrix.T, 0, 255).astype(np.uint8)


def _perspective(image: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    import cv2

    height, width = image.shape[:2]
    margin = 0.12
    canvas_w, canvas_h = round(width * (1 + 2 * margin)), round(height * (1 + 2 * margin))
    moves = rng.uniform(0.04, 0.15, (4, 2)) * [width, height]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    target = corners + inward * moves + [margin * width, margin * height]
    matrix = cv2.getPerspectiveTransform(corners, target.astype(np.float32))
    backdrop = tuple(int(v) for v in rng.integers(40, 220, 3))
    warped = cv2.warpPerspective(image, matrix, (canvas_w, canvas_h),
                                 flags=cv2.INTER_LINEAR, borderValue=backdrop)
    warped = cv2.GaussianBlur(warped, (0, 0), 1.0)
    return warped, {"corner_moves": np.round(moves / [width, height], 3).tolist()}


def _blur_noise(image: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    import cv2

    sigma, noise = float(rng.uniform(1.5, 3.0)), float(rng.uniform(8, 20))
    blurred = cv2.GaussianBlur(image, (0, 0), sigma).astype(np.float32)
    noisy = blurred + rng.normal(0, noise, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), {"sigma": round(sigma, 2),
                                                     "noise": round(noise, 1)}


_SWAPS = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def _single_edit(kind: str, image: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    """One of the single-image kinds (all but screenshot, collage, combination)."""
    from ..lab import samples

    if kind == "tiny-crop":
        area = float(rng.uniform(0.08, 0.2))
        part = crop_anywhere(image, area, rng)
        factor = 1 / np.sqrt(area)
        return _resize(part, part.shape[1] * factor, part.shape[0] * factor), \
            {"area": round(area, 3)}
    if kind == "turn":
        turns = int(rng.integers(1, 4))
        return np.ascontiguousarray(np.rot90(image, turns)), {"degrees": 90 * turns}
    if kind == "perspective":
        return _perspective(image, rng)
    if kind == "heavy-jpeg":
        return _jpeg(samples.downscale(image, 0.2), 5), {"factor": 0.2, "quality": 5}
    if kind == "blur+noise":
        return _blur_noise(image, rng)
    if kind == "inversion":
        return 255 - image, {}
    if kind == "channel-swap":
        order = _SWAPS[int(rng.integers(len(_SWAPS)))]
        return np.ascontiguousarray(image[..., list(order)]), {"order": list(order)}
    if kind == "sepia":
        return _sepia(image), {}
    if kind == "flip+rotation":
        degrees = float(rng.uniform(20, 30)) * (1 if rng.random() < 0.5 else -1)
        return samples.rotate(samples.flip(image), degrees), {"degrees": round(degrees, 1)}
    raise ValueError(kind)


def _combination(image: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    from ..lab import samples

    steps = ["crop", "turn", "jpeg", "channel-swap", "blur", "flip+rotation", "downscale",
             "inversion", "sepia"]
    chosen = [steps[i] for i in sorted(rng.choice(len(steps), 3, replace=False))]
    for step in chosen:
        if step == "crop":
            image = crop_anywhere(image, float(rng.uniform(0.3, 0.6)), rng)
        elif step == "turn":
            image = np.ascontiguousarray(np.rot90(image, int(rng.integers(1, 4))))
        elif step == "jpeg":
            image = _jpeg(image, int(rng.integers(12, 25)))
        elif step == "blur":
            image = _blur_noise(image, rng)[0]
        elif step == "downscale":
            image = samples.downscale(image, float(rng.uniform(0.4, 0.6)))
        else:
            image = _single_edit(step, image, rng)[0]
    return image, {"edits": chosen}


def _text(canvas: np.ndarray, text: str, where, scale: float, colour) -> None:
    import cv2

    cv2.putText(canvas, text, (int(where[0]), int(where[1])), cv2.FONT_HERSHEY_SIMPLEX,
                scale, colour, 1, cv2.LINE_AA)


def _screenshot(image: np.ndarray, thumbnails: Sequence[np.ndarray], rng
                ) -> tuple[np.ndarray, dict]:
    """The image inside a drawn viewer window: title bar, toolbar, side panel, strip."""
    import cv2

    width, height = int(rng.choice([1280, 1366, 1440])), int(rng.choice([800, 900]))
    dark = bool(rng.random() < 0.5)
    canvas = np.full((height, width, 3), 38 if dark else 236, np.uint8)
    ink = (220, 220, 220) if dark else (30, 30, 30)
    cv2.rectangle(canvas, (0, 0), (width, 30), (60, 60, 70), -1)
    _text(canvas, "image-viewer - figure_%03d.png" % int(rng.integers(1000)), (12, 21),
          0.55, (230, 230, 230))
    for i, label in enumerate(("File", "Edit", "View", "Image", "Tools", "Help")):
        _text(canvas, label, (12 + 70 * i, 56), 0.5, ink)
    panel = int(rng.integers(180, 260))
    cv2.rectangle(canvas, (0, 70), (panel, height), (52, 52, 58) if dark else (222, 222, 226),
                  -1)
    for row in range(int(rng.integers(8, 16))):
        _text(canvas, f"item_{int(rng.integers(10000)):04d}.jpg", (14, 100 + 28 * row), 0.45,
              ink)
    strip = 96
    for i, thumbnail in enumerate(thumbnails):
        small = _fit(thumbnail, 120, strip - 16)
        top, left = height - strip + 8, panel + 16 + 136 * i
        if left + small.shape[1] < width:
            canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    area_w, area_h = width - panel - 32, height - 70 - strip - 24
    shown = _fit(image, area_w * float(rng.uniform(0.75, 1.0)),
                 area_h * float(rng.uniform(0.75, 1.0)))
    top = 82 + (area_h - shown.shape[0]) // 2
    left = panel + 16 + (area_w - shown.shape[1]) // 2
    canvas[top:top + shown.shape[0], left:left + shown.shape[1]] = shown
    return canvas, {"window": [width, height], "shown": list(shown.shape[:2])}


def _collage(images: Sequence[np.ndarray], background: np.ndarray | None, rng
             ) -> tuple[np.ndarray, dict]:
    """A figure of 2-4 panels in a grid, or 1-2 images pasted into ``background``."""
    if background is None:
        count = len(images)
        rows, columns = (2, 2) if count == 4 else (1, count)
        cell, gutter = 420, 12
        canvas = np.full((rows * (cell + gutter) + gutter, columns * (cell + gutter) + gutter,
                          3), 255, np.uint8)
        for i, image in enumerate(images):
            row, column = divmod(i, columns)
            panel = _fit(image, cell, cell)
            top = gutter + row * (cell + gutter) + (cell - panel.shape[0]) // 2
            left = gutter + column * (cell + gutter) + (cell - panel.shape[1]) // 2
            canvas[top:top + panel.shape[0], left:left + panel.shape[1]] = panel
            _text(canvas, "ABCD"[i], (left + 6, top + 24), 0.8, (255, 255, 255))
        return canvas, {"layout": [rows, columns]}
    canvas = _fit(background, 1024, 1024).copy()
    height, width = canvas.shape[:2]
    slots = [(0, 0), (0, width // 2)] if len(images) == 2 else [(0, 0)]
    for image, (top0, left0) in zip(images, slots):
        room_w = width // len(images)
        panel = _fit(image, room_w * float(rng.uniform(0.6, 0.9)),
                     height * float(rng.uniform(0.45, 0.7)))
        top = top0 + int(rng.integers(0, height - panel.shape[0] + 1))
        left = left0 + int(rng.integers(0, room_w - panel.shape[1] + 1))
        canvas[top:top + panel.shape[0], left:left + panel.shape[1]] = panel
    return canvas, {"pasted_into": "a picture that is not indexed"}


def build_hard_set(root: str | os.PathLike, *, per_kind: int = 10, absent: int = ABSENT,
                   edits_per_absent: int = 3, seed: int = 14, progress: bool = True) -> dict:
    """Write the hard queries under ``root/hard`` (``root`` holds the easy set).

    Returns the ``hard.json`` content: ``indexed`` (database files in the hard index),
    ``absent`` (held out) and ``queries`` (``file``, ``kind``, ``params``, ``sources``,
    ``also_inside``; no-source queries have kind ``no-source`` and no sources: each
    held-out image gives ``edits_per_absent`` of them, edited in different ways).
    """
    from PIL import Image

    from ..files import write_json

    root = Path(root)
    manifest = json.loads((root / "dataset.json").read_text())
    folder = root / "hard"
    settings = {"version": _HARD_VERSION, "per_kind": per_kind, "absent": absent,
                "edits_per_absent": edits_per_absent, "seed": seed,
                "database": len(manifest["database"])}
    path = folder / "hard.json"
    if path.is_file():
        found = json.loads(path.read_text())
        if found.get("settings") == settings:
            return found
    (folder / "queries").mkdir(parents=True, exist_ok=True)
    for old in (folder / "queries").iterdir():
        old.unlink()
    rng = np.random.default_rng(seed)
    database = manifest["database"]
    load = lambda name: np.asarray(Image.open(root / "db" / name).convert("RGB"))
    sizes = {name: Image.open(root / "db" / name).size for name in database}
    eligible = [n for n in database if min(sizes[n]) >= 256]
    order = [eligible[i] for i in rng.permutation(len(eligible))]
    families: dict[str, list[str]] = {}
    for name in database:
        families.setdefault(family(name), []).append(name)
    by_content = content_relatives(root, database, progress=progress)
    alone = [n for n in order if len(families[family(n)]) == 1 and n not in by_content]
    held_out = alone[:absent]
    pool = [n for n in order if n not in set(held_out)]
    relatives = lambda names: sorted({m for n in names for m in families[family(n)]}
                                     .union(*(by_content.get(n, ()) for n in names))
                                     - set(names))
    indexed = [n for n in database if n not in set(held_out)]
    others = [n for n in indexed if n not in set(pool)]  # small images: thumbnails
    take = iter(pool * 3)  # sources cycle if the set is small
    rows = []

    def save(image, kind, number, params, sources, also_inside=(), quality=None):
        safe = kind.replace("+", "-")
        file = f"h{number:03d}-{safe}.{'jpg' if quality else 'png'}"
        if quality:
            Image.fromarray(image).save(folder / "queries" / file, quality=int(quality))
        else:
            Image.fromarray(image).save(folder / "queries" / file)
        rows.append({"file": file, "kind": kind, "params": params, "sources": list(sources),
                     "also_inside": sorted(set(also_inside) | set(relatives(sources)))})

    number = 0
    for kind in HARD_KINDS:
        for repeat in range(per_kind):
            if kind == "collage":
                grid = repeat % 2 == 0
                names = [next(take) for _ in range(int(rng.integers(2, 5)) if grid
                                                    else int(rng.integers(1, 3)))]
                background = None if grid else load(held_out[repeat % len(held_out)])
                image, params = _collage([load(n) for n in names], background, rng)
                save(image, kind, number, params, names, quality=90)
            elif kind == "screenshot":
                name = next(take)
                room = [n for n in (others or indexed) if n != name]
                strip = [str(n) for n in rng.choice(room, min(4, len(room)), replace=False)]
                image, params = _screenshot(load(name), [load(n) for n in strip], rng)
                save(image, kind, number, params, [name], also_inside=strip)
            elif kind == "combination":
                name = next(take)
                image, params = _combination(load(name), rng)
                save(image, kind, number, params, [name],
                     quality=85 if "jpeg" not in params["edits"] else None)
            else:
                name = next(take)
                image, params = _single_edit(kind, load(name), rng)
                save(image, kind, number, params, [name],
                     quality=5 if kind == "heavy-jpeg" else None)
            number += 1
    single = [k for k in HARD_KINDS if k not in ("collage", "screenshot", "combination")]
    for i in range(edits_per_absent * len(held_out)):
        name = held_out[i % len(held_out)]
        kind = single[(i + i // len(held_out)) % len(single)]
        image, params = _single_edit(kind, load(name), rng)
        params = {"edit": kind, **params}
        save(image, "no-source", number, params, [],
             quality=5 if kind == "heavy-jpeg" else None)
        rows[-1]["held_out"] = name
        number += 1
    found = {"settings": settings, "indexed": indexed, "absent": held_out, "queries": rows,
             "content_relatives": by_content}
    write_json(path, found)
    return found


def _floor_rates(index, paths: Sequence[str], workers: int) -> float:
    """Images per second of decoding and extracting what the index stores, 2 threads."""
    from ..io import load_scaled
    from ..parallel import map_files, one_blas_thread

    backend, options = index.backend, index.options

    def extract(path):
        image, _ = load_scaled(path, options["max_side"])
        return len(backend.local_features(image, options)["points"])

    began = time.perf_counter()
    with one_blas_thread():
        map_files(extract, list(paths), workers=workers, progress=False)
    return len(paths) / (time.perf_counter() - began)


def run_hard(root: str | os.PathLike, *, configurations: dict[str, dict] | None = None,
             method: str = "bow-verify", workers: int = 2, progress: bool = True,
             top: int = 10) -> dict[str, Any]:
    """Index the hard set's database, answer every query with each configuration.

    ``configurations`` maps a name to keyword arguments of :meth:`Index.search` (the
    queries are interleaved: each is searched with every configuration in turn, so a
    busy machine slows all alike). A configuration may set ``"_match": "verified"`` to
    read a hit as a match when it was verified (what search said before ``match``).

    Returns ``table`` (one row per configuration), ``per_kind`` (recall@1 per kind),
    ``floor`` (decode + SIFT of a query, indexing vs extraction rates) and ``answers``.
    """
    import pandas as pd

    from ..index import Index, build
    from ..io import load_scaled

    root = Path(root)
    hard = build_hard_set(root, progress=progress)
    configurations = configurations or {"default": {}}
    index_dir = root / "indexes" / f"hard-{method}"
    paths = [root / "db" / name for name in hard["indexed"]]
    began = time.perf_counter()
    build(paths, method=method, path=index_dir, rebuild=True, workers=workers,
          progress=progress)
    index_rate = len(paths) / (time.perf_counter() - began)
    index = Index.load(index_dir)
    extraction_rate = _floor_rates(index, [str(p) for p in paths[:200]], workers)
    queries = hard["queries"]
    query_dir = root / "hard" / "queries"
    index.search(query_dir / queries[0]["file"], top=1)  # warm caches
    times = {name: [] for name in configurations}
    answers = {name: [] for name in configurations}
    floor = []
    for query in queries:
        began = time.perf_counter()
        image, _ = load_scaled(query_dir / query["file"], index.options["max_side"])
        index.backend.local_features(image, index.options)
        floor.append(time.perf_counter() - began)
        for name, settings in configurations.items():
            options = {k: v for k, v in settings.items() if not k.startswith("_")}
            began = time.perf_counter()
            hits = index.search(query_dir / query["file"], top=top, **options)
            times[name].append(time.perf_counter() - began)
            key = settings.get("_match", "match")
            answers[name].append([(Path(h.path).name, bool(h.details.get(key, False)),
                                   h.details.get("region"), h.details.get("log_nfa"))
                                  for h in hits])
    rows, per_kind = [], {}
    floor_ms = 1000 * float(np.median(floor))
    for name in configurations:
        scored = _score(queries, answers[name])
        p50 = 1000 * float(np.percentile(times[name], 50))
        rows.append({"configuration": name, **scored["summary"],
                     "query_p50_ms": p50,
                     "query_p95_ms": 1000 * float(np.percentile(times[name], 95)),
                     "floor_ms": floor_ms, "search/floor": p50 / floor_ms})
        per_kind[name] = scored["per_kind"]
    wrong = []
    for query, hits in zip(queries, answers.get("default", [])):
        allowed = set(query["sources"]) | set(query["also_inside"])
        wrong += [{"query": query["file"], "matched": n, "log_nfa": nfa}
                  for n, match, _, nfa in hits if match and n not in allowed]
    sweep = {}
    if "default" in answers:  # the match threshold, read off the default run's hits
        for threshold in SWEEP:
            relabelled = [[(n, nfa is not None and nfa <= threshold, r, nfa)
                           for n, _, r, nfa in hits] for hits in answers["default"]]
            summary = _score(queries, relabelled)["summary"]
            sweep[threshold] = {k: summary[k] for k in
                                ("false_match_no_source", "wrong_match_with_source",
                                 "match_recall@1")}
    return {"table": pd.DataFrame(rows), "per_kind": pd.DataFrame(per_kind),
            "sweep": pd.DataFrame(sweep).T.rename_axis("max_log_nfa"),
            "wrong_matches": wrong,
            "indexing": {"images": len(paths), "index_images/s": index_rate,
                         "extraction_images/s (2 threads)": extraction_rate,
                         "index/extraction": index_rate / extraction_rate},
            "answers": answers, "hard": hard}


def _score(queries: Sequence[dict], answers: Sequence[list]) -> dict:
    """recall@1 per kind (hits on other images inside the query excluded), collages'
    every-image-found@5, false matches on no-source queries, and match recall."""
    per_kind: dict[str, list] = {kind: [] for kind in HARD_KINDS}
    matched_right, wrong_matches, collage_found, no_source = [], [], [], []
    for query, hits in zip(queries, answers):
        names = [name for name, *_ in hits]
        if query["kind"] == "no-source":
            no_source.append(any(match for _, match, *_ in hits))
            continue
        sources, inside = set(query["sources"]), set(query["also_inside"])
        if names and names[0] in inside:
            pass  # another indexed image inside the query: neither hit nor miss
        else:
            per_kind[query["kind"]].append(bool(names) and names[0] in sources)
            matched_right.append(bool(hits) and names[0] in sources and hits[0][1])
        wrong_matches.append(any(match and name not in sources | inside
                                 for name, match, *_ in hits))
        if query["kind"] == "collage":
            collage_found.append(sources <= set(names[:5]))
    scored = [v for values in per_kind.values() for v in values]
    return {"summary": {"recall@1": float(np.mean(scored)),
                        "worst_kind_r@1": min(float(np.mean(v)) for v in per_kind.values()
                                              if v),
                        "match_recall@1": float(np.mean(matched_right)),
                        "collage_all_found@5": float(np.mean(collage_found)),
                        "false_match_no_source": float(np.mean(no_source)),
                        "no_source_queries": len(no_source),
                        "wrong_match_with_source": float(np.mean(wrong_matches))},
            "per_kind": {kind: float(np.mean(v)) if v else float("nan")
                         for kind, v in per_kind.items()}}


#: What ``simlab bench search --hard`` compares, in one interleaved run: today's search
#: (one answer, "verified" read as a match, no inverted side) and the default.
HARD_CONFIGURATIONS = {
    "one answer, verified (before)": {"answers": 1, "invert": False, "coarse": False,
                                      "_match": "verified"},
    "default": {},
}


def hard_report(root: str | os.PathLike, *, as_json: bool = False, workers: int = 2,
                progress: bool = True, configurations: dict | None = None) -> str:
    """Run :func:`run_hard` and format its tables (or JSON)."""
    from ..files import write_json

    result = run_hard(root, configurations=configurations or HARD_CONFIGURATIONS,
                      workers=workers, progress=progress)
    table, per_kind = result["table"], result["per_kind"]
    payload = {"configurations": table.to_dict(orient="records"),
               "per_kind": per_kind.to_dict(), "indexing": result["indexing"],
               "sweep": {str(k): v for k, v in result["sweep"].T.to_dict().items()},
               "wrong_matches": result["wrong_matches"]}
    write_json(Path(root) / "hard" / "results.json", payload)
    if as_json:
        return json.dumps(payload, indent=2)
    hard = result["hard"]
    no_source = sum(q["kind"] == "no-source" for q in hard["queries"])
    lines = [f"hard reverse-search benchmark: {len(hard['indexed'])} indexed images, "
             f"{len(hard['queries'])} queries ({no_source} whose source is not indexed: "
             f"edits of {len(hard['absent'])} held-out images); data {Path(root) / 'hard'}",
             table.set_index("configuration").T.to_string(float_format=lambda v: f"{v:.3g}"),
             "\nrecall@1 per kind:",
             per_kind.to_string(float_format=lambda v: f"{v:.2f}"),
             "\nmatch threshold (default run's hits read as matches at log10 NFA <= t; "
             "later rounds of explaining away depend on it, so approximate away from "
             "the default):",
             result["sweep"].to_string(float_format=lambda v: f"{v:.3f}"),
             "\nmatches on images the query was not made from (default): " + "; ".join(
                 f"{w['query']} -> {w['matched']} ({w['log_nfa']})"
                 for w in result["wrong_matches"]),
             "\nindexing vs extraction (2 threads): " + json.dumps(
                 {k: round(v, 3) for k, v in result["indexing"].items()})]
    return "\n".join(lines)
