"""Dask: a LocalCluster of 2 worker processes gives the single-process result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.cli import main
from simlab.index import Index

pytest.importorskip("dask.distributed")

NAMES = ("astronaut", "coffee", "camera", "chelsea", "rocket", "immunohistochemistry")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for name in NAMES:
        Image.fromarray(samples.sample_image(name, max_side=240)).save(folder / f"{name}.png")
    image = samples.sample_image("astronaut", max_side=240)
    Image.fromarray(samples.rotate(samples.flip(image), 90)).save(folder / "copy.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    return folder


@pytest.fixture(scope="module")
def cluster():
    from simlab.distributed import cluster

    with cluster(workers=2, progress=False) as running:
        assert running.workers == 2
        yield running


def test_pairs_on_two_worker_processes_equal_one_process(folder, tmp_path, capsys):
    assert main(["pairs", str(folder), "--out", str(tmp_path / "one"), "--json",
                 "--no-cache"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert main(["pairs", str(folder), "--out", str(tmp_path / "two"), "--json",
                 "--workers", "2"]) == 0
    distributed = json.loads(capsys.readouterr().out)
    for entry in single["pairs"] + distributed["pairs"]:
        entry.pop("picture", None)  # the pictures live in each run's folder
    assert distributed == single
    assert single["pairs"] and [s["path"] for s in single["skipped"]] == \
        [s["path"] for s in distributed["skipped"]]


def test_find_features_from_a_cluster_equal_local_ones(folder, cluster, tmp_path):
    from simlab.duplicates import encode_folder
    from simlab.duplicates.features import feature_cache

    local, skipped = encode_folder(folder, progress=False, copy_move=True)
    remote, skipped_remote = encode_folder(folder, progress=False, copy_move=True,
                                           cluster=cluster,
                                           cache=feature_cache(tmp_path, copy_move=True))
    assert list(remote) == list(local) and skipped_remote == skipped
    for path, features in local.items():
        assert sorted(remote[path]) == sorted(features)
        for key, value in features.items():
            np.testing.assert_array_equal(remote[path][key], value)
    # The cache was filled by the caller: a second pass reads it, the workers idle.
    cache = feature_cache(tmp_path, copy_move=True)
    again, _ = encode_folder(folder, progress=False, copy_move=True, cluster=cluster,
                             cache=cache)
    assert cache.hits == len(local) and list(again) == list(local)


@pytest.mark.parametrize("method", ["bow-verify", "histogram"])
def test_index_built_on_a_cluster_equals_one_built_here(folder, cluster, tmp_path, method):
    from simlab.index import build

    here = build(folder, path=tmp_path / "here", method=method, progress=False)
    there = build(folder, path=tmp_path / "there", method=method, progress=False,
                  cluster=cluster)
    assert there.paths == here.paths and there.skipped == here.skipped
    a, b = Index.load(tmp_path / "here"), Index.load(tmp_path / "there")
    arrays_a, arrays_b = a._arrays(), b._arrays()
    assert sorted(arrays_a) == sorted(arrays_b)
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key])
    query = samples.jpeg(samples.crop(samples.sample_image("chelsea", max_side=240), 0.6), 40)
    assert [(h.path, h.score) for h in a.search(query, top=3)] == \
        [(h.path, h.score) for h in b.search(query, top=3)]


def test_index_cli_with_workers_loads_and_searches_here(folder, tmp_path, capsys):
    assert main(["index", str(folder), "--index", str(tmp_path / "ix"), "--workers", "2",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == len(NAMES) + 1 and len(summary["skipped"]) == 1
    assert main(["search", str(folder / "coffee.png"), "--index", str(tmp_path / "ix"),
                 "--top", "1", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert Path(hits[0]["results"][0]["path"]).name == "coffee.png"


def test_bad_cluster_options_are_one_line_errors(folder, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["pairs", str(folder), "--out", str(tmp_path / "o"), "--workers", "0"])
    with pytest.raises(SystemExit):
        main(["pairs", str(folder), "--out", str(tmp_path / "o"), "--workers", "2",
              "--scheduler", "tcp://127.0.0.1:1"])
    capsys.readouterr()
    assert main(["index", str(folder), "--index", str(tmp_path / "ix"), "--scheduler",
                 "tcp://127.0.0.1:1"]) == 2
    assert "could not reach the scheduler" in capsys.readouterr().err
