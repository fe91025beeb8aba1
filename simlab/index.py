"""Reverse image search over a folder: index once, find cropped or recompressed copies fast.

A well-known forum question asks for the images of a folder (thousands of them) that a
query image was made from, when the query may be cropped, recompressed, shrunk,
recoloured or mirrored, in a few seconds at most. Its program (SIFT, an 800-word k-means
vocabulary, L1 histograms, nearest neighbour) works for near-identical queries and fails
beyond. What retrieval research does instead (Sivic & Zisserman 2003; Philbin et al. 2007):

1. **A fine vocabulary.** RootSIFT descriptors quantised into ~20,000 visual words (a
   two-level k-means tree, :mod:`simlab.bow.vocabulary`): two unrelated patches rarely
   share a word, so shared words are evidence.
2. **tf-idf and an inverted file.** Words frequent in the collection weigh little; each
   word lists the images that contain it, so a query touches only the images that share
   its words (a sparse product), never every histogram.
3. **Cosine, not L1/L2 on raw histograms.** A crop keeps a subset of the words; the
   cosine of L2-normalised tf-idf vectors is what degrades gracefully.
4. **Spatial verification** (method ``"bow-verify"``, the default): the best ``shortlist``
   images are re-ranked by how many of the words they share with the query sit where one
   rotation + scale + translation (RANSAC) puts them. Correspondences are "same word in
   both images", so only each keypoint's word and position are stored, not descriptors.
   The verifier is the engine's (:func:`simlab.local.verify`): its chance guard drops
   inliers whose keypoint orientation and size disagree with the transform, and a
   candidate counts as verified with at least 8 distinct inliers that are also 5 % of
   its correspondences: repetitive textures line up a dozen of hundreds by chance.
5. **Mirrors.** The query's descriptors are mirrored by a fixed permutation
   (:func:`simlab.local.mirror_descriptors`), so flipped copies are found without
   a second extraction.
6. **A global fallback** (``"bow-verify"``): flat, dark or smooth images (skies,
   gradients, plaster) have few keypoints, and a query at JPEG quality 10 or a quarter of
   the size may keep too few of them to verify. Images that no geometry confirms are
   ranked by reciprocal-rank fusion (Cormack et al. 2009) of three independent rankings:
   the bag-of-words cosine, the ordinal-thumbnail similarity
   (:mod:`simlab.methods.ordinal`: survives JPEG, shrinking, gamma, contrast, grey, hue
   and text) and the colour-histogram similarity (survives crops and small rotations).
   Each method fails on different edits, and a rank fusion needs no score calibration.
   The ordinal thumbnail replaced pHash there: on four draws of the search benchmark,
   recall@1 went from 0.968 to 0.975 on average, and from 0.95 to 0.97 on the first.
7. **Fill is not picture.** A copy rotated by a few degrees gains white (or black)
   corners. Keypoint contrast is stretched, and colour histograms counted, without them
   (:func:`simlab.borders.fill_mask`); a dark sky turned by 11 degrees kept 6 of its
   original's 633 keypoints before, and 522 after.

Global descriptors (``"phash"``, ``"histogram"``, ``"vgg16"``) are searched exactly with
numpy for comparison, and ``"naive-bow"`` reproduces the forum question's program as a
baseline. Each method is a backend class (:mod:`simlab.search.backends`).

An index is one directory: ``index.json`` (format, version, options, each file's size
and mtime, unreadable files) and ``arrays-<generation>.npz`` (features, loaded with
``allow_pickle=False``), written atomically, JSON last. Re-indexing a folder processes
only new or changed files and drops deleted ones.

Examples
--------
>>> import tempfile, pathlib
>>> from PIL import Image
>>> from simlab import samples, index
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("astronaut", "coffee", "camera", "chelsea"):
...     Image.fromarray(samples.sample_image(name, max_side=256)).save(folder / f"{name}.png")
>>> built = index.build(folder, progress=False)
>>> query = samples.jpeg(samples.crop(samples.sample_image("coffee", max_side=256), 0.5), 20)
>>> pathlib.Path(built.search(query, top=1)[0].path).name
'coffee.png'
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .bow import FUSION_K, rank_fusion
from .errors import (CorruptIndexError, ForeignIndexError, IndexError_, IndexNotFoundError,
                     IndexVersionError, InvalidParameterError, SimlabError)
from .io import load_scaled
from .results import SearchHit
from .search.backends import BACKENDS, MIN_INLIER_RATIO, get_backend

__all__ = ["build", "Index", "SearchHit", "METHODS", "DEFAULT_METHOD", "FORMAT",
           "FORMAT_VERSION", "IndexError_", "IndexNotFoundError", "CorruptIndexError",
           "ForeignIndexError", "IndexVersionError", "add_index_parsers", "rank_fusion",
           "FUSION_K", "MIN_INLIER_RATIO"]

#: ``format`` field of ``index.json``: what tells a simlab index from any other folder.
FORMAT = "simlab-index"
#: Bumped whenever the layout of the files changes; other versions are refused.
FORMAT_VERSION = 4
MANIFEST = "index.json"

#: Index methods and what they store (one backend class each, see
#: :mod:`simlab.search.backends`). ``bow-verify`` is the default (see the benchmark table
#: of ``simlab bench search``).
METHODS = {name: backend.summary for name, backend in BACKENDS.items()}
DEFAULT_METHOD = "bow-verify"

#: Defaults of the options stored with an index (they change the stored features).
#: ``fine_octave_below``: images of at least 400 px skip SIFT's doubled first octave
#: (:func:`simlab.local.extract_local`). Measured side by side on the 724-image
#: benchmark set (medians of 2 builds each): 28.3 against 18.4 images/s, query median 159
#: against 233 ms; recall@1 0.90 against 0.91 on an earlier draw of the set. A value
#: above ``max_side`` keeps the doubled octave for every image.
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    name: backend.defaults for name, backend in BACKENDS.items()}


# ---------------------------------------------------------------------------------------
# Reading and extracting

def _extract(source, method: str, options: dict, vocabulary) -> dict[str, np.ndarray]:
    """Features of one image as the index stores them (words need ``vocabulary``)."""
    image, scale = load_scaled(source, options["max_side"],
                               upscale=bool(options.get("upscale", False)))
    found = get_backend(method).encode(image, options, vocabulary)
    found["scale"] = np.array(scale, np.float32)
    found["shape"] = np.array(image.shape[:2], np.int32)
    return found


def _stat(path: str) -> dict[str, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return {"size": int(info.st_size), "mtime_ns": int(info.st_mtime_ns)}


# ---------------------------------------------------------------------------------------
# The index

@dataclass
class Index:
    """A searchable index of image files (build with :func:`build`, open with
    :meth:`Index.load`).

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    options : dict
        Options the features were extracted with (``max_side``, ``words``...).
    files : list of dict
        ``{"path", "size", "mtime_ns"}`` of each indexed image, in index order.
    skipped : list of dict
        ``{"path", "reason"}`` of the files the last update could not read.
    path : pathlib.Path or None
        Where the index was loaded from or last saved to.
    """

    method: str
    options: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    path: Path | None = None
    vocabulary: Any = None
    _features: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)
    _search: dict[str, Any] | None = field(default=None, repr=False)
    created: str = ""
    #: Summary of the last :meth:`sync` or :meth:`add` run by :func:`build`.
    last_update: dict[str, Any] | None = field(default=None, repr=False)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def new(cls, method: str = DEFAULT_METHOD, **options: Any) -> "Index":
        """An empty index for ``method``; ``options`` override :data:`_DEFAULT_OPTIONS`.

        Examples
        --------
        >>> Index.new("phash").options["max_side"]
        640
        """
        backend = get_backend(method)
        defaults = dict(backend.defaults)
        unknown = set(options) - set(defaults)
        if unknown:
            raise InvalidParameterError(
                f"index method {method!r} has no option {sorted(unknown)[0]!r}; valid "
                f"options: {', '.join(defaults)}")
        defaults.update({k: v for k, v in options.items() if v is not None})
        if int(defaults["max_side"]) < 64:
            raise InvalidParameterError(f"max_side must be at least 64, got "
                                        f"{defaults['max_side']}")
        backend.check(defaults)
        return cls(method=method, options=defaults,
                   created=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __len__(self) -> int:
        return len(self.files)

    @property
    def backend(self):
        """The :class:`~simlab.search.backends.Backend` of :attr:`method`."""
        return get_backend(self.method)

    @property
    def paths(self) -> list[str]:
        """Absolute paths of the indexed images, in index order."""
        return [entry["path"] for entry in self.files]

    # -- updating -----------------------------------------------------------------------
    def add(self, paths: Iterable[str | os.PathLike], *, workers: int = 2,
            progress: bool = True) -> dict[str, Any]:
        """Index new images and re-index changed ones (by size and mtime).

        Unreadable files are skipped and listed in :attr:`skipped`, never raised.

        Parameters
        ----------
        paths : iterable of path
            Image files (see :func:`simlab.list_images` for a folder).
        workers : int
            Threads extracting features; OpenCV and numpy release the GIL, so two
            threads use two cores.
        progress : bool
            Show a tqdm progress bar.

        Returns
        -------
        dict
            ``added``, ``updated``, ``unchanged`` (counts), ``skipped`` (list of dict),
            ``seconds`` and ``images_per_second`` (of the extraction, vocabulary
            training included).
        """
        started = time.perf_counter()
        position = {entry["path"]: i for i, entry in enumerate(self.files)}
        todo, unchanged, skipped = [], 0, []
        for raw in paths:
            path = os.path.abspath(os.fspath(raw))
            stat = _stat(path)
            if stat is None:
                skipped.append({"path": path, "reason": "no such file"})
                continue
            known = position.get(path)
            if known is not None and all(self.files[known][k] == stat[k] for k in stat):
                unchanged += 1
                continue
            todo.append((path, stat))
        results: list[tuple[str, dict, dict | None, str | None]] = []
        if todo and self.backend.uses_words and self.vocabulary is None:
            results = self._train_and_extract(todo, workers=workers, progress=progress)
        elif todo:
            results = self._extract_many(todo, workers=workers, progress=progress)
        added = updated = 0
        for path, stat, features, reason in results:
            if features is None:
                skipped.append({"path": path, "reason": reason})
                if path in position:  # a file that became unreadable leaves the index
                    self._drop({path})
                    position = {e["path"]: i for i, e in enumerate(self.files)}
                continue
            if path in position:
                self.files[position[path]] = {"path": path, **stat}
                self._features[position[path]] = features
                updated += 1
            else:
                position[path] = len(self.files)
                self.files.append({"path": path, **stat})
                self._features.append(features)
                added += 1
        self.skipped = skipped
        self._search = None
        seconds = time.perf_counter() - started
        processed = len(todo)
        return {"added": added, "updated": updated, "unchanged": unchanged,
                "skipped": skipped, "seconds": seconds,
                "images_per_second": processed / seconds if processed and seconds else None}

    def remove(self, paths: Iterable[str | os.PathLike]) -> int:
        """Drop images from the index; returns how many were indexed."""
        wanted = {os.path.abspath(os.fspath(p)) for p in paths}
        before = len(self.files)
        self._drop(wanted)
        return before - len(self.files)

    def sync(self, folder: str | os.PathLike, *, workers: int = 2,
             progress: bool = True) -> dict[str, Any]:
        """Make the index match ``folder``: add new and changed images, drop deleted ones.

        Entries whose file no longer exists are dropped (whatever folder they came from);
        returns :meth:`add`'s summary plus ``removed``.
        """
        from .io import list_images

        listed = list_images(folder)
        gone = [entry["path"] for entry in self.files if not os.path.exists(entry["path"])]
        removed = self.remove(gone)
        summary = self.add(listed, workers=workers, progress=progress)
        summary["removed"] = removed
        return summary

    def _drop(self, paths: set[str]) -> None:
        keep = [i for i, entry in enumerate(self.files) if entry["path"] not in paths]
        self.files = [self.files[i] for i in keep]
        self._features = [self._features[i] for i in keep]
        self._search = None

    def _work(self, vocabulary):
        def work(item):
            path, stat = item
            try:
                return path, stat, _extract(path, self.method, self.options, vocabulary), None
            except SimlabError as exc:
                return path, stat, None, exc.reason_for(path)
        return work

    def _extract_many(self, todo, *, workers: int, progress: bool, desc: str = "indexing"):
        from .parallel import one_blas_thread, parallel_map

        # The threads are the parallelism; BLAS threads on top only contend with them.
        with one_blas_thread():
            return parallel_map(self._work(self.vocabulary), todo, workers=workers,
                                progress=progress, desc=desc, unit="image")

    def _train_and_extract(self, todo, *, workers: int, progress: bool):
        """Learn the vocabulary from a sample of the images, then index them all.

        Only ``training_images`` images keep their descriptors in memory (the rest are
        turned into words as they are extracted), so memory stays bounded for big folders.
        """
        rng = np.random.default_rng(0)
        count = min(len(todo), int(self.options["training_images"]))
        chosen = set(rng.choice(len(todo), count, replace=False).tolist())
        first = [todo[i] for i in sorted(chosen)]
        rest = [todo[i] for i in range(len(todo)) if i not in chosen]
        sampled = self._extract_many(first, workers=workers, progress=progress,
                                     desc="indexing (vocabulary sample)")
        descriptors = [f["descriptors"] for _, _, f, _ in sampled if f is not None]
        pool = np.concatenate(descriptors) if descriptors else np.zeros((0, 128), np.float32)
        if len(pool) == 0:
            raise InvalidParameterError(
                "no keypoints in any readable image: nothing to learn a vocabulary from "
                f"({len(sampled)} files tried); use method='histogram' or 'phash' for flat "
                "images")
        self.vocabulary = self.backend.train(pool, self.options)
        # One assignment for the whole sample: per-cell products are then large, and
        # cost a second instead of ~50 ms per image.
        extracted = [features for _, _, features, _ in sampled if features is not None]
        words = self.vocabulary.assign(pool)
        bounds = np.cumsum([0] + [len(features["descriptors"]) for features in extracted])
        for features, start, stop in zip(extracted, bounds[:-1], bounds[1:]):
            features.pop("descriptors")
            features["words"] = words[start:stop]
        return sampled + self._extract_many(rest, workers=workers, progress=progress)

    # -- saving and loading -------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        count = len(self._features)
        arrays: dict[str, np.ndarray] = {
            "scales": np.array([f["scale"] for f in self._features], np.float32),
            "shapes": np.array([f["shape"] for f in self._features], np.int32).reshape(count, 2),
        }
        arrays.update(self.backend.to_arrays(self._features, self.vocabulary))
        return arrays

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the index directory atomically (arrays first, ``index.json`` last).

        A reader sees either the old index or the new one: ``index.json`` names the
        arrays file of its own generation, and old generations are removed afterwards.
        """
        from .files import atomic_path, write_json

        target = Path(path) if path is not None else self.path
        if target is None:
            raise InvalidParameterError("Index.save needs a path (none was loaded or given)")
        _check_writable(target)
        target.mkdir(parents=True, exist_ok=True)
        generation = uuid.uuid4().hex
        arrays_name = f"arrays-{generation}.npz"
        arrays = self._arrays()
        arrays["generation"] = np.array(generation)
        with atomic_path(target / arrays_name) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)
        from . import __version__

        manifest = {
            "format": FORMAT, "version": FORMAT_VERSION, "simlab_version": __version__,
            "method": self.method, "options": self.options, "generation": generation,
            "arrays": arrays_name, "created": self.created or _now(), "updated": _now(),
            "count": len(self.files),
            "vocabulary_words": self.vocabulary.words if self.vocabulary is not None else None,
            "files": self.files, "skipped": self.skipped,
        }
        write_json(target / MANIFEST, manifest)
        for old in target.glob("arrays-*.npz"):
            if old.name != arrays_name:
                old.unlink(missing_ok=True)
        self.path = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Index":
        """Open an index directory written by :meth:`save`.

        Raises
        ------
        IndexNotFoundError
            Nothing at ``path``.
        ForeignIndexError
            ``path`` is not a simlab index.
        IndexVersionError
            Written by a simlab with another index format: rebuild it.
        CorruptIndexError
            Unreadable JSON, a missing or truncated arrays file, or parts that disagree.
        """
        root = Path(path)
        label = os.fspath(root)
        if not root.exists():
            raise IndexNotFoundError("no index here; build one with `simlab index DIR "
                                     f"--index {label}` or simlab.index.build()", label)
        if not root.is_dir():
            raise ForeignIndexError("is a file, not a simlab index directory", label)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise ForeignIndexError(f"no {MANIFEST}: not a simlab index directory", label)
        try:
            manifest = json.loads(manifest_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptIndexError(f"{MANIFEST} is not valid JSON ({exc}); rebuild the "
                                    "index with --rebuild", label) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ForeignIndexError(f"{MANIFEST} is not a simlab index manifest (no "
                                    f"\"format\": \"{FORMAT}\")", label)
        if manifest.get("version") != FORMAT_VERSION:
            raise IndexVersionError(
                f"index format version {manifest.get('version')!r}, this simlab reads "
                f"version {FORMAT_VERSION}; rebuild it with `simlab index DIR --index "
                f"{label} --rebuild`", label)
        try:
            method = manifest["method"]
            files = list(manifest["files"])
            arrays_path = root / manifest["arrays"]
            generation = manifest["generation"]
            if method not in METHODS:
                raise KeyError(method)
        except (KeyError, TypeError) as exc:
            raise CorruptIndexError(f"{MANIFEST} lacks or mangles {exc}; rebuild the index",
                                    label) from None
        try:
            with np.load(arrays_path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
        except FileNotFoundError:
            raise CorruptIndexError(f"{manifest['arrays']} is missing; rebuild the index",
                                    label) from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
            raise CorruptIndexError(f"{manifest['arrays']} is truncated or damaged ({exc}); "
                                    "rebuild the index with --rebuild", label) from None
        if str(arrays.get("generation", "")) != generation:
            raise CorruptIndexError(f"{manifest['arrays']} does not belong to this "
                                    f"{MANIFEST}; rebuild the index", label)
        index = cls(method=method, options=dict(manifest.get("options", {})), files=files,
                    skipped=list(manifest.get("skipped", [])), path=root,
                    created=manifest.get("created", ""))
        try:
            index._unpack(arrays)
        except (KeyError, ValueError, IndexError) as exc:
            raise CorruptIndexError(f"the arrays disagree with {MANIFEST} ({exc}); rebuild "
                                    "the index", label) from None
        return index

    def _unpack(self, arrays: dict[str, np.ndarray]) -> None:
        count = len(self.files)
        scales, shapes = arrays["scales"], arrays["shapes"]
        if len(scales) != count or len(shapes) != count:
            raise ValueError(f"{len(scales)} images stored, {count} listed")
        features: list[dict[str, np.ndarray]] = [
            {"scale": scales[i], "shape": shapes[i]} for i in range(count)]
        self.vocabulary = self.backend.from_arrays(arrays, features)
        self._features = features

    # -- searching ------------------------------------------------------------------------
    def _prepare(self) -> dict[str, Any]:
        """Search structures, built once per change of the index (inverted file...)."""
        if self._search is None:
            self._search = self.backend.prepare(self._features, self.vocabulary)
        return self._search

    def search(self, query, *, top: int = 10, shortlist: int = 50, min_inliers: int = 8,
               min_inlier_ratio: float = MIN_INLIER_RATIO, ransac_threshold: float = 6.0,
               mirror: bool = True) -> list[SearchHit]:
        """The ``top`` indexed images most similar to ``query``, best first.

        Parameters
        ----------
        query : path, numpy array or PIL image
            The query image (see :func:`simlab.load_image`).
        top : int
            How many results.
        shortlist : int
            ``bow-verify``: how many bag-of-words candidates are verified geometrically.
        min_inliers : int
            ``bow-verify``: distinct inliers needed for a candidate to count as verified;
            fewer (chance alignments) leave it to the rank fusion.
        min_inlier_ratio : float
            ``bow-verify``: also needed for verification, inliers per same-word
            correspondence (see :data:`MIN_INLIER_RATIO`).
        ransac_threshold : float
            ``bow-verify``: inlier distance, pixels of the indexed image at ``max_side``.
        mirror : bool
            Also search the left-right mirrored query and keep each image's better score.

        Returns
        -------
        list of SearchHit
            ``(path, score, details)``. Scores: ``bow`` the tf-idf cosine; ``bow-verify``
            ``inliers / (inliers + 10)`` for verified images (10 inliers -> 0.5), else
            the rank-fusion score scaled into [0, 0.1) (see the module documentation);
            ``phash`` ``1 - hamming / 64``;
            ``histogram``/``vgg16`` the cosine; ``naive-bow`` ``1 - L2 / sqrt(2)``.
        """
        from .parallel import one_blas_thread

        if top < 1:
            raise InvalidParameterError(f"top must be at least 1, got {top}")
        if not self._features:
            return []
        prepared = self._prepare()
        image, _ = load_scaled(query, self.options["max_side"],
                               upscale=bool(self.options.get("upscale", False)))
        with one_blas_thread():  # many small products (see one_blas_thread)
            found = self.backend.search(
                image, prepared, self._features, options=self.options,
                vocabulary=self.vocabulary, top=min(int(top), len(self._features)),
                mirror=mirror, shortlist=shortlist, min_inliers=min_inliers,
                min_inlier_ratio=min_inlier_ratio, ransac_threshold=ransac_threshold)
        return [SearchHit(self.files[i]["path"], score, details)
                for i, score, details in found]

    def matches(self, query, path: str | os.PathLike, *, ransac_threshold: float = 6.0,
                mirror: bool = True):
        """The verified correspondences between ``query`` and one indexed image.

        Returns a :class:`simlab.Similarity` (method ``"bow-verify"``, drawn as matches)
        that :func:`simlab.plotting.plot_similarity` draws on ``(simlab.load_image(query),
        simlab.load_image(path))``: its points are in the files' own pixels (``frame`` is
        ``"original"``). Needs a ``bow`` or ``bow-verify`` index.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from simlab import samples
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("astronaut", "coffee"):
        ...     Image.fromarray(samples.sample_image(name, max_side=256)).save(folder / f"{name}.png")
        >>> built = build(folder, progress=False)
        >>> query = samples.crop(samples.sample_image("coffee", max_side=256), 0.6)
        >>> found = built.matches(query, folder / "coffee.png")
        >>> found.details["inliers"] > 20, found.draws, found.frame
        (True, 'matches', 'original')
        """
        from .results import Similarity

        if not getattr(self.backend, "keeps_orientation", False):
            raise InvalidParameterError(f"matches needs a bow or bow-verify index, this one "
                                        f"is {self.method!r}")
        target = os.path.abspath(os.fspath(path))
        position = next((i for i, e in enumerate(self.files) if e["path"] == target), None)
        if position is None:
            raise InvalidParameterError(f"{target} is not in this index")
        image, scale = load_scaled(query, self.options["max_side"],
                                   upscale=bool(self.options.get("upscale", False)))
        query_words = self.backend.query(image, self.options, self.vocabulary, mirror=mirror)
        stored = self._features[position]
        best, best_side = None, ""
        for side, words in query_words.items():
            found = self.backend.verify(words, stored, threshold=ransac_threshold,
                                        min_inliers=2)
            if best is None or found.inliers > best.inliers:
                best, best_side = found, side
        # Draw on the un-mirrored query: keypoint i is the same patch in both frames.
        pairs = best.pairs
        points_query = query_words[""]["points"][pairs[:, 0]] / scale
        points_match = stored["points"][pairs[:, 1]] / float(stored["scale"])
        details = {"inliers": best.inliers, "good_matches": len(pairs),
                   "inlier_ratio": best.inlier_ratio, "mirrored": best_side == "_mirrored",
                   "path": target}
        if best.reason:
            details["reason"] = best.reason
        return Similarity("bow-verify", best.inliers / (best.inliers + 10.0), best.inliers,
                          details, {"points_a": points_query, "points_b": points_match,
                                    "inlier_mask": best.mask, "draws": "matches",
                                    "frame": "original"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_writable(target: Path) -> None:
    """Refuse to write an index into a folder that holds something else."""
    if target.exists() and not target.is_dir():
        raise ForeignIndexError("is a file; choose a directory path for the index",
                                os.fspath(target))
    if target.is_dir() and any(target.iterdir()):
        manifest = target / MANIFEST
        if not manifest.is_file():
            raise ForeignIndexError(
                f"the folder is not empty and has no {MANIFEST}: not a simlab index; "
                "choose a new or empty directory for --index", os.fspath(target))


def build(folder: str | os.PathLike | Iterable[str | os.PathLike], *,
          method: str | None = None, path: str | os.PathLike | None = None,
          rebuild: bool = False, workers: int = 2, progress: bool = True,
          **options: Any) -> Index:
    """Index the images of ``folder`` (recursively) and save the index at ``path``.

    If ``path`` already holds an index, it is updated instead: only new or changed
    files (by size and mtime) are processed and deleted ones are dropped; the vocabulary
    learnt at the first build is kept (``rebuild=True`` starts over).

    Parameters
    ----------
    folder : path or iterable of paths
        A folder of images, or a list of image files.
    method : str, optional
        One of :data:`METHODS`; default :data:`DEFAULT_METHOD` (or the method of the
        existing index at ``path``).
    path : path, optional
        Index directory to write (created; must be new, empty or an index). None keeps
        the index in memory only.
    rebuild : bool
        Ignore an existing index at ``path``.
    workers : int
        Threads for feature extraction.
    progress : bool
        Show tqdm progress bars.
    **options
        Method options (``max_side``, ``max_keypoints``, ``words``...; see
        ``simlab.index._DEFAULT_OPTIONS``).

    Returns
    -------
    Index
        With ``last_update`` (the summary of :meth:`Index.sync`) as an attribute.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from simlab import samples
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(samples.sample_image("coffee", max_side=128)).save(folder / "c.png")
    >>> _ = (folder / "broken.jpg").write_bytes(b"not an image")
    >>> built = build(folder, method="phash", path=folder / ".index", progress=False)
    >>> len(built), [pathlib.Path(s["path"]).name for s in built.skipped]
    (1, ['broken.jpg'])
    """
    existing = None
    if path is not None and not rebuild and (Path(path) / MANIFEST).exists():
        existing = Index.load(path)
        if method is not None and method != existing.method:
            raise ForeignIndexError(
                f"this index was built with method {existing.method!r}, not {method!r}; "
                "pass --rebuild (rebuild=True) or another index path", os.fspath(path))
    if path is not None:
        _check_writable(Path(path))
    index = existing or Index.new(method or DEFAULT_METHOD, **options)
    if isinstance(folder, (str, os.PathLike)):
        summary = index.sync(folder, workers=workers, progress=progress)
    else:
        summary = index.add(folder, workers=workers, progress=progress)
        summary["removed"] = 0
    if path is not None:
        index.save(path)
    index.last_update = summary
    return index


# ---------------------------------------------------------------------------------------
# Command line (wired into simlab.cli by add_index_parsers)

def _cmd_index(args: argparse.Namespace) -> int:
    options = {"max_side": args.max_side}
    index = build(args.dir, method=args.method, path=args.index, rebuild=args.rebuild,
                  workers=args.workers, progress=not args.json,
                  **{k: v for k, v in options.items() if v is not None})
    summary = index.last_update
    if args.json:
        print(json.dumps({"index": os.path.abspath(args.index), "method": index.method,
                          "images": len(index), "added": summary["added"],
                          "updated": summary["updated"], "removed": summary["removed"],
                          "unchanged": summary["unchanged"], "skipped": summary["skipped"],
                          "seconds": round(summary["seconds"], 3)}, indent=2))
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

    index = Index.load(args.index)
    if args.top < 1:
        raise InvalidParameterError(f"--top must be at least 1, got {args.top}")
    payload = []
    for query in args.query:
        hits = index.search(query, top=args.top)
        payload.append({"query": query, "results": [
            {"rank": rank, "path": hit.path, "score": round(hit.score, 6),
             "details": json_ready(hit.details)}
            for rank, hit in enumerate(hits, start=1)]})
        if not args.json:
            print(f"query: {display_path(query)}")
            for rank, hit in enumerate(hits, start=1):
                extra = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in hit.details.items())
                print(f"{rank:>3}  {hit.score:.3f}  {display_path(hit.path)}  ({extra})")
    if args.json:
        print(json.dumps(payload, indent=2))
    return 0


def add_index_parsers(subparsers) -> None:
    """Add the ``index`` and ``search`` commands to ``simlab``'s subparsers.

    ``simlab index DIR --index PATH [--method M] [--max-side PX] [--workers N]
    [--rebuild] [--json]`` builds or updates an index; ``simlab search QUERY... --index
    PATH [--top K] [--json]`` searches it. ``--json`` prints ``[{"query": ...,
    "results": [{"rank": 1, "path": <absolute path>, "score": ..., "details": {...}}]}]``
    (``details``: what the text output shows, e.g. ``verified``, ``inliers``); the text
    output prints paths relative to the current directory when they are inside it.

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
    index.add_argument("--method", choices=list(METHODS), default=None,
                       help=f"default {DEFAULT_METHOD} (or the existing index's method)")
    index.add_argument("--max-side", type=int, default=None, metavar="PX",
                       help="shrink images to this longest side first (default 640)")
    index.add_argument("--workers", type=int, default=2, help="threads (default 2)")
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
                        '"details"}]}]')
    search.set_defaults(func=_cmd_search)
