"""The planted-duplicate folder behind `simlab bench pairs`, and a tiny run of the benchmark."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from simlab import list_images
from simlab.bench.pairs import (KINDS, bench_pairs_report, build_planted_set, evaluate,
                                shipped_images)


def test_planted_set_is_repeatable_and_holds_what_it_says(tmp_path):
    first = build_planted_set(tmp_path / "one", images=30, per_kind=2, seed=5)
    second = build_planted_set(tmp_path / "two", images=30, per_kind=2, seed=5)
    assert len(first.images) == 30 and len(list_images(first.folder)) == 34  # + bad files
    assert [t["kind"] for t in first.truth] == [k for k in KINDS for _ in range(2)]
    for item in first.truth:
        assert (item["a"] == item["b"]) == (item["kind"] == "copy-move")
    # Same seed, same folder: names, truth and pixels.
    relative = lambda planted: [(t["a"].split("/")[-1], t["b"].split("/")[-1], t["edit"])
                                for t in planted.truth]
    assert relative(first) == relative(second)
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()
    assert [digest(p) for p in first.images] == [digest(p) for p in second.images]


def test_shipped_tiles_never_share_content():
    images = shipped_images()
    digests = {hashlib.sha256(image.tobytes()).hexdigest() for _, image in images}
    assert len(digests) == len(images)
    assert all(image.dtype == np.uint8 and image.ndim == 3 for _, image in images)
    # No source is used both whole and cut into tiles (a tile would duplicate it).
    tiled = {label.split("@")[0] for label, _ in images if "@" in label}
    whole = {label for label, _ in images if "@" not in label}
    assert not tiled & whole


def test_evaluate_counts_false_pairs_against_the_reported_kind():
    truth = [{"a": "a", "b": "b", "kind": "rotation"}, {"a": "c", "b": "c", "kind": "copy-move"}]
    frame = pd.DataFrame({"a": ["b", "x", "c"], "b": ["a", "y", "c"],
                          "kind": ["rotation", "rotation", "copy-move"]})
    table = evaluate(frame, truth).set_index("kind")
    assert table.loc["rotation", ["found", "reported", "correct"]].tolist() == [1, 2, 1]
    assert table.loc["rotation", "precision"] == 0.5
    assert table.loc["copy-move", "recall"] == 1.0
    assert table.loc["mirror", "planted"] == 0
    assert table.loc["all", ["planted", "found", "reported"]].tolist() == [2, 2, 3]


def test_bench_report_prints_the_table_timings_and_baseline():
    text = bench_pairs_report(images=40, repeats=1)
    for word in ("precision", "recall", "f1", "copy-move", "pruning", "per-pair loop",
                 "speed-up", "4 bad files"):
        assert word in text
