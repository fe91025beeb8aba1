"""Reverse image search over a folder: index once, find cropped or recompressed copies fast.

Seed 004 asks for the images of a folder (thousands of them) that a query image was
made from, when the query may be cropped, recompressed, shrunk, recoloured or mirrored,
in a few seconds at most. Its program (SIFT, an 800-word k-means vocabulary, L1
histograms, nearest neighbour) works for near-identical queries and fails beyond.
What retrieval research does instead (Sivic & Zisserman 2003; Philbin et al. 2007):

1. **A fine vocabulary.** RootSIFT descriptors quantised into ~20,000 visual words (a
   two-level k-means tree, :mod:`simlab.vocabulary`): two unrelated patches rarely
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
   A candidate counts as verified with at least 8 distinct inliers that are also 5 % of
   its correspondences: repetitive textures line up a dozen of hundreds by chance.
5. **Mirrors.** The query's descriptors are mirrored by a fixed permutation
   (:func:`simlab.duplicates.mirror_descriptors`), so flipped copies are found without
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
numpy for comparison, and ``"seed004"`` reproduces the seed's program as a baseline.

An index is one directory: ``index.json`` (format, version, options, each file's size
and mtime, unreadable files) and ``arrays-<generation>.npz`` (features, never unpickled),
written atomically, JSON last, under ``index.lock`` held for the whole update; a reader
always sees one complete generation, and a killed writer leaves the previous one
(:mod:`simlab.storage`). :meth:`Index.load` checks every field and array it reads.
Re-indexing a folder processes only new or changed files and drops deleted ones.

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
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from .errors import (CorruptIndexError, ForeignIndexError, IndexConflictError,
                     IndexError_, IndexLockedError, IndexNotFoundError, IndexVersionError,
                     InvalidParameterError, NoImagesError, SimlabError, UnknownMethodError)
from .io import load_scaled
from .storage import MANIFEST

__all__ = ["build", "Index", "SearchHit", "METHODS", "DEFAULT_METHOD", "FORMAT",
           "FORMAT_VERSION", "IndexError_", "IndexNotFoundError", "CorruptIndexError",
           "ForeignIndexError", "IndexVersionError", "IndexLockedError",
           "IndexConflictError", "add_index_parsers", "rank_fusion",
           "verify_words"]

#: ``format`` field of ``index.json``: what tells a simlab index from any other folder.
FORMAT = "simlab-index"
#: Bumped whenever the layout of the files changes; other versions are refused.
FORMAT_VERSION = 3

#: Index methods and what they store. ``bow-verify`` is the default (see the benchmark
#: table in the module documentation of :mod:`simlab.search_bench`).
METHODS = {
    "bow-verify": "RootSIFT bag of visual words (tf-idf, inverted file, cosine), shortlist "
                  "re-ranked by RANSAC-verified same-word correspondences, unverified images "
                  "by rank fusion with an ordinal thumbnail and colour histogram; flips handled",
    "bow": "RootSIFT bag of visual words: ~20k-word k-means tree, tf-idf, inverted file, "
           "cosine; flips handled",
    "phash": "64-bit perceptual hash, exact Hamming search; flips handled",
    "histogram": "8x8x8 RGB colour histogram (Hellinger), exact cosine search",
    "vgg16": "Keras VGG16 (ImageNet) 512-d embedding, exact cosine search; needs weights",
    "seed004": "seed 004's program, as a baseline: SIFT, 800-word flat k-means, "
               "L1-normalised histograms, nearest neighbour by Euclidean distance",
}
DEFAULT_METHOD = "bow-verify"
#: Exit status of ``simlab search`` when some of several queries failed (each is reported,
#: the others were searched); see :mod:`simlab.cli`.
EXIT_SOME_FAILED = 3
_WORD_METHODS = ("bow-verify", "bow", "seed004")
#: The float vectors each method stores per image: array name in the file and in the
#: search structures -> key in an image's features.
_VECTORS = {"bow-verify": {"vectors": "vector", "ordinals": "ordinal"},
            "histogram": {"vectors": "vector"}, "vgg16": {"vectors": "vector"}}
#: Reciprocal-rank fusion constant: a higher k flattens the difference between the first
#: ranks. Cormack et al. (2009) use 60; 30 lets an image that one signal clearly puts
#: first (a flat sky's histogram) count for more, and on four draws of the search
#: benchmark (100 queries each) it found 0-2 more sources per draw and never fewer.
FUSION_K = 30

#: Verification also needs this many inliers per same-word correspondence. Chance
#: alignments on repetitive textures reach 8-16 inliers, but out of hundreds of
#: correspondences: on four draws of the search benchmark (400 queries, shortlists of
#: 50), the other images verified had a median ratio of 0.055 and the true sources at
#: least 0.052. At 0.05 every true source stayed verified and 23 of the 46 chance
#: verifications with 8-16 inliers did not.
MIN_INLIER_RATIO = 0.05

#: Defaults of the options stored with an index (they change the stored features).
#: ``fine_octave_below``: images of at least 400 px skip SIFT's doubled first octave
#: (:func:`simlab.duplicates.extract_features`). Measured side by side on the 724-image
#: benchmark set (medians of 2 builds each): 28.3 against 18.4 images/s, query median 159
#: against 233 ms; recall@1 0.90 against 0.91 on an earlier draw of the set. A value
#: above ``max_side`` keeps the doubled octave for every image.
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "bow-verify": {"max_side": 640, "upscale": False, "max_keypoints": 1000,
                   "contrast_threshold": 0.01, "fine_octave_below": 400, "words": 20_480,
                   "training_images": 400},
    "bow": {"max_side": 640, "upscale": False, "max_keypoints": 1000,
            "contrast_threshold": 0.01, "fine_octave_below": 400, "words": 20_480,
            "training_images": 400},
    "seed004": {"max_side": 640, "words": 800, "training_images": 400},
    "phash": {"max_side": 640},
    "histogram": {"max_side": 640, "bins": 8},
    "vgg16": {"max_side": 640, "weights": "imagenet"},
}


class SearchHit(NamedTuple):
    """One search result: ``(path, score, details)``; unpacks as a tuple.

    ``score`` lies in [0, 1], higher is more similar; how it is computed depends on the
    method (see :meth:`Index.search`). ``details`` holds plain numbers and strings.
    """

    path: str
    score: float
    details: dict


# ---------------------------------------------------------------------------------------
# Reading and extracting

def _local_features(image: np.ndarray, method: str, options: dict) -> dict[str, np.ndarray]:
    import cv2

    if method == "seed004":
        # Seed 004's program: OpenCV's default SIFT on the grey image, every keypoint.
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        keypoints, descriptors = cv2.SIFT_create().detectAndCompute(grey, None)
        points = np.array([kp.pt for kp in keypoints], np.float32).reshape(-1, 2)
        if descriptors is None:
            descriptors = np.zeros((0, 128), np.float32)
        return {"points": points, "descriptors": descriptors}
    from .duplicates import extract_features

    found = extract_features(image, method="rootsift",
                             max_keypoints=int(options["max_keypoints"]),
                             contrast_threshold=float(options["contrast_threshold"]),
                             fine_octave_below=options.get("fine_octave_below"))
    return {"points": found["points"], "descriptors": found["descriptors"]}


def _global_features(image: np.ndarray, method: str, options: dict) -> dict[str, np.ndarray]:
    if method == "phash":
        from .methods.phash import phash_features

        from .samples import flip

        return {"hash": phash_features(image, {})["hash"],
                "hash_mirrored": phash_features(flip(image), {})["hash"]}
    if method == "histogram":
        from .methods.histogram import histogram_features

        hist = histogram_features(image, {"color_space": "rgb", "bins": int(options["bins"]),
                                          "mask": _picture_mask(image)})["hist"].ravel()
        # Hellinger: the cosine of square-rooted histograms is their Bhattacharyya
        # coefficient, and a plain matrix product searches it exactly.
        vector = np.sqrt(np.maximum(hist, 0)).astype(np.float32)
        return {"vector": vector / max(float(np.linalg.norm(vector)), 1e-12)}
    from .methods.deep import vgg16_features

    return {"vector": vgg16_features(image, {"weights": options["weights"]})["vector"]}


def _fallback_features(image: np.ndarray, *, mirrored: bool = False) -> dict[str, np.ndarray]:
    """Ordinal thumbnail and colour histogram: ``bow-verify``'s global fallback.

    Both are computed on a 128-px thumbnail: a 16x16 layout and a colour distribution
    need no more, and it keeps the cost near 1 ms at 640 px. ``mirrored`` adds the
    ordinal vector of the left-right mirrored image (for a query).
    """
    from .io import resize_longest_side
    from .methods.ordinal import ordinal_vector

    thumbnail = resize_longest_side(image, 128)
    found = {"ordinal": ordinal_vector(thumbnail),
             "vector": _global_features(thumbnail, "histogram", {"bins": 8})["vector"]}
    if mirrored:
        found["ordinal_mirrored"] = ordinal_vector(thumbnail[:, ::-1])
    return found


def _picture_mask(image: np.ndarray) -> np.ndarray | None:
    """Where the picture is: not the black or white fill around a rotated or padded copy
    (:func:`simlab.borders.fill_mask`), whose colour would count in a histogram."""
    from .borders import fill_mask

    fill = fill_mask(image)
    return None if fill is None else ~fill


def _extract(source, method: str, options: dict, vocabulary) -> dict[str, np.ndarray]:
    """Features of one image as the index stores them (words need ``vocabulary``)."""
    image, scale = load_scaled(source, options["max_side"],
                               upscale=bool(options.get("upscale", False)))
    if method in _WORD_METHODS:
        found = _local_features(image, method, options)
        found["scale"] = np.array(scale, np.float32)
        found["shape"] = np.array(image.shape[:2], np.int32)
        if vocabulary is not None:
            found["words"] = vocabulary.assign(found.pop("descriptors"))
        if method == "bow-verify":
            found.update(_fallback_features(image))
        return found
    found = _global_features(image, method, options)
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
    #: The generation on disk this index was loaded from or last saved as.
    _generation: str | None = field(default=None, repr=False)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def new(cls, method: str = DEFAULT_METHOD, **options: Any) -> "Index":
        """An empty index for ``method``; ``options`` override :data:`_DEFAULT_OPTIONS`.

        Examples
        --------
        >>> Index.new("phash").options["max_side"]
        640
        """
        if method not in METHODS:
            raise UnknownMethodError(
                f"unknown index method {method!r}; try one of: {', '.join(METHODS)}")
        defaults = dict(_DEFAULT_OPTIONS[method])
        unknown = set(options) - set(defaults)
        if unknown:
            raise InvalidParameterError(
                f"index method {method!r} has no option {sorted(unknown)[0]!r}; valid "
                f"options: {', '.join(defaults)}")
        defaults.update({k: v for k, v in options.items() if v is not None})
        if int(defaults["max_side"]) < 64:
            raise InvalidParameterError(f"max_side must be at least 64, got "
                                        f"{defaults['max_side']}")
        if method == "vgg16":
            from .methods.deep import _check_available

            _check_available({"weights": defaults["weights"]})
        return cls(method=method, options=defaults,
                   created=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __len__(self) -> int:
        return len(self.files)

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
        if todo and self.method in _WORD_METHODS and self.vocabulary is None:
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
        from .io import scan_images

        listed, unlisted = scan_images(folder)
        gone = [entry["path"] for entry in self.files if not os.path.exists(entry["path"])]
        removed = self.remove(gone)
        summary = self.add(listed, workers=workers, progress=progress)
        # Image-like entries the listing left out (SVG, FIFOs, link loops...) are
        # skipped files too, listed with the ones that did not decode.
        left_out = [{"path": os.path.abspath(item["path"]), "reason": item["reason"]}
                    for item in unlisted]
        summary["skipped"] = sorted(left_out + summary["skipped"], key=lambda s: s["path"])
        self.skipped = summary["skipped"]
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
        from tqdm.auto import tqdm

        from .vocabulary import one_blas_thread

        # The threads are the parallelism; BLAS threads on top only contend with them.
        with one_blas_thread(), ThreadPoolExecutor(max(1, int(workers))) as pool:
            return list(tqdm(pool.map(self._work(self.vocabulary), todo), total=len(todo),
                             desc=desc, unit="image", disable=not progress))

    def _train_and_extract(self, todo, *, workers: int, progress: bool):
        """Learn the vocabulary from a sample of the images, then index them all.

        Only ``training_images`` images keep their descriptors in memory (the rest are
        turned into words as they are extracted), so memory stays bounded for big folders.
        """
        from .vocabulary import train_vocabulary

        rng = np.random.default_rng(0)
        count = min(len(todo), int(self.options["training_images"]))
        chosen = set(rng.choice(len(todo), count, replace=False).tolist())
        first = [todo[i] for i in sorted(chosen)]
        rest = [todo[i] for i in range(len(todo)) if i not in chosen]
        sampled = self._extract_many(first, workers=workers, progress=progress,
                                     desc="indexing (vocabulary sample)")
        descriptors = [f["descriptors"] for _, _, f, _ in sampled if f is not None]
        pool = np.concatenate(descriptors) if descriptors else np.zeros((0, 128), np.float32)
        if not descriptors and not rest:  # nothing readable: say which files and why
            raise NoImagesError(_nothing_indexed(
                [{"path": path, "reason": reason} for path, _, _, reason in sampled]))
        if len(pool) == 0:
            raise InvalidParameterError(
                "no keypoints in any readable image: nothing to learn a vocabulary from "
                f"({len(sampled)} files tried); use method='histogram' or 'phash' for flat "
                "images")
        self.vocabulary = train_vocabulary(
            pool, words=int(self.options["words"]),
            branches=1 if self.method == "seed004" else None)
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
        if self.method in _WORD_METHODS:
            lengths = np.array([len(f["words"]) for f in self._features], np.int64)
            arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            words = [f["words"] for f in self._features]
            # uint16 halves the file when the vocabulary fits (20,480 words does).
            word_type = np.uint16 if self.vocabulary.words <= 65_536 else np.uint32
            arrays["words"] = (np.concatenate(words) if words else np.zeros(0)).astype(word_type)
            if self.method != "seed004":
                points = [f["points"] for f in self._features]
                # float16 keeps 0.5 px at 640 px: far below the RANSAC threshold.
                arrays["points"] = (np.concatenate(points) if points
                                    else np.zeros((0, 2))).astype(np.float16)
            arrays.update(self.vocabulary.to_arrays())
        elif self.method == "phash":
            arrays.update(self._hash_arrays())
        # bow-verify's fallback cosines need 3 digits, and float16 halves the file.
        vector_type = np.float16 if self.method == "bow-verify" else np.float32
        for name, key in _VECTORS.get(self.method, {}).items():
            arrays[name] = self._vector_array(key).astype(vector_type)
        return arrays

    def _hash_arrays(self) -> dict[str, np.ndarray]:
        count = len(self._features)
        return {f"hashes{side}": np.array([f[f"hash{side}"] for f in self._features],
                                          np.uint8).reshape(count, 8)
                for side in ("", "_mirrored")}

    def _vector_array(self, key: str = "vector") -> np.ndarray:
        count = len(self._features)
        width = len(self._features[0][key]) if count else 0
        return np.array([f[key] for f in self._features], np.float32).reshape(count, width)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the index directory: arrays first, ``index.json`` last, under the lock.

        A reader sees either the old index or the new one: ``index.json`` names the
        arrays file of its own generation, and old generations are removed afterwards
        (:mod:`simlab.storage`). Another process updating the same index meanwhile
        raises :class:`~simlab.errors.IndexLockedError`; an index that another process
        saved since this one was loaded raises :class:`~simlab.errors.IndexConflictError`
        (saving would silently drop that update).
        """
        from . import __version__
        from .storage import current_generation, index_lock, write_generation

        target = Path(path) if path is not None else self.path
        if target is None:
            raise InvalidParameterError("Index.save needs a path (none was loaded or given)")
        _check_writable(target)
        with index_lock(target):
            if self._generation is not None and self.path is not None \
                    and os.path.realpath(self.path) == os.path.realpath(target) \
                    and current_generation(target) not in (None, self._generation):
                raise IndexConflictError(
                    "another process updated this index after it was loaded; saving would "
                    "drop its images: load the index again and redo the update (or use "
                    "`simlab index`, which loads and saves under one lock)",
                    os.fspath(target))
            if self.method in _WORD_METHODS and self.vocabulary is None:
                raise NoImagesError("no image was indexed, so there is no vocabulary to "
                                    "save; add images first", os.fspath(target))
            manifest = {
                "format": FORMAT, "version": FORMAT_VERSION, "simlab_version": __version__,
                "method": self.method, "options": self.options,
                "created": self.created or _now(), "updated": _now(),
                "count": len(self.files),
                "vocabulary_words": (self.vocabulary.words if self.vocabulary is not None
                                     else None),
                "files": self.files, "skipped": self.skipped,
            }
            self._generation = write_generation(target, self._arrays(), manifest)
        self.path = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Index":
        """Open an index directory written by :meth:`save`.

        Everything read is checked: the arrays file must be the one of this generation
        inside the folder, and every field its type, range and shape.

        Raises
        ------
        IndexNotFoundError
            Nothing at ``path`` (or only what an interrupted first build left).
        ForeignIndexError
            ``path`` is not a simlab index.
        IndexVersionError
            Written by a simlab with another index format: rebuild it.
        CorruptIndexError
            Unreadable JSON, a missing or truncated arrays file, or a field with a wrong
            type, range or shape; the message names the field.
        """
        from .storage import is_index_file, read_generation

        root = Path(path)
        label = os.fspath(root)
        if not root.exists():
            raise IndexNotFoundError("no index here; build one with `simlab index DIR "
                                     f"--index {label}` or simlab.index.build()", label)
        if not root.is_dir():
            raise ForeignIndexError("is a file, not a simlab index directory", label)
        if not (root / MANIFEST).exists():
            try:
                names = [entry.name for entry in root.iterdir()]
            except OSError:
                names = []
            if names and all(is_index_file(name) for name in names):
                raise IndexNotFoundError(
                    f"no {MANIFEST}: the first build of this index was interrupted; run "
                    f"`simlab index DIR --index {label}` again to build it", label)
            raise ForeignIndexError(f"no {MANIFEST}: not a simlab index directory", label)
        manifest, arrays = read_generation(
            root, check=lambda found: _check_manifest(found, label))
        index = cls(method=manifest["method"], options=dict(manifest["options"]),
                    files=[dict(entry) for entry in manifest["files"]],
                    skipped=[dict(entry) for entry in manifest.get("skipped", [])],
                    path=root, created=manifest.get("created", ""))
        index._generation = manifest["generation"]
        try:
            index._unpack(arrays, manifest.get("vocabulary_words"))
        except _Invalid as exc:
            raise CorruptIndexError(f"{manifest['arrays']}: {exc}; rebuild the index with "
                                    "--rebuild", label) from None
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise CorruptIndexError(f"the arrays disagree with {MANIFEST} ({exc}); rebuild "
                                    "the index with --rebuild", label) from None
        return index

    def _unpack(self, arrays: dict[str, np.ndarray], vocabulary_words: int | None = None
                ) -> None:
        count = len(self.files)
        scales = _array(arrays, "scales", (count,), "f")
        shapes = _array(arrays, "shapes", (count, 2), "i")
        if not (np.isfinite(scales).all() and (scales > 0).all()):
            raise _Invalid("'scales' must be finite and positive")
        if (shapes < 1).any():
            raise _Invalid("'shapes' must be positive image sizes")
        features: list[dict[str, np.ndarray]] = [
            {"scale": scales[i], "shape": shapes[i]} for i in range(count)]
        if self.method in _WORD_METHODS:
            from .vocabulary import Vocabulary

            top = _array(arrays, "vocabulary_top", (None, 128), "f")
            sub = _array(arrays, "vocabulary_sub", (len(top), None, 128), "f")
            _array(arrays, "vocabulary_trained_on", (), "i")
            if len(top) == 0 or sub.shape[1] == 0 or not (np.isfinite(top).all()
                                                         and np.isfinite(sub).all()):
                raise _Invalid("the vocabulary ('vocabulary_top', 'vocabulary_sub') must "
                               "be non-empty and finite")
            self.vocabulary = Vocabulary.from_arrays(arrays)
            if vocabulary_words is not None and vocabulary_words != self.vocabulary.words:
                raise _Invalid(f"the vocabulary has {self.vocabulary.words} words, "
                               f"{MANIFEST} field 'vocabulary_words' says {vocabulary_words}")
            offsets = _array(arrays, "offsets", (count + 1,), "i").astype(np.int64)
            words = _array(arrays, "words", (None,), "u").astype(np.int64)
            if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(words):
                raise _Invalid("'offsets' must rise from 0 to the number of words stored")
            if len(words) and int(words.max()) >= self.vocabulary.words:
                raise _Invalid(f"'words' holds word {int(words.max())}, past the "
                               f"vocabulary's {self.vocabulary.words} words")
            points = None
            if self.method != "seed004":
                points = _array(arrays, "points", (len(words), 2), "f").astype(np.float32)
                owners = np.repeat(np.arange(count), np.diff(offsets))
                bounds = shapes[owners][:, ::-1].astype(np.float32) + 1  # (width, height)
                if not (np.isfinite(points).all() and (points >= -1).all()
                        and (points <= bounds).all()):
                    raise _Invalid("'points' must lie inside their images")
            for i in range(count):
                part = slice(offsets[i], offsets[i + 1])
                features[i]["words"] = words[part]
                if points is not None:
                    features[i]["points"] = points[part]
        if self.method == "phash":
            for side in ("", "_mirrored"):
                stored = _array(arrays, f"hashes{side}", (count, 8), "u")
                if stored.dtype != np.uint8:
                    raise _Invalid(f"'hashes{side}' must be uint8, got {stored.dtype}")
                for i in range(count):
                    features[i][f"hash{side}"] = stored[i]
        for name, key in _VECTORS.get(self.method, {}).items():
            # An emptied index stores (0, 0) vectors: no width to check.
            width = _vector_width(self.method, name, self.options) if count else None
            vectors = _array(arrays, name, (count, width), "f")
            vectors = vectors.astype(np.float32)
            if not np.isfinite(vectors).all():
                raise _Invalid(f"'{name}' holds NaN or infinite values")
            for i in range(count):
                features[i][key] = vectors[i]
        self._features = features

    # -- searching ------------------------------------------------------------------------
    def _prepare(self) -> dict[str, Any]:
        """Search structures, built once per change of the index (inverted file...)."""
        if self._search is not None:
            return self._search
        count = len(self._features)
        prepared: dict[str, Any] = {}
        if self.method in _WORD_METHODS:
            from scipy import sparse

            vocabulary_words = self.vocabulary.words
            lengths = [len(f["words"]) for f in self._features]
            owners = np.repeat(np.arange(count), lengths)
            words = (np.concatenate([f["words"] for f in self._features]) if count
                     else np.zeros(0, np.int64))
            counts = sparse.csr_matrix((np.ones(len(words), np.float32), (owners, words)),
                                       shape=(count, vocabulary_words))
            counts.sum_duplicates()
            if self.method == "seed004":
                totals = np.asarray(counts.sum(axis=1)).ravel()
                totals[totals == 0] = 1
                prepared["histograms"] = (sparse.diags(1.0 / totals) @ counts).toarray() \
                    .astype(np.float32)
            else:
                frequency = np.bincount(counts.indices, minlength=vocabulary_words)
                idf = np.log((count + 1.0) / (frequency + 1.0)).astype(np.float32)
                weighted = counts.copy()
                # sqrt(tf): a repeated pattern (a brick wall) should not drown the rest.
                weighted.data = np.sqrt(weighted.data) * idf[weighted.indices]
                norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
                norms[norms == 0] = 1.0
                prepared["idf"] = idf
                prepared["inverted"] = (sparse.diags(1.0 / norms) @ weighted).tocsc()
        if self.method == "phash":
            prepared["bits"] = np.unpackbits(
                np.array([f["hash"] for f in self._features], np.uint8).reshape(count, 8),
                axis=1).astype(bool)
        for name, key in _VECTORS.get(self.method, {}).items():
            prepared[name] = self._vector_array(key)
        self._search = prepared
        return prepared

    def _query_words(self, image: np.ndarray) -> dict[str, Any]:
        found = _local_features(image, self.method, self.options)
        query = {"points": found["points"], "shape": image.shape[:2],
                 "words": self.vocabulary.assign(found["descriptors"])}
        if self.method != "seed004" and len(found["descriptors"]):
            from .duplicates import mirror_descriptors

            width = image.shape[1]
            query["words_mirrored"] = self.vocabulary.assign(
                mirror_descriptors(found["descriptors"]))
            mirrored = found["points"].copy()
            mirrored[:, 0] = width - 1 - mirrored[:, 0]
            query["points_mirrored"] = mirrored
        return query

    def _cosines(self, words: np.ndarray, prepared: dict) -> np.ndarray:
        count = len(self._features)
        if len(words) == 0 or count == 0:
            return np.zeros(count, np.float32)
        unique, counts = np.unique(words, return_counts=True)
        weights = np.sqrt(counts).astype(np.float32) * prepared["idf"][unique]
        norm = float(np.linalg.norm(weights))
        if norm == 0:
            return np.zeros(count, np.float32)
        # The inverted file: only the columns (words) of the query are touched.
        return np.asarray(prepared["inverted"][:, unique] @ (weights / norm)).ravel()

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
            ``histogram``/``vgg16`` the cosine; ``seed004`` ``1 - L2 / sqrt(2)``.
        """
        if top < 1:
            raise InvalidParameterError(f"top must be at least 1, got {top}")
        count = len(self._features)
        if count == 0:
            return []
        prepared = self._prepare()
        image, scale = load_scaled(query, self.options["max_side"],
                                   upscale=bool(self.options.get("upscale", False)))
        top = min(int(top), count)
        if self.method in ("bow", "bow-verify"):
            from .vocabulary import one_blas_thread

            with one_blas_thread():  # many small products (see one_blas_thread)
                return self._search_words(image, scale, prepared, top=top,
                                          shortlist=shortlist, min_inliers=min_inliers,
                                          min_inlier_ratio=min_inlier_ratio, mirror=mirror,
                                          ransac_threshold=ransac_threshold)
        if self.method == "seed004":
            query_words = self._query_words(image)["words"]
            histogram = np.bincount(query_words, minlength=self.vocabulary.words) \
                .astype(np.float32)
            histogram /= max(float(histogram.sum()), 1.0)
            distances = np.linalg.norm(prepared["histograms"] - histogram, axis=1)
            order = np.argsort(distances, kind="stable")[:top]
            return [SearchHit(self.files[i]["path"],
                              float(np.clip(1 - distances[i] / np.sqrt(2), 0, 1)),
                              {"l2_distance": float(distances[i])}) for i in order]
        if self.method == "phash":
            found = _global_features(image, "phash", self.options)
            distances = _hamming(prepared["bits"], found["hash"])
            mirrored = np.zeros(count, bool)
            if mirror:
                flipped = _hamming(prepared["bits"], found["hash_mirrored"])
                mirrored = flipped < distances
                distances = np.minimum(distances, flipped)
            order = np.argsort(distances, kind="stable")[:top]
            return [SearchHit(self.files[i]["path"], 1.0 - float(distances[i]) / 64.0,
                              {"hamming_distance": int(distances[i]),
                               "mirrored": bool(mirrored[i])}) for i in order]
        vector = _global_features(image, self.method, self.options)["vector"]
        cosines = prepared["vectors"] @ vector
        order = np.argsort(-cosines, kind="stable")[:top]
        return [SearchHit(self.files[i]["path"], float(np.clip(cosines[i], 0, 1)),
                          {"cosine": float(cosines[i])}) for i in order]

    def _search_words(self, image, scale, prepared, *, top, shortlist, min_inliers,
                      min_inlier_ratio, mirror, ransac_threshold) -> list[SearchHit]:
        query = self._query_words(image)
        cosines = self._cosines(query["words"], prepared)
        mirrored = np.zeros(len(cosines), bool)
        if mirror and "words_mirrored" in query:
            flipped = self._cosines(query["words_mirrored"], prepared)
            mirrored = flipped > cosines
            cosines = np.maximum(cosines, flipped)
        if self.method == "bow":
            order = np.argsort(-cosines, kind="stable")[:top]
            return [SearchHit(self.files[i]["path"], float(np.clip(cosines[i], 0, 1)),
                              {"cosine": float(cosines[i]), "mirrored": bool(mirrored[i])})
                    for i in order]
        candidates = np.argsort(-cosines, kind="stable")[:max(0, int(shortlist))]
        inliers = np.zeros(len(cosines), np.int64)
        verified = np.zeros(len(cosines), bool)
        for i in candidates:
            # The orientation with the higher cosine first; if geometry does not confirm
            # it, the other one (word statistics can favour the wrong side).
            sides = ["_mirrored", ""] if mirrored[i] else ["", "_mirrored"]
            for side in sides:
                if f"words{side}" not in query:
                    continue
                found = verify_words(query[f"words{side}"], query[f"points{side}"],
                                     self._features[i]["words"], self._features[i]["points"],
                                     threshold=ransac_threshold, min_inliers=min_inliers)
                confirmed = found["inliers"] >= int(min_inliers) and \
                    found["inliers"] >= min_inlier_ratio * len(found["query_index"])
                if (confirmed, found["inliers"]) > (verified[i], inliers[i]):
                    inliers[i], verified[i] = found["inliers"], confirmed
                    mirrored[i] = side == "_mirrored"
                if verified[i]:
                    break
        fallback = self._fallback(image, cosines, prepared, mirror=mirror)
        # Verified images first (by inliers, cosine breaking ties), then the rest by the
        # rank fusion of cosine, ordinal thumbnail and histogram.
        key = np.where(verified, inliers + np.clip(cosines, 0, 0.999), fallback["fused"])
        order = np.lexsort((-key, ~verified))[:top]
        hits = []
        for i in order:
            if verified[i]:
                score = inliers[i] / (inliers[i] + 10.0)
            else:  # below 0.1, so below any verified image's (>= 0.44 at 8 inliers)
                score = 0.099 * min(1.0, float(fallback["fused"][i]) / fallback["best"])
            hits.append(SearchHit(self.files[i]["path"], float(score),
                                  {"inliers": int(inliers[i]), "verified": bool(verified[i]),
                                   "cosine": float(cosines[i]),
                                   "ordinal": float(fallback["ordinal"][i]),
                                   "histogram": float(fallback["histogram"][i]),
                                   "mirrored": bool(mirrored[i])}))
        return hits

    def _fallback(self, image: np.ndarray, cosines: np.ndarray, prepared: dict, *,
                  mirror: bool) -> dict[str, Any]:
        """Reciprocal-rank fusion of the bag-of-words cosine, the ordinal-thumbnail
        similarity (with ``mirror``, of the better orientation) and the histogram
        similarity, for the images geometry does not confirm: ``sum(1 / (FUSION_K +
        rank))`` over the three rankings (:func:`rank_fusion`)."""
        query = _fallback_features(image, mirrored=mirror)
        ordinal = prepared["ordinals"] @ query["ordinal"]
        if mirror:
            ordinal = np.maximum(ordinal, prepared["ordinals"] @ query["ordinal_mirrored"])
        histogram = prepared["vectors"] @ query["vector"]
        fused = rank_fusion([cosines, ordinal, histogram])
        return {"fused": fused, "best": 3.0 / FUSION_K, "ordinal": ordinal,
                "histogram": histogram}

    def matches(self, query, path: str | os.PathLike, *, ransac_threshold: float = 6.0,
                mirror: bool = True):
        """The verified correspondences between ``query`` and one indexed image.

        Returns a :class:`simlab.Similarity` that :func:`simlab.plotting.plot_matches`
        draws on ``(simlab.load_image(query), simlab.load_image(path))``: coordinates are
        mapped back to both images' full size. Needs a ``bow`` or ``bow-verify`` index.
        """
        from .results import Similarity

        if self.method not in ("bow", "bow-verify"):
            raise InvalidParameterError(f"matches needs a bow or bow-verify index, this one "
                                        f"is {self.method!r}")
        target = os.path.abspath(os.fspath(path))
        position = next((i for i, e in enumerate(self.files) if e["path"] == target), None)
        if position is None:
            raise InvalidParameterError(f"{target} is not in this index")
        image, scale = load_scaled(query, self.options["max_side"],
                                   upscale=bool(self.options.get("upscale", False)))
        query_words = self._query_words(image)
        stored = self._features[position]
        best = None
        for side in ("", "_mirrored") if mirror else ("",):
            if f"words{side}" not in query_words:
                continue
            found = verify_words(query_words[f"words{side}"], query_words[f"points{side}"],
                                 stored["words"], stored["points"], threshold=ransac_threshold)
            found["mirrored"] = bool(side)
            if best is None or found["inliers"] > best["inliers"]:
                best = found
        if best is None:
            best = verify_words(np.zeros(0, np.int64), np.zeros((0, 2), np.float32),
                                stored["words"], stored["points"])
            best["mirrored"] = False
        # Draw on the un-mirrored query: keypoint i is the same patch in both frames.
        points_query = query_words["points"][best["query_index"]] / scale
        points_match = stored["points"][best["match_index"]] / float(stored["scale"])
        details = {"inliers": best["inliers"], "good_matches": len(best["query_index"]),
                   "mirrored": best["mirrored"], "path": target}
        return Similarity("bow-verify", best["inliers"] / (best["inliers"] + 10.0),
                          best["inliers"], details,
                          {"points_a": points_query, "points_b": points_match,
                           "inlier_mask": best["inlier_mask"]})


def rank_fusion(similarities: Sequence[np.ndarray], *, k: int = FUSION_K) -> np.ndarray:
    """Reciprocal-rank fusion (Cormack et al. 2009): ``sum(1 / (k + rank))`` per item.

    Each array ranks the same items (higher is more similar; rank 0 is the best).
    Tied items share the best rank of their group, that is how many items score
    strictly higher: a query without keypoints has every cosine 0, and then the order
    of the files must not vote.

    Examples
    --------
    >>> rank_fusion([np.array([0.9, 0.1, 0.5]), np.array([0.0, 0.0, 0.0])], k=1).round(3)
    array([2.   , 1.333, 1.5  ])
    """
    fused = np.zeros(len(similarities[0]), np.float64)
    for similarity in similarities:
        ranks = np.searchsorted(np.sort(-similarity), -similarity, "left")
        fused += 1.0 / (k + ranks)
    return fused


def _hamming(bits: np.ndarray, hash_bytes: np.ndarray) -> np.ndarray:
    """Hamming distance of one 8-byte hash to each row of unpacked ``bits`` (N, 64)."""
    return (bits != np.unpackbits(hash_bytes)).sum(axis=1)


def verify_words(words_query: np.ndarray, points_query: np.ndarray, words_match: np.ndarray,
                 points_match: np.ndarray, *, threshold: float = 6.0, max_per_word: int = 3,
                 min_inliers: int = 2) -> dict[str, Any]:
    """Spatial verification with same-word correspondences (Philbin et al. 2007).

    Every pair of keypoints that share a visual word is a tentative correspondence (words
    occurring more than ``max_per_word`` times in the indexed image are skipped: they
    are repeated texture, not evidence). RANSAC fits a similarity transform (rotation,
    uniform scale, translation) from query to match; the score counts *distinct* inlier
    keypoints on both sides, because SIFT puts several keypoints (orientations) on one
    spot and they would otherwise count several times. With fewer than ``min_inliers``
    correspondences RANSAC is not run (nothing could be confirmed) and 0 is returned.

    Returns
    -------
    dict
        ``inliers`` (int), ``query_index``, ``match_index`` (the correspondences) and
        ``inlier_mask`` (bool, per correspondence).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> points = rng.uniform(0, 300, (60, 2)).astype(np.float32)
    >>> words = np.arange(60)
    >>> verify_words(words, points * 0.5 + 20, words[::-1], points[::-1])["inliers"]
    60
    """
    from .methods.keypoints import verify_matches

    words_query = np.asarray(words_query, np.int64)
    words_match = np.asarray(words_match, np.int64)
    empty = {"inliers": 0, "query_index": np.zeros(0, np.int64),
             "match_index": np.zeros(0, np.int64), "inlier_mask": np.zeros(0, bool)}
    if len(words_query) == 0 or len(words_match) == 0:
        return empty
    order = np.argsort(words_match, kind="stable")
    sorted_words = words_match[order]
    low = np.searchsorted(sorted_words, words_query, "left")
    high = np.searchsorted(sorted_words, words_query, "right")
    counts = high - low
    counts[counts > max_per_word] = 0
    if counts.sum() < max(2, min_inliers):  # too few to ever reach min_inliers
        return empty
    query_index = np.repeat(np.arange(len(words_query)), counts)
    starts = np.repeat(low, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    match_index = order[starts + within]
    mask, _ = verify_matches(points_query[query_index], points_match[match_index],
                             model="similarity", threshold=threshold)
    distinct = min(len(np.unique(query_index[mask])), len(np.unique(match_index[mask])))
    return {"inliers": int(distinct), "query_index": query_index, "match_index": match_index,
            "inlier_mask": mask}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Invalid(ValueError):
    """A stored array with the wrong name, type, shape or values (reported as corrupt)."""


def _array(arrays: dict[str, np.ndarray], name: str, shape: tuple, kind: str) -> np.ndarray:
    """``arrays[name]``, checked: ``shape`` (None = any length) and dtype kind ("f" float,
    "i" any integer, "u" unsigned integer)."""
    if name not in arrays:
        raise _Invalid(f"array '{name}' is missing")
    array = arrays[name]
    kinds = {"f": "f", "i": "iu", "u": "u"}[kind]
    if array.dtype.kind not in kinds:
        raise _Invalid(f"array '{name}' has dtype {array.dtype}, expected "
                       f"{ {'f': 'floats', 'i': 'integers', 'u': 'unsigned integers'}[kind]}")
    if array.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(array.shape, shape)):
        expected = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise _Invalid(f"array '{name}' has shape {array.shape}, expected {expected}")
    return array


def _vector_width(method: str, name: str, options: dict) -> int:
    """Length of each stored vector: 8x8x8 histograms, 16x16 ordinals, VGG16's 512."""
    if name == "ordinals":
        return 256
    if method == "histogram":
        return int(options["bins"]) ** 3
    return 512  # vgg16 embedding; bow-verify's fallback histogram (8 bins per channel)


#: Checks of each stored option: (type, smallest, largest); None = no bound.
_OPTION_RULES: dict[str, tuple[type, Any, Any]] = {
    "max_side": (int, 64, 1_000_000), "upscale": (bool, None, None),
    "max_keypoints": (int, 1, 10_000_000), "contrast_threshold": (float, 0.0, 1.0),
    "fine_octave_below": (int, 0, 1_000_000), "words": (int, 2, 10_000_000),
    "training_images": (int, 1, 100_000_000), "bins": (int, 2, 64),
    "weights": (str, None, None),
}


#: Options that indexes written before they existed lack (read with a default).
_OPTIONAL_OPTIONS = frozenset({"upscale", "fine_octave_below"})


def _field_error(field_name: str, problem: str, label: str) -> CorruptIndexError:
    return CorruptIndexError(f"{MANIFEST}: field '{field_name}' {problem}; rebuild the index "
                             "with --rebuild", label)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_manifest(manifest: dict[str, Any], label: str) -> None:
    """Refuse a manifest that is not ours, of another version, or with a bad field."""
    if manifest.get("format") != FORMAT:
        raise ForeignIndexError(f"{MANIFEST} is not a simlab index manifest (no "
                                f"\"format\": \"{FORMAT}\")", label)
    if manifest.get("version") != FORMAT_VERSION:
        raise IndexVersionError(
            f"index format version {manifest.get('version')!r}, this simlab reads "
            f"version {FORMAT_VERSION}; rebuild it with `simlab index DIR --index "
            f"{label} --rebuild`", label)
    method = manifest.get("method")
    if method not in METHODS:
        raise _field_error("method", f"must be one of {', '.join(METHODS)}, got {method!r}",
                           label)
    options = manifest.get("options")
    if not isinstance(options, dict):
        raise _field_error("options", f"must be an object, got {type(options).__name__}",
                           label)
    for name in _DEFAULT_OPTIONS[method]:
        if name not in options:
            if name in _OPTIONAL_OPTIONS:
                continue
            raise _field_error(f"options.{name}", "is missing", label)
        value = options[name]
        kind, low, high = _OPTION_RULES[name]
        if name == "fine_octave_below" and value is None:
            continue
        fits = (_is_int(value) if kind is int else
                isinstance(value, bool) if kind is bool else
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and np.isfinite(value) if kind is float else isinstance(value, kind))
        if not fits:
            raise _field_error(f"options.{name}", f"must be {kind.__name__}, got {value!r}",
                               label)
        if low is not None and not low <= value <= high:
            raise _field_error(f"options.{name}", f"must lie in [{low}, {high}], got "
                               f"{value!r}", label)
    files = manifest.get("files")
    if not isinstance(files, list):
        raise _field_error("files", f"must be a list, got {type(files).__name__}", label)
    seen: dict[str, int] = {}
    for i, entry in enumerate(files):
        if not isinstance(entry, dict):
            raise _field_error(f"files[{i}]", "must be an object", label)
        path = entry.get("path")
        if not isinstance(path, str) or not path or "\x00" in path \
                or not os.path.isabs(path):
            raise _field_error(f"files[{i}].path", f"must be an absolute path, got "
                               f"{path!r}", label)
        if path in seen:
            raise _field_error(f"files[{i}].path", f"repeats files[{seen[path]}].path",
                               label)
        seen[path] = i
        for key in ("size", "mtime_ns"):
            if not _is_int(entry.get(key)) or entry[key] < 0:
                raise _field_error(f"files[{i}].{key}", f"must be a whole number >= 0, got "
                                   f"{entry.get(key)!r}", label)
    skipped = manifest.get("skipped", [])
    if not isinstance(skipped, list) or not all(
            isinstance(item, dict) and isinstance(item.get("path"), str)
            and isinstance(item.get("reason"), str) for item in skipped):
        raise _field_error("skipped", "must be a list of {\"path\", \"reason\"} objects",
                           label)
    if "count" in manifest and manifest["count"] != len(files):
        raise _field_error("count", f"is {manifest['count']!r} but 'files' lists "
                           f"{len(files)}", label)
    if not isinstance(manifest.get("created", ""), str):
        raise _field_error("created", "must be a date string", label)
    words = manifest.get("vocabulary_words")
    if words is not None and (not _is_int(words) or words < 1):
        raise _field_error("vocabulary_words", f"must be a whole number >= 1, got "
                           f"{words!r}", label)


def _check_writable(target: Path) -> None:
    """Refuse to write an index into a folder that holds something else.

    What an interrupted first build left (temporary or orphan arrays, the lock file)
    does not count: the next build recovers the folder and removes it.
    """
    from .storage import is_index_file

    if target.exists() and not target.is_dir():
        raise ForeignIndexError("is a file; choose a directory path for the index",
                                os.fspath(target))
    if target.is_dir() and not (target / MANIFEST).is_file():
        others = sorted(entry.name for entry in target.iterdir()
                        if not is_index_file(entry.name))
        if others:
            raise ForeignIndexError(
                f"the folder is not empty (it holds {others[0]!r}) and has no {MANIFEST}: "
                "not a simlab index; choose a new or empty directory for --index",
                os.fspath(target))


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
    if path is None:
        return _update(folder, None, method=method, rebuild=rebuild, workers=workers,
                       progress=progress, options=options)
    from .storage import index_lock

    _check_writable(Path(path))  # before the lock file is created in someone's folder
    # One lock for the whole update: a second writer would otherwise load the same
    # generation, and the last to save would silently drop the other's images.
    with index_lock(path):
        return _update(folder, path, method=method, rebuild=rebuild, workers=workers,
                       progress=progress, options=options)


def _update(folder, path, *, method, rebuild, workers, progress, options) -> Index:
    existing = None
    if path is not None and not rebuild and (Path(path) / MANIFEST).exists():
        existing = Index.load(path)
        if method is not None and method != existing.method:
            raise ForeignIndexError(
                f"this index was built with method {existing.method!r}, not {method!r}; "
                "pass --rebuild (rebuild=True) or another index path", os.fspath(path))
    index = existing or Index.new(method or DEFAULT_METHOD, **options)
    if isinstance(folder, (str, os.PathLike)):
        summary = index.sync(folder, workers=workers, progress=progress)
    else:
        summary = index.add(folder, workers=workers, progress=progress)
        summary["removed"] = 0
    if existing is None and not index.files:
        where = os.fspath(folder) if isinstance(folder, (str, os.PathLike)) else None
        raise NoImagesError(_nothing_indexed(summary["skipped"]), where)
    if path is not None:
        index.save(path)
    index.last_update = summary
    return index


def _nothing_indexed(skipped: list[dict[str, str]]) -> str:
    """The message of a first build that indexed nothing, naming the files it skipped."""
    from .io import IMAGE_EXTENSIONS

    if not skipped:
        return ("no image files to index (looked for "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))}, in subfolders too)")
    listed = "; ".join(f"{item['path']}: {item['reason']}" for item in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return (f"none of the {len(skipped)} image files could be read, nothing to index: "
            f"{listed}{more}")


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
    index = Index.load(args.index)
    if args.top < 1:
        raise InvalidParameterError(f"--top must be at least 1, got {args.top}")
    payload, failed = [], 0
    for query in args.query:
        try:
            hits = index.search(query, top=args.top)
        except SimlabError as exc:
            if len(args.query) == 1:
                raise  # one query: one error line, exit 2, as for any bad input
            # Several queries: report this one and go on with the others (exit 3).
            failed += 1
            reason = exc.reason_for(query)
            payload.append({"query": query, "results": [], "error": reason})
            if not args.json:
                print(f"query: {query}\n  failed: {reason}")
            continue
        payload.append({"query": query, "results": [
            {"rank": rank, "path": hit.path, "score": round(hit.score, 6)}
            for rank, hit in enumerate(hits, start=1)]})
        if not args.json:
            print(f"query: {query}")
            for rank, hit in enumerate(hits, start=1):
                extra = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in hit.details.items())
                print(f"{rank:>3}  {hit.score:.3f}  {hit.path}  ({extra})")
    if args.json:
        print(json.dumps(payload, indent=2))
    if failed:
        print(f"simlab: {failed} of {len(args.query)} queries failed (listed above)",
              file=sys.stderr)
        return EXIT_SOME_FAILED
    return 0


def add_index_parsers(subparsers) -> None:
    """Add the ``index`` and ``search`` commands to ``simlab``'s subparsers.

    ``simlab index DIR --index PATH [--method M] [--max-side PX] [--workers N]
    [--rebuild] [--json]`` builds or updates an index; ``simlab search QUERY... --index
    PATH [--top K] [--json]`` searches it. ``--json`` prints ``[{"query": ...,
    "results": [{"rank": 1, "path": <absolute path>, "score": ...}]}]``; with several
    queries a failed one has ``"results": []`` and ``"error": <reason>``, the others
    are searched, and the exit status is :data:`EXIT_SOME_FAILED` (3).

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
                        help='print [{"query", "results": [{"rank", "path", "score"}]}]; '
                        'a query that failed has "results": [] and "error": its reason')
    search.epilog = ("With several queries, a bad one (missing, empty, not an image...) is "
                     "reported and the others are still searched; the exit status is then "
                     f"{EXIT_SOME_FAILED}. One bad query alone exits 2.")
    search.set_defaults(func=_cmd_search)
