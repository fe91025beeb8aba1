"""The folder job: every pair of a folder, features extracted once (see :mod:`simlab.duplicates`)."""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Callable, Iterable

from ..errors import InvalidParameterError
from ..local.significance import MATCH_LOG_NFA
from ..parallel import one_blas_thread, parallel_map
from ..registry import Features
from ..results import PAIR_COLUMNS as COLUMNS, PairMatch, PairsResult
from .copy_move import FEWEST_INLIERS, find_copy_move
from .features import encode_folder
from .matching import verify_pair, with_significance
from .prune import candidate_pairs

if TYPE_CHECKING:
    import numpy as np

__all__ = ["find", "COLUMNS", "FEWEST_INLIERS"]


def find(folder_or_paths: str | os.PathLike | Iterable[str | os.PathLike], *,
         method: str = "rootsift", threshold: float | None = None,
         min_inliers: int | None = None, min_inlier_ratio: float | None = None,
         max_nfa: float | None = None, max_log_nfa: float | None = None,
         copy_move: bool = True, neighbours: int = 6,
         max_side: int | None = 800, max_keypoints: int = 1000,
         contrast_threshold: float = 0.01, ratio: float = 0.75,
         ransac_threshold: float = 4.0, workers: int = 2, progress: bool = True,
         features: dict[str, Features] | None = None, seed: int = 0,
         exclude: Iterable[str | os.PathLike] = (), cache: str | os.PathLike | None = None,
         cluster=None, pixels: Callable[[str], np.ndarray] | None = None):
    """Duplicated images in a folder: flagged pairs, most certain first.

    Parameters
    ----------
    folder_or_paths : path or iterable of paths
        A folder (searched recursively, see :func:`simlab.list_images`) or image paths.
    method : {"rootsift", "sift"}
        Local features; RootSIFT usually gives more matches.
    max_nfa : float, optional
        Flag a pair (or copy-move) when its number of false alarms (``10 **
        log_nfa``: how many matches this strong chance would give among all the
        comparisons made, see :mod:`simlab.local.significance`) is at most this. By
        default a copy-move needs at most 1 (fewer than one chance alarm expected in the
        whole run) and a pair of different images at most ``10 ** MATCH_LOG_NFA``
        (1e-10): the chance model is loose for look-alike textures, which give pairs of
        unrelated images a handful of inliers at NFAs of 1e-2 to 1e-9 (see
        :data:`simlab.local.significance.MATCH_LOG_NFA`). A bound given here applies to
        both. Copy-moves that a periodic texture or a symmetric design explains
        (``ruled_out``) are never flagged.
    max_log_nfa : float, optional
        The same bound as ``log10(max_nfa)``, for bounds below 1e-308 (NFAs of clear
        copies reach 1e-1000).
    threshold : float, optional
        The score rule of earlier versions instead of the significance: flag when
        ``score`` (0..1, ``inlier_ratio * inliers / (inliers + 6)``) is at least this,
        with ``min_inliers`` (default 8) and ``min_inlier_ratio`` (default 0.3).
    min_inliers, min_inlier_ratio : int, float, optional
        Gates every reported pair must also pass: chance alignments between grey,
        low-texture images reach a handful of inliers, a small share of their matches.
        With the significance, ``min_inliers`` defaults to :data:`FEWEST_INLIERS` for
        copy-moves and to none for pairs, and ``min_inlier_ratio`` is not applied
        unless given.
    copy_move : bool
        Also look for a region repeated inside each image (reported with ``a == b``),
        with keypoints and densely (see :func:`find_copy_move`). Cached features
        extracted without it carry no dense evidence: only keypoints are used for them.
    neighbours : int
        Candidates kept per image by the bag-of-words pruning (plain and mirrored
        together); verification cost grows as ``neighbours * N``.
    max_side : int or None
        Shrink images so their longest side is at most this before extraction.
    max_keypoints, contrast_threshold : int, float
        See :func:`extract_features`.
    ratio, ransac_threshold : float
        Lowe's ratio test and the RANSAC inlier distance (extracted pixels).
    workers : int
        Threads for extraction, pruning and verification (OpenCV, the sparse products
        and the partitions release the GIL).
    progress : bool
        Show progress bars (tqdm; on stderr, or widgets in Jupyter).
    features : dict, optional
        A cache, path -> :func:`extract_features` output (of the same file, unchanged,
        extracted with the same options): images found there are not read again, and
        the features of the others are added to it. Pass the same dict to a second call
        (another threshold, say) to skip extraction.
    seed : int
        Seeds the vocabulary sample, so runs are repeatable.
    exclude : iterable of path
        Folders inside ``folder_or_paths`` not to read (the report's own folder).
    cache : path, optional
        A folder keeping each image's features between runs (one ``.npz`` per image,
        keyed by the file's path, size and mtime and by the extraction options, see
        :mod:`simlab.duplicates.cache`): a second run extracts only new or changed
        files. ``stats["cache"]`` counts its hits and misses.
    cluster : simlab.distributed.Cluster, optional
        Extract features on a Dask cluster's workers (:func:`simlab.distributed.cluster`);
        pruning and verification stay here, so the result is the same.
    pixels : callable, optional
        ``pixels(name)``: an item's image at the size its features were extracted from,
        read again to check a keypoint copy-move against the pixels
        (:func:`~simlab.duplicates.copy_move.pixel_agreement`); default, the file at
        ``max_side``. :func:`~simlab.duplicates.papers.find_in_papers` reads panels
        from their PDF.

    Returns
    -------
    PairsResult
        Iterates over the flagged :class:`PairMatch` objects, most certain first.
        ``table`` has one row per flagged pair with the columns of :data:`COLUMNS`: paths
        ``a`` and
        ``b`` (``a == b`` for copy-move), ``kind`` (``copy``, ``crop``, ``rotation``,
        ``mirror``, ``copy-move``), ``score``, ``inliers``, ``matches``,
        ``inlier_ratio``, the transform b = T(a) (``rotation_degrees`` as
        :func:`describe_transform`, ``scale``, ``mirrored``) and ``overlap_a``,
        ``overlap_b``: the fraction of each image the other covers (copy-move: the
        areas of the two copies). ``skipped`` lists ``{"path", "reason"}`` per unreadable
        file, ``matches`` maps ``(a, b)`` to :class:`PairMatch` (for the pictures),
        ``candidates`` holds ``(a, b, mirrored, similarity)`` per pair the pruning sent
        to verification (see :func:`candidate_pairs`) and ``stats`` the counts, options
        and seconds per stage.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from simlab import samples
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> image = samples.sample_image("astronaut", max_side=200)
    >>> Image.fromarray(image).save(folder / "a.png")
    >>> Image.fromarray(samples.rotate(samples.flip(image), 90)).save(folder / "b.png")
    >>> Image.fromarray(samples.sample_image("coins", max_side=200)).save(folder / "c.png")
    >>> _ = (folder / "d.png").write_text("not an image")
    >>> result = find(folder, progress=False)
    >>> [(pathlib.Path(m.a).name, pathlib.Path(m.b).name, m.kind, m.mirrored)
    ...  for m in result]
    [('a.png', 'b.png', 'mirror', True)]
    >>> result.skipped[0]["path"].endswith("d.png")
    True
    """
    import pandas as pd

    from ..io import scan_images

    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise InvalidParameterError(f"threshold must lie in [0, 1]; got {threshold!r}")
    if max_nfa is not None and not float(max_nfa) > 0.0:
        raise InvalidParameterError(f"max_nfa must be above 0; got {max_nfa!r}")
    given = float(max_log_nfa) if max_log_nfa is not None else \
        math.log10(max_nfa) if max_nfa is not None else None
    bound = 0.0 if given is None else given  # copy-moves
    cross_bound = MATCH_LOG_NFA if given is None else given
    options = dict(method=method, max_side=max_side, max_keypoints=max_keypoints,
                   contrast_threshold=contrast_threshold, copy_move=copy_move,
                   workers=workers, progress=progress)
    started = time.perf_counter()
    listed, unlisted = scan_images(folder_or_paths, exclude=exclude)
    paths = list(dict.fromkeys(str(p) for p in listed))  # no repeats
    known = features if features is not None else {}
    on_disk = None
    if cache is not None:
        from .features import feature_cache

        on_disk = feature_cache(cache, method=method, max_side=max_side,
                                max_keypoints=max_keypoints,
                                contrast_threshold=contrast_threshold, copy_move=copy_move)
    # Cached features are read only when something needs them: a re-run that reuses
    # every result below never opens them (a given ``features`` dict is filled whole).
    deferred = {p for p in paths if p not in known and on_disk.has(p)} \
        if on_disk is not None and features is None else set()
    extracted, skipped = encode_folder([p for p in paths if p not in known
                                        and p not in deferred], cache=on_disk,
                                       cluster=cluster, **options)
    skipped = list(unlisted) + skipped  # SVG, FIFOs, link loops... then unreadable files
    known.update(extracted)
    names = [path for path in paths if path in known or path in deferred]  # listing order
    if deferred:
        known = _Deferred(known, on_disk, max_side, options)
    seconds = {"extract": time.perf_counter() - started}

    # With a cache, what depends only on unchanged files is reused too: the candidate
    # pairs of the same folder, each pair's verification, each image's copy-move search.
    stores = {}
    if on_disk is not None:
        from .cache import ResultStore, key_of, load_candidates, save_candidates

        image_keys = {name: on_disk.key(name) for name in names}
        stores = {kind: ResultStore(on_disk.directory, kind)
                  for kind in ("verified", "copy-move")}

    clock = time.perf_counter()
    candidates = None
    if on_disk is not None:
        folder_key = key_of("candidates", [image_keys[n] for n in names], neighbours, seed)
        candidates = load_candidates(on_disk.directory, folder_key)
    if candidates is None:
        candidates = candidate_pairs([known[p]["descriptors"] for p in names],
                                     neighbours=neighbours, seed=seed, kind=method,
                                     workers=workers)
        if on_disk is not None:
            save_candidates(on_disk.directory, folder_key, candidates)
    seconds["prune"] = time.perf_counter() - clock

    clock = time.perf_counter()
    verify = dict(ratio=ratio, ransac_threshold=ransac_threshold)

    def verified(candidate):
        i, j, mirrored, _ = candidate
        if "verified" in stores:
            key = key_of("verified", image_keys[names[i]], image_keys[names[j]],
                         mirrored, verify)
            match = stores["verified"].get(key, names[i], names[j])
            if match is not None:
                return match
        match = verify_pair(known[names[i]], known[names[j]], mirrored=mirrored,
                            names=(names[i], names[j]), **verify)
        if "verified" in stores:
            stores["verified"].put(key, match)
        return match

    with one_blas_thread():  # the workers are the parallelism (matching is a product)
        results = parallel_map(verified, candidates, workers=workers, progress=progress,
                               desc="verify", unit="pair", leave=False)
    # The comparisons made, which a significance pays for: every pair could have been
    # sent to verification, plain and mirrored (pruning chose among them all).
    tests = {"cross-image": 2 * len(names) * (len(names) - 1) // 2,
             "copy-move": len(names) if copy_move else 0}
    best: dict[tuple[str, str], PairMatch] = {}
    for match in results:  # a pair may have been verified plain and mirrored
        match = with_significance(match, tests=tests["cross-image"], job="cross-image")
        key = (match.a, match.b)
        if key not in best or (match.log_nfa, -match.inliers) < (best[key].log_nfa,
                                                                 -best[key].inliers):
            best[key] = match
    seconds["verify"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if copy_move:
        def read_pixels(name):
            if pixels is not None:
                return pixels(name)
            from ..io import load_image

            return load_image(name, max_side=max_side)

        def copy_moved(name):
            if "copy-move" in stores:
                key = key_of("copy-move", image_keys[name], tests["copy-move"], verify)
                match = stores["copy-move"].get(key, name, name)
                if match is not None:
                    return match
            match = find_copy_move(known[name], name=name, tests=tests["copy-move"],
                                   pixels=lambda: read_pixels(name), **verify)
            if "copy-move" in stores:
                stores["copy-move"].put(key, match)
            return match

        with one_blas_thread():  # the workers are the parallelism
            found = parallel_map(copy_moved, names, workers=workers, progress=progress,
                                 desc="copy-move", unit="image", leave=False)
        for match in found:
            # find_copy_move counted the images: only the probability is added here.
            best[(match.a, match.b)] = with_significance(match, tests=1, job="copy-move")
    seconds["copy_move"] = time.perf_counter() - clock
    for store in stores.values():
        store.save()

    gate = _gate(threshold, min_inliers, min_inlier_ratio, max_log_nfa=bound,
                 cross_image_max_log_nfa=cross_bound)
    flagged = sorted((m for m in best.values() if gate(m)),
                     key=lambda m: (m.log_nfa, -m.score, -m.inliers, m.a, m.b))
    table = pd.DataFrame([m.row() for m in flagged], columns=list(COLUMNS))
    seconds["total"] = time.perf_counter() - started
    stats = {
        "images": len(names), "skipped": len(skipped), "candidates": len(candidates),
        # a pair may be verified both plain and mirrored: two candidates, one pair
        "pairs_verified": len({(c[0], c[1]) for c in candidates}),
        "pairs_possible": len(names) * (len(names) - 1) // 2, "flagged": len(flagged),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "tests": tests,
        **({"cache": {"folder": os.fspath(cache), "hits": on_disk.hits,
                      "misses": on_disk.misses, "rebuilt": on_disk.rebuilt,
                      **{f"{kind}_reused": store.hits for kind, store in stores.items()}}}
           if on_disk is not None else {}),
        "options": {**options, "threshold": threshold, "min_inliers": min_inliers,
                    "min_inlier_ratio": min_inlier_ratio,
                    "max_nfa": 10.0 ** bound if bound > -300 else 0.0,
                    "max_log_nfa": bound, "cross_image_max_log_nfa": cross_bound,
                    "neighbours": neighbours, "copy_move": copy_move, "seed": seed,
                    **verify}}
    return PairsResult(table, {(m.a, m.b): m for m in flagged}, skipped,
                       [(names[i], names[j], mirrored, similarity)
                        for i, j, mirrored, similarity in candidates], stats,
                       verified=[m for m in best.values() if m.kind != "none"])


class _Deferred(dict):
    """Features by path, read from the cache on first use (extracted again when the
    entry does not load)."""

    def __init__(self, known, cache, max_side, options):
        super().__init__(known)
        self._cache, self._max_side = cache, max_side
        self._options = {**{k: options[k] for k in ("method", "max_keypoints",
                                                    "contrast_threshold", "copy_move")},
                         "compact": True}  # as encode_folder extracts

    def __missing__(self, path):
        from pathlib import Path

        from .features import _load_and_extract

        found = self._cache.load_entry(path)
        if found is None:  # damaged since it was listed: extract (and store) again
            found = _load_and_extract(Path(path), self._max_side, self._options)
            self._cache.put(path, found)
        self[path] = found  # threads may both read it once; either copy is the same
        return found


def _gate(threshold: float | None, min_inliers: int | None,
          min_inlier_ratio: float | None, max_nfa: float | None = None, *,
          max_log_nfa: float = 0.0, cross_image_max_log_nfa: float = MATCH_LOG_NFA):
    """Whether a verified match is flagged: by significance (``max_log_nfa`` for
    copy-moves, ``cross_image_max_log_nfa`` for pairs: find()'s defaults; ``max_nfa``
    given sets both), or by the score rule."""
    if max_nfa is not None:
        max_log_nfa = cross_image_max_log_nfa = math.log10(max_nfa)

    def flagged(match: PairMatch) -> bool:
        if match.kind == "none" or match.ruled_out:
            return False
        if threshold is not None:  # the score rule of earlier versions
            return (match.score >= threshold and match.inliers >= (
                8 if min_inliers is None else min_inliers) and match.inlier_ratio >= (
                0.3 if min_inlier_ratio is None else min_inlier_ratio))
        fewest = min_inliers if min_inliers is not None else \
            FEWEST_INLIERS if match.a == match.b else 0
        bound = max_log_nfa if match.a == match.b else cross_image_max_log_nfa
        return (match.log_nfa <= bound and match.inliers >= fewest
                and (min_inlier_ratio is None or match.inlier_ratio >= min_inlier_ratio))

    return flagged
