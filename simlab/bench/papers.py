"""``simlab bench papers``: panels and reuse found in generated papers, and the speed.

Generated papers (:func:`simlab.lab.papers.make_papers`): multi-page PDFs with figures of
2-9 panels held as one image, as one image per panel, or on pages rasterised as if
scanned, with planted reuse between figures of a paper and across papers (crop,
rotation, mirror, contrast, rescale) and copy-move inside panels. Three numbers:

* **panel boxes**: the share of planted panels whose box (page points) one found item
  matches at IoU >= 0.8, per way of holding the figure;
* **findings**: recall per planted edit, precision per reported kind (a flagged pair is
  true when both its sides are the two panels of one planted reuse);
* **speed**: pages per second of the whole job (reading, splitting, features, pruning,
  verification, copy-move) on one paper of ``pages`` pages with ``figures`` figures, with
  the folder job on the same panels saved as PNG files timed in between (the baseline:
  what the PDF reading adds).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["bench_papers", "bench_papers_report", "match_panels", "score_findings"]

EDITS = ("crop", "rotation", "mirror", "contrast", "rescale")


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _key(file: str) -> str:
    return os.path.realpath(file)


def match_panels(truth: dict[str, Any], sources: dict[str, dict[str, Any]], *,
                 threshold: float = 0.8) -> dict[str, dict[str, int]]:
    """Planted panels recovered (best IoU with a found item on the page >= threshold),
    per way of holding the figure (``single``, ``separate``, ``scanned``).

    Examples
    --------
    >>> truth = {"papers": [{"figures": [{"page": 1, "mode": "single", "scanned": False,
    ...          "panels": [{"box": [0, 0, 10, 10]}]}], "path": "p.pdf"}]}
    >>> match_panels(truth, {"x": {"file": "p.pdf", "page": 1, "box": [0, 0, 10, 9]}})
    {'single': {'panels': 1, 'recovered': 1}}
    """
    found: dict[tuple[str, int], list] = {}
    for source in sources.values():
        if source.get("page") is not None:
            found.setdefault((_key(source["file"]), source["page"]), []).append(source["box"])
    counts: dict[str, dict[str, int]] = {}
    for paper in truth["papers"]:
        for figure in paper["figures"]:
            mode = "scanned" if figure["scanned"] else figure["mode"]
            tally = counts.setdefault(mode, {"panels": 0, "recovered": 0})
            boxes = found.get((_key(paper["path"]), figure["page"]), [])
            for panel in figure["panels"]:
                tally["panels"] += 1
                best = max((_iou(panel["box"], box) for box in boxes), default=0.0)
                tally["recovered"] += best >= threshold
    return counts


def _place(truth: dict[str, Any], source: dict[str, Any]) -> tuple | None:
    """The planted panel a found item is (IoU >= 0.5 on its page), as a hashable key."""
    if source.get("page") is None:
        return None
    best, place = 0.5, None
    for paper in truth["papers"]:
        if _key(paper["path"]) != _key(source["file"]):
            continue
        for figure in paper["figures"]:
            if figure["page"] != source["page"]:
                continue
            for panel in figure["panels"]:
                overlap = _iou(panel["box"], source["box"])
                if overlap >= best:
                    best, place = overlap, (_key(paper["path"]), figure["page"],
                                            tuple(panel["box"]))
    return place


def score_findings(truth: dict[str, Any], result) -> dict[str, Any]:
    """Recall per planted edit and precision per reported kind of a pairs result."""
    planted = {}
    for item in truth["reuse"]:
        a = (_key(item["a"]["file"]), item["a"]["page"], tuple(item["a"]["box"]))
        b = (_key(item["b"]["file"]), item["b"]["page"], tuple(item["b"]["box"]))
        planted[frozenset((a, b))] = item["planted"].split("+")[0]
    found_keys = set()
    flagged: dict[str, list[int]] = {}
    for match in result:
        a, b = _place(truth, result.sources[match.a]), _place(truth, result.sources[match.b])
        key = frozenset((a, b)) if a is not None and b is not None else None
        true = key in planted and (match.a == match.b) == (len(key) == 1)
        flagged.setdefault(match.kind, []).append(int(true))
        if true:
            found_keys.add(key)
    recall = {}
    for key, edit in planted.items():
        tally = recall.setdefault(edit, [0, 0])
        tally[0] += 1
        tally[1] += key in found_keys
    return {"recall": {edit: {"planted": n, "found": k, "recall": k / n}
                       for edit, (n, k) in recall.items()},
            "precision": {kind: {"flagged": len(v), "true": sum(v),
                                 "precision": sum(v) / len(v)}
                          for kind, v in flagged.items()}}


def _time_command(pdf: str, out: Path) -> float:
    """Seconds of ``simlab pairs PDF --out OUT --no-cache`` in a fresh process: end to end,
    what a user waits for (start-up, imports, reading, finding and the report)."""
    import subprocess
    import sys

    clock = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from simlab.cli import main; "
                           "sys.exit(main())", "pairs", pdf, "--out", str(out), "--no-cache"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - clock
    if done.returncode != 0:
        raise RuntimeError(f"simlab pairs {pdf} failed: {done.stderr[-2000:]}")
    return seconds


def _pool(tallies: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """Counts summed key by key over draws (``{"crop": {"planted": 2, ...}}`` rows)."""
    pooled: dict[str, dict[str, int]] = {}
    for tally in tallies:
        for key, row in tally.items():
            into = pooled.setdefault(key, {})
            for name, value in row.items():
                if isinstance(value, int):
                    into[name] = into.get(name, 0) + value
    return pooled


def bench_papers(*, pages: int = 20, figures: int = 8, repeats: int = 1,
                 random_state: int = 0, draws: int = 1,
                 folder: str | os.PathLike | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Generate two papers, find their reuse, score panels and findings, time one paper.

    Parameters
    ----------
    pages, figures : int
        Of each generated paper (two papers; the second receives reuse from the first).
    repeats : int
        Timed runs on the first paper alone (the median is reported).
    random_state : int
        The random choices of the first pair of papers (0 is the draw the splitting and
        flagging rules were developed on; others are held out).
    draws : int
        Pairs of papers to generate and score, with random states ``random_state``,
        ``random_state + 1``...; panel and finding counts are summed over them. Speed is
        timed on the first draw only.
    folder : path, optional
        Where the papers are written (default: a temporary folder, removed).

    Returns
    -------
    dict
        ``panels`` (per mode: panels, recovered, share), ``findings`` (recall per edit,
        precision per kind), both over every draw, ``draws`` (the same per draw, with its
        random state), ``speed`` (pages, seconds per run, median pages per second, load
        average) and the generation options.

    Examples
    --------
    >>> _pool([{"crop": {"planted": 2, "found": 1, "recall": 0.5}},
    ...        {"crop": {"planted": 3, "found": 3, "recall": 1.0}}])
    {'crop': {'planted': 5, 'found': 4}}
    """
    if int(draws) < 1:
        raise ValueError(f"draws must be at least 1; got {draws!r}")
    from ..duplicates.papers import find_in_papers
    from ..lab.papers import make_papers

    temporary = None
    if folder is None:
        temporary = tempfile.TemporaryDirectory(prefix="simlab-bench-papers-")
        folder = temporary.name
    try:
        options = dict(papers=2, pages=pages, figures=figures, panels=(3, 9),
                       modes=("single", "separate", "single"),
                       scanned_pages=max(1, figures // 4), reuse=EDITS,
                       cross_paper=("rotation", "mirror", "contrast"),
                       copy_move=2, random_state=random_state)
        per_draw = []
        for draw in range(int(draws)):
            state = int(random_state) + draw
            where = Path(folder) if draws == 1 else Path(folder) / f"draw-{state}"
            where.mkdir(parents=True, exist_ok=True)
            clock = time.perf_counter()
            truth = make_papers(where, **{**options, "random_state": state})
            generate = time.perf_counter() - clock
            found = find_in_papers([p["path"] for p in truth["papers"]], progress=progress)
            per_draw.append({"random_state": state,
                             "panels": match_panels(truth, found.sources),
                             "findings": score_findings(truth, found),
                             "generated_seconds": round(generate, 1)})
            if draw == 0:  # the first draw is the one timed below
                first_truth, result = truth, found
        truth = first_truth
        paths = [p["path"] for p in truth["papers"]]
        panels = _pool([d["panels"] for d in per_draw])
        for tally in panels.values():
            tally["share"] = tally["recovered"] / tally["panels"] if tally["panels"] else 0.0
        recall = _pool([d["findings"]["recall"] for d in per_draw])
        for row in recall.values():
            row["recall"] = row["found"] / row["planted"]
        precision = _pool([d["findings"]["precision"] for d in per_draw])
        for row in precision.values():
            row["precision"] = row["true"] / row["flagged"]
        findings = {"recall": recall, "precision": precision}
        # Baseline: the same panels saved as PNG files, through the folder job (what a
        # user who cut every panel out by hand would run), interleaved with the PDF runs.
        from PIL import Image

        from ..duplicates import find
        from ..duplicates.papers import load_item

        cut = Path(folder) / "panels-cut-by-hand"
        cut.mkdir(exist_ok=True)
        for number, source in enumerate(s for s in result.sources.values()
                                        if _key(s["file"]) == _key(paths[0])):
            Image.fromarray(load_item(source, max_side=None)).save(cut / f"{number:03d}.png")
        runs, baseline, command = [], [], []
        for repeat in range(repeats):
            clock = time.perf_counter()
            single = find_in_papers([paths[0]], progress=False)
            runs.append(time.perf_counter() - clock)
            clock = time.perf_counter()
            find(cut, progress=False)
            baseline.append(time.perf_counter() - clock)
            command.append(_time_command(paths[0], Path(folder) / f"report-{repeat}"))
        median = statistics.median(runs)
        command_median = statistics.median(command)
        speed = {"pages": single.stats["pages"], "figures": figures,
                 "panels": sum(p["panels"] for p in single.stats["papers"]),
                 "seconds": [round(r, 2) for r in runs], "seconds_median": round(median, 2),
                 "pages_per_second": round(single.stats["pages"] / median, 2),
                 "stage_seconds": single.stats["seconds"],
                 "command_seconds": [round(r, 2) for r in command],
                 "command_seconds_median": round(command_median, 2),
                 "command_pages_per_second": round(single.stats["pages"] / command_median, 2),
                 "baseline_png_folder_seconds": [round(r, 2) for r in baseline],
                 "baseline_seconds_median": round(statistics.median(baseline), 2),
                 "load_average": [round(v, 2) for v in os.getloadavg()]}
        return {"panels": panels, "findings": findings, "speed": speed,
                "draws": per_draw,
                "generated_seconds": per_draw[0]["generated_seconds"],
                "options": {k: list(v) if isinstance(v, tuple) else v
                            for k, v in options.items()},
                "two_papers_seconds": result.stats["seconds"]}
    finally:
        if temporary is not None:
            temporary.cleanup()


def bench_papers_report(*, pages: int = 20, figures: int = 8, repeats: int = 1,
                        random_state: int = 0, draws: int = 1,
                        as_json: bool = False, progress: bool = True) -> str:
    """The text (or JSON) ``simlab bench papers`` prints."""
    summary = bench_papers(pages=pages, figures=figures, repeats=repeats,
                           random_state=random_state, draws=draws, progress=progress)
    if as_json:
        from ..files import json_ready

        return json.dumps(json_ready(summary), indent=2)
    states = [d["random_state"] for d in summary.get("draws", [])] or [random_state]
    drawn = (f"random state {states[0]}" if len(states) == 1 else
             f"{len(states)} draws, random states {states[0]}-{states[-1]}, counts summed")
    lines = [f"generated: 2 papers x {pages} pages, {figures} figures each (panels 3-9; "
             f"one image, one image per panel, scanned pages); {drawn}", "",
             "panel boxes recovered at IoU >= 0.8 (target >= 95%):",
             f"  {'held as':<10} {'panels':>7} {'recovered':>10} {'share':>7}"]
    total = [0, 0]
    for mode, tally in sorted(summary["panels"].items()):
        lines.append(f"  {mode:<10} {tally['panels']:>7} {tally['recovered']:>10} "
                     f"{tally['share']:>7.1%}")
        total[0] += tally["panels"]
        total[1] += tally["recovered"]
    lines.append(f"  {'all':<10} {total[0]:>7} {total[1]:>10} "
                 f"{total[1] / max(1, total[0]):>7.1%}")
    lines += ["", "reuse found, per planted edit (target recall >= 0.9):",
              f"  {'edit':<10} {'planted':>7} {'found':>6} {'recall':>7}"]
    for edit, row in sorted(summary["findings"]["recall"].items()):
        lines.append(f"  {edit:<10} {row['planted']:>7} {row['found']:>6} {row['recall']:>7.2f}")
    lines += ["", "flagged, per reported kind (target precision >= 0.95):",
              f"  {'kind':<10} {'flagged':>7} {'true':>6} {'precision':>9}"]
    for kind, row in sorted(summary["findings"]["precision"].items()):
        lines.append(f"  {kind:<10} {row['flagged']:>7} {row['true']:>6} "
                     f"{row['precision']:>9.2f}")
    speed = summary["speed"]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in speed["stage_seconds"].items()
                       if k != "total")
    lines += ["", f"speed (target >= 2 pages/s): {speed['pages']} pages, {speed['panels']} "
              f"panels in {speed['seconds_median']:.1f} s (median of "
              f"{len(speed['seconds'])}): {speed['pages_per_second']:.2f} pages/s; {stages}; "
              f"load average {speed['load_average']}",
              f"end to end, `simlab pairs` on the paper in a fresh process (start-up and the "
              f"report included): median {speed['command_seconds_median']:.1f} s, "
              f"{speed['command_pages_per_second']:.2f} pages/s",
              f"baseline, the same {speed['panels']} panels as PNG files through the folder "
              f"job (interleaved): median {speed['baseline_seconds_median']:.1f} s; the PDF "
              f"job takes {speed['seconds_median'] / speed['baseline_seconds_median']:.2f}x "
              f"that"]
    return "\n".join(lines)
