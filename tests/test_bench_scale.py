"""simlab bench scale: generated distractors, the measures of one size, the fits, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from simlab import samples
from simlab.bench import scale


def test_distractors_are_256_to_640_px_and_repeatable(tmp_path):
    sources = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera"):
        path = tmp_path / f"{name}.png"
        Image.fromarray(samples.sample_image(name, max_side=400)).save(path)
        sources.append(path)
    made = scale.make_distractors(tmp_path / "d", sources, 9, progress=False)
    assert len(made) == 9 and all(p.suffix == ".jpg" for p in made)
    for path in made:
        with Image.open(path) as image:
            assert 256 - 2 <= max(image.size) <= 640
    again = scale.make_distractors(tmp_path / "e", sources, 4, progress=False)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in made[:4]]


def test_fit_power_recovers_an_exponent():
    sizes = [1000, 10000, 100000]
    fit = scale.fit_power(sizes, [3.0 * n ** 0.5 for n in sizes])
    assert abs(fit["exponent"] - 0.5) < 1e-6
    assert abs(fit["at_1000000"] - 3000.0) < 1e-3


def test_measure_builds_opens_and_queries_an_index(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera")
    for name in names:
        Image.fromarray(samples.sample_image(name, max_side=320)).save(folder / f"{name}.png")
    query = tmp_path / "q.jpg"
    Image.fromarray(samples.crop(samples.sample_image("chelsea", max_side=320), 0.6)).save(query)
    row = scale.measure(sorted(folder.iterdir()),
                        [{"file": str(query), "source": str(folder / "chelsea.png")}],
                        tmp_path / "index")
    assert row["images"] == len(names) and row["recall_at_1"] == 1.0
    assert row["peak_rss_mb"] > 50 and row["index_mb"] > 0
    assert 0 < row["open_seconds"] < 60 and row["query_p95_ms"] >= row["query_p50_ms"] > 0
    rows = [{**row, "images": n} for n in (1000, 10000)]
    fits = {key: scale.fit_power([1000, 10000], [row[key]] * 2) for key, _, _ in scale.MEASURES}
    scale.plot_scale(rows, fits, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 10_000


def test_an_index_built_on_a_local_cluster_is_searched_by_a_plain_process(tmp_path):
    from simlab.index import Index

    folder = tmp_path / "db"
    folder.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(samples.sample_image(name, max_side=320)).save(folder / f"{name}.png")
    query = tmp_path / "q.jpg"
    Image.fromarray(samples.crop(samples.sample_image("coffee", max_side=320), 0.6)).save(query)
    asked = [{"file": str(query), "source": str(folder / "coffee.png")}]
    images = sorted(folder.iterdir())
    rows = {where: scale.measure(images, asked, tmp_path / where, on_cluster=where == "dask")
            for where in ("threads", "dask")}
    assert rows["dask"]["images"] == 4 and rows["dask"]["recall_at_1"] == 1.0
    # The same index whichever way its features were extracted.
    hits = {where: [(h.path, h.details["inliers"]) for h in
                    Index.load(tmp_path / where).search(query, top=4)] for where in rows}
    assert hits["dask"] == hits["threads"] and hits["dask"][0][1] > 20
