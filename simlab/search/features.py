"""Per-image features of an index as columns of stored arrays, read when asked for.

An opened index does not turn its arrays into one dict per image: at 100,000 images
that loop alone takes seconds, and checking every keypoint reads every page of the
file. :class:`FeatureTable` keeps the (memory-mapped) columns and builds image ``i``'s
dict only when a search asks for it (a verified candidate), checking that image then;
:func:`column` and :func:`flat` hand whole columns to the code that builds search
structures (the inverted file, the stacked vectors), which checks them in bulk.
:class:`ChainedFeatures` puts the tables of several shards (and images added since)
end to end, so the backends see one sequence whatever the layout on disk.

Examples
--------
>>> table = FeatureTable(2, name="arrays-demo.npz")
>>> table.add_rows("scale", np.array([1.0, 0.5], np.float32))
>>> table.add_ragged("words", np.array([3, 1, 4], np.uint16), np.array([0, 2, 3]),
...                  convert=lambda a: a.astype(np.int64))
>>> table[1]["words"].tolist(), float(table[1]["scale"])
([4], 0.5)
>>> values, lengths = flat(ChainedFeatures([table, [{"scale": 1.0, "words": np.array([9])}]]),
...                        "words")
>>> values.tolist(), lengths.tolist()
([3, 1, 4, 9], [2, 1, 1])
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import CorruptIndexError

__all__ = ["FeatureTable", "ChainedFeatures", "column", "flat", "parts"]

Convert = Callable[[np.ndarray], np.ndarray] | None


class FeatureTable(Sequence):
    """``count`` images' features as stored columns; ``table[i]`` is image ``i``'s dict.

    ``add_rows(key, array)``: one row per image; ``add_ragged(key, array, offsets)``:
    image ``i`` owns ``array[offsets[i]:offsets[i + 1]]``. ``convert`` turns a stored
    row (or a whole column) into what the search uses (float16 -> float32...).
    ``add_check(check)``: ``check(item)`` raises
    :class:`~simlab.search.validation.Invalid` for a bad image; it runs when the item
    is first built, and becomes a :class:`~simlab.errors.CorruptIndexError` naming
    ``name`` (the arrays file) and ``label`` (the index).
    """

    def __init__(self, count: int, *, name: str = "", label: str | None = None):
        self.count = int(count)
        self.name = name
        self.label = label
        self._rows: dict[str, tuple[np.ndarray, Convert]] = {}
        self._ragged: dict[str, tuple[np.ndarray, np.ndarray, Convert]] = {}
        self._checks: list[Callable[[dict], None]] = []

    def add_rows(self, key: str, array: np.ndarray, convert: Convert = None) -> None:
        self._rows[key] = (array, convert)

    def add_ragged(self, key: str, array: np.ndarray, offsets: np.ndarray,
                   convert: Convert = None) -> None:
        self._ragged[key] = (array, offsets, convert)

    def add_check(self, check: Callable[[dict], None]) -> None:
        self._checks.append(check)

    def __len__(self) -> int:
        return self.count

    def keys(self) -> list[str]:
        return [*self._rows, *self._ragged]

    def corrupt(self, problem: Any) -> CorruptIndexError:
        """The error of a bad stored array, naming this table's file."""
        return CorruptIndexError(f"{self.name}: {problem}; rebuild the index with --rebuild",
                                 self.label)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.count))]
        i = operator.index(i)
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"image {i} of {self.count}")
        item: dict[str, Any] = {}
        for key, (array, convert) in self._rows.items():
            item[key] = convert(array[i]) if convert else array[i]
        for key, (array, offsets, convert) in self._ragged.items():
            part = array[int(offsets[i]):int(offsets[i + 1])]
            item[key] = convert(part) if convert else part
        from .validation import Invalid

        try:
            for check in self._checks:
                check(item)
        except Invalid as exc:
            raise self.corrupt(f"image {i}: {exc}") from None
        return item

    def __iter__(self) -> Iterator[dict]:
        return (self[i] for i in range(self.count))

    def spot_check(self, images: int = 8) -> None:
        """Build (and so check) ``images`` images spread over the table, first and last
        included: damage to a whole column shows at once, for a few pages read."""
        if self.count and self._checks:
            for i in np.unique(np.linspace(0, self.count - 1, min(images, self.count))
                               .round().astype(np.int64)):
                self[int(i)]

    def column(self, key: str) -> np.ndarray | None:
        """Every image's row of ``key`` (converted), or None when not a row column."""
        if key not in self._rows:
            return None
        array, convert = self._rows[key]
        return convert(array) if convert else array

    def flat(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(values, lengths)`` of a ragged column, or None when not one."""
        if key not in self._ragged:
            return None
        array, offsets, convert = self._ragged[key]
        values = array[int(offsets[0]):int(offsets[-1])]
        return (convert(values) if convert else values), np.diff(offsets)


class ChainedFeatures(Sequence):
    """Several feature sequences (shards' tables, lists of dicts) end to end."""

    def __init__(self, parts_: Sequence[Sequence[dict]]):
        self.parts = [part for part in parts_ if len(part)]
        self._starts = np.cumsum([0] + [len(part) for part in self.parts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = operator.index(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"image {i} of {len(self)}")
        which = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self.parts[which][i - int(self._starts[which])]

    def __iter__(self) -> Iterator[dict]:
        for part in self.parts:
            yield from part


def parts(features: Sequence[dict]) -> list[Sequence[dict]]:
    """The pieces of ``features``: a chain's parts, else ``features`` itself."""
    return list(features.parts) if isinstance(features, ChainedFeatures) else [features]


def column(features: Sequence[dict], key: str, dtype, width: int | None = None
           ) -> np.ndarray:
    """``features[i][key]`` of every image stacked as a ``(count, width)`` array.

    Stored columns are taken whole (no per-image dicts are built).
    """
    pieces = []
    for part in parts(features):
        if not len(part):
            continue
        stored = part.column(key) if isinstance(part, FeatureTable) else None
        if stored is None:
            stored = [f[key] for f in part]
        pieces.append(np.asarray(stored, dtype).reshape(len(part), -1))
    count = len(features)
    if not pieces:
        return np.zeros((0, width or 0), dtype)
    stacked = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    return stacked.reshape(count, width if width is not None else stacked.shape[1])


def flat(features: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(values, lengths)``: every image's ragged ``key`` end to end, and its length."""
    values, lengths = [], []
    for part in parts(features):
        stored = part.flat(key) if isinstance(part, FeatureTable) else None
        if stored is None:
            items = [np.asarray(f[key]) for f in part]
            stored = (np.concatenate(items) if items else np.zeros(0),
                      np.array([len(item) for item in items], np.int64))
        values.append(stored[0])
        lengths.append(stored[1])
    if not values:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(values), np.concatenate(lengths).astype(np.int64)
