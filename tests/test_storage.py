"""Index storage: arrays opened by memory-mapping, the same answers as a full read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.errors import CorruptIndexError
from simlab.index import Index, build
from simlab.search import storage

NAMES = ("astronaut", "coffee", "camera", "chelsea", "rocket")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for name in NAMES:
        Image.fromarray(samples.sample_image(name, max_side=256)).save(folder / f"{name}.png")
    return folder


def test_mapped_arrays_equal_read_ones_and_are_read_only(tmp_path):
    arrays = {"plain": np.arange(12, dtype=np.float32).reshape(3, 4),
              "fortran": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
              "empty": np.zeros((0, 128), np.float32), "text": np.array("abc"),
              "flags": np.array([True, False, True]), "half": np.ones(5, np.float16)}
    with storage.index_lock(tmp_path):
        generation = storage.write_generation(tmp_path, arrays, {"format": "demo"})
    file = tmp_path / storage.arrays_name(generation)
    mapped = storage.load_arrays(file)
    read = storage.load_arrays(file, mmap=False)
    assert sorted(mapped) == sorted(read) == sorted([*arrays, "generation"])
    for key, value in arrays.items():
        assert mapped[key].dtype == read[key].dtype == value.dtype
        np.testing.assert_array_equal(mapped[key], value)
        np.testing.assert_array_equal(read[key], value)
    assert not mapped["plain"].flags.writeable  # views of the file, not copies
    assert read["plain"].flags.writeable


def test_member_cut_short_is_a_corrupt_index_error(tmp_path):
    with storage.index_lock(tmp_path):
        generation = storage.write_generation(tmp_path, {"x": np.arange(1000.0)}, {})
    file = tmp_path / storage.arrays_name(generation)
    data = bytearray(file.read_bytes())
    start = data.find(b"\x93NUMPY")
    data[start + 300:start + 700] = b""  # bytes gone from inside the member
    file.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match="rebuild"):
        storage.load_arrays(file)


@pytest.mark.parametrize("method", ["bow-verify", "histogram", "phash"])
def test_a_mapped_index_answers_as_a_read_one(folder, tmp_path, monkeypatch, method):
    path = tmp_path / "index"
    build(folder, path=path, method=method, progress=False)
    query = samples.jpeg(samples.crop(samples.sample_image("chelsea", max_side=256), 0.6), 40)
    mapped = Index.load(path).search(query, top=3)
    original = storage.load_arrays
    monkeypatch.setattr(storage, "load_arrays",
                        lambda file, **kw: original(file, **{**kw, "mmap": False}))
    read = Index.load(path).search(query, top=3)
    assert [(h.path, round(h.score, 6), h.match) for h in mapped] == \
        [(h.path, round(h.score, 6), h.match) for h in read]
    assert Path(mapped[0].path).stem == "chelsea"


def test_a_mapped_index_survives_a_writer_replacing_its_file(folder, tmp_path):
    path = tmp_path / "index"
    build(folder, path=path, progress=False)
    reader = Index.load(path)
    old = json.loads((path / "index.json").read_text())["arrays"]
    build(folder, path=path, rebuild=True, progress=False)  # a new generation: old removed
    assert not (path / old).exists()
    hits = reader.search(samples.sample_image("coffee", max_side=256), top=1)
    assert Path(hits[0].path).stem == "coffee"
    # And the loaded (mapped) index can still be updated and saved as a new generation.
    extra = tmp_path / "more"
    extra.mkdir()
    Image.fromarray(samples.sample_image("immunohistochemistry", max_side=256)).save(
        extra / "ihc.png")
    fresh = Index.load(path)
    fresh.add([extra / "ihc.png"], progress=False)
    fresh.save()
    assert len(Index.load(path)) == len(NAMES) + 1


# ---------------------------------------------------------------------------------------
# Opening reads headers; values are checked when used

def test_opening_builds_no_per_image_features(folder, tmp_path, monkeypatch):
    from simlab.search.features import FeatureTable

    build(folder, path=tmp_path / "index", progress=False)
    built = []
    original = FeatureTable.__getitem__
    monkeypatch.setattr(FeatureTable, "__getitem__",
                        lambda self, i: built.append(i) or original(self, i))
    opened = Index.load(tmp_path / "index")
    assert len(opened) == len(NAMES) and len(built) <= 8  # the spot check at most
    built.clear()
    opened.search(samples.sample_image("coffee", max_side=256), top=1)
    assert 0 < len(built) < 5 * len(NAMES)  # only the candidates verified


def test_one_damaged_image_is_found_when_a_search_reads_it(folder, tmp_path, monkeypatch):
    # The spot check at open need not see one bad image (here it is turned off, as if
    # the index were large); the search that reads it does, with the same error naming
    # the arrays file, never a wrong answer or a traceback.
    from simlab.search.features import FeatureTable

    monkeypatch.setattr(FeatureTable, "spot_check", lambda self, images=8: None)
    path = tmp_path / "index"
    build(folder, path=path, progress=False)
    manifest = json.loads((path / "index.json").read_text())
    shard = path / manifest["shards"][0]["arrays"]
    names = [Path(f["path"]).stem for f in manifest["files"]]
    with np.load(shard, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    victim = names.index("chelsea")
    start, stop = arrays["offsets"][victim], arrays["offsets"][victim + 1]
    arrays["points"] = arrays["points"].copy()
    arrays["points"][start:stop] = 1e4  # outside its image
    with open(shard, "wb") as handle:
        np.savez(handle, **arrays)
    opened = Index.load(path)
    with pytest.raises(CorruptIndexError, match=f"{shard.name}: image {victim}: 'points'"):
        opened.search(samples.sample_image("chelsea", max_side=256), top=1)


# ---------------------------------------------------------------------------------------
# Shards

def _queries() -> list[np.ndarray]:
    return [samples.jpeg(samples.crop(samples.sample_image(name, max_side=256), 0.6), 40)
            for name in ("chelsea", "coffee", "rocket")] + \
        [samples.sample_image("astronaut", max_side=200)[:, ::-1]]


def _answers(index: Index) -> list:
    return [[(Path(h.path).name, round(h.score, 5), h.match) for h in index.search(q, top=4)]
            for q in _queries()]


def _files(path: Path) -> dict[str, tuple]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in path.glob("arrays-*")}


@pytest.mark.parametrize("method", ["bow-verify", "histogram", "phash"])
def test_a_sharded_index_answers_as_an_unsharded_one(folder, tmp_path, method):
    built = build(folder, method=method, progress=False)  # in memory
    built.shard_size = 2
    built.save(tmp_path / "sharded")
    built.shard_size = None
    built.save(tmp_path / "whole")
    sharded, whole = Index.load(tmp_path / "sharded"), Index.load(tmp_path / "whole")
    assert [s["count"] for s in sharded.shards] == [2, 2, 1]
    assert len(whole.shards) == 1
    assert sharded.paths == whole.paths
    assert _answers(sharded) == _answers(whole)
    assert Path(_answers(sharded)[0][0][0]).stem == "chelsea"


def test_adding_images_writes_a_new_shard_and_leaves_the_others(folder, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in NAMES[:3]:
        shutil.copy(folder / f"{name}.png", images)
    path = tmp_path / "index"
    first = build(images, path=path, shard_size=2, progress=False)
    assert [s["count"] for s in first.shards] == [2, 1]
    before = _files(path)
    for name in NAMES[3:]:
        shutil.copy(folder / f"{name}.png", images)
    second = build(images, path=path, progress=False)  # the index's shard size stays
    assert second.last_update["added"] == 2 and len(second) == len(NAMES)
    assert [s["count"] for s in second.shards] == [2, 1, 2]
    after = _files(path)
    assert {k: v for k, v in after.items() if k in before} == before  # untouched
    assert len(after) == 3
    # Removing an image rewrites its shard only.
    gone = Path(second.files[0]["path"])
    gone.unlink()
    third = build(images, path=path, progress=False)
    assert third.last_update["removed"] == 1 and len(third) == len(NAMES) - 1
    now = _files(path)
    assert len(now) == 3 and len(set(now) & set(after)) == 2
    assert sorted(s["count"] for s in third.shards) == [1, 1, 2]
    # Whatever the shards, the answers are those of one shard of the same images.
    reopened = Index.load(path)
    reopened.shard_size = 100
    reopened.save(tmp_path / "whole")
    assert _answers(Index.load(path)) == _answers(Index.load(tmp_path / "whole"))


def test_index_cli_takes_a_shard_size(folder, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "index"
    done = subprocess.run([sys.executable, "-m", "simlab.cli", "index", str(folder), "--index",
                           str(path), "--method", "phash", "--shard-size", "2", "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["shards"] == 3
    done = subprocess.run([sys.executable, "-m", "simlab.cli", "index", str(folder), "--index",
                           str(tmp_path / "other"), "--shard-size", "0"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "shard size must be at least 1" in done.stderr


# ---------------------------------------------------------------------------------------
# Streaming build

def test_a_build_writes_each_full_shard_as_it_goes(folder, tmp_path):
    from simlab.search.features import FeatureTable, parts

    path = tmp_path / "index"
    index = Index.new("phash")
    index.shard_size = 2
    written = []

    def flush():
        written.append(len(index))
        index.save(path)

    index.add(sorted(folder.glob("*.png")), progress=False, flush=flush)
    assert written == [2, 4]  # the last images are saved by the caller, as build does
    # What was flushed is read from its shard's file, not kept in memory.
    assert [type(part) for part in parts(index._features)][:2] == [FeatureTable] * 2
    index.save(path)
    assert [s["count"] for s in Index.load(path).shards] == [2, 2, 1]


def test_a_streamed_build_answers_as_one_built_in_memory(folder, tmp_path):
    # The vocabulary sample (3 images) is extracted first, then shards of 2 are written
    # as they fill; the result is the index of the same images built in one piece.
    streamed = build(folder, path=tmp_path / "streamed", shard_size=2, training_images=3,
                     progress=False)
    whole = build(folder, training_images=3, progress=False)
    whole.save(tmp_path / "whole")
    assert [s["count"] for s in streamed.shards] == [2, 2, 1]
    assert Index.load(tmp_path / "streamed").paths == Index.load(tmp_path / "whole").paths
    assert _answers(Index.load(tmp_path / "streamed")) == \
        _answers(Index.load(tmp_path / "whole"))
