"""The reverse-image-search benchmark on scikit-image's samples (no Debian packages)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simlab import SimlabError
from simlab.bench import search as search_bench


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    manifest = search_bench.build_dataset(root, queries=10, min_distractors=0, max_side=384,
                                          only_samples=True, progress=False)
    return root, manifest


def test_set_lists_exactly_the_files_it_wrote(small_set):
    root, manifest = small_set
    on_disk = sorted(p.name for p in (root / "db").iterdir())
    assert on_disk == sorted(manifest["database"])
    assert len(manifest["queries"]) == 10
    kinds = [q["kind"] for q in manifest["queries"]]
    assert kinds == list(search_bench.TRANSFORMATIONS)
    for query in manifest["queries"]:
        assert (root / "queries" / query["file"]).is_file()
        assert query["source"] in manifest["database"]
    # Near-duplicates found by the duplicate finder are recorded and absent.
    for pair in manifest["dropped_related"]:
        assert f"{pair['dropped']}.jpg" not in manifest["database"]
        assert f"{pair['kept']}.jpg" in manifest["database"]
    assert json.loads((root / "dataset.json").read_text()) == manifest


def test_rebuilding_with_other_settings_leaves_no_stale_files(small_set, tmp_path):
    root, _ = small_set
    copy = tmp_path / "copy"
    search_bench.build_dataset(copy, queries=10, min_distractors=0, max_side=400,
                               only_samples=True, progress=False)
    (copy / "db" / "left-over.jpg").write_bytes(b"old")
    manifest = search_bench.build_dataset(copy, queries=10, min_distractors=0, max_side=384,
                                          only_samples=True, progress=False)
    assert not (copy / "db" / "left-over.jpg").exists()
    assert sorted(p.name for p in (copy / "db").iterdir()) == sorted(manifest["database"])


def test_a_folder_that_is_not_a_benchmark_set_is_refused(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "mine.jpg").write_bytes(b"user data")
    with pytest.raises(SimlabError, match="not from a benchmark set"):
        search_bench.build_dataset(tmp_path, queries=10, min_distractors=0, max_side=384,
                                   only_samples=True, progress=False)
    assert (tmp_path / "db" / "mine.jpg").read_bytes() == b"user data"


def test_benchmark_table_has_the_promised_columns(small_set):
    root, manifest = small_set
    result = search_bench.run_benchmark(root, methods=["phash", "bow-verify"],
                                        progress=False)
    table = result["table"].set_index("method")
    assert list(table.index) == ["phash", "bow-verify"]
    for column in ["recall@1", "recall@5", "mAP", "images/s", "query_p50_ms",
                   "query_p95_ms", "index_MB"] + [f"r@1 {k}" for k in
                                                  search_bench.TRANSFORMATIONS]:
        assert column in table.columns
    assert table["images"].eq(len(manifest["database"])).all()
    ranks = result["ranks"]["bow-verify"]
    assert len(ranks) == 10
    # The recall columns are computed from the ranks, not estimated.
    assert table.loc["bow-verify", "recall@1"] == np.mean([r == 1 for r in ranks])
    assert table.loc["bow-verify", "mAP"] == pytest.approx(
        np.mean([1.0 / r if r else 0.0 for r in ranks]))


def test_a_name_seen_twice_is_one_database_file(tmp_path, monkeypatch):
    # Texture packs hold some textures twice (.jpg and .tga): same name, one file.
    real = search_bench._sources

    def with_a_repeat(only_samples=False):
        items = list(real(only_samples))
        # Distinct content (noise) under a name already used: not caught as a duplicate.
        noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
        return items[:3] + [(items[0][0], lambda: noise)] + items[3:]

    monkeypatch.setattr(search_bench, "_sources", with_a_repeat)
    manifest = search_bench.build_dataset(tmp_path, queries=10, min_distractors=0,
                                          max_side=384, only_samples=True, progress=False)
    assert len(set(manifest["database"])) == len(manifest["database"])
    assert len(list((tmp_path / "db").iterdir())) == len(manifest["database"])


def test_an_interrupted_build_is_cleared_and_redone(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    # Interrupted after the database files, before dataset.json.
    monkeypatch.setattr(search_bench, "_related_pairs", fail)
    with pytest.raises(KeyboardInterrupt):
        search_bench.build_dataset(tmp_path, queries=10, min_distractors=0, max_side=384,
                                   only_samples=True, progress=False)
    assert any((tmp_path / "db").iterdir()) and not (tmp_path / "dataset.json").exists()
    monkeypatch.undo()
    manifest = search_bench.build_dataset(tmp_path, queries=10, min_distractors=0,
                                          max_side=384, only_samples=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == sorted(manifest["database"])
    assert not (tmp_path / search_bench.BUILDING_MARKER).exists()


def test_scale_run_times_two_sizes_and_extrapolates_by_their_paired_difference(small_set):
    root, manifest = small_set
    result = search_bench.scale_run(root, total=len(manifest["database"]) + 6,
                                    method="phash", progress=False)
    assert result["images"] == len(manifest["database"]) + 6
    assert result["database_images"] == len(manifest["database"])
    slope = max(0.0, result["paired_growth_ms"]) / 6
    assert result["query_p50_ms_at_10000"] == pytest.approx(
        result["query_p50_ms"] + slope * (10_000 - result["images"]))
    assert result["query_p50_ms_at_10000"] >= result["query_p50_ms"]
    assert result["index_MB_at_10000"] == pytest.approx(
        result["index_MB"] * 10_000 / result["images"])
    assert sorted(p.name for p in (root / f"scale-{result['images']}" / "synthetic")
                  .iterdir()) == [f"mosaic-{n:05d}.jpg" for n in range(6)]


def test_hard_set_has_every_kind_and_no_source_queries_held_out_of_the_index(small_set):
    from simlab.bench import hard_search

    root, manifest = small_set
    hard = hard_search.build_hard_set(root, per_kind=1, absent=2)
    kinds = [q["kind"] for q in hard["queries"]]
    assert kinds == list(hard_search.HARD_KINDS) + ["no-source"] * 6  # 3 edits each
    assert set(hard["absent"]).isdisjoint(hard["indexed"])
    assert sorted(hard["absent"] + hard["indexed"]) == sorted(manifest["database"])
    for query in hard["queries"]:
        assert (root / "hard" / "queries" / query["file"]).is_file()
        assert set(query["sources"]) <= set(hard["indexed"])
        assert not set(query["sources"]) & set(query["also_inside"])
    assert all(not q["sources"] and q["held_out"] in hard["absent"]
               for q in hard["queries"] if q["kind"] == "no-source")


def test_hard_scores_follow_the_rules():
    from simlab.bench.hard_search import _score

    queries = [{"kind": "screenshot", "sources": ["a"], "also_inside": ["t"]},
               {"kind": "screenshot", "sources": ["b"], "also_inside": ["t"]},
               {"kind": "collage", "sources": ["a", "b"], "also_inside": []},
               {"kind": "no-source", "sources": [], "also_inside": []},
               {"kind": "no-source", "sources": [], "also_inside": []}]
    answers = [[("t", True, None, -20.0), ("a", True, None, -30.0)],   # neither
               [("c", False, None, None), ("b", True, None, -12.0)],   # a miss
               [("b", True, None, -40.0), ("x", False, None, None), ("a", True, None, -15.0)],
               [("z", True, None, -11.0)],                              # a false match
               [("y", False, None, None)]]
    scored = _score(queries, answers)
    assert scored["per_kind"]["screenshot"] == 0.0  # one counted, missed; one neither
    assert scored["per_kind"]["collage"] == 1.0
    assert scored["summary"]["collage_all_found@5"] == 1.0
    assert scored["summary"]["false_match_no_source"] == 0.5
    assert scored["summary"]["recall@1"] == 0.5


def test_images_sharing_a_region_are_relatives_and_strangers_are_not(tmp_path):
    from PIL import Image
    from skimage import data

    from simlab.bench import hard_search

    (tmp_path / "db").mkdir()
    astronaut = data.astronaut()
    # The same face region under another name: a retouched variant a name family misses.
    variant = astronaut[40:360, 80:400].copy()
    variant[:40] = 255
    pictures = {"astronaut.jpg": astronaut, "face-retouched.jpg": variant,
                "coffee.jpg": data.coffee(), "rocket.jpg": data.rocket()}
    for name, image in pictures.items():
        Image.fromarray(image).save(tmp_path / "db" / name, quality=92)
    relatives = hard_search.content_relatives(tmp_path, sorted(pictures), progress=False)
    assert relatives == {"astronaut.jpg": ["face-retouched.jpg"],
                         "face-retouched.jpg": ["astronaut.jpg"]}
