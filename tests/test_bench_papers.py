"""`simlab bench papers`: a small run on generated papers, and its scoring helpers."""

from __future__ import annotations

from simlab.bench.papers import bench_papers, bench_papers_report, match_panels


def test_small_bench_run_recovers_panels_and_reuse(tmp_path):
    summary = bench_papers(pages=4, figures=4, folder=tmp_path, progress=False, draws=2,
                           random_state=5)
    # two draws of papers, scored each and summed
    assert [d["random_state"] for d in summary["draws"]] == [5, 6]
    for mode, tally in summary["panels"].items():
        assert tally["panels"] == sum(d["panels"].get(mode, {}).get("panels", 0)
                                      for d in summary["draws"])
    for edit, row in summary["findings"]["recall"].items():
        assert row["planted"] == sum(d["findings"]["recall"].get(edit, {}).get("planted", 0)
                                     for d in summary["draws"])
    panels = summary["panels"]
    assert set(panels) >= {"single", "separate", "scanned"}
    for mode, tally in panels.items():
        assert tally["panels"] > 0
        assert tally["share"] >= 0.95, (mode, tally)
    recall = summary["findings"]["recall"]
    assert set(recall) == {"crop", "rotation", "mirror", "contrast", "rescale", "copy-move"}
    for edit, row in recall.items():
        assert row["planted"] >= 1 and row["recall"] >= 0.5, (edit, row)
    precision = summary["findings"]["precision"]
    flagged = sum(r["flagged"] for r in precision.values())
    true = sum(r["true"] for r in precision.values())
    assert flagged and true / flagged >= 0.9, precision
    speed = summary["speed"]
    assert speed["pages"] == 4 and speed["pages_per_second"] > 0
    assert len(speed["load_average"]) == 3 and speed["baseline_seconds_median"] > 0
    # the end-to-end run wrote a report like a user's
    assert speed["command_pages_per_second"] > 0
    assert (tmp_path / "report-0" / "index.html").is_file()
    assert (tmp_path / "draw-5" / "paper1.pdf").is_file() and (tmp_path / "draw-6").is_dir()


def test_match_panels_needs_the_right_page_and_overlap():
    truth = {"papers": [{"path": "p.pdf", "figures": [
        {"page": 2, "mode": "separate", "scanned": False,
         "panels": [{"box": [0, 0, 100, 100]}, {"box": [200, 0, 300, 100]}]}]}]}
    found = {"x": {"file": "p.pdf", "page": 2, "box": [2, 2, 100, 100]},   # IoU 0.96
             "y": {"file": "p.pdf", "page": 1, "box": [200, 0, 300, 100]},  # other page
             "z": {"file": "p.pdf", "page": 2, "box": [200, 0, 260, 100]}}  # IoU 0.6
    assert match_panels(truth, found) == {"separate": {"panels": 2, "recovered": 1}}


def test_report_text_has_the_three_tables(monkeypatch):
    import simlab.bench.papers as module

    fake = {"panels": {"single": {"panels": 10, "recovered": 10, "share": 1.0}},
            "findings": {"recall": {"crop": {"planted": 2, "found": 2, "recall": 1.0}},
                         "precision": {"crop": {"flagged": 2, "true": 2, "precision": 1.0}}},
            "speed": {"pages": 20, "panels": 50, "seconds": [8.0], "seconds_median": 8.0,
                      "pages_per_second": 2.5, "stage_seconds": {"verify": 1.0},
                      "baseline_seconds_median": 4.0, "command_seconds_median": 10.0,
                      "command_pages_per_second": 2.0,
                      "load_average": [1.0, 1.0, 1.0]}}
    monkeypatch.setattr(module, "bench_papers", lambda **options: fake)
    text = bench_papers_report()
    assert "IoU >= 0.8" in text and "recall" in text and "precision" in text
    assert "2.50 pages/s" in text and "load average" in text and "2.00x" in text
    assert "fresh process" in text and "2.00 pages/s" in text
