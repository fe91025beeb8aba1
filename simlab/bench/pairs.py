"""The duplicate-finding benchmark: a planted-duplicate folder and ``simlab bench pairs``.

The folder is built only from images that installed packages ship (nothing is
downloaded): scikit-image's ``data`` module (microscopy-like ``retina``, ``cell``,
``immunohistochemistry``, ``hubble_deep_field``, ``moon`` and photographs), scikit-learn's
two sample photographs, and matplotlib's sample data (a photograph, an MRI slice, a
terrain model). Large images are cut into **non-overlapping** tiles, so no two tiles
share content; each source is used either whole or as tiles, never both, for the same
reason (``grass`` and ``gravel`` are left out: their textures repeat, so their tiles
share content). Nearly uniform tiles are dropped (they carry nothing to compare), and so are
``retina`` tiles more than 10 % outside its round field of view (black): a paper's
panel shows the fundus, not the corner of the camera frame. When more images are asked
for than the shipped ones give, the rest are synthetic "cell fields" (smoothed
:func:`skimage.data.binary_blobs` with noise: grey, little texture, the hard case for
keypoints), made from a seeded generator.

Planted duplicates, one copy per original, originals drawn at random (seeded):

==========  ==============================================================================
kind        the copy
==========  ==============================================================================
rotation    rotated by 90, 180 or 270 degrees (lossless), sometimes re-saved as JPEG
mirror      mirrored left-right, top-bottom, or left-right then rotated by 90 degrees
recolour    hue shift, gamma/contrast change or grey conversion, sometimes JPEG
crop        a crop of 30-70 % of the area at a random place, rescaled by 0.7-1.4
copy-move   (inside one image of at least 192 px, not the periodic checkerboard) a square
            of 30-40 % of its side pasted elsewhere in it, sometimes turned 90 or 180°
==========  ==============================================================================

About 40 % of the copies are re-saved as JPEG (quality 70-95); originals and copy-move
images are PNG. At the default 340 images the folder holds the 216 shipped images and
tiles, 64 synthetic cell fields and 60 copies (15 per kind, plus 15 copy-move images among
the originals). Four bad files (empty, not an image, truncated, too small) are added: a
run must skip and list them. The truth is written beside the images as ``planted.json``.
"""

from __future__ import annotations

import io as _io
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..lab.samples import synthetic_cells
from .baselines import blog_pair_loop

__all__ = ["PlantedSet", "build_planted_set", "shipped_images", "evaluate",
           "bench_pairs", "KINDS"]

#: Planted kinds, in the order the benchmark table lists them.
KINDS = ("rotation", "mirror", "recolour", "crop", "copy-move")

# (source, tile side in px or None for the whole image). Each source is used one way
# only: a tile of an image that is also present whole would be an unplanted duplicate.
_TILED = (("retina", 128), ("hubble_deep_field", 144), ("cell", 132),
          ("immunohistochemistry", 170), ("moon", 170), ("astronaut", 170),
          ("camera", 170), ("coffee", 200),
          ("rocket", 200), ("sklearn:china.jpg", 200), ("sklearn:flower.jpg", 200),
          ("matplotlib:grace_hopper.jpg", 200), ("motorcycle", 240))
# Left out: `cat` is `chelsea`; the stereo pair's right view is a near-copy of the left;
# `grass` and `gravel` are textures that repeat themselves (their tiles share content).
_WHOLE = ("chelsea", "coins", "clock", "page", "text", "brick", "colorwheel", "logo",
          "microaneurysms", "horse", "shepp_logan_phantom", "checkerboard",
          "matplotlib:s1045.ima.gz", "matplotlib:jacksboro_fault_dem.npz",
          "matplotlib:Minduka_Present_Blue_Pack.png")
_FLAT_STD = 4.0  # grey-level standard deviation below which a tile is "uniform"
_FIELD_OF_VIEW = {"retina": 0.10}  # largest black (< 20) fraction of a kept tile
_WHOLE_MAX_SIDE = 400
_COPY_MOVE_MIN_SIDE = 192
# Never given a planted copy-move: a square copied inside an exactly periodic pattern is
# the pattern again at another phase, so there is no single source region to find.
_NO_COPY_MOVE = ("checkerboard",)


def _to_rgb(array: np.ndarray) -> np.ndarray:
    from ..io import load_image

    if array.dtype not in (np.uint8, np.bool_):
        # Scientific arrays (MRI counts, elevations): stretch the 1-99 % range to 0-255.
        low, high = np.percentile(array, (1, 99))
        array = np.clip((array.astype(np.float64) - low) / max(high - low, 1e-9), 0, 1)
    return load_image(array)


def _load_source(name: str) -> np.ndarray:
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return _to_rgb(load_sample_image(name.split(":", 1)[1]))
    if name.startswith("matplotlib:"):
        import matplotlib.cbook as cbook

        file_name = name.split(":", 1)[1]
        if file_name.endswith(".ima.gz"):
            with cbook.get_sample_data(file_name) as handle:
                return _to_rgb(np.frombuffer(handle.read(), np.uint16).reshape(256, 256))
        if file_name.endswith(".npz"):
            return _to_rgb(np.asarray(cbook.get_sample_data(file_name)["elevation"]))
        from PIL import Image

        with Image.open(cbook.get_sample_data(file_name, asfileobj=False)) as image:
            return _to_rgb(np.asarray(image.convert("RGB")))
    from skimage import data

    if name == "motorcycle":
        return _to_rgb(data.stereo_motorcycle()[0])
    return _to_rgb(getattr(data, name)())


def shipped_images() -> list[tuple[str, np.ndarray]]:
    """The distinct base images from installed packages: ``(label, RGB uint8)`` pairs.

    Tiles are named ``source@row,col``. No two images share content.

    Examples
    --------
    >>> labels = [label for label, _ in shipped_images()]
    >>> len(labels) > 200, "chelsea" in labels, "cat" in labels
    (True, True, False)
    """
    from ..io import resize_longest_side

    images = []
    for name, side in _TILED:
        source = _load_source(name)
        label = name.split(":")[-1].split(".")[0]
        rows, cols = source.shape[0] // side, source.shape[1] // side
        for row in range(rows):
            for col in range(cols):
                tile = source[row * side:(row + 1) * side, col * side:(col + 1) * side]
                black = float((tile.max(axis=2) < 20).mean())
                if tile.std() >= _FLAT_STD and black <= _FIELD_OF_VIEW.get(label, 1.0):
                    images.append((f"{label}@{row},{col}", np.ascontiguousarray(tile)))
    for name in _WHOLE:
        label = name.split(":")[-1].split(".")[0]
        images.append((label, resize_longest_side(_load_source(name), _WHOLE_MAX_SIDE)))
    return images


@dataclass(frozen=True)
class PlantedSet:
    """A folder with planted duplicates and the truth about them.

    Attributes
    ----------
    folder : Path
    images : list of Path
        The readable images (bad files excluded).
    bad_files : list of Path
        Files a run must skip and list.
    truth : list of dict
        ``{"a", "b", "kind", "edit"}`` with paths as strings; ``a == b`` for copy-move.
    """

    folder: Path
    images: list[Path]
    bad_files: list[Path]
    truth: list[dict[str, Any]] = field(repr=False)


def _save(path: Path, image: np.ndarray, quality: int | None = None) -> None:
    from PIL import Image

    from ..files import atomic_path

    with atomic_path(path) as temporary:
        if quality is None:
            Image.fromarray(image).save(temporary, format="PNG")
        else:
            Image.fromarray(image).save(temporary, format="JPEG", quality=quality)


def _plant_copy(kind: str, image: np.ndarray, rng: np.random.Generator
                ) -> tuple[np.ndarray, str, int | None]:
    """The edited copy of ``image`` for ``kind``, a description, and a JPEG quality."""
    from ..lab import samples

    quality = int(rng.integers(70, 96)) if rng.random() < 0.4 else None
    if kind == "rotation":
        degrees = int(rng.choice([90, 180, 270]))
        return samples.rotate(image, degrees), f"rotate {degrees}", quality
    if kind == "mirror":
        choice = int(rng.integers(3))
        if choice == 0:
            return samples.flip(image), "mirror left-right", quality
        if choice == 1:
            return samples.flip(image, "vertical"), "mirror top-bottom", quality
        return samples.rotate(samples.flip(image), 90), "mirror left-right, rotate 90", quality
    if kind == "recolour":
        choice = int(rng.integers(3))
        if choice == 0:
            degrees = int(rng.integers(60, 181))
            return samples.hue_shift(image, degrees), f"hue shift {degrees}", quality
        if choice == 1:
            gamma, contrast = float(rng.uniform(0.5, 1.8)), float(rng.uniform(0.8, 1.4))
            return (samples.brightness_contrast(image, gamma, contrast=contrast),
                    f"gamma {gamma:.2f}, contrast {contrast:.2f}", quality)
        return samples.grayscale(image), "grey", quality
    if kind == "crop":
        import cv2

        area = float(rng.uniform(0.3, 0.7))
        height, width = image.shape[:2]
        side = np.sqrt(area)
        crop_h, crop_w = max(24, round(height * side)), max(24, round(width * side))
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        piece = image[top:top + crop_h, left:left + crop_w]
        factor = float(rng.uniform(0.7, 1.4))
        size = (max(24, round(crop_w * factor)), max(24, round(crop_h * factor)))
        piece = cv2.resize(piece, size, interpolation=cv2.INTER_AREA if factor < 1
                           else cv2.INTER_CUBIC)
        return piece, f"crop {area:.0%} at ({left},{top}), scale {factor:.2f}", quality
    raise ValueError(kind)


def _plant_copy_move(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Paste a square region of ``image`` elsewhere in it (not overlapping the source)."""
    height, width = image.shape[:2]
    side = round(min(height, width) * float(rng.uniform(0.3, 0.4)))
    for _ in range(200):
        y0, x0 = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        y1, x1 = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        if abs(y1 - y0) >= side or abs(x1 - x0) >= side:
            break
    patch = image[y0:y0 + side, x0:x0 + side]
    turns = int(rng.choice([0, 0, 1, 2]))
    out = image.copy()
    out[y1:y1 + side, x1:x1 + side] = np.rot90(patch, turns)
    return out, f"copy-move {side}px square ({x0},{y0}) -> ({x1},{y1}), rotate {90 * turns}"


def _write_bad_files(folder: Path) -> list[Path]:
    from PIL import Image

    empty = folder / "bad_empty.png"
    empty.write_bytes(b"")
    text = folder / "bad_notes.png"
    text.write_text("figure legends, not an image\n")
    buffer = _io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(buffer, format="JPEG")
    truncated = folder / "bad_truncated.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    tiny = folder / "bad_tiny.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    return [empty, text, truncated, tiny]


def build_planted_set(folder: str | os.PathLike, *, images: int = 340, seed: int = 0,
                      per_kind: int | None = None) -> PlantedSet:
    """Write a folder of ``images`` readable images with planted duplicates (+4 bad files).

    Parameters
    ----------
    folder : path
        Created if missing; files it already holds are left alone but not listed.
    images : int
        Number of readable images written (originals, copies and copy-move images).
    seed : int
        Seeds every random choice: the same arguments give the same folder.
    per_kind : int, optional
        Planted duplicates of each kind; default ``4.5 %`` of ``images`` (15 at 340).

    Examples
    --------
    >>> import tempfile
    >>> planted = build_planted_set(tempfile.mkdtemp(), images=20, per_kind=1)
    >>> len(planted.images), len(planted.truth), len(planted.bad_files)
    (20, 5, 4)
    """
    from ..errors import InvalidParameterError
    from ..files import write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    per_kind = max(1, round(images * 0.045)) if per_kind is None else int(per_kind)
    copies = per_kind * (len(KINDS) - 1)  # copy-move edits an image in place
    base_count = images - copies
    if base_count < per_kind * len(KINDS):
        raise InvalidParameterError(
            f"images={images} is too few for {per_kind} planted duplicates of each kind; "
            "pass more images or a smaller per_kind")
    rng = np.random.default_rng(seed)
    pool = shipped_images()
    if base_count <= len(pool):
        chosen = sorted(rng.choice(len(pool), base_count, replace=False))
        bases = [pool[i] for i in chosen]
    else:
        bases = pool + [(f"synthetic-cells-{i}", synthetic_cells(rng))
                        for i in range(base_count - len(pool))]
    # Originals need room for a crop; copy-move needs larger panels, since a SIFT
    # descriptor sees about five keypoint sizes around it and a small pasted region
    # is described together with the different surroundings of each copy.
    sides = np.array([min(image.shape[:2]) for _, image in bases])
    periodic = np.array([label in _NO_COPY_MOVE for label, _ in bases])
    large = np.flatnonzero((sides >= _COPY_MOVE_MIN_SIDE) & ~periodic)
    if len(large) < per_kind:
        raise InvalidParameterError(
            f"only {len(large)} images are large enough for copy-move; lower per_kind")
    moved = rng.choice(large, per_kind, replace=False)
    others = np.setdiff1d(np.flatnonzero(sides >= 96), moved)
    picked = np.concatenate([rng.choice(others, per_kind * (len(KINDS) - 1), replace=False),
                             moved])
    names = [f"panel_{i:04d}" for i in rng.permutation(images)]
    entries: list[tuple[str, np.ndarray, int | None]] = []
    truth: list[dict[str, Any]] = []
    bases = list(bases)
    for position, base_index in enumerate(picked):
        kind = KINDS[position // per_kind]
        label, image = bases[base_index]
        if kind == "copy-move":
            edited, edit = _plant_copy_move(image, rng)
            bases[base_index] = (label, edited)
            truth.append({"a": base_index, "b": base_index, "kind": kind,
                          "edit": f"{label}: {edit}"})
            continue
        copy, edit, quality = _plant_copy(kind, image, rng)
        entries.append((f"copy of {label}", copy, quality))
        truth.append({"a": base_index, "b": len(bases) + len(entries) - 1, "kind": kind,
                      "edit": f"{label}: {edit}"})
    all_images = [(label, image, None) for label, image in bases] + entries
    paths = []
    for name, (label, image, quality) in zip(names, all_images):
        path = folder / f"{name}.{'jpg' if quality else 'png'}"
        _save(path, image, quality)
        paths.append(path)
    for item in truth:
        item["a"], item["b"] = str(paths[item["a"]]), str(paths[item["b"]])
    bad = _write_bad_files(folder)
    sources = {str(path): label for path, (label, _, _) in zip(paths, all_images)}
    write_json(folder / "planted.json", {"truth": truth, "bad_files": [str(p) for p in bad],
                                         "sources": sources, "seed": seed})
    return PlantedSet(folder, sorted(paths), bad, truth)


# ---------------------------------------------------------------------------------------
# Scoring a run against the truth.

#: Planted kind -> the kind :func:`simlab.duplicates.find` reports for it.
PREDICTED_KIND = {"rotation": "rotation", "mirror": "mirror", "recolour": "copy",
                  "crop": "crop", "copy-move": "copy-move"}


def evaluate(frame, truth: Sequence[dict[str, Any]]):
    """Precision, recall and F1 per planted kind, and over all pairs.

    Recall of a kind: its planted pairs that were flagged (whatever kind was reported).
    Precision of a kind: of the pairs *reported* as that kind (``recolour`` copies are
    reported as ``copy``: geometry cannot tell a recoloured copy from an exact one), the
    share that are planted pairs. A false pair has no planted kind, so precision is the
    only place it can count.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": ["x", "p"], "b": ["y", "q"], "kind": ["mirror", "copy"]})
    >>> table = evaluate(frame, [{"a": "y", "b": "x", "kind": "mirror"}])
    >>> table.set_index("kind").loc[["mirror", "all"], ["precision", "recall"]].values.tolist()
    [[1.0, 1.0], [0.5, 1.0]]
    """
    import pandas as pd

    planted = {frozenset((t["a"], t["b"])): t["kind"] for t in truth}
    flagged = {frozenset((a, b)): kind for a, b, kind in zip(frame["a"], frame["b"],
                                                             frame["kind"])}
    rows = []
    for kind in KINDS + ("all",):
        mine = [k for k, v in planted.items() if kind in ("all", v)]
        reported = [k for k, v in flagged.items() if kind == "all" or v == PREDICTED_KIND[kind]]
        found = sum(k in flagged for k in mine)
        right = sum(k in planted for k in reported)
        precision = right / len(reported) if reported else float("nan")
        recall = found / len(mine) if mine else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 \
            else float("nan")
        rows.append({"kind": kind, "planted": len(mine), "found": found,
                     "reported": len(reported), "correct": right,
                     "precision": round(precision, 3), "recall": round(recall, 3),
                     "f1": round(f1, 3)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# The benchmark.

def _pruning_recall(candidates, features, truth, options) -> dict[str, Any]:
    """Share of planted cross-image pairs the bag-of-words pruning keeps, overall and
    among those exhaustive verification would flag (the ones pruning could lose).

    ``candidates`` are the pairs :func:`simlab.duplicates.find` verified (its
    ``result.candidates``): the pruning is measured as run, not run again.
    """
    from ..duplicates import verify_pair
    from ..duplicates.find import _gate
    from ..duplicates.matching import with_significance

    flagged = _gate(options["threshold"], options["min_inliers"], options["min_inlier_ratio"],
                    max_log_nfa=options.get("max_log_nfa", 0.0),
                    cross_image_max_log_nfa=options.get("cross_image_max_log_nfa",
                                                        options.get("max_log_nfa", 0.0)))
    tests = options.get("tests", 1)
    index = set(features)
    kept = {frozenset((a, b)) for a, b, _, _ in candidates}
    cross = [t for t in truth if t["a"] != t["b"] and t["a"] in index and t["b"] in index]
    findable = []
    for item in cross:
        best = max((with_significance(verify_pair(
            features[item["a"]], features[item["b"]], mirrored=m, ratio=options["ratio"],
            ransac_threshold=options["ransac_threshold"]), tests=tests, job="cross-image")
                    for m in (False, True)), key=lambda match: match.inliers)
        if flagged(best):  # what exhaustive verification would flag
            findable.append(item)
    share = lambda items: (sum(frozenset((t["a"], t["b"])) in kept for t in items)
                           / len(items)) if items else float("nan")
    return {"cross_pairs": len(cross), "kept": share(cross),
            "verifiable": len(findable), "kept_of_verifiable": share(findable)}


def bench_pairs(*, images: int = 340, seed: int = 0, repeats: int = 3,
                method: str = "rootsift", baseline_pairs: int = 40,
                folder: str | os.PathLike | None = None, progress: bool = False):
    """Benchmark :func:`simlab.duplicates.find` on a planted-duplicate folder.

    Builds the folder (:func:`build_planted_set`, not timed), runs ``find`` ``repeats``
    times (median reported), scores the last run (:func:`evaluate`), measures the
    pruning's recall, and times the per-pair loop of the blog post that started simlab
    (:func:`simlab.bench.baselines.blog_pair_loop`) on
    ``baseline_pairs`` random pairs of the same folder, extrapolated to all pairs.

    Returns
    -------
    table : pandas.DataFrame
        One row per kind plus ``all`` (see :func:`evaluate`).
    summary : dict
        Timings (median, min, max, per stage), counts, pruning recall, baseline and
        speed-up.

    Examples
    --------
    >>> table, summary = bench_pairs(images=40, repeats=1, baseline_pairs=2)
    >>> list(table["kind"])
    ['rotation', 'mirror', 'recolour', 'crop', 'copy-move', 'all']
    >>> summary["skipped"], summary["speedup"] > 1
    (4, True)
    """
    import tempfile

    from ..duplicates import find

    with tempfile.TemporaryDirectory(prefix="simlab-bench-pairs-") as scratch:
        root = Path(folder) if folder is not None else Path(scratch) / "planted"
        started = time.perf_counter()
        planted = build_planted_set(root, images=images, seed=seed)
        build_seconds = time.perf_counter() - started
        times, result, cache = [], None, None
        for _ in range(max(1, int(repeats))):
            cache = {}  # a fresh cache: every run extracts every image
            start = time.perf_counter()
            # Only this set's files: the folder may hold files from another build.
            result = find(planted.images + planted.bad_files, method=method,
                         progress=progress, features=cache)
            times.append(time.perf_counter() - start)
        stats = result.stats
        table = evaluate(result.table, planted.truth)
        pruning = _pruning_recall(result.candidates, cache, planted.truth,
                                  {**stats["options"],
                                   "tests": stats["tests"]["cross-image"]})
        readable = [str(p) for p in planted.images]
        rng = np.random.default_rng(seed)
        all_pairs = len(readable) * (len(readable) - 1) // 2
        chosen = set()
        while len(chosen) < min(baseline_pairs, all_pairs):
            i, j = sorted(rng.choice(len(readable), 2, replace=False))
            chosen.add((readable[i], readable[j]))
        per_pair = blog_pair_loop(sorted(chosen), Path(scratch) / "blog-loop")
    median_pair = statistics.median(per_pair)
    median_total = statistics.median(times)
    summary = {
        "images": stats["images"], "skipped": stats["skipped"], "method": method,
        "planted_pairs": len(planted.truth), "pairs_possible": stats["pairs_possible"],
        "candidates_verified": stats["candidates"], "flagged": stats["flagged"],
        "build_seconds": round(build_seconds, 1), "repeats": len(times),
        "seconds_median": round(median_total, 2), "seconds_min": round(min(times), 2),
        "seconds_max": round(max(times), 2), "stage_seconds_last_run": stats["seconds"],
        "pruning": {k: round(v, 3) if isinstance(v, float) else v
                    for k, v in pruning.items()},
        "baseline_pairs_timed": len(per_pair),
        "baseline_seconds_per_pair": round(median_pair, 4),
        "baseline_seconds_all_pairs": round(median_pair * all_pairs, 1),
        "speedup": round(median_pair * all_pairs / median_total, 1),
    }
    return table, summary


def bench_pairs_report(*, repeats: int = 3, methods: Sequence[str] | None = None,
                       images: int = 340, as_json: bool = False) -> str:
    """The text (or JSON) ``simlab bench pairs`` prints."""
    from ..duplicates import METHODS
    from ..errors import InvalidParameterError

    if methods and (len(methods) != 1 or methods[0] not in METHODS):
        raise InvalidParameterError(
            f"bench pairs takes one --method of: {', '.join(METHODS)}; got {methods}")
    table, summary = bench_pairs(images=images, repeats=repeats,
                                 method=methods[0] if methods else "rootsift")
    if as_json:
        from ..files import json_ready

        return json.dumps(json_ready({"table": table.to_dict("records"),
                                      "summary": summary}), indent=2)
    pruning = summary["pruning"]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["stage_seconds_last_run"].items()
                       if k != "total")
    lines = [
        f"planted folder: {summary['images']} images + {summary['skipped']} bad files "
        f"(skipped and listed), {summary['planted_pairs']} planted duplicates, "
        f"method {summary['method']}",
        table.to_string(index=False),
        "",
        f"find(): median {summary['seconds_median']:.1f} s over {summary['repeats']} runs "
        f"(min {summary['seconds_min']:.1f}, max {summary['seconds_max']:.1f}); {stages}",
        f"pruning: {summary['candidates_verified']} of {summary['pairs_possible']} pairs "
        f"verified; keeps {pruning['kept']:.1%} of the {pruning['cross_pairs']} planted "
        f"cross-image pairs and {pruning['kept_of_verifiable']:.1%} of the "
        f"{pruning['verifiable']} that exhaustive verification flags (copy-move checks "
        f"every image, no pruning)",
        f"the blog post's per-pair loop: median {summary['baseline_seconds_per_pair'] * 1000:.0f} ms per "
        f"pair over {summary['baseline_pairs_timed']} pairs timed -> "
        f"{summary['baseline_seconds_all_pairs']:.0f} s for all {summary['pairs_possible']} "
        f"pairs (extrapolated)",
        f"speed-up: {summary['speedup']:.0f}x",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simlab.bench.pairs --images 1000``: the benchmark at another size."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m simlab.bench.pairs",
                                     description=main.__doc__)
    parser.add_argument("--images", type=int, default=340)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--method", action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print(bench_pairs_report(repeats=args.repeats, methods=args.method, images=args.images,
                             as_json=args.json))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
