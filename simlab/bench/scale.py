"""How the index grows: ``simlab bench scale`` at 1,000, 10,000... images.

The easy reverse-search set of :mod:`simlab.bench.search` (its database and its 100
queries, one edit of one database image each) is mixed into distractors generated from
the database images that are no query's source (nothing is downloaded): random crops, tiles of a 3x3 grid and
2x2 mosaics of crops of four images, each 256-640 px on the longest side, saved as JPEG.
For each size N the index is built in a fresh process (so its peak RSS is the build's
alone), then opened and queried in another: build images/s, peak RSS, index size on
disk, open time (``Index.load``), query p50/p95 (``Index.search``, decoding included,
process start-up excluded) and recall@1 of the 100 queries. A power law ``y = a N^b``
fitted to each measure over the sizes run gives the extrapolation to 1M and 10M images
(``--sizes`` chooses them), and a log-log plot shows each measure against N.

Examples
--------
>>> fit_power([1000, 10000], [2.0, 20.0])["exponent"]
1.0
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["make_distractors", "measure", "fit_power", "bench_scale", "bench_scale_report",
           "SIZES", "CLUSTER_SIZES", "MEASURES"]

#: Index sizes run by default (``make bench``); 30,000 and 100,000 with ``--sizes``.
SIZES = (1000, 10000)
#: Sizes measured again with extraction on a Dask LocalCluster (``workers`` processes).
CLUSTER_SIZES = (10000,)
#: Measures of each run: (key, label, unit).
MEASURES = (("images_per_second", "build", "images/s"),
            ("peak_rss_mb", "peak build RSS", "MB"),
            ("index_mb", "index on disk", "MB"),
            ("open_seconds", "open", "s"),
            ("query_p50_ms", "query p50", "ms"),
            ("query_p95_ms", "query p95", "ms"),
            ("recall_at_1", "recall@1", ""))
_KINDS = ("crop", "tiles", "mosaic")


def _jpeg(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    from ..files import atomic_path

    with atomic_path(path) as temporary:
        Image.fromarray(image).save(temporary, format="JPEG", quality=88)


def _distractor(kind: str, sources: Sequence[np.ndarray], rng) -> np.ndarray:
    """One generated image, 256-640 px on its longest side."""
    import cv2

    from .search import crop_anywhere

    side = int(rng.integers(256, 641))

    def crop(image: np.ndarray, low: float, high: float) -> np.ndarray:
        """A random crop keeping ``low``-``high`` of each side."""
        return crop_anywhere(image, float(rng.uniform(low, high)) ** 2, rng)

    def fit(image: np.ndarray, longest: int) -> np.ndarray:
        scale = longest / max(image.shape[:2])
        size = (max(8, round(image.shape[1] * scale)), max(8, round(image.shape[0] * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1
                          else cv2.INTER_LINEAR)

    if kind == "crop":
        return fit(crop(sources[0], 0.3, 0.7), side)
    if kind == "tiles":  # one tile of a 3x3 grid of one image, at a random size
        image = sources[0]
        height, width = image.shape[:2]
        row, col = int(rng.integers(3)), int(rng.integers(3))
        tile = image[row * height // 3:(row + 1) * height // 3,
                     col * width // 3:(col + 1) * width // 3]
        return fit(tile, side)
    half = side // 2
    tiles = [cv2.resize(crop(image, 0.3, 0.8), (half, half), interpolation=cv2.INTER_AREA)
             for image in sources[:4]]
    return np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])


def make_distractors(folder: str | os.PathLike, sources: Sequence[str | os.PathLike],
                     count: int, *, seed: int = 0, progress: bool = True) -> list[Path]:
    """``count`` generated JPEGs in ``folder`` (kept: a larger run adds to a smaller's).

    Image ``i`` depends on ``seed`` and ``i`` alone, so the first 1,000 of a 10,000 run
    are the 1,000 of a 1,000 run.
    """
    from tqdm.auto import tqdm

    from ..io import load_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    loaded: dict[int, np.ndarray] = {}
    paths = []
    for number in tqdm(range(count), desc="distractors", unit="image", disable=not progress):
        path = folder / f"distractor-{number:06d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng([seed, number])
        kind = _KINDS[number % len(_KINDS)]
        picked = []
        for pick in (int(p) for p in rng.choice(len(sources), 4, replace=False)):
            if pick not in loaded:
                if len(loaded) > 200:  # bounded memory: forget the oldest
                    loaded.pop(next(iter(loaded)))
                loaded[pick] = load_image(sources[pick], max_side=1024)
            picked.append(loaded[pick])
        _jpeg(path, _distractor(kind, picked, rng))
    return paths


_BUILD = """
import contextlib, json, resource, sys, time
from simlab.index import build
paths = [line for line in open(sys.argv[1]).read().splitlines() if line]
workers, on_cluster = int(sys.argv[3]), sys.argv[4] == "cluster"
started = time.perf_counter()
if on_cluster:  # a LocalCluster of `workers` processes, started inside the timing
    from simlab.distributed import cluster
    running = cluster(workers=workers, progress=False)
else:
    running = contextlib.nullcontext()
with running as dask:
    index = build(paths, path=sys.argv[2], rebuild=True, workers=workers, progress=False,
                  cluster=dask)
seconds = time.perf_counter() - started
print(json.dumps({"images": len(index), "build_seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_QUERY = """
import json, sys, time
import numpy as np
from simlab.index import Index
started = time.perf_counter()
index = Index.load(sys.argv[1])
opened = time.perf_counter() - started
queries = json.loads(open(sys.argv[2]).read())
times, right = [], 0
index.search(queries[0]["file"], top=10)  # warm up (search structures, imports)
for query in queries:
    began = time.perf_counter()
    hits = index.search(query["file"], top=10)
    times.append(1000 * (time.perf_counter() - began))
    right += bool(hits) and hits[0].path == query["source"]
print(json.dumps({"open_seconds": opened, "query_p50_ms": float(np.percentile(times, 50)),
                  "query_p95_ms": float(np.percentile(times, 95)),
                  "recall_at_1": right / len(queries)}))
"""


def _run(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark step failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def measure(images: Sequence[str | os.PathLike], queries: Sequence[dict], index_dir: Path, *,
            workers: int = 2, on_cluster: bool = False) -> dict[str, Any]:
    """Build an index of ``images`` (a fresh process), then open and query it (another).

    ``queries`` are ``{"file", "source"}`` with absolute paths; recall@1 counts the
    queries whose first hit is their source. With ``on_cluster`` the features are
    extracted on a Dask ``LocalCluster`` of ``workers`` processes (its start-up timed
    too), and the index is then opened and searched by a plain process, as a laptop
    would open one built on a cluster. Peak RSS is the building process's own.
    """
    index_dir = Path(index_dir)
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    listing = index_dir.parent / f"{index_dir.name}.files"
    listing.write_text("\n".join(os.fspath(p) for p in images) + "\n")
    built = _run(_BUILD, str(listing), str(index_dir), str(workers),
                 "cluster" if on_cluster else "threads")
    listed = index_dir.parent / f"{index_dir.name}.queries.json"
    listed.write_text(json.dumps(list(queries)))
    asked = _run(_QUERY, str(index_dir), str(listed))
    return {"images": built["images"], "build_seconds": round(built["build_seconds"], 1),
            "images_per_second": built["images"] / built["build_seconds"],
            "peak_rss_mb": built["peak_rss_mb"], "index_mb": _folder_mb(index_dir), **asked}


def fit_power(sizes: Sequence[float], values: Sequence[float]) -> dict[str, float]:
    """Least-squares ``value = a * size ** exponent`` in log-log (two sizes: the line
    through them), and its values at 1M and 10M.

    Examples
    --------
    >>> fit = fit_power([1000, 10000], [5.0, 5.0])
    >>> fit["exponent"], fit["at_1000000"]
    (0.0, 5.0)
    """
    x, y = np.log10(np.asarray(sizes, float)), np.log10(np.maximum(values, 1e-12))
    exponent, intercept = np.polyfit(x, y, 1) if len(x) > 1 else (0.0, y[0])
    at = lambda n: float(10 ** (intercept + exponent * np.log10(n)))
    return {"exponent": round(float(exponent), 3) + 0.0, "at_1000000": round(at(1e6), 4),
            "at_10000000": round(at(1e7), 4)}


def plot_scale(rows: Sequence[dict], fits: dict[str, dict], path: str | os.PathLike):
    """Each measure against N, log-log, with its fitted line out to 10M images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import atomic_path

    sizes = np.array([row["images"] for row in rows], float)
    shown = [m for m in MEASURES if m[0] != "recall_at_1"]
    figure, axes = plt.subplots(2, 3, figsize=(12, 7))
    line = np.logspace(np.log10(sizes.min()), 7, 50)
    for ax, (key, label, unit) in zip(axes.ravel(), shown):
        values = np.array([row[key] for row in rows], float)
        ax.loglog(sizes, values, "o", color="tab:blue", label="measured")
        fit = fits[key]
        scale = values[0] / sizes[0] ** fit["exponent"]
        ax.loglog(line, scale * line ** fit["exponent"], "--", color="tab:orange",
                  label=f"fit N^{fit['exponent']:.2f}")
        ax.set_title(f"{label} ({unit})")
        ax.set_xlabel("images in the index")
        ax.legend(fontsize=8)
    figure.suptitle("simlab index at scale (2 cores): measured and extrapolated")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)


def bench_scale(*, data: str | os.PathLike | None = None, sizes: Sequence[int] = SIZES,
                workers: int = 2, out: str | os.PathLike | None = None,
                progress: bool = True, cluster_sizes: Sequence[int] = CLUSTER_SIZES
                ) -> dict[str, Any]:
    """Run every size; returns ``rows`` (one per size), ``fits``, the plot's path and
    ``cluster_rows``: the same measures with extraction on a Dask ``LocalCluster`` of
    ``workers`` processes, for each of ``cluster_sizes``."""
    from .search import build_dataset

    root = Path(data or os.environ.get("SIMLAB_BENCH_DIR", "build/bench-search"))
    manifest = build_dataset(root, progress=progress)
    database = [(root / "db" / name).resolve() for name in manifest["database"]]
    queries = [{"file": str((root / "queries" / q["file"]).resolve()),
                "source": str((root / "db" / q["source"]).resolve())}
               for q in manifest["queries"]]
    # Distractors are cut from the images that are no query's source: a crop of a
    # source would be a second right answer, counted as a miss.
    sources = {q["source"] for q in queries}
    cut_from = [path for path in database if str(path) not in sources]

    def run(size: int, on_cluster: bool) -> dict[str, Any]:
        extra = max(0, int(size) - len(database))
        distractors = make_distractors(root / "scale" / "distractors-v2", cut_from, extra,
                                       progress=progress)
        name = f"index-{size}-cluster" if on_cluster else f"index-{size}"
        row = measure(database + distractors, queries, root / "scale" / name,
                      workers=workers, on_cluster=on_cluster)
        if progress:
            where = " on a LocalCluster" if on_cluster else ""
            print(f"simlab bench scale: {size} images{where}: {json.dumps(row)}",
                  file=sys.stderr)
        return {"size": int(size), **row}

    rows = [run(size, False) for size in sorted(sizes)]
    cluster_rows = [run(size, True) for size in sorted(cluster_sizes)]
    fits = {key: fit_power([r["images"] for r in rows], [r[key] for r in rows])
            for key, _, _ in MEASURES}
    target = Path(out) if out else root / "scale"
    plot = target / "scale.png"
    if len(rows) > 1:
        plot_scale(rows, fits, plot)
    from ..files import write_json

    result = {"rows": rows, "fits": fits, "plot": str(plot) if len(rows) > 1 else None,
              "workers": workers, "database": len(database), "queries": len(queries),
              "cluster_rows": cluster_rows}
    write_json(target / "scale.json", result)
    return result


def bench_scale_report(*, sizes: Sequence[int] | None = None, as_json: bool = False,
                       out: str | os.PathLike | None = None, progress: bool = True,
                       cluster_sizes: Sequence[int] | None = None) -> str:
    """The text (or JSON) ``simlab bench scale`` prints."""
    import pandas as pd

    result = bench_scale(sizes=sizes or SIZES, out=out, progress=progress,
                         cluster_sizes=CLUSTER_SIZES if cluster_sizes is None
                         else cluster_sizes)
    if as_json:
        return json.dumps(result, indent=2)
    table = pd.DataFrame(result["rows"])
    columns = ["images", "build_seconds"] + [key for key, _, _ in MEASURES]
    lines = [f"index scale benchmark (bow-verify, {result['workers']} threads): the "
             f"{result['database']} database images and {result['queries']} easy queries "
             "of bench search, mixed into generated distractors",
             table[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"),
             "", "fitted y = a N^b, extrapolated:"]
    for key, label, unit in MEASURES:
        fit = result["fits"][key]
        lines.append(f"  {label:<16} b={fit['exponent']:+.2f}  1M: {fit['at_1000000']:.4g} "
                     f"{unit}  10M: {fit['at_10000000']:.4g} {unit}")
    if result["cluster_rows"]:
        lines += ["", f"the same with extraction on a Dask LocalCluster of "
                  f"{result['workers']} worker processes (start-up included), the index "
                  "then opened and searched by a plain process:",
                  pd.DataFrame(result["cluster_rows"])[columns].to_string(
                      index=False, float_format=lambda v: f"{v:.3g}")]
    if result["plot"]:
        lines.append(f"plot: {result['plot']}")
    return "\n".join(lines)
