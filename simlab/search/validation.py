"""Checks of what an index folder holds: the manifest's fields and the stored arrays.

:meth:`simlab.index.Index.load` trusts nothing it reads: every field of ``index.json``
and every array of the npz is checked for type, range and shape, and a failure raises
:class:`~simlab.errors.CorruptIndexError` naming the field. The backends check their own
arrays with :func:`checked_array`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import CorruptIndexError, ForeignIndexError, IndexVersionError
from .storage import MANIFEST

__all__ = ["Invalid", "checked_array", "check_manifest", "FORMAT", "FORMAT_VERSION",
           "READABLE_VERSIONS", "MANIFEST"]

#: ``format`` field of ``index.json``: what tells a simlab index from any other folder.
FORMAT = "simlab-index"
#: Bumped whenever the layout of the files changes; other versions are refused.
#: 4: the engine's verifier; keypoint orientations and sizes stored (the chance guard).
#: 5: shards (field ``shards``, one arrays file each; the vocabulary in field ``arrays``).
FORMAT_VERSION = 5
#: Versions this simlab reads: a version 4 index is one shard whose arrays file also
#: holds the vocabulary.
READABLE_VERSIONS = (4, 5)


class Invalid(ValueError):
    """A stored array with the wrong name, type, shape or values (reported as corrupt)."""


def checked_array(arrays: dict[str, np.ndarray], name: str, shape: tuple, kind: str
                  ) -> np.ndarray:
    """``arrays[name]``, checked: ``shape`` (None = any length) and dtype kind ("f" float,
    "i" any integer, "u" unsigned integer).

    Examples
    --------
    >>> checked_array({"a": np.zeros((3, 2))}, "a", (None, 2), "f").shape
    (3, 2)
    >>> checked_array({"a": np.zeros(3)}, "a", (None, 2), "f")
    Traceback (most recent call last):
    ...
    simlab.search.validation.Invalid: array 'a' has shape (3,), expected (N, 2)
    """
    if name not in arrays:
        raise Invalid(f"array '{name}' is missing")
    array = arrays[name]
    kinds = {"f": "f", "i": "iu", "u": "u"}[kind]
    if array.dtype.kind not in kinds:
        raise Invalid(f"array '{name}' has dtype {array.dtype}, expected "
                      f"{ {'f': 'floats', 'i': 'integers', 'u': 'unsigned integers'}[kind]}")
    if array.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(array.shape, shape)):
        expected = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise Invalid(f"array '{name}' has shape {array.shape}, expected {expected}")
    return array


#: Checks of each stored option: (type, smallest, largest); None = no bound.
_OPTION_RULES: dict[str, tuple[type, Any, Any]] = {
    "max_side": (int, 64, 1_000_000), "upscale": (bool, None, None),
    "max_keypoints": (int, 0, 10_000_000), "contrast_threshold": (float, 0.0, 1.0),
    "fine_octave_below": (int, 0, 1_000_000), "words": (int, 1, 10_000_000),
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


def _plain_entry(entry: Any) -> bool:
    """The common case of a files entry, checked fast (an absolute POSIX path, sizes
    that are whole numbers >= 0); anything else goes through :func:`_check_entry`."""
    if type(entry) is not dict:
        return False
    path, size, mtime = entry.get("path"), entry.get("size"), entry.get("mtime_ns")
    return (type(path) is str and path[:1] == "/" and "\x00" not in path
            and type(size) is int and size >= 0 and type(mtime) is int and mtime >= 0)


def _check_entry(i: int, entry: Any, label: str) -> None:
    """Raise the error of one files entry that :func:`_plain_entry` did not accept."""
    if not isinstance(entry, dict):
        raise _field_error(f"files[{i}]", "must be an object", label)
    path = entry.get("path")
    if not isinstance(path, str) or not path or "\x00" in path or not os.path.isabs(path):
        raise _field_error(f"files[{i}].path", f"must be an absolute path, got "
                           f"{path!r}", label)
    for key in ("size", "mtime_ns"):
        if not _is_int(entry.get(key)) or entry[key] < 0:
            raise _field_error(f"files[{i}].{key}", f"must be a whole number >= 0, got "
                               f"{entry.get(key)!r}", label)


def _check_files(files: list, label: str) -> None:
    """Every entry of field ``files`` well formed, no path twice. A loop over 100,000
    entries is part of every open: the common case costs a few attribute reads."""
    plain = _plain_entry
    for i, entry in enumerate(files):
        if not plain(entry):
            _check_entry(i, entry, label)
    paths = [entry["path"] for entry in files]
    if len(set(paths)) != len(paths):
        seen: dict[str, int] = {}
        for i, path in enumerate(paths):
            if path in seen:
                raise _field_error(f"files[{i}].path", f"repeats files[{seen[path]}].path",
                                   label)
            seen[path] = i


def check_manifest(manifest: dict[str, Any], label: str) -> None:
    """Refuse a manifest that is not ours, of another version, or with a bad field."""
    if manifest.get("format") != FORMAT:
        raise ForeignIndexError(f"{MANIFEST} is not a simlab index manifest (no "
                                f"\"format\": \"{FORMAT}\")", label)
    if manifest.get("version") not in READABLE_VERSIONS:
        raise IndexVersionError(
            f"index format version {manifest.get('version')!r}, this simlab reads "
            f"version {FORMAT_VERSION}; rebuild it with `simlab index DIR --index "
            f"{label} --rebuild`", label)
    from .backends import BACKENDS

    method = manifest.get("method")
    if method not in BACKENDS:
        raise _field_error("method", f"must be one of {', '.join(BACKENDS)}, got {method!r}",
                           label)
    options = manifest.get("options")
    if not isinstance(options, dict):
        raise _field_error("options", f"must be an object, got {type(options).__name__}",
                           label)
    for name in BACKENDS[method].defaults:
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
    _check_files(files, label)
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
    shards = manifest.get("shards")
    if shards is not None:
        if not isinstance(shards, list) or not shards:
            raise _field_error("shards", "must be a non-empty list", label)
        for i, shard in enumerate(shards):
            if not isinstance(shard, dict):
                raise _field_error(f"shards[{i}]", "must be an object", label)
            if not _is_int(shard.get("count")) or shard["count"] < 0:
                raise _field_error(f"shards[{i}].count", f"must be a whole number >= 0, "
                                   f"got {shard.get('count')!r}", label)
        names = [shard.get("arrays") for shard in shards]
        if len(set(map(str, names))) != len(names):
            raise _field_error("shards", "names an arrays file twice", label)
        total = sum(shard["count"] for shard in shards)
        if total != len(files):
            raise _field_error("shards", f"hold {total} images but 'files' lists "
                               f"{len(files)}", label)
    elif manifest.get("version") != 4:
        raise _field_error("shards", "is missing", label)
    shard_size = manifest.get("shard_size")
    if shard_size is not None and (not _is_int(shard_size) or shard_size < 1):
        raise _field_error("shard_size", f"must be a whole number >= 1, got "
                           f"{shard_size!r}", label)
    words = manifest.get("vocabulary_words")
    if words is not None and (not _is_int(words) or words < 1):
        raise _field_error("vocabulary_words", f"must be a whole number >= 1, got "
                           f"{words!r}", label)
