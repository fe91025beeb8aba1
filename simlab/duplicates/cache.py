"""Features kept on disk between runs of the duplicate finder (``simlab pairs``).

Extraction is most of a first run; a second run on the same folder (another threshold,
a few images added) should not pay it again. Each image's features are one ``.npz``
file named by a hash of what they depend on: the file (absolute path, size and mtime in
nanoseconds) and the settings they were extracted with (method, ``max_side``,
``max_keypoints``, ``contrast_threshold``, ``copy_move``, and :data:`CACHE_VERSION`, raised
whenever extraction changes). A changed file gets a new key, so a stale entry is never
read; it just stops being used.

Entries are written atomically (a reader never sees half a file) and read with
``allow_pickle=False``. An entry that does not load (truncated, not an npz, missing an
array, an object array) is treated as absent: the image is extracted again and the entry
rewritten, never a crash.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> image = folder / "a.png"; _ = image.write_bytes(b"not really an image")
>>> cache = FeatureCache(folder / "cache", {"method": "rootsift"})
>>> cache.get(image) is None
True
>>> cache.put(image, {"points": np.zeros((2, 2), np.float32)})
>>> cache.get(image)["points"].shape
(2, 2)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["FeatureCache", "ResultStore", "key_of", "load_candidates", "save_candidates",
           "matches_to_arrays", "matches_from_arrays", "CACHE_VERSION", "DEFAULT_NAME"]

#: Part of every key: raise it when extraction changes, so old entries are not reused.
#: 2: dense copy-move looks 4 px around in smooth images; vocabularies learnt by Lloyd.
#: 3: dense copy-move applies the sub-pixel part of its candidate shifts.
#: 4: keypoint copy-moves are checked against the pixels (stored results changed).
#: 5: descriptors held as SIFT's bytes (a quarter of the size; RootSIFT where matched).
CACHE_VERSION = 5
#: The cache's folder inside the output folder of ``simlab pairs`` (the default place).
DEFAULT_NAME = "cache"


class FeatureCache:
    """Per-image features on disk, keyed by the file's path, size and mtime and by the
    extraction settings.

    Parameters
    ----------
    directory : path
        Where the entries live (created on the first write).
    settings : mapping
        JSON-serialisable extraction settings; entries made with other settings are
        never returned.
    required : sequence of str
        Arrays an entry must hold to be used (one without them is rebuilt).

    Attributes
    ----------
    hits, misses, rebuilt : int
        Entries found, entries absent, and entries that existed but did not load
        (counted in ``misses`` too; they are rewritten by the next :meth:`put`).
    """

    def __init__(self, directory: str | os.PathLike, settings: Mapping[str, Any], *,
                 required: Sequence[str] = ()):
        self.directory = Path(directory)
        self._settings = json.dumps({"version": CACHE_VERSION, **dict(settings)},
                                    sort_keys=True, default=str)
        self._required = tuple(required)
        self._count = threading.Lock()  # extraction threads share one cache
        self.hits = self.misses = self.rebuilt = 0

    def _counted(self, features, *, rebuilt: bool = False):
        with self._count:
            if features is None:
                self.misses += 1
                self.rebuilt += int(rebuilt)
            else:
                self.hits += 1
        return features

    def key(self, path: str | os.PathLike) -> str | None:
        """The entry name of ``path`` as it is now, or None when it cannot be stat'ed."""
        absolute = os.path.abspath(os.fspath(path))
        try:
            info = os.stat(absolute)
        except OSError:
            return None
        text = f"{absolute}\0{info.st_size}\0{info.st_mtime_ns}\0{self._settings}"
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def _file(self, key: str) -> Path:
        return self.directory / "features" / key[:2] / f"{key}.npz"  # 256 folders

    def has(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` as it is now has an entry (counted as a hit; an entry that
        then fails to load is counted again by :meth:`load_entry`)."""
        key = self.key(path)
        found = key is not None and self._file(key).is_file()
        if found:
            with self._count:
                self.hits += 1
        return found

    def load_entry(self, path: str | os.PathLike) -> dict[str, np.ndarray] | None:
        """The entry :meth:`has` found, or None when it does not load (then counted as
        a rebuilt miss instead of a hit)."""
        found = self.get(path)
        with self._count:
            self.hits -= 1  # has() counted it already; get() counted it again
        return found

    def get(self, path: str | os.PathLike) -> dict[str, np.ndarray] | None:
        """The cached features of ``path``, or None (absent, stale or unreadable)."""
        key = self.key(path)
        if key is None:
            return self._counted(None)
        try:
            with np.load(self._file(key), allow_pickle=False) as stored:
                features = {name: stored[name] for name in stored.files}
        except FileNotFoundError:
            return self._counted(None)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            # Damaged (a full disk, a killed copy, a hand edit): extract again.
            return self._counted(None, rebuilt=True)
        if not features or any(name not in features for name in self._required):
            return self._counted(None, rebuilt=True)
        return self._counted(features)

    def put(self, path: str | os.PathLike, features: Mapping[str, np.ndarray]) -> None:
        """Store the features of ``path`` (plain arrays only), atomically.

        A cache that cannot be written (read-only, full disk) only costs the next run
        its speed: the error is swallowed, never raised into the job.
        """
        from ..files import atomic_path

        key = self.key(path)
        if key is None:
            return
        arrays = {name: np.asarray(value) for name, value in features.items()}
        if any(value.dtype.hasobject for value in arrays.values()):
            return  # would need pickling: not cached
        try:
            with atomic_path(self._file(key)) as temporary:
                with open(temporary, "wb") as handle:
                    np.savez(handle, **arrays)
        except OSError:
            pass

    def __repr__(self) -> str:
        return (f"FeatureCache({os.fspath(self.directory)!r}, hits={self.hits}, "
                f"misses={self.misses}, rebuilt={self.rebuilt})")


# ---------------------------------------------------------------------------------------
# Results a re-run can reuse: candidate pairs, verifications, copy-move findings.

#: PairMatch fields held as arrays (the rest are scalars, strings and the reasons).
_ARRAY_FIELDS = ("points_a", "points_b", "region_a", "region_b", "matrix")


def key_of(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (what a stored result depends on).

    Examples
    --------
    >>> key_of("a", 1) == key_of("a", 1) != key_of("a", 2)
    True
    """
    text = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def matches_to_arrays(keyed: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Verified matches (key -> :class:`~simlab.results.PairMatch`) as plain arrays.

    Scalars, strings and reasons go into one JSON text; each array field into one
    float64 run (float32 and int32 values survive it exactly) with its shape and dtype
    in the JSON, so :func:`matches_from_arrays` gives back equal matches.
    """
    import dataclasses

    records, runs = [], {name: [] for name in _ARRAY_FIELDS}
    for key, match in keyed.items():
        record: dict[str, Any] = {"key": key}
        for item in dataclasses.fields(match):
            value = getattr(match, item.name)
            if item.name in ("a", "b"):
                continue
            if item.name in _ARRAY_FIELDS:
                if value is None:
                    record[item.name] = None
                    continue
                value = np.asarray(value)
                record[item.name] = [list(value.shape), value.dtype.str]
                runs[item.name].append(value.astype(np.float64).ravel())
                continue
            if isinstance(value, np.generic):
                value = value.item()
            record[item.name] = list(value) if isinstance(value, tuple) else value
        records.append(record)
    arrays = {name: np.concatenate(run) if run else np.zeros(0) for name, run in runs.items()}
    arrays["records"] = np.array(json.dumps(records))
    return arrays


def matches_from_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """Key -> the fields of a stored match (``a`` and ``b`` are the caller's to add)."""
    records = json.loads(str(arrays["records"]))
    offsets = {name: 0 for name in _ARRAY_FIELDS}
    stored: dict[str, dict] = {}
    for record in records:
        fields = {}
        for name, value in record.items():
            if name == "key":
                continue
            if name in _ARRAY_FIELDS:
                if value is None:
                    fields[name] = None
                    continue
                shape, dtype = value
                count = math.prod(shape)
                start = offsets[name]
                fields[name] = arrays[name][start:start + count].astype(
                    np.dtype(dtype)).reshape(shape)
                offsets[name] = start + count
            elif name == "reasons":
                fields[name] = tuple(value)
            else:
                fields[name] = value
        stored[record["key"]] = fields
    return stored


class ResultStore:
    """Results of one kind (``"verified"``, ``"copy-move"``...) keyed by what they depend
    on, in one ``.npz`` of the cache folder, rewritten atomically at the end of a run
    with the results that run used (so it never grows past one folder's worth).

    A damaged or unreadable file is an empty store: everything is computed again.

    Examples
    --------
    >>> import tempfile
    >>> from simlab.duplicates.matching import no_match
    >>> store = ResultStore(tempfile.mkdtemp(), "verified")
    >>> store.get("k", "a.png", "b.png") is None
    True
    >>> store.put("k", no_match("a.png", "b.png", 3)); store.save()
    >>> ResultStore(store.directory, "verified").get("k", "x.png", "y.png").matches
    3
    """

    def __init__(self, directory: str | os.PathLike, kind: str):
        self.directory = Path(directory)
        self.file = self.directory / f"{kind}.npz"
        self._used: dict[str, Any] = {}
        self._guard = threading.Lock()
        self.hits = self.misses = 0
        self._changed = False
        try:
            with np.load(self.file, allow_pickle=False) as stored:
                self._stored = matches_from_arrays({name: stored[name]
                                                    for name in stored.files})
        except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile):
            self._stored = {}  # absent or damaged: computed again, then rewritten

    def get(self, key: str, a: str, b: str):
        """The stored match of ``key`` named ``a`` and ``b``, or None."""
        from ..results import PairMatch

        fields = self._stored.get(key)
        try:
            match = None if fields is None else PairMatch(a=a, b=b, **fields)
        except TypeError:  # fields of another version: compute it again
            match = None
        with self._guard:
            if match is None:
                self.misses += 1
            else:
                self.hits += 1
                self._used[key] = match
        return match

    def put(self, key: str, match) -> None:
        with self._guard:
            self._used[key] = match
            self._changed = True

    def save(self) -> None:
        """Write the results used by this run (atomically); errors only cost speed.

        Nothing is written when the run used exactly what was stored."""
        from ..files import atomic_path

        if not self._changed and self._used.keys() == self._stored.keys():
            return

        try:
            with atomic_path(self.file) as temporary:
                with open(temporary, "wb") as handle:
                    np.savez(handle, **matches_to_arrays(self._used))
        except (OSError, TypeError, ValueError):
            pass


def load_candidates(directory: str | os.PathLike, key: str):
    """Candidate pairs stored for ``key`` (:func:`save_candidates`), or None."""
    try:
        with np.load(Path(directory) / "candidates.npz", allow_pickle=False) as stored:
            if str(stored["key"]) != key:
                return None
            i, j, m, s = (stored[name] for name in ("i", "j", "mirrored", "similarity"))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    if not (len(i) == len(j) == len(m) == len(s)):
        return None
    return [(int(a), int(b), bool(c), float(d)) for a, b, c, d in zip(i, j, m, s)]


def save_candidates(directory: str | os.PathLike, key: str, candidates) -> None:
    """Keep the pruning's candidate pairs for the folder and options hashed in ``key``."""
    from ..files import atomic_path

    columns = list(zip(*candidates)) if candidates else [(), (), (), ()]
    try:
        with atomic_path(Path(directory) / "candidates.npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, key=np.array(key), i=np.array(columns[0], np.int64),
                         j=np.array(columns[1], np.int64),
                         mirrored=np.array(columns[2], bool),
                         similarity=np.array(columns[3], np.float64))
    except OSError:
        pass
