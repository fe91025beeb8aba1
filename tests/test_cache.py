"""The pairs feature cache: reused across runs, invalidated by changes, never crashed on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.cli import main
from simlab.duplicates import find
from simlab.duplicates.cache import FeatureCache
from simlab.duplicates.features import feature_cache

SIDE = 200


@pytest.fixture()
def folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    panel = samples.sample_image("astronaut", max_side=SIDE)
    Image.fromarray(panel).save(images / "a.png")
    Image.fromarray(samples.flip(panel)).save(images / "b.png")
    Image.fromarray(samples.sample_image("coffee", max_side=SIDE)).save(images / "c.png")
    (images / "notes.png").write_text("not an image")
    return images


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "features").rglob("*.npz"))


def test_second_run_reads_the_cache_and_finds_the_same(folder, tmp_path):
    cache = tmp_path / "cache"
    first = find(folder, progress=False, cache=cache)
    # The text file is looked up too (a miss) and skipped as before; nothing is stored.
    assert first.stats["cache"]["hits"] == 0 and first.stats["cache"]["misses"] == 4
    assert len(entries(cache)) == 3  # one per readable image
    second = find(folder, progress=False, cache=cache)
    assert second.stats["cache"]["hits"] == 3 and second.stats["cache"]["misses"] == 1
    assert second.table.equals(first.table)
    assert [m.log_nfa for m in second] == [m.log_nfa for m in first]
    assert [s["path"] for s in second.skipped] == [s["path"] for s in first.skipped]
    uncached = find(folder, progress=False)
    assert uncached.table.equals(first.table)
    assert "cache" not in uncached.stats


def test_changed_file_and_other_settings_are_extracted_again(folder, tmp_path):
    cache = tmp_path / "cache"
    find(folder, progress=False, cache=cache)
    changed = folder / "c.png"
    Image.fromarray(samples.sample_image("chelsea", max_side=SIDE)).save(changed)
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a newer mtime
    again = find(folder, progress=False, cache=cache)
    assert (again.stats["cache"]["hits"], again.stats["cache"]["misses"]) == (2, 2)
    other = find(folder, progress=False, cache=cache, max_keypoints=500)
    assert other.stats["cache"]["hits"] == 0  # other settings: other entries


def test_corrupt_entries_are_rebuilt_not_crashed_on(folder, tmp_path):
    cache = tmp_path / "cache"
    first = find(folder, progress=False, cache=cache)
    damaged = entries(cache)
    damaged[0].write_bytes(b"PK\x03\x04 truncated")  # a zip start with no end
    damaged[1].write_bytes(b"")
    with open(damaged[2], "wb") as handle:  # a valid npz without the features
        np.savez(handle, other=np.zeros(3))
    # The results that need no features are reused: the damaged entries are not read.
    untouched = find(folder, progress=False, cache=cache)
    assert untouched.table.equals(first.table)
    for name in ("verified.npz", "copy-move.npz", "candidates.npz"):
        (cache / name).unlink()  # now every image's features are needed again
    again = find(folder, progress=False, cache=cache)
    assert again.stats["cache"]["rebuilt"] == 3 and again.stats["cache"]["hits"] == 0
    assert again.table.equals(first.table)
    third = find(folder, progress=False, cache=cache)  # rewritten by the second run
    assert third.stats["cache"]["hits"] == 3


def test_object_arrays_are_never_unpickled(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(samples.sample_image("camera", max_side=64)).save(image)
    cache = FeatureCache(tmp_path / "cache", {"method": "rootsift"}, required=("x",))
    cache.put(image, {"x": np.arange(3)})
    entry = next((tmp_path / "cache").rglob("*.npz"))
    with open(entry, "wb") as handle:
        np.savez(handle, x=np.array([{"evil": 1}], dtype=object))
    assert cache.get(image) is None and cache.rebuilt == 1
    cache.put(image, {"x": np.array([None], dtype=object)})  # would need a pickle: skipped
    assert cache.get(image) is None


def test_cache_keys_follow_the_settings(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(samples.sample_image("camera", max_side=64)).save(image)
    keys = {feature_cache(tmp_path, **options).key(image) for options in
            ({}, {"method": "sift"}, {"max_side": 640}, {"copy_move": True},
             {"max_keypoints": 10}, {"contrast_threshold": 0.04})}
    assert len(keys) == 6


def test_cli_caches_beside_the_report_and_no_cache_keeps_nothing(folder, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["pairs", str(folder), "--out", str(out), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(entries(out / "cache")) == 3
    assert main(["pairs", str(folder), "--out", str(out), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second == first and second["pairs"]
    elsewhere = tmp_path / "shared-cache"
    assert main(["pairs", str(folder), "--out", str(tmp_path / "r2"), "--cache",
                 str(elsewhere)]) == 0
    assert len(entries(elsewhere)) == 3 and not (tmp_path / "r2" / "cache").exists()
    capsys.readouterr()
    assert main(["pairs", str(folder), "--out", str(tmp_path / "r3"), "--no-cache"]) == 0
    assert not (tmp_path / "r3" / "cache").exists()


def test_cache_inside_the_folder_is_not_read_as_images(folder, tmp_path, capsys):
    out = folder / "report"  # the report (and its cache) inside the folder it checks
    assert main(["pairs", str(folder), "--out", str(out), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["pairs", str(folder), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_second_run_reuses_candidates_verifications_and_copy_moves(folder, tmp_path):
    cache = tmp_path / "cache"
    first = find(folder, progress=False, cache=cache)
    assert first.stats["cache"]["verified_reused"] == 0
    second = find(folder, progress=False, cache=cache)
    assert second.stats["cache"]["verified_reused"] == len(second.candidates) > 0
    assert second.stats["cache"]["copy-move_reused"] == 3
    assert second.candidates == first.candidates
    assert second.table.equals(first.table)
    for key, match in first.matches.items():  # every field, arrays included
        again = second.matches[key]
        assert (again.log_nfa, again.probability, again.reasons, again.ruled_out) == \
            (match.log_nfa, match.probability, match.reasons, match.ruled_out)
        for name in ("points_a", "points_b", "region_a", "region_b", "matrix"):
            np.testing.assert_array_equal(getattr(again, name), getattr(match, name))
            assert np.asarray(getattr(again, name)).dtype == \
                np.asarray(getattr(match, name)).dtype
    for name in ("verified.npz", "copy-move.npz", "candidates.npz"):
        (cache / name).write_bytes(b"damaged")
    third = find(folder, progress=False, cache=cache)
    assert third.stats["cache"]["verified_reused"] == 0
    assert third.table.equals(first.table)
    # A changed image: its pairs and copy-move search are made again, the others reused.
    changed = folder / "c.png"
    Image.fromarray(samples.sample_image("chelsea", max_side=SIDE)).save(changed)
    fourth = find(folder, progress=False, cache=cache)
    assert fourth.stats["cache"]["copy-move_reused"] == 2


def test_rerun_keeps_unchanged_pictures_and_redraws_changed_ones(folder, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["pairs", str(folder), "--out", str(out)]) == 0
    pictures = sorted((out / "pictures").glob("*.jpg"))
    assert pictures and (out / "pictures.json").is_file()
    before = {p.name: p.stat().st_mtime_ns for p in pictures}
    assert main(["pairs", str(folder), "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "pictures").glob("*.jpg")} == before
    # The copy changes (mirrored the other way): its picture is drawn again.
    panel = samples.sample_image("astronaut", max_side=SIDE)
    Image.fromarray(samples.flip(panel, "vertical")).save(folder / "b.png")
    assert main(["pairs", str(folder), "--out", str(out)]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "pictures").glob("*.jpg")}
    assert after and all(after[name] != before.get(name) for name in after)
    capsys.readouterr()
