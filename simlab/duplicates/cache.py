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
import os
import threading
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["FeatureCache", "CACHE_VERSION", "DEFAULT_NAME"]

#: Part of every key: raise it when extraction changes, so old entries are not reused.
CACHE_VERSION = 1
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
        return self.directory / key[:2] / f"{key}.npz"  # 256 folders: no huge listing

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
