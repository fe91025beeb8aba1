"""The `simlab` command: JSON contract, exit codes, drawings, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simlab.cli import main

SIMLAB = [str(Path(sys.executable).with_name("simlab"))]


def run(*args, env=None):
    """The installed console script, as a user runs it."""
    return subprocess.run(SIMLAB + list(args), capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_compare_json_contract(image_files):
    a, b = image_files
    done = run("compare", str(a), str(b), "--method", "sift", "--method", "ssim", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["a"] == str(a) and payload["b"] == str(b)
    assert [r["method"] for r in payload["results"]] == ["sift", "ssim"]
    for result in payload["results"]:
        assert set(result) == {"method", "score", "raw", "seconds", "details"}
        assert 0.0 <= result["score"] <= 1.0 and result["seconds"] > 0
    assert payload["skipped"] == []


def test_compare_all_lists_unavailable_vgg16_as_skipped(image_files, tmp_path):
    a, b = image_files
    # An empty Keras home: the ImageNet weights are certainly absent.
    done = run("compare", str(a), str(b), "--method", "all", "--json",
               env={"KERAS_HOME": str(tmp_path / "keras"), "SIMLAB_VGG16_WEIGHTS": ""})
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    methods = [r["method"] for r in payload["results"]]
    assert methods == ["histogram", "ssim", "phash", "sift", "rootsift", "akaze"]
    assert payload["skipped"][0]["method"] == "vgg16"
    assert "SIMLAB_VGG16_WEIGHTS" in payload["skipped"][0]["reason"]


def test_compare_named_method_that_cannot_run_is_an_error(image_files, tmp_path):
    a, b = image_files
    no_weights = {"KERAS_HOME": str(tmp_path / "keras"), "SIMLAB_VGG16_WEIGHTS": ""}
    for extra in ([], ["--json"], ["--method", "sift"]):
        done = run("compare", str(a), str(b), "--method", "vgg16", *extra, env=no_weights)
        assert done.returncode == 2, (extra, done.stdout)
        assert done.stdout == ""
        error = done.stderr.strip()
        assert error.startswith("simlab: error:") and "\n" not in error
        assert "VGG16 ImageNet weights are not available offline" in error
        assert "SIMLAB_VGG16_WEIGHTS" in error


def test_compare_all_says_what_it_skipped(image_files, tmp_path):
    a, b = image_files
    no_weights = {"KERAS_HOME": str(tmp_path / "keras"), "SIMLAB_VGG16_WEIGHTS": ""}
    table = run("compare", str(a), str(b), env=no_weights)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("vgg16"))
    assert "skipped: VGG16 ImageNet weights are not available offline" in row
    done = run("compare", str(a), str(b), "--method", "all", "--json", env=no_weights)
    assert done.returncode == 0
    assert json.loads(done.stdout)["skipped"][0]["method"] == "vgg16"
    assert done.stderr.startswith("simlab: skipped vgg16: VGG16 ImageNet weights")


def test_compare_table_and_drawing(image_files, tmp_path, capsys):
    a, b = image_files
    out = tmp_path / "figs" / "explain.png"
    code = main(["compare", str(a), str(b), "--method", "akaze", "--method", "histogram",
                 "--draw", str(out), "--set", "ratio=0.8", "--set", "histogram.bins=8"])
    assert code == 0
    text = capsys.readouterr().out
    assert "akaze" in text and "histogram" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["explain.png"]  # no temp files left


def test_set_applies_to_the_named_method(image_files, capsys):
    a, b = image_files
    assert main(["compare", str(a), str(b), "--method", "sift", "--method", "akaze",
                 "--set", "sift.ratio=0.6", "--json"]) == 0
    results = {r["method"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["sift"]["details"]["ratio"] == 0.6
    assert results["akaze"]["details"]["ratio"] == 0.75


def test_methods_lists_parameters(capsys):
    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sift = next(r for r in rows if r["method"] == "sift")
    assert {"name": "ratio", "default": 0.75, "help": "Lowe's ratio test threshold"} in \
        sift["parameters"]


@pytest.mark.parametrize("make_args, message", [
    (lambda a, b, t: ["compare", str(t / "missing.png"), str(b)], "missing.png: no such file"),
    (lambda a, b, t: ["compare", str(a), str(t / "empty.png")], "empty.png: the file is empty"),
    (lambda a, b, t: ["compare", str(a), str(b), "--method", "surf"], "unknown method 'surf'"),
    (lambda a, b, t: ["compare", str(a), str(b), "--set", "ratio=lots"], "expects a float"),
    (lambda a, b, t: ["compare", str(a), str(b), "--method", "ssim", "--set", "ratio=0.8"],
     "has a parameter 'ratio'"),
    (lambda a, b, t: ["compare", str(a), str(b), "--method", "ssim", "--set",
                      "size_policy=error", "--max-side", "300"], None),
])
def test_bad_input_exits_2_with_one_line(make_args, message, image_files, tmp_path):
    a, b = image_files
    (tmp_path / "empty.png").write_bytes(b"")
    done = run(*make_args(a, b, tmp_path))
    if message is None:  # same-size inputs after max_side: not an error
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("simlab: error:") and message in lines[0]


def test_size_mismatch_error_is_one_line(image_files, tmp_path):
    from PIL import Image

    a, _ = image_files
    small = tmp_path / "small.png"
    Image.open(a).resize((100, 80)).save(small)
    done = run("compare", str(a), str(small), "--method", "ssim", "--set", "size_policy=error")
    assert done.returncode == 2 and "512x512 and 100x80" in done.stderr


def test_bench_compare_runs(capsys):
    assert main(["bench", "compare", "--size", "160", "--repeats", "1", "--method", "phash",
                 "--method", "sift", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["phash", "sift"]
    assert all(r["pair_ms"] > 0 for r in rows)


def test_demo_writes_table_and_figures(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--method", "phash", "--method", "sift"]) == 0
    import pandas as pd

    table = pd.read_csv(out / "scores.csv")
    assert set(table["method"]) == {"phash", "sift"}
    identical = table[(table["pair"] == "identical")].set_index("method")["score"]
    assert (identical == 1.0).all()
    unrelated = table[(table["pair"] == "unrelated")].set_index("method")["score"]
    assert unrelated["sift"] < 0.1
    assert json.loads((out / "scores.json").read_text())[0]["pair"] == "identical"
    assert (out / "heatmap.png").stat().st_size > 0
    assert len(list(out.glob("pair-*.png"))) == 10
    assert "wrote" in capsys.readouterr().out
