"""Benchmark of reverse image search: a Copydays-style set from images shipped in packages.

The database holds real images that installed packages ship (nothing is downloaded):
scikit-image's samples, Debian wallpapers and photos (``gnome-backgrounds``,
``lomiri-wallpapers-20.04``, ``mate-backgrounds``) and photo-derived game textures and
map screenshots (``openarena-081-textures``, ``openarena-088-data``, read from their
``.pk3`` zips). Texture packs contain near-duplicates (the same texture recoloured, at
two sizes, or with a decal painted on): every image whose 64-bit pHash of the grey image
lies within :data:`DEDUPE_DISTANCE` bits of one already kept is dropped; then the
duplicate finder of :mod:`simlab.duplicates` (RANSAC-verified RootSIFT matches) runs
over the rest, its flagged pairs link images into groups, and each group keeps one
image, so that each query has exactly one right answer. Images smaller than
:data:`MIN_SIDE` pixels are left out.

100 of the images become query sources (10 per transformation, each query one edit of
one source: crop 30-80 % of the area, JPEG q10-30, downscale 0.25-0.5, gamma/contrast,
rotation 5-15 degrees, grayscale, hue shift, text overlay, horizontal flip, and crop +
JPEG + downscale combined); the rest are distractors. Each method indexes the database
and answers the 100 queries; the report gives recall@1, recall@5, mAP (one relevant image
per query, so AP is 1/rank; 0 beyond the first 100 results), per-transformation
recall@1, index time, images/s and query p50/p95 (``Index.search`` only, image decoding
included, process start-up excluded).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import SimlabError

__all__ = ["build_dataset", "run_benchmark", "bench_search_report", "scale_run",
           "TRANSFORMATIONS", "BENCH_METHODS", "APT_PACKAGES", "DEDUPE_DISTANCE", "MIN_SIDE"]

#: Debian packages whose images the benchmark uses (``make bench`` installs them).
APT_PACKAGES = ("gnome-backgrounds", "lomiri-wallpapers-20.04", "mate-backgrounds",
                "openarena-081-textures", "openarena-088-data")
#: Images this close (Hamming bits of the grey pHash) to a kept one are near-duplicates.
DEDUPE_DISTANCE = 10
#: Smallest side of a database image, pixels.
MIN_SIDE = 128
#: Methods benchmarked by default (vgg16 joins when its weights are available).
BENCH_METHODS = ("bow-verify", "bow", "phash", "histogram", "vgg16", "naive-bow")
TRANSFORMATIONS = ("crop", "jpeg", "downscale", "gamma/contrast", "rotation", "grayscale",
                   "hue", "text", "flip", "crop+jpeg+downscale")
#: Texture packs (zip files) and the name prefix of their images in the set; the 0.8.8
#: patch also holds map screenshots ("levelshots").
_OPENARENA = {"openarena-": "/usr/share/games/openarena/baseoa/pak4-textures.pk3",
              "openarena088-": "/usr/share/games/openarena/baseoa/pak6-patch088.pk3"}
_DATASET_VERSION = 3
#: Written before a set's files and removed after ``dataset.json``: an interrupted
#: build leaves it, and the next build knows the folder is a benchmark set.
BUILDING_MARKER = ".building"


def _sources(only_samples: bool = False) -> Iterator[tuple[str, Any]]:
    """(name, loader) of every candidate image: scikit-image's, then the packages'."""
    from PIL import Image

    from ..lab import samples
    from ..io import load_image

    for name in samples.SAMPLE_NAMES:
        yield f"skimage-{name}", (lambda n=name: samples.sample_image(n, max_side=None))
    if only_samples:
        return
    backgrounds = sorted(Path("/usr/share/backgrounds").glob("*.jpg")) + \
        sorted(Path("/usr/share/backgrounds/gnome").glob("*.webp"))
    for path in backgrounds:
        yield f"wallpaper-{path.stem}", (lambda p=path: load_image(p, max_side=1024))
    for path in sorted(Path("/usr/share/backgrounds/mate").glob("*/*")):
        if path.suffix.lower() in (".jpg", ".png"):
            yield f"mate-{path.parent.name}-{path.stem}", \
                (lambda p=path: load_image(p, max_side=1024))
    for prefix, pack in _OPENARENA.items():
        if not os.path.exists(pack):
            continue
        with zipfile.ZipFile(pack) as archive:
            members = sorted(n for n in archive.namelist()
                             if n.lower().endswith((".jpg", ".tga", ".png")))
        for member in members:
            def load(m=member, pack=pack):
                with zipfile.ZipFile(pack) as archive:
                    return load_image(Image.open(io.BytesIO(archive.read(m))), name=m)
            yield prefix + member.replace("textures/", "").replace("/", "-") \
                .rsplit(".", 1)[0], load


def _rng_choice(rng, low, high):
    return float(rng.uniform(low, high))


def crop_anywhere(image: np.ndarray, area: float, rng) -> np.ndarray:
    """A crop keeping ``area`` of the image (same aspect, at least 16 px), placed at random.

    Examples
    --------
    >>> crop_anywhere(np.zeros((100, 200, 3), np.uint8), 0.25, np.random.default_rng(0)).shape
    (50, 100, 3)
    """
    side = np.sqrt(area)
    height, width = image.shape[:2]
    new_h, new_w = max(16, round(height * side)), max(16, round(width * side))
    top = int(rng.integers(0, height - new_h + 1))
    left = int(rng.integers(0, width - new_w + 1))
    return np.ascontiguousarray(image[top:top + new_h, left:left + new_w])


def _make_query(image: np.ndarray, kind: str, rng) -> tuple[np.ndarray, dict, int | None]:
    """The edited copy, its parameters, and the JPEG quality to save it with (or None)."""
    from ..lab import samples

    if kind == "crop":
        area = _rng_choice(rng, 0.3, 0.8)
        return crop_anywhere(image, area, rng), {"area": round(area, 3)}, None
    if kind == "jpeg":
        quality = int(rng.integers(10, 31))
        return image, {"quality": quality}, quality
    if kind == "downscale":
        factor = _rng_choice(rng, 0.25, 0.5)
        return samples.downscale(image, factor), {"factor": round(factor, 3)}, None
    if kind == "gamma/contrast":
        gamma = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
        contrast = _rng_choice(rng, 0.7, 1.4)
        return (samples.brightness_contrast(image, gamma, contrast=contrast),
                {"gamma": round(gamma, 3), "contrast": round(contrast, 3)}, None)
    if kind == "rotation":
        degrees = _rng_choice(rng, 5, 15) * (1 if rng.random() < 0.5 else -1)
        return samples.rotate(image, degrees), {"degrees": round(degrees, 2)}, None
    if kind == "grayscale":
        return samples.grayscale(image), {}, None
    if kind == "hue":
        degrees = _rng_choice(rng, 60, 180)
        return samples.hue_shift(image, degrees), {"degrees": round(degrees, 1)}, None
    if kind == "text":
        return samples.text_overlay(image, "simlab (c) 2026", size=0.08), {}, None
    if kind == "flip":
        return samples.flip(image), {}, None
    area = _rng_choice(rng, 0.4, 0.8)
    factor = _rng_choice(rng, 0.4, 0.7)
    quality = int(rng.integers(15, 31))
    edited = samples.downscale(crop_anywhere(image, area, rng), factor)
    return edited, {"area": round(area, 3), "factor": round(factor, 3),
                    "quality": quality}, quality


def build_dataset(out: str | os.PathLike, *, queries: int = 100, min_distractors: int = 500,
                  max_side: int = 800, seed: int = 0, progress: bool = True,
                  only_samples: bool = False) -> dict:
    """Write the benchmark set to ``out`` (``db/``, ``queries/``, ``dataset.json``).

    ``only_samples=True`` uses scikit-image's samples alone (a small set for notebooks
    and tests: pass ``queries`` of at most 10 and ``min_distractors=0``).

    Re-uses an existing set built with the same settings. Database images are saved as
    JPEG quality 92 at most ``max_side`` pixels; queries as PNG, or as JPEG at the
    quality of their edit.

    Returns
    -------
    dict
        The ``dataset.json`` content: ``database`` (file names), ``queries`` (``file``,
        ``kind``, ``params``, ``source``), ``dropped_duplicates``, ``sources``.
    """
    import cv2
    from PIL import Image
    from tqdm.auto import tqdm

    from ..files import write_json

    root = Path(out)
    settings = {"version": _DATASET_VERSION, "queries": queries, "max_side": max_side,
                "seed": seed, "dedupe_distance": DEDUPE_DISTANCE, "min_side": MIN_SIDE,
                "only_samples": only_samples}
    manifest_path = root / "dataset.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("settings") == settings:
            return manifest
    from ..io import resize_longest_side

    hasher = cv2.img_hash.PHash_create()
    kept: list[tuple[str, np.ndarray]] = []
    hashes: list[np.ndarray] = []
    dropped, small, unreadable = [], 0, 0
    named = set()
    for name, load in tqdm(list(_sources(only_samples)), desc="benchmark images", unit="image",
                           disable=not progress):
        if name in named:  # a pack may hold one texture as .jpg and .tga: one file name
            continue
        named.add(name)
        try:
            image = load()
        except (SimlabError, OSError, ValueError):
            unreadable += 1
            continue
        if min(image.shape[:2]) < MIN_SIDE:
            small += 1
            continue
        image = resize_longest_side(image, max_side)
        bits = np.unpackbits(hasher.compute(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)).ravel())
        if hashes and (np.array(hashes) != bits).sum(axis=1).min() <= DEDUPE_DISTANCE:
            dropped.append(name)
            continue
        hashes.append(bits)
        kept.append((name, image))
    rng = np.random.default_rng(seed)
    # Query sources: images big enough that a 30 % crop downscaled still has texture.
    eligible = [i for i, (_, image) in enumerate(kept) if min(image.shape[:2]) >= 256]
    if len(kept) - queries < min_distractors or len(eligible) < queries:
        raise SimlabError(
            f"only {len(kept)} distinct images found ({len(eligible)} of at least 256 px); "
            f"the benchmark needs {queries} query sources and {min_distractors} "
            f"distractors: install the Debian packages {' '.join(APT_PACKAGES)}")
    # A set built with other settings leaves files behind that would join the database.
    # The marker says the folder is ours even when a build was interrupted before
    # dataset.json, so the next build may clear it instead of refusing it.
    marker = root / BUILDING_MARKER
    for part in ("db", "queries"):
        if (root / part).is_dir() and any((root / part).iterdir()):
            if not (manifest_path.is_file() or marker.is_file()):
                raise SimlabError("exists and is not from a benchmark set (no "
                                  "dataset.json): choose another folder",
                                  os.fspath(root / part))
            shutil.rmtree(root / part)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text("a simlab search benchmark set is being written here\n")
    for part in ("db", "queries"):
        (root / part).mkdir(parents=True, exist_ok=True)
    for name, image in kept:
        Image.fromarray(image).save(root / "db" / f"{name}.jpg", quality=92)
    related = _related_pairs([root / "db" / f"{name}.jpg" for name, _ in kept],
                             progress=progress)
    gone = {b for _, b in related}
    kept = [(name, image) for name, image in kept if name not in gone]
    for name in sorted(gone):
        (root / "db" / f"{name}.jpg").unlink()
    eligible = [i for i, (_, image) in enumerate(kept) if min(image.shape[:2]) >= 256]
    if len(kept) - queries < min_distractors or len(eligible) < queries:
        raise SimlabError(
            f"only {len(kept)} distinct images left after dropping near-duplicates; the "
            f"benchmark needs {queries} query sources and {min_distractors} distractors")
    sources = sorted(rng.choice(eligible, queries, replace=False).tolist())
    database = [f"{name}.jpg" for name, _ in kept]
    query_rows = []
    for number, source in enumerate(sources):
        kind = TRANSFORMATIONS[number % len(TRANSFORMATIONS)]
        # The source as it is stored (decoded JPEG), then edited: as a user's copy would be.
        stored = np.asarray(Image.open(root / "db" / database[source]).convert("RGB"))
        edited, params, quality = _make_query(stored, kind, rng)
        safe = kind.replace("/", "-").replace("+", "-")
        file = f"q{number:03d}-{safe}.{'jpg' if quality else 'png'}"
        if quality:
            Image.fromarray(edited).save(root / "queries" / file, quality=quality)
        else:
            Image.fromarray(edited).save(root / "queries" / file)
        query_rows.append({"file": file, "kind": kind, "params": params,
                           "source": database[source]})
    manifest = {"settings": settings, "database": database, "queries": query_rows,
                "dropped_duplicates": dropped,
                "dropped_related": [{"kept": a, "dropped": b} for a, b in related],
                "too_small": small, "unreadable": unreadable,
                "sources": {"skimage": sum(n.startswith("skimage-") for n, _ in kept),
                            "wallpapers": sum(n.startswith("wallpaper-") for n, _ in kept),
                            "mate": sum(n.startswith("mate-") for n, _ in kept),
                            "openarena": sum(n.startswith("openarena") for n, _ in kept)}}
    write_json(manifest_path, manifest)
    marker.unlink()
    return manifest


def _related_pairs(paths: Sequence[Path], *, progress: bool) -> list[tuple[str, str]]:
    """(kept, dropped) image names for near-duplicates that pHash does not catch.

    The pairs the duplicate finder flags (copies, crops, rotations, mirrors; not
    copy-move inside one image) link images into groups; each group keeps its first
    image by name and drops the others.
    """
    from ..duplicates import find

    table = find(paths, copy_move=False, progress=progress).table
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for a, b in zip(table["a"], table["b"]):
        first, second = sorted((root(Path(a).stem), root(Path(b).stem)))
        if first != second:
            parent[second] = first
    return sorted((root(name), name) for name in parent)


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_benchmark(data: str | os.PathLike, *, methods: Sequence[str] | None = None,
                  workers: int = 2, progress: bool = True, limit: int | None = None,
                  search_options: dict | None = None) -> dict[str, Any]:
    """Index the set at ``data`` with each method and answer every query.

    Returns
    -------
    dict
        ``table`` (a pandas DataFrame, one row per method) and ``ranks`` (method ->
        list of the true image's rank per query, None beyond 100), plus ``dataset``.
    """
    import pandas as pd

    from ..index import Index, build
    from ..io import load_scaled

    root = Path(data)
    manifest = json.loads((root / "dataset.json").read_text())
    queries = manifest["queries"][:limit] if limit else manifest["queries"]
    rows, ranks_by_method, skipped = [], {}, {}
    for method in methods or BENCH_METHODS:
        if method == "vgg16":
            from ..methods.deep import resolve_weights

            if resolve_weights("imagenet") == "imagenet":
                skipped[method] = "VGG16 ImageNet weights are not available offline"
                continue
        index_dir = root / "indexes" / method.replace("/", "-")
        started = time.perf_counter()
        index = build([root / "db" / file for file in manifest["database"]], method=method,
                      path=index_dir, rebuild=True, workers=workers, progress=progress)
        index_seconds = time.perf_counter() - started
        index = Index.load(index_dir)
        ranks, times, floor = [], [], []
        index.search(root / "queries" / queries[0]["file"], top=1)  # warm caches
        local = hasattr(index.backend, "local_features")
        for query in queries:
            if local:  # the floor: decoding the query and extracting its SIFT once
                began = time.perf_counter()
                image, _ = load_scaled(root / "queries" / query["file"],
                                       index.options["max_side"])
                index.backend.local_features(image, index.options)
                floor.append(time.perf_counter() - began)
            began = time.perf_counter()
            hits = index.search(root / "queries" / query["file"], top=100,
                                **(search_options or {}).get(method, {}))
            times.append(time.perf_counter() - began)
            names = [Path(hit.path).name for hit in hits]
            ranks.append(names.index(query["source"]) + 1 if query["source"] in names
                         else None)
        ranks_by_method[method] = ranks
        kinds = [q["kind"] for q in queries]
        row = {"method": method,
               "recall@1": np.mean([r == 1 for r in ranks]),
               "recall@5": np.mean([r is not None and r <= 5 for r in ranks]),
               "mAP": np.mean([1.0 / r if r else 0.0 for r in ranks])}
        for kind in TRANSFORMATIONS:
            chosen = [r for r, k in zip(ranks, kinds) if k == kind]
            if chosen:
                row[f"r@1 {kind}"] = np.mean([r == 1 for r in chosen])
        row.update({"images": len(index), "index_s": index_seconds,
                    "images/s": len(index) / index_seconds,
                    "query_p50_ms": 1000 * float(np.percentile(times, 50)),
                    "query_p95_ms": 1000 * float(np.percentile(times, 95)),
                    "index_MB": _folder_bytes(index_dir) / 1e6})
        if local:
            from .hard_search import _floor_rates

            extraction = _floor_rates(index, [str(root / "db" / f)
                                              for f in manifest["database"][:200]], workers)
            row.update({"floor_ms": 1000 * float(np.median(floor)),
                        "search/floor": row["query_p50_ms"] / (1000 * float(np.median(floor))),
                        "index/extraction": row["images/s"] / extraction})
        rows.append(row)
    return {"table": pd.DataFrame(rows), "ranks": ranks_by_method, "skipped": skipped,
            "dataset": manifest}


def _mosaic(images: Sequence[np.ndarray], rng, side: int = 640) -> np.ndarray:
    """A synthetic distractor: four random crops of real images tiled 2x2."""
    import cv2

    half = side // 2
    tiles = []
    for image in images:
        height, width = image.shape[:2]
        size = int(min(height, width) * rng.uniform(0.4, 0.9))
        top = int(rng.integers(0, height - size + 1))
        left = int(rng.integers(0, width - size + 1))
        tiles.append(cv2.resize(image[top:top + size, left:left + size], (half, half),
                                interpolation=cv2.INTER_AREA))
    return np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])


def scale_run(data: str | os.PathLike, *, total: int = 2000, method: str = "bow-verify",
              workers: int = 2, progress: bool = True, seed: int = 1) -> dict[str, Any]:
    """Index the database plus synthetic mosaics up to ``total`` images; time the queries.

    Extrapolates to 10,000 images linearly (the inverted file's postings, the stored
    words and the index file all grow linearly with the number of images). Each query is
    timed on the database alone (its index from :func:`run_benchmark`, built here if
    missing) and, right after, on all ``total`` images. The median of those paired
    differences, per added image, is the slope that ``query_p50_ms_at_10000`` follows:
    the query's own features and the verification of the shortlist do not grow with the
    index, and pairing cancels the drift of a busy machine, which two separate medians
    did not (their difference swung from -4 to +22 ms between two runs).
    """
    from PIL import Image

    from ..index import Index, build

    root = Path(data)
    manifest = json.loads((root / "dataset.json").read_text())
    folder = root / f"scale-{total}"
    (folder / "synthetic").mkdir(parents=True, exist_ok=True)
    for file in manifest["database"]:
        link = folder / file
        if not link.exists():
            os.symlink((root / "db" / file).resolve(), link)
    rng = np.random.default_rng(seed)
    needed = total - len(manifest["database"])
    cache: dict[str, np.ndarray] = {}
    for number in range(max(0, needed)):
        target = folder / "synthetic" / f"mosaic-{number:05d}.jpg"
        picks = rng.choice(len(manifest["database"]), 4, replace=False)
        if target.exists():
            continue
        tiles = []
        for pick in picks:
            name = manifest["database"][pick]
            if name not in cache:
                cache[name] = np.asarray(Image.open(root / "db" / name).convert("RGB"))
            tiles.append(cache[name])
        Image.fromarray(_mosaic(tiles, rng)).save(target, quality=90)
    index_dir = root / "indexes" / f"scale-{total}-{method}"
    started = time.perf_counter()
    index = build(folder, method=method, path=index_dir, rebuild=True, workers=workers,
                  progress=progress)
    index_seconds = time.perf_counter() - started
    small_dir = root / "indexes" / method.replace("/", "-")
    if not (small_dir / "index.json").is_file():
        build([root / "db" / file for file in manifest["database"]], method=method,
              path=small_dir, rebuild=True, workers=workers, progress=progress)
    indexes = {"database": Index.load(small_dir), "total": Index.load(index_dir)}
    times: dict[str, list[float]] = {name: [] for name in indexes}
    for index in indexes.values():  # warm up
        index.search(root / "queries" / manifest["queries"][0]["file"], top=10)
    for query in manifest["queries"]:
        for name, index in indexes.items():
            began = time.perf_counter()
            index.search(root / "queries" / query["file"], top=10)
            times[name].append(1000 * (time.perf_counter() - began))
    size = _folder_bytes(index_dir)
    count, small_count = len(indexes["total"]), len(indexes["database"])
    p50 = float(np.percentile(times["total"], 50))
    growth = float(np.median(np.subtract(times["total"], times["database"])))
    # Time does not fall as the index grows: a negative median is noise.
    slope = max(0.0, growth) / (count - small_count) if count > small_count else 0.0
    return {"method": method, "images": count, "index_s": index_seconds,
            "images/s": count / index_seconds, "index_MB": size / 1e6,
            "query_p50_ms": p50, "query_p95_ms": float(np.percentile(times["total"], 95)),
            "database_images": small_count,
            "database_query_p50_ms": float(np.percentile(times["database"], 50)),
            "paired_growth_ms": growth,
            "index_MB_at_10000": size / 1e6 * 10_000 / count,
            "query_p50_ms_at_10000": p50 + slope * (10_000 - count)}


def bench_search_report(*, data: str | os.PathLike | None = None,
                        methods: Sequence[str] | None = None, as_json: bool = False,
                        workers: int = 2, progress: bool = True,
                        scale: int | None = None, hard: bool = False) -> str:
    """Build (or reuse) the set, run :func:`run_benchmark`, and format the table.

    Parameters
    ----------
    data : path, optional
        Where the set lives; default ``$SIMLAB_BENCH_DIR`` or ``build/bench-search``.
    methods : sequence of str, optional
        Index methods; default :data:`BENCH_METHODS`.
    as_json : bool
        Return JSON records instead of a text table.
    scale : int, optional
        Also run :func:`scale_run` with this many images (e.g. 2000).
    hard : bool
        Run the hard set instead (:mod:`simlab.bench.hard_search`): 12 kinds of query,
        collages, and queries whose source is not indexed.
    """
    root = Path(data or os.environ.get("SIMLAB_BENCH_DIR", "build/bench-search"))
    manifest = build_dataset(root, progress=progress)
    if hard:
        from .hard_search import hard_report

        return hard_report(root, as_json=as_json, workers=workers, progress=progress)
    result = run_benchmark(root, methods=methods, workers=workers, progress=progress)
    table = result["table"]
    scaled = scale_run(root, total=scale, workers=workers, progress=progress) if scale \
        else None
    from ..files import write_json

    # Saved for the notebook 07_reverse_image_search, which shows the last full run.
    write_json(root / "results.json", {"methods": table.to_dict(orient="records"),
                                       "skipped": result["skipped"], "scale": scaled,
                                       "ranks": result["ranks"]})
    if as_json:
        return json.dumps({"methods": table.to_dict(orient="records"),
                           "skipped": result["skipped"], "scale": scaled}, indent=2)
    lines = [f"reverse image search benchmark: {len(manifest['database'])} database images "
             f"({manifest['sources']}), {len(manifest['queries'])} queries, "
             f"{len(manifest['dropped_duplicates'])} near-duplicates dropped; data {root}"]
    main = ["method", "recall@1", "recall@5", "mAP", "images/s", "query_p50_ms",
            "query_p95_ms", "index_MB", "search/floor", "index/extraction"]
    lines.append(table[[c for c in main if c in table]].to_string(
        index=False, float_format=lambda v: f"{v:.3g}"))
    lines.append("search/floor: query p50 over the median time to decode a query and "
                 "extract its SIFT once; index/extraction: indexing rate over the rate of "
                 "decoding and extracting the database on the same workers")
    lines.append("\nrecall@1 per transformation:")
    per_kind = table[["method"] + [c for c in table.columns if c.startswith("r@1 ")]]
    per_kind = per_kind.rename(columns=lambda c: c.replace("r@1 ", ""))
    lines.append(per_kind.set_index("method").T.to_string(float_format=lambda v: f"{v:.2f}"))
    for method, reason in result["skipped"].items():
        lines.append(f"skipped {method}: {reason}")
    if scaled:
        lines.append(f"\nscale run: {json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in scaled.items()})}")
    return "\n".join(lines)
