"""The ``simlab`` command: a thin layer over the Python API.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback),
3 ``search`` with several queries where some failed (each reported, the rest searched),
130 interrupted. Folder jobs (``pairs``, ``index``) exit 0 when they finished: the files
they skipped are listed with a reason in their output.
"""

from __future__ import annotations

import argparse
import os
import json
import math
import sys
from typing import Any, Sequence

from .comparison import DEFAULT_MAX_SIDE
from .errors import IndexError_, InvalidParameterError, MethodUnavailableError, SimlabError

__all__ = ["main", "EXIT_SOME_FAILED"]

#: Exit status of ``simlab search`` when some of several queries failed (each is reported,
#: the others were searched).
EXIT_SOME_FAILED = 3


def _parse_settings(settings: Sequence[str], methods: Sequence[str]) -> dict[str, dict]:
    """``--set KEY=VALUE`` / ``--set METHOD.KEY=VALUE`` -> per-method parameters.

    A bare KEY applies to every selected method that has that parameter.
    """
    from .registry import get_method

    per_method: dict[str, dict[str, Any]] = {}
    for setting in settings:
        key, sep, text = setting.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"--set expects KEY=VALUE, got {setting!r}")
        target, dot, name = key.rpartition(".")
        targets = [target] if dot else list(methods)
        if dot and target not in methods:
            raise InvalidParameterError(
                f"--set {setting}: method {target!r} is not among --method "
                f"{', '.join(methods)}")
        applied = False
        for method in targets:
            spec = get_method(method)
            param = next((p for p in spec.params if p.name == name), None)
            if param is None:
                if dot:
                    spec.resolve({name: None})  # raises, listing the valid names
                continue
            per_method.setdefault(method, {})[name] = param.parse(text, method)
            applied = True
        if not applied:
            raise InvalidParameterError(
                f"--set {setting}: none of {', '.join(methods)} has a parameter {name!r}; "
                "see `simlab methods`")
    return per_method


def _cmd_methods(args: argparse.Namespace) -> int:
    from .registry import get_method, method_names

    rows = []
    for name in method_names():
        spec = get_method(name)
        reason = spec.unavailable_reason()
        rows.append({"method": name, "summary": spec.summary, "score": spec.score_doc,
                     "available": reason is None, "unavailable_reason": reason,
                     "parameters": [{"name": p.name, "default": p.default, "help": p.help,
                                     **({"choices": list(p.choices)} if p.choices else {})}
                                    for p in spec.params]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "" if row["available"] else "  [unavailable here]"
        print(f"{row['method']}{status}\n    {row['summary']}\n    score: {row['score']}")
        for p in row["parameters"]:
            choices = f" (one of {', '.join(map(str, p['choices']))})" if "choices" in p else ""
            print(f"    --set {p['name']}={p['default']}{choices}: {p['help']}")
        if row["unavailable_reason"]:
            print(f"    unavailable: {row['unavailable_reason']}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .comparison import compare_all, resolve_methods
    from .files import atomic_path, json_ready
    from .io import load_image
    from .registry import get_method

    methods = resolve_methods(args.method or ["all"])
    params = _parse_settings(args.set or [], methods)
    # A method asked for by name must run (or the command fails, exit 2, saying why);
    # "all" means "every method that can run here" and skips the others.
    named = [] if "all" in (args.method or ["all"]) else methods
    for name in named:
        spec = get_method(name)
        spec.ensure_available(spec.resolve(params.get(name)))
    max_side = args.max_side or None  # 0: full size
    image_a = load_image(args.a, max_side=max_side)
    image_b = load_image(args.b, max_side=max_side)
    frame = compare_all(image_a, image_b, methods, params=params, max_side=None)
    results = frame.attrs["results"]
    skipped = [{"method": row.method, "reason": row.skipped}
               for row in frame.itertuples() if isinstance(row.skipped, str)]
    for item in skipped:
        if item["method"] in named:
            raise MethodUnavailableError(item["reason"])
        if args.json:  # the table says so too; with --json, say it on stderr
            print(f"simlab: skipped {item['method']}: {item['reason']}", file=sys.stderr)
    if args.draw:
        import matplotlib
        matplotlib.use("Agg")
        from .plotting import plot_comparison

        figure = plot_comparison(image_a, image_b, frame, title=f"{args.a}  vs  {args.b}")
        with atomic_path(args.draw) as temporary:
            figure.savefig(temporary, dpi=110, format=_image_format(args.draw))
    from .duplicates.matching import verdict

    decided = verdict(image_a, image_b)
    if args.json:
        payload = {"a": args.a, "b": args.b,
                   "results": [result.to_dict() for result in results.values()],
                   "skipped": skipped, "verdict": decided}
        print(json.dumps(json_ready(payload), indent=2))
        return 0
    print(f"a: {args.a}\nb: {args.b}")
    print(f"{'method':<10} {'score':>6} {'raw':>12} {'seconds':>8}  note")
    for row in frame.itertuples():
        if isinstance(row.skipped, str):
            print(f"{row.method:<10} {'-':>6} {'-':>12} {'-':>8}  skipped: {row.skipped}")
            continue
        note = results[row.method].reason or ""
        print(f"{row.method:<10} {row.score:>6.3f} {row.raw:>12.4g} {row.seconds:>8.3f}  {note}")
    from .duplicates.report import _nfa_text

    significance = (_nfa_text(decided["log_nfa"]) if decided["log_nfa"] is not None
                    else "nothing verified")
    print(f"verdict: {decided['verdict']} ({decided['kind']}, {significance}, probability "
          f"{decided['probability']:.2f}; {decided['reason']})")
    if args.draw:
        print(f"figure: {args.draw}")
    return 0


def _image_format(path: str) -> str:
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else "png"
    if suffix not in ("png", "jpg", "jpeg", "pdf", "svg"):
        raise InvalidParameterError(f"--draw {path}: use a .png, .jpg, .pdf or .svg name")
    return suffix


def _cmd_pairs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .duplicates import find
    from .duplicates.report import pairs_payload, write_report
    from .files import display_path

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise InvalidParameterError(f"--out {args.out}: is a file; pass a folder (new or "
                                    "existing) for pairs.csv, index.html and pictures/")
    # The report may sit inside the folder: never read its pictures back as input.
    # No --threshold: the defaults of find() (NFA <= 1 for copy-moves, <= 1e-10 for pairs).
    kind, value = _pairs_threshold(args.threshold) if args.threshold else ("nfa", None)
    rule = {"max_log_nfa": value} if kind == "nfa" else {"threshold": value}
    from .duplicates.cache import DEFAULT_NAME
    from .duplicates.papers import split_inputs

    cache = None if args.no_cache else (args.cache or os.path.join(args.out, DEFAULT_NAME))
    inputs = args.inputs
    excluded = [args.out] + ([cache] if cache else [])
    pdfs = split_inputs(inputs, exclude=excluded)[0] if any(
        Path(p).is_dir() or Path(p).suffix.lower() == ".pdf" for p in inputs) else []
    if len(inputs) == 1 and Path(inputs[0]).is_dir() and not pdfs:
        with _cluster(args, progress=not args.json) as cluster:
            result = find(inputs[0], method=args.method, max_side=args.max_side,
                          workers=args.threads, exclude=excluded,
                          copy_move=args.copy_move, cache=cache, cluster=cluster, **rule)
    else:  # PDFs, or several files and folders: panels and files, with their sources
        from .duplicates.papers import find_in_papers
        from .pdf import count_pages

        if len(inputs) == 1 and Path(inputs[0]).suffix.lower() == ".pdf":
            count_pages(inputs[0])  # one PDF it cannot read: one error line, exit 2
        # Panels are not files: the per-file feature cache and the cluster do not apply.
        result = find_in_papers(inputs, method=args.method, max_side=args.max_side,
                                workers=args.threads, exclude=excluded,
                                copy_move=args.copy_move, dpi=args.dpi,
                                split=args.split, **rule)
    table = write_report(result, args.out, max_side=args.max_side)
    if args.json:
        print(json.dumps(pairs_payload(result, table), indent=2))
        return 0
    stats = result.stats
    if "papers" in stats:
        from .duplicates.papers import describe

        papers = stats["papers"]
        print(f"{len(papers)} PDFs: {sum(p['pages'] for p in papers)} pages, "
              f"{sum(p['figures'] for p in papers)} figures, "
              f"{sum(p['panels'] for p in papers)} panels")
        sources = result.sources

        def display_path(name, plain=display_path):  # noqa: F811 - panels by their place
            return describe(sources[name]) if name in sources else plain(name)
    print(f"{stats['images']} images, {stats['skipped']} skipped, "
          f"{stats.get('pairs_verified', stats['candidates'])} of "
          f"{stats['pairs_possible']} pairs verified, {stats['flagged']} flagged "
          f"({stats['seconds']['total']:.1f} s)")
    from .duplicates.report import _nfa_text

    for heading, within in (("across images", False), ("within one image (copy-move)", True)):
        rows = [row for row in table.itertuples() if (row.a == row.b) == within]
        if rows:
            print(f"{heading}:")
        for row in rows:
            match = result.matches[(row.a, row.b)]
            b = "(same image)" if row.a == row.b else display_path(row.b)
            print(f"  {_nfa_text(match.log_nfa):<10} {row.kind:<9} {row.inliers:>5} inliers  "
                  f"{display_path(row.a)}  {b}")
    for item in result.skipped:
        print(f"skipped: {display_path(item['path'])}: {item['reason']}")
    print(f"wrote {args.out}/pairs.csv, {args.out}/index.html and {len(table)} pictures")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a whole number of at least 1")
    return value


def _dpi(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1200:
        raise argparse.ArgumentTypeError(f"{text}: give a resolution in (0, 1200], e.g. 150")
    return value


def _pairs_threshold(text: str) -> tuple[str, float]:
    """``nfa:N`` (significance) or a plain score in [0, 1] (the earlier rule)."""
    kind, _, value = text.rpartition(":") if ":" in text else ("score", "", text)
    kind = kind.strip().lower() or "score"
    try:
        number = float(value)
        if kind.strip().lower() == "nfa":  # NFAs reach 1e-1000: keep the exponent
            from decimal import Decimal

            number = float(Decimal(value.strip()).log10()) if Decimal(value.strip()) > 0 \
                else -math.inf
    except (ValueError, ArithmeticError):
        raise InvalidParameterError(
            f"--threshold {text}: give nfa:N (e.g. nfa:1, nfa:0.01) or a score in [0, 1]"
        ) from None
    if kind == "nfa":
        if not math.isfinite(number):
            raise InvalidParameterError(f"--threshold {text}: the NFA bound must be above 0")
        return "nfa", number  # log10 of the bound
    if kind != "score" or not 0.0 <= number <= 1.0:
        raise InvalidParameterError(
            f"--threshold {text}: threshold must be nfa:N or a score in [0, 1]")
    return "score", number


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_compare

    if args.target == "methods":
        from .bench.auc import bench_methods

        frame = bench_methods(args.method, progress=not args.json)
        print(frame.to_json(orient="records", indent=2) if args.json
              else frame.to_string(index=False))
        return 0
    if args.target == "papers":
        from .bench.papers import bench_papers_report

        print(bench_papers_report(pages=args.pages, figures=args.figures,
                                  repeats=min(args.repeats, 3), as_json=args.json,
                                  random_state=args.random_state or 0, draws=args.draws,
                                  progress=not args.json))
        return 0
    if args.target == "pairs":
        from .bench.pairs import bench_pairs_report

        print(bench_pairs_report(repeats=args.repeats, methods=args.method, as_json=args.json))
        return 0
    if args.target == "integrity":
        from .bench.integrity import bench_integrity_report, refit_calibration

        if args.refit:
            print(refit_calibration())
            return 0
        print(bench_integrity_report(as_json=args.json, out=args.out,
                                     seed=0 if args.random_state is None
                                     else args.random_state))
        return 0
    if args.target == "scale":
        from .bench.scale import bench_scale_report

        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
        on_cluster = None if args.cluster_sizes is None else \
            [int(n) for n in args.cluster_sizes.split(",") if n.strip() and int(n) > 0]
        print(bench_scale_report(sizes=sizes, as_json=args.json, out=args.out,
                                 progress=not args.json, cluster_sizes=on_cluster))
        return 0
    if args.target == "search":
        from .bench.search import bench_search_report

        print(bench_search_report(methods=args.method, as_json=args.json, scale=args.scale,
                                  hard=args.hard))
        return 0
    frame = bench_compare(size=args.size, repeats=args.repeats,
                          methods=args.method or None)
    if args.json:
        print(frame.to_json(orient="records", indent=2))
    else:
        print(frame.to_string(index=False))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .lab.report import build_report

    runs = build_report(args.out, notebooks=args.notebooks, figures_dir=args.figures,
                        assets=args.assets, quick=args.quick, timeout=args.timeout)
    for run in runs:
        print(f"{run.name:<32} {run.seconds:>7.1f} s  {args.out}/{run.page}")
    print(f"index: {args.out}/index.html")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .lab.demo import run_demo

    summary = run_demo(args.out, methods=args.method or None)
    print(summary)
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from .index import build

    options = {"max_side": args.max_side}
    with _cluster(args, progress=not args.json) as cluster:
        index = build(args.dir, method=args.method, path=args.index, rebuild=args.rebuild,
                      workers=args.threads, progress=not args.json, cluster=cluster,
                      shard_size=args.shard_size,
                      **{k: v for k, v in options.items() if v is not None})
    summary = index.last_update
    if args.json:
        print(json.dumps({"index": os.path.abspath(args.index), "method": index.method,
                          "images": len(index), "added": summary["added"],
                          "updated": summary["updated"], "removed": summary["removed"],
                          "unchanged": summary["unchanged"], "skipped": summary["skipped"],
                          "seconds": round(summary["seconds"], 3),
                          "shards": len(index.shards)}, indent=2))
        return 0
    rate = summary["images_per_second"]
    print(f"{args.index}: {len(index)} images ({index.method}): {summary['added']} added, "
          f"{summary['updated']} updated, {summary['removed']} removed, "
          f"{summary['unchanged']} unchanged, {len(summary['skipped'])} skipped "
          f"({summary['seconds']:.1f} s" + (f", {rate:.1f} images/s)" if rate else ")"))
    for item in summary["skipped"]:
        print(f"skipped: {item['path']}: {item['reason']}")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from .files import display_path, json_ready
    from .index import Index

    index = Index.load(args.index)
    if args.top < 1:
        raise InvalidParameterError(f"--top must be at least 1, got {args.top}")
    payload, failed = [], 0
    for query in args.query:
        try:
            hits = index.search(query, top=args.top)
        except IndexError_:
            raise  # the index is at fault (damage found as it is read): no query can run
        except SimlabError as exc:
            if len(args.query) == 1:
                raise  # one query: one error line, exit 2, as for any bad input
            # Several queries: report this one and go on with the others (exit 3).
            failed += 1
            reason = exc.reason_for(query)
            payload.append({"query": query, "results": [], "error": reason})
            if not args.json:
                print(f"query: {display_path(query)}\n  failed: {reason}")
            continue
        answers = [hit for hit in hits if hit.match]
        payload.append({"query": query, "matches": len(answers), "results": [
            {"rank": rank, "path": hit.path, "score": round(hit.score, 6),
             "match": hit.match, "region": json_ready(hit.region),
             "details": json_ready(hit.details)}
            for rank, hit in enumerate(hits, start=1)]})
        if not args.json:
            print(f"query: {display_path(query)}")
            if "match" in (hits[0].details if hits else {}):
                print(f"  {len(answers)} match{'es' if len(answers) != 1 else ''}"
                      + ("" if answers else ": no indexed image is in this query; the "
                         "most similar follow"))
            for rank, hit in enumerate(hits, start=1):
                extra = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in hit.details.items() if k != "region")
                where = (" region=" + ",".join(f"{v:g}" for v in hit.region)
                         if hit.region is not None else "")
                label = "MATCH" if hit.match else "     "
                print(f"{rank:>3}  {label}  {hit.score:.3f}  {display_path(hit.path)}"
                      f"{where}  ({extra})")
    if args.json:
        print(json.dumps(payload, indent=2))
    if failed:
        print(f"simlab: {failed} of {len(args.query)} queries failed (listed above)",
              file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


def add_index_parsers(subparsers) -> None:
    """Add the ``index`` and ``search`` commands to ``simlab``'s subparsers.

    ``simlab index DIR --index PATH [--method M] [--max-side PX] [--threads N]
    [--workers N | --scheduler ADDRESS] [--shard-size N] [--rebuild] [--json]`` builds or
    updates an index (``--json`` adds ``"shards"``, how many it has); ``simlab search QUERY... --index
    PATH [--top K] [--json]`` searches it. ``--json`` prints ``[{"query": ...,
    "matches": <count>, "results": [{"rank": 1, "path": <absolute path>, "score": ...,
    "match": <bool>, "region": [left, top, right, bottom] or null, "details": {...}}]}]``
    (``details``: what the text output shows, e.g. ``verified``, ``inliers``); the text
    output prints paths relative to the current directory when they are inside it. With
    several queries a failed one has ``"results": []`` and ``"error": <reason>``, the
    others are searched, and the exit status is :data:`EXIT_SOME_FAILED` (3).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="simlab")
    >>> add_index_parsers(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["search", "q.jpg", "--index", "ix", "--top", "3"]).top
    3
    """
    index = subparsers.add_parser(
        "index", help="index a folder of images for reverse image search (re-running "
        "processes only new or changed files and drops deleted ones)")
    index.add_argument("dir", help="folder of images (searched recursively)")
    index.add_argument("--index", required=True, metavar="PATH",
                       help="index directory to create or update")
    from .index import DEFAULT_METHOD, METHODS

    index.add_argument("--method", choices=list(METHODS), default=None,
                       help=f"default {DEFAULT_METHOD} (or the existing index's method)")
    index.add_argument("--max-side", type=int, default=None, metavar="PX",
                       help="shrink images to this longest side first (default 640)")
    _add_parallel_options(index)
    index.add_argument("--shard-size", type=int, default=None, metavar="N",
                       help="images per shard (one arrays file each, written once; "
                       "images added later go to new shards); default: the index's own, "
                       "else 10000")
    index.add_argument("--rebuild", action="store_true",
                       help="ignore an existing index at PATH and start over")
    index.add_argument("--json", action="store_true", help="print a JSON summary")
    index.set_defaults(func=_cmd_index)

    search = subparsers.add_parser("search", help="find the indexed images most similar "
                                   "to each query image")
    search.add_argument("query", nargs="+", help="query image file(s)")
    search.add_argument("--index", required=True, metavar="PATH", help="index directory")
    search.add_argument("--top", type=int, default=10, help="results per query (default 10)")
    search.add_argument("--json", action="store_true",
                        help='print [{"query", "results": [{"rank", "path", "score", '
                        '"details"}]}]; a query that failed has "results": [] and "error": '
                        'its reason')
    search.epilog = ("With several queries, a bad one (missing, empty, not an image...) is "
                     "reported and the others are still searched; the exit status is then "
                     f"{EXIT_SOME_FAILED}. One bad query alone exits 2.")
    search.set_defaults(func=_cmd_search)


def _add_parallel_options(parser) -> None:
    """``--threads`` (one process), ``--workers`` / ``--scheduler`` (Dask)."""
    parser.add_argument("--threads", type=_at_least_one, default=2, metavar="N",
                        help="threads in this process (default 2)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_at_least_one, default=None, metavar="N",
                       help="extract features on a local Dask cluster of N worker "
                       "processes (needs dask[distributed]; without it, or --scheduler, "
                       "Dask is not used)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="extract features on the running Dask scheduler at ADDRESS "
                       "(tcp://host:8786); its workers must see the images at the same "
                       "paths")


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cluster(args: argparse.Namespace, *, progress: bool):
    """The Dask cluster ``--workers`` / ``--scheduler`` ask for (imported only then), or
    a context giving None."""
    import contextlib

    if args.workers is None and args.scheduler is None:
        return contextlib.nullcontext(None)
    from .distributed import cluster

    return cluster(workers=args.workers, address=args.scheduler, progress=progress)


def _pixels(text: str, *, zero_means_full: bool = False) -> int:
    """``--max-side``: a whole number of pixels, at least the minimum side (or 0 for full
    size, where ``zero_means_full``)."""
    from .io import MIN_SIDE

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text!r}") \
            from None
    if value < MIN_SIDE and not (zero_means_full and value == 0):
        either = " (or 0 for full size)" if zero_means_full else ""
        raise argparse.ArgumentTypeError(f"must be at least {MIN_SIDE} px{either}, got {value}")
    return value


def _max_side_or_zero(text: str) -> int:
    return _pixels(text, zero_means_full=True)


def _max_side(text: str) -> int:
    return _pixels(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``simlab`` command."""
    parser = argparse.ArgumentParser(
        prog="simlab", description="How similar are two images? Histograms, SSIM, SIFT, "
        "RootSIFT, AKAZE, pHash and VGG16 behind one command.",
        epilog="Exit status: 0 done; 2 bad input or usage (one line on stderr); 3 search "
        "with several queries where some failed (each reported, the others searched); "
        "130 interrupted. Folder jobs list the files they skipped, with a reason.")
    sub = parser.add_subparsers(dest="command", required=True)

    methods = sub.add_parser("methods", help="list methods with parameters and defaults")
    methods.add_argument("--json", action="store_true", help="print JSON")
    methods.set_defaults(func=_cmd_methods)

    compare = sub.add_parser("compare", help="compare two images")
    compare.add_argument("a", help="first image file")
    compare.add_argument("b", help="second image file")
    compare.add_argument("--method", action="append", metavar="NAME",
                         help="method to run (repeatable; a named method that cannot run "
                              "here is an error, exit 2); 'all' (default) runs every method "
                              "that can run here and lists the others as skipped")
    compare.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="method parameter, e.g. ratio=0.8 or sift.ratio=0.8")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.add_argument("--draw", metavar="OUT.png", help="save a figure explaining each "
                         "method's result")
    compare.add_argument("--max-side", type=_max_side_or_zero, default=DEFAULT_MAX_SIDE,
                         metavar="PX", help=f"shrink both images so the longest side is at "
                         f"most PX (default {DEFAULT_MAX_SIDE}, for speed and bounded "
                         "memory); 0 compares at full size, within the memory budget "
                         "SIMLAB_MEMORY_BUDGET_MB (default 2048)")
    compare.set_defaults(func=_cmd_compare)

    pairs = sub.add_parser("pairs", help="find duplicated images in a folder (rotated, "
                           "mirrored, recoloured, cropped, copy-move) and draw the evidence")
    pairs.add_argument("inputs", nargs="+", metavar="PATH",
                       help="folders (searched recursively for images and PDFs), image "
                       "files and PDFs; the figures of a PDF are split into panels")
    pairs.add_argument("--out", required=True, help="output folder: pairs.csv, skipped.csv, "
                       "pictures/, index.html")
    pairs.add_argument("--method", default="rootsift", choices=["rootsift", "sift"],
                       help="local features (default rootsift)")
    pairs.add_argument("--threshold", default=None,
                       metavar="nfa:N | SCORE",
                       help="what is flagged: nfa:N flags findings whose number of false "
                       "alarms (expected chance findings this strong among all the "
                       "comparisons made) is at most N (default: nfa:1 for copy-moves, "
                       "nfa:1e-10 for pairs of images, whose look-alike textures fool "
                       "the chance model more often); a plain number 0..1 is the score "
                       "rule of earlier versions")
    pairs.add_argument("--copy-move", action=argparse.BooleanOptionalAction, default=True,
                       help="also search each image for a region repeated inside it "
                       "(default: on; --no-copy-move compares images only)")
    pairs.add_argument("--max-side", type=_max_side, default=800, metavar="PX",
                       help="shrink images to this longest side first (default 800)")
    _add_parallel_options(pairs)
    pairs.add_argument("--cache", default=None, metavar="DIR",
                       help="keep each image's features there between runs, so a second "
                       "run extracts only new or changed files (default OUT/cache)")
    pairs.add_argument("--no-cache", action="store_true",
                       help="extract every image again and keep nothing")
    pairs.add_argument("--json", action="store_true", help="print JSON")
    pairs.add_argument("--split", action=argparse.BooleanOptionalAction, default=True,
                       help="split the figures of PDFs into panels at their gutters "
                       "(default: on; --no-split compares whole figures)")
    pairs.add_argument("--dpi", type=_dpi, default=150,
                       help="resolution for rendering tiled figures and scanned pages of "
                       "PDFs (default 150; embedded images are read at their own)")
    pairs.set_defaults(func=_cmd_pairs)

    add_index_parsers(sub)

    bench = sub.add_parser("bench", help="benchmarks, not tests: time the methods "
                           "(compare), their ROC AUC on labelled pairs (methods), the "
                           "duplicate finder (pairs), reverse image search (search), "
                           "panels and reuse in generated PDF papers (papers), "
                           "copy-move and verdicts for image integrity (integrity), the "
                           "index from 1,000 to 100,000 images (scale)")
    bench.add_argument("target", choices=["compare", "methods", "pairs", "search",
                                          "integrity", "papers", "scale"],
                       help="what to benchmark")
    bench.add_argument("--size", type=int, default=640, help="longest image side (px)")
    bench.add_argument("--repeats", type=int, default=7, help="timed runs per method")
    bench.add_argument("--method", action="append", metavar="NAME")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--pages", type=int, default=20,
                       help="papers: pages of each generated paper (default 20)")
    bench.add_argument("--figures", type=int, default=8,
                       help="papers: figures of each generated paper (default 8); the "
                       "speed run is repeated --repeats times, at most 3")
    bench.add_argument("--scale", type=int, default=None, metavar="N",
                       help="search: also time an index of N images (synthetic fill)")
    bench.add_argument("--out", default=None, metavar="DIR",
                       help="integrity: write integrity.json, candidates.csv and the "
                       "reliability diagram there")
    bench.add_argument("--refit", action="store_true",
                       help="integrity: fit the calibrated probability again (on four "
                       "benchmark sets built with other random choices) and rewrite "
                       "simlab/duplicates/calibration.json")
    bench.add_argument("--random-state", type=int, default=None, metavar="N",
                       help="integrity, papers: random choices of the planted set "
                       "(default 0, the set thresholds were tuned on; another number is "
                       "a held-out set; the integrity calibration is fitted on 1, 3, 4 "
                       "and 5)")
    bench.add_argument("--draws", type=_positive_int, default=1, metavar="K",
                       help="papers: generate and score K pairs of papers (random states "
                       "N, N+1, ...) and sum their counts; speed is timed on the first")
    bench.add_argument("--sizes", default=None, metavar="N,N,...",
                       help="scale: index sizes to run (default 1000,10000)")
    bench.add_argument("--cluster-sizes", default=None, metavar="N,N,...",
                       help="scale: sizes built again on a 2-process Dask LocalCluster "
                       "and searched by a plain process (default 10000; 0 for none)")
    bench.add_argument("--hard", action="store_true",
                       help="search: the hard set (tiny crops, turns, perspective, heavy "
                       "JPEG, negatives, channel swaps, screenshots, collages...; queries "
                       "whose source is not indexed) instead")
    bench.set_defaults(func=_cmd_bench)

    report = sub.add_parser("report", help="execute every notebook headless and write an "
                            "HTML page each plus an index (widgets embedded, offline)")
    report.add_argument("--out", default="reports", help="output folder")
    report.add_argument("--notebooks", default="notebooks", help="folder of notebooks")
    report.add_argument("--figures", default="figures", help="folder for key figure PNGs")
    report.add_argument("--assets", default=None, help="node_modules folder with "
                        "@jupyter-widgets/html-manager and requirejs (default "
                        "$SIMLAB_WIDGET_ASSETS or build/widget-assets/node_modules)")
    report.add_argument("--quick", action="store_true", help="small images (SIMLAB_QUICK=1)")
    report.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    report.set_defaults(func=_cmd_report)

    demo = sub.add_parser("demo", help="run every method on the built-in teaching pairs "
                          "and write a table and figures")
    demo.add_argument("--out", default="reports/demo", help="output folder")
    demo.add_argument("--method", action="append", metavar="NAME")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``simlab`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SimlabError as exc:
        print(f"simlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
