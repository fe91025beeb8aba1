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
and mtime, unreadable files, the shards) and one ``arrays-<id>.npz`` per shard of at most
``shard_size`` images (features, memory-mapped, never unpickled), written atomically, JSON
last. Re-indexing a folder processes only new or changed files and drops deleted ones;
new images go to new shards, and only shards whose images changed are rewritten. Opening
reads headers only (:mod:`simlab.search.features`); a search merges the shards' candidates.

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

import contextlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..bow import FUSION_K, rank_fusion
from ..errors import (CorruptIndexError, ForeignIndexError, IndexConflictError, IndexError_,
                     IndexLockedError, IndexNotFoundError, IndexVersionError,
                     InvalidParameterError, NoImagesError)
from ..io import load_scaled
from ..results import SearchHit
from .backends import BACKENDS, MAX_LOG_NFA, MIN_INLIER_RATIO, get_backend
from .features import ChainedFeatures, FeatureTable, parts
from .validation import FORMAT, FORMAT_VERSION, MANIFEST, Invalid, check_manifest

__all__ = ["build", "Index", "SearchHit", "METHODS", "DEFAULT_METHOD", "FORMAT",
           "FORMAT_VERSION", "IndexError_", "IndexNotFoundError", "CorruptIndexError",
           "ForeignIndexError", "IndexVersionError", "IndexLockedError",
           "IndexConflictError", "rank_fusion",
           "FUSION_K", "MIN_INLIER_RATIO"]


#: Index methods and what they store (one backend class each, see
#: :mod:`simlab.search.backends`). ``bow-verify`` is the default (see the benchmark table
#: of ``simlab bench search``).
METHODS = {name: backend.summary for name, backend in BACKENDS.items()}
DEFAULT_METHOD = "bow-verify"
#: Images per shard when an index is saved (``--shard-size``): a shard is one arrays
#: file, written once and then only read (added images go to new shards).
DEFAULT_SHARD_SIZE = 10_000



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
    #: The generation on disk this index was loaded from or last saved as.
    _generation: str | None = field(default=None, repr=False)
    #: Images per shard for the shards the next :meth:`save` writes (None: default).
    shard_size: int | None = None
    #: The shards on disk (``{"arrays", "count"}``) at the last load or save; images
    #: ``_origin[i]`` (a shard number, -1 for new or changed ones) came from; shards
    #: whose images changed (rewritten at the next save).
    _layout: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _origin: list[int] = field(default_factory=list, repr=False)
    _dirty: set[int] = field(default_factory=set, repr=False)
    #: The arrays file holding the vocabulary at the last load or save (None: write it).
    _shared_file: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self._origin) != len(self.files):  # images not from a stored shard
            self._origin = [-1] * len(self.files)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def new(cls, method: str = DEFAULT_METHOD, **options: Any) -> "Index":
        """An empty index for ``method``; ``options`` override its backend's defaults
        (``simlab.search.backends.get_backend(method).defaults``).

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
            progress: bool = True, cluster=None,
            flush: Callable[[], Any] | None = None) -> dict[str, Any]:
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
        cluster : simlab.distributed.Cluster, optional
            Extract on a Dask cluster's worker processes instead of ``workers`` threads
            (:func:`simlab.distributed.cluster`); the index is the same.
        flush : callable, optional
            Streaming: called (with no argument) each time :attr:`shard_size` images
            were extracted and more remain, to write them (``lambda: index.save(path)``,
            which :func:`build` passes): their features then live in the new shard's
            memory-mapped file, not in memory, so a build's memory does not grow with the
            folder, and a build killed midway keeps the shards it wrote (the next run
            goes on from there).

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
        stats = dict(todo)
        pending = list(stats)
        counts = {"added": 0, "updated": 0}
        unsaved = 0
        if pending and self.backend.uses_words and self.vocabulary is None:
            # The vocabulary is learnt from a sample first; the sample's features are
            # the first ones added.
            sampled, failed, pending = self._train_vocabulary(
                pending, workers=workers, progress=progress, cluster=cluster)
            self._integrate(sampled, failed, stats, skipped, counts)
            unsaved = len(sampled)
        size = int(self.shard_size or DEFAULT_SHARD_SIZE) if flush is not None else None
        while pending:
            # Up to the next whole number of shards (the sample may be more than one).
            take = len(pending) if size is None else size - unsaved % size
            batch, pending = pending[:take], pending[take:]
            extracted, failed = self._extract_many(batch, workers=workers,
                                                   progress=progress, cluster=cluster)
            self._integrate(extracted, failed, stats, skipped, counts)
            unsaved += len(extracted)
            if size is not None and pending and unsaved and unsaved % size == 0:
                flush()
                unsaved = 0
        added, updated = counts["added"], counts["updated"]
        self.skipped = skipped
        self._search = None
        seconds = time.perf_counter() - started
        processed = len(todo)
        return {"added": added, "updated": updated, "unchanged": unchanged,
                "skipped": skipped, "seconds": seconds,
                "images_per_second": processed / seconds if processed and seconds else None}

    def _integrate(self, extracted: dict[str, dict], failed: list[dict],
                   stats: dict[str, dict], skipped: list[dict], counts: dict[str, int]
                   ) -> None:
        """Put extracted features into the index (new images last); failed files
        leave it and are listed in ``skipped``."""
        position = {entry["path"]: i for i, entry in enumerate(self.files)}
        for item in failed:
            skipped.append(item)
            if item["path"] in position:  # a file that became unreadable leaves the index
                self._drop({item["path"]})
                position = {e["path"]: i for i, e in enumerate(self.files)}
        appended = []
        for path, features in extracted.items():
            entry = {"path": path, **stats[path]}
            if path in position:
                at = position[path]
                self.files[at] = entry
                self._mutable()[at] = features
                self._changed(at)
                counts["updated"] += 1
            else:
                position[path] = len(self.files)
                self.files.append(entry)
                appended.append(features)
                self._origin.append(-1)
                counts["added"] += 1
        if appended:  # stored shards stay as they are: new images go to a new shard
            if isinstance(self._features, list):
                self._features.extend(appended)
            else:
                self._features = ChainedFeatures(parts(self._features) + [appended])
        self._search = None

    def remove(self, paths: Iterable[str | os.PathLike]) -> int:
        """Drop images from the index; returns how many were indexed."""
        wanted = {os.path.abspath(os.fspath(p)) for p in paths}
        before = len(self.files)
        self._drop(wanted)
        return before - len(self.files)

    def sync(self, folder: str | os.PathLike, *, workers: int = 2,
             progress: bool = True, cluster=None,
             flush: Callable[[], Any] | None = None) -> dict[str, Any]:
        """Make the index match ``folder``: add new and changed images, drop deleted ones.

        Entries whose file no longer exists are dropped (whatever folder they came from);
        returns :meth:`add`'s summary plus ``removed``.
        """
        from ..io import scan_images

        listed, unlisted = scan_images(folder)
        gone = [entry["path"] for entry in self.files if not os.path.exists(entry["path"])]
        removed = self.remove(gone)
        summary = self.add(listed, workers=workers, progress=progress, cluster=cluster,
                           flush=flush)
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
        if len(keep) == len(self.files):
            return
        kept = set(keep)
        self._dirty |= {self._origin[i] for i in range(len(self.files))
                        if i not in kept and self._origin[i] >= 0}
        self.files = [self.files[i] for i in keep]
        features = self._mutable()
        self._features = [features[i] for i in keep]
        self._origin = [self._origin[i] for i in keep]
        self._search = None

    def _mutable(self) -> list[dict[str, np.ndarray]]:
        """The features as a list of dicts (stored shards read), to change in place."""
        if not isinstance(self._features, list):
            self._features = list(self._features)
        return self._features

    def _changed(self, position: int) -> None:
        """Image ``position`` has new features: its shard is rewritten at the next save."""
        if self._origin[position] >= 0:
            self._dirty.add(self._origin[position])
        self._origin[position] = -1
        self._search = None

    def _extract_many(self, paths: list[str], *, workers: int, progress: bool,
                      desc: str = "indexing", cluster=None):
        """Features of ``paths`` (path -> features) and the files that failed."""
        from ..parallel import map_files, one_blas_thread

        vocabulary = self.vocabulary
        if cluster is not None:  # a module function and plain data: sent to the workers
            import functools

            return map_files(functools.partial(_extract, method=self.method,
                                               options=dict(self.options),
                                               vocabulary=vocabulary),
                             paths, progress=progress, desc=desc, cluster=cluster)
        # The threads are the parallelism; BLAS threads on top only contend with them.
        with one_blas_thread():
            return map_files(lambda path: _extract(path, self.method, self.options, vocabulary),
                             paths, workers=workers, progress=progress, desc=desc)

    def _train_vocabulary(self, paths: list[str], *, workers: int, progress: bool,
                          cluster=None):
        """Learn the vocabulary from a sample of ``paths``.

        Only ``training_images`` images keep their descriptors in memory (the others are
        extracted afterwards, straight into words), so memory stays bounded for big
        folders. Returns the sample's features (as words), the files that failed, and
        the paths not in the sample.
        """
        rng = np.random.default_rng(0)
        count = min(len(paths), int(self.options["training_images"]))
        chosen = set(rng.choice(len(paths), count, replace=False).tolist())
        first = [paths[i] for i in sorted(chosen)]
        rest = [paths[i] for i in range(len(paths)) if i not in chosen]
        sampled, failed = self._extract_many(first, workers=workers, progress=progress,
                                             desc="indexing (vocabulary sample)",
                                             cluster=cluster)
        descriptors = [f["descriptors"] for f in sampled.values()]
        pool = np.concatenate(descriptors) if descriptors else np.zeros((0, 128), np.float32)
        if not descriptors and not rest:  # nothing readable: say which files and why
            raise NoImagesError(_nothing_indexed(failed))
        if len(pool) == 0:
            raise InvalidParameterError(
                "no keypoints in any readable image: nothing to learn a vocabulary from "
                f"({len(first)} files tried); use method='histogram' or 'phash' for flat "
                "images")
        self.vocabulary = self.backend.train(pool, self.options)
        self._shared_file = None  # a new vocabulary: written at the next save
        # One assignment for the whole sample: per-cell products are then large, and
        # cost a second instead of ~50 ms per image.
        words = self.vocabulary.assign(pool)
        bounds = np.cumsum([0] + [len(features["descriptors"]) for features in sampled.values()])
        for features, start, stop in zip(sampled.values(), bounds[:-1], bounds[1:]):
            features.pop("descriptors")
            features["words"] = words[start:stop]
        return sampled, failed, rest

    # -- saving and loading -------------------------------------------------------------
    def _arrays(self, features: list[dict[str, np.ndarray]] | None = None
                ) -> dict[str, np.ndarray]:
        """The arrays file of one shard holding ``features`` (default: every image)."""
        features = list(self._features) if features is None else features
        count = len(features)
        arrays: dict[str, np.ndarray] = {
            "scales": np.array([f["scale"] for f in features], np.float32),
            "shapes": np.array([f["shape"] for f in features], np.int32).reshape(count, 2),
        }
        arrays.update(self.backend.to_arrays(features, self.vocabulary))
        return arrays

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the index directory: new shards first, ``index.json`` last, under the lock.

        The images are stored in shards of at most :attr:`shard_size` images (default
        :data:`DEFAULT_SHARD_SIZE`), one arrays file each, written atomically. Saving
        where the index was loaded from rewrites only the shards whose images changed
        or were removed; images added since go to new shards (the others stay as they
        are on disk). A reader sees either the old index or the new one: ``index.json``
        names the files of its own generation, and files no manifest names are removed
        afterwards (:mod:`simlab.search.storage`). Another process updating the same
        index meanwhile raises :class:`~simlab.errors.IndexLockedError`; an index that
        another process saved since this one was loaded raises
        :class:`~simlab.errors.IndexConflictError` (saving would silently drop that
        update).
        """
        from .. import __version__
        from .storage import (clean_debris, current_generation, index_lock, read_manifest,
                              referenced_files, write_arrays, write_manifest)

        target = Path(path) if path is not None else self.path
        if target is None:
            raise InvalidParameterError("Index.save needs a path (none was loaded or given)")
        shard_size = int(self.shard_size or DEFAULT_SHARD_SIZE)
        if shard_size < 1:
            raise InvalidParameterError(f"shard size must be at least 1, got {shard_size}")
        _check_writable(target)
        with index_lock(target):
            same_place = self._generation is not None and self.path is not None \
                and os.path.realpath(self.path) == os.path.realpath(target)
            if same_place and current_generation(target) not in (None, self._generation):
                raise IndexConflictError(
                    "another process updated this index after it was loaded; saving would "
                    "drop its images: load the index again and redo the update (or use "
                    "`simlab index`, which loads and saves under one lock)",
                    os.fspath(target))
            if self.backend.uses_words and self.vocabulary is None:
                raise NoImagesError("no image was indexed, so there is no vocabulary to "
                                    "save; add images first", os.fspath(target))
            target.mkdir(parents=True, exist_ok=True)
            existing = []
            if (target / MANIFEST).is_file():
                with contextlib.suppress(CorruptIndexError):
                    existing = referenced_files(read_manifest(target))
            clean_debris(target, keep=existing)  # what killed writers left
            # Shards kept as they are on disk: loaded from here, no image changed.
            kept = [k for k in range(len(self._layout)) if k not in self._dirty] \
                if same_place else []
            members: dict[int, list[int]] = {}
            for i, origin in enumerate(self._origin):
                members.setdefault(origin, []).append(i)
            kept = [k for k in kept if len(members.get(k, [])) == self._layout[k]["count"]
                    and self._layout[k]["arrays"] in existing]
            order = [i for k in kept for i in members[k]]
            taken = set(order)
            rest = [i for i in range(len(self.files)) if i not in taken]
            layout = [dict(self._layout[k]) for k in kept]
            # The vocabulary stays in the file that holds it when that file is kept;
            # else it goes into the first shard written (one file for a small index).
            shared = self._shared_file if self._shared_file in \
                {record["arrays"] for record in layout} else None
            chunks = [rest[start:start + shard_size]
                      for start in range(0, len(rest), shard_size)]
            if not layout and not chunks:  # an emptied index: one empty shard
                chunks = [[]]
            for chunk in chunks:
                arrays = self._arrays([self._features[i] for i in chunk])
                if shared is None and self.vocabulary is not None:
                    arrays.update(self.backend.shared_arrays(self.vocabulary))
                name = write_arrays(target, arrays)
                shared = shared or name
                layout.append({"arrays": name, "count": len(chunk)})
                order += chunk
            if shared is None:  # no vocabulary (or nothing written): the first shard
                shared = layout[0]["arrays"]
            files = [self.files[i] for i in order]
            manifest = {
                "format": FORMAT, "version": FORMAT_VERSION, "simlab_version": __version__,
                "method": self.method, "options": self.options,
                "created": self.created or _now(), "updated": _now(),
                "count": len(files),
                "vocabulary_words": (self.vocabulary.words if self.vocabulary is not None
                                     else None),
                "files": files, "skipped": self.skipped,
                "arrays": shared, "shards": layout, "shard_size": shard_size,
            }
            self._generation = write_manifest(target, manifest)
            # From now on the index is what is on disk: its features are the shards'
            # (memory-mapped) arrays, not the copies extraction made.
            self.files = files
            self._shared_file = shared
            self._set_shards(target, layout, [_load_shard(target, s["arrays"])
                                              for s in layout])
        self.path = target
        self.shard_size = shard_size
        return target

    def _set_shards(self, root: Path, layout: list[dict[str, Any]],
                    shard_arrays: list[dict[str, np.ndarray]]) -> None:
        """Features from each shard's arrays (checked cheaply), the layout recorded."""
        label = os.fspath(root)
        tables, start = [], 0
        for record, arrays in zip(layout, shard_arrays):
            count = int(record["count"])
            tables.append(self._table(arrays, count, record["arrays"], label))
            start += count
        if start != len(self.files):
            raise CorruptIndexError(f"{MANIFEST}: the shards hold {start} images but "
                                    f"'files' lists {len(self.files)}; rebuild the index "
                                    "with --rebuild", label)
        self._features = tables[0] if len(tables) == 1 else ChainedFeatures(tables)
        self._layout = [{"arrays": r["arrays"], "count": int(r["count"])} for r in layout]
        self._origin = [k for k, r in enumerate(layout) for _ in range(int(r["count"]))]
        self._dirty = set()
        self._search = None

    def _table(self, arrays: dict[str, np.ndarray], count: int, name: str, label: str
               ) -> FeatureTable:
        from .validation import checked_array

        table = FeatureTable(count, name=name, label=label)
        try:
            scales = checked_array(arrays, "scales", (count,), "f")
            shapes = checked_array(arrays, "shapes", (count, 2), "i")
            if not (np.isfinite(scales).all() and (scales > 0).all()):
                raise Invalid("'scales' must be finite and positive")
            if (shapes < 1).any():
                raise Invalid("'shapes' must be positive image sizes")
            table.add_rows("scale", scales)
            table.add_rows("shape", shapes)
            self.backend.from_arrays(arrays, table, self.options, self.vocabulary)
            table.spot_check()
        except Invalid as exc:
            raise table.corrupt(exc) from None
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise CorruptIndexError(f"{name}: the arrays disagree with {MANIFEST} ({exc}); "
                                    "rebuild the index with --rebuild", label) from None
        return table

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Index":
        """Open an index directory written by :meth:`save`.

        Opening reads the manifest and the arrays' headers: the arrays are memory-mapped,
        and only cheap checks run now (every field of ``index.json``; each array's name,
        dtype and shape; offsets; the small per-image arrays and the vocabulary). The
        values of the large arrays (words, keypoints, vectors) are checked when a search
        first uses them, and a bad one raises the same :class:`CorruptIndexError` then.

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
        from .storage import is_index_file, read_index

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
        manifest, shared, shard_arrays = read_index(
            root, check=lambda found: check_manifest(found, label))
        index = cls(method=manifest["method"], options=dict(manifest["options"]),
                    files=[dict(entry) for entry in manifest["files"]],
                    skipped=[dict(entry) for entry in manifest.get("skipped", [])],
                    path=root, created=manifest.get("created", ""),
                    shard_size=manifest.get("shard_size"))
        index._generation = manifest["generation"]
        index._shared_file = manifest["arrays"]
        layout = manifest.get("shards") or [{"arrays": manifest["arrays"],
                                             "count": len(manifest["files"])}]
        try:
            index.vocabulary = index.backend.load_vocabulary(shared, index.options)
        except Invalid as exc:
            raise CorruptIndexError(f"{manifest['arrays']}: {exc}; rebuild the index with "
                                    "--rebuild", label) from None
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            raise CorruptIndexError(f"the arrays disagree with {MANIFEST} ({exc}); rebuild "
                                    "the index with --rebuild", label) from None
        vocabulary_words = manifest.get("vocabulary_words")
        if index.vocabulary is not None and vocabulary_words is not None \
                and vocabulary_words != index.vocabulary.words:
            raise CorruptIndexError(
                f"{manifest['arrays']}: the vocabulary has {index.vocabulary.words} words, "
                f"{MANIFEST} field 'vocabulary_words' says {vocabulary_words}; rebuild the "
                "index with --rebuild", label)
        index._set_shards(root, layout, shard_arrays)
        return index

    @property
    def shards(self) -> list[dict[str, Any]]:
        """The shards on disk at the last load or save: ``{"arrays", "count"}`` each."""
        return [dict(record) for record in self._layout]

    # -- searching ------------------------------------------------------------------------
    def _prepare(self) -> dict[str, Any]:
        """Search structures, built once per change of the index (inverted file...)."""
        if self._search is None:
            try:
                self._search = self.backend.prepare(self._features, self.vocabulary)
            except Invalid as exc:
                names = ", ".join(record["arrays"] for record in self._layout) or "arrays"
                raise CorruptIndexError(f"{names}: {exc}; rebuild the index with --rebuild",
                                        os.fspath(self.path) if self.path else None) from None
        return self._search

    def search(self, query, *, top: int = 10, shortlist: int = 50, min_inliers: int = 8,
               min_inlier_ratio: float = MIN_INLIER_RATIO, ransac_threshold: float = 6.0,
               mirror: bool = True, answers: int = 5, invert: bool = True,
               max_log_nfa: float = MAX_LOG_NFA, coarse: bool = True) -> list[SearchHit]:
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
        answers : int
            ``bow-verify``: how many matches to look for. After each round of matches
            the query's keypoints inside their regions are set aside and the rest is
            searched again (explaining away): a collage, a figure or a screenshot
            returns each indexed image it holds. Then, when the matches leave panels
            of a figure uncovered, each such panel is searched alone
            (:meth:`~simlab.search.backends.VerifiedWords.panel_answers`), and a
            picture inside a frame of flat colours (a screenshot of a viewer) is
            searched alone at the file's resolution
            (:meth:`~simlab.search.backends.VerifiedWords.framed_answers`). 1 stops
            after the first round.
        invert : bool
            ``bow-verify``: also search the intensity-inverted query (a negative), by
            permuting its descriptors (:mod:`simlab.local.invert`).
        max_log_nfa : float
            ``bow-verify``: a verified image is a match when the log10 of its number of
            false alarms (:meth:`simlab.local.Verification.log_nfa`, every verification
            the search made counted as a test) is at most this.
        coarse : bool
            ``bow-verify``: a query that matched nothing is searched once more at half
            its size (:meth:`~simlab.search.backends.VerifiedWords.coarse_answers`): a
            tiny crop enlarged back, or a blurred copy.

        Returns
        -------
        list of SearchHit
            ``(path, score, details)``. Scores: ``bow`` the tf-idf cosine; ``bow-verify``
            ``inliers / (inliers + 10)`` for verified images (10 inliers -> 0.5), else
            the rank-fusion score scaled into [0, 0.1) (see the module documentation);
            ``bow-verify`` details also say whether the image is a ``match``, its
            ``log_nfa`` (None when no transform was fitted), the ``region`` of the query
            it covers (``[left, top, right, bottom]`` in the query file's pixels, None
            when not a match), whether it was found as a negative (``inverted``) and,
            for a hit found by searching a panel or a framed picture alone, the
            ``panel``'s box.
            Matches come first (a significant match with fewer than ``min_inliers``
            inliers is scored like a verified image but is not ``verified``);
            ``phash`` ``1 - hamming / 64``;
            ``histogram``/``vgg16`` the cosine; ``naive-bow`` ``1 - L2 / sqrt(2)``.
        """
        from ..parallel import one_blas_thread

        if top < 1:
            raise InvalidParameterError(f"top must be at least 1, got {top}")
        if not len(self._features):
            return []
        prepared = self._prepare()
        image, scale = load_scaled(query, self.options["max_side"],
                                   upscale=bool(self.options.get("upscale", False)))
        # Word methods make many small products (see one_blas_thread); entering the limit
        # costs a few ms, more than a global method's whole search.
        limit = one_blas_thread() if self.backend.uses_words else contextlib.nullcontext()
        settings = dict(options=self.options, vocabulary=self.vocabulary,
                        top=min(int(top), len(self._features)), mirror=mirror,
                        shortlist=shortlist, min_inliers=min_inliers,
                        min_inlier_ratio=min_inlier_ratio,
                        ransac_threshold=ransac_threshold, invert=invert,
                        max_log_nfa=max_log_nfa)
        with limit:
            found = self.backend.search(image, prepared, self._features, answers=answers,
                                        **settings)
            if int(answers) > 1 and hasattr(self.backend, "framed_answers"):
                found = self.backend.framed_answers(query, image, scale, found, prepared,
                                                    self._features, **settings)
            if coarse and hasattr(self.backend, "coarse_answers"):
                found = self.backend.coarse_answers(image, found, prepared, self._features,
                                                    **settings)
        for _, _, details in found:  # regions and panels in the query file's pixels
            for key in ("region", "panel"):
                if details.get(key) is not None:
                    details[key] = [round(v / scale, 1) for v in details[key]]
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
        from ..results import Similarity

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


def _load_shard(root: Path, name: str) -> dict[str, np.ndarray]:
    from .storage import _load_own

    try:
        return _load_own(root, name, os.fspath(root))
    except FileNotFoundError:
        raise CorruptIndexError(f"{name} (a shard of {MANIFEST}) is missing; rebuild the "
                                "index with --rebuild", os.fspath(root)) from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
          cluster=None, shard_size: int | None = None, **options: Any) -> Index:
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
    cluster : simlab.distributed.Cluster, optional
        Extract features on a Dask cluster (:func:`simlab.distributed.cluster`).
    shard_size : int, optional
        Images per shard of the saved index (default: the existing index's, else
        :data:`DEFAULT_SHARD_SIZE`). Shards are written once: an update writes the
        images it adds into new shards and rewrites only the shards whose images
        changed or were removed.
    **options
        Method options (``max_side``, ``max_keypoints``, ``words``...; see
        ``simlab.search.backends.get_backend(method).defaults``).

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
    if shard_size is not None and int(shard_size) < 1:
        raise InvalidParameterError(f"shard size must be at least 1, got {shard_size}")
    if path is None:
        return _update(folder, None, method=method, rebuild=rebuild, workers=workers,
                       progress=progress, options=options, cluster=cluster,
                       shard_size=shard_size)
    from .storage import index_lock

    _check_writable(Path(path))  # before the lock file is created in someone's folder
    # One lock for the whole update: a second writer would otherwise load the same
    # generation, and the last to save would silently drop the other's images.
    with index_lock(path):
        return _update(folder, path, method=method, rebuild=rebuild, workers=workers,
                       progress=progress, options=options, cluster=cluster,
                       shard_size=shard_size)


def _update(folder, path, *, method, rebuild, workers, progress, options,
            cluster=None, shard_size=None) -> Index:
    existing = None
    if path is not None and not rebuild and (Path(path) / MANIFEST).exists():
        existing = Index.load(path)
        if method is not None and method != existing.method:
            raise ForeignIndexError(
                f"this index was built with method {existing.method!r}, not {method!r}; "
                "pass --rebuild (rebuild=True) or another index path", os.fspath(path))
    index = existing or Index.new(method or DEFAULT_METHOD, **options)
    if shard_size is not None:
        index.shard_size = int(shard_size)
    # Streaming: each full shard is written as soon as it is extracted.
    flush = (lambda: index.save(path)) if path is not None else None
    if isinstance(folder, (str, os.PathLike)):
        summary = index.sync(folder, workers=workers, progress=progress, cluster=cluster,
                             flush=flush)
    else:
        summary = index.add(folder, workers=workers, progress=progress, cluster=cluster,
                            flush=flush)
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
    from ..io import IMAGE_EXTENSIONS

    if not skipped:
        return ("no image files to index (looked for "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))}, in subfolders too)")
    listed = "; ".join(f"{item['path']}: {item['reason']}" for item in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return (f"none of the {len(skipped)} image files could be read, nothing to index: "
            f"{listed}{more}")
