"""Index storage: arrays opened by memory-mapping, the same answers as a full read."""

from __future__ import annotations

import json
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
