"""The result vocabulary of every job.

* :class:`Similarity`: two images compared by one method (``simlab.compare``), and the
  verified correspondences of a search hit (:meth:`simlab.index.Index.matches`);
* :class:`SearchHit`: one answer of a reverse image search;
* :class:`PairMatch`: one verified pair (or copy-move) of the duplicate finder;
* :class:`PairsResult`: everything the duplicate finder found in a folder.

Drawable coordinates (matched points, regions) say their frame: ``"extracted"`` (the
pixels the features were extracted from, after ``max_side``) or ``"original"`` (the
files' own pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import numpy as np

__all__ = ["Similarity", "SearchHit", "PairMatch", "PairsResult", "PAIR_COLUMNS"]


@dataclass(frozen=True)
class Similarity:
    """How similar two images are, by one method.

    The same frozen dataclass comes back from every method, whatever its options.

    Attributes
    ----------
    method : str
        Registry name of the method (``"sift"``, ``"ssim"``...).
    score : float
        Similarity in ``[0, 1]``: higher is more similar and ``1.0`` means identical
        images. Each method documents how it maps its raw value to this score.
    raw : float
        The method's native value: a histogram correlation, the mean SSIM, an inlier
        count, a Hamming distance, a cosine similarity...
    details : Mapping
        JSON-friendly facts about the comparison: counts, parameters, ``seconds``,
        and ``reason`` when the score is 0 because nothing could be compared.
    visual : Mapping
        Arrays needed to draw the explanation (matched points and inlier mask, SSIM
        map, histograms). Not JSON; read by :mod:`simlab.plotting`. ``visual["frame"]``
        says in which pixels matched points are: ``"extracted"`` (of the images as
        compared, the default) or ``"original"`` (of the files, full size).

    Examples
    --------
    >>> s = Similarity(method="demo", score=1.0, raw=0.0)
    >>> s.score, s.reason
    (1.0, None)
    """

    method: str
    score: float
    raw: float
    details: Mapping[str, Any] = field(default_factory=dict)
    visual: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        score = float(self.score)
        if math.isnan(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"{self.method}: score must lie in [0, 1], got {score}")
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "raw", float(self.raw))

    @property
    def reason(self) -> str | None:
        """Why the score is 0 without a real comparison (e.g. no keypoints), else None."""
        return self.details.get("reason")

    @property
    def seconds(self) -> float | None:
        """Time spent scoring (and extracting, when run through :func:`simlab.compare`)."""
        return self.details.get("seconds")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the keys of the CLI's ``--json`` output."""
        return {
            "method": self.method,
            "score": self.score,
            "raw": self.raw,
            "seconds": self.seconds,
            "details": dict(self.details),
        }

    @property
    def draws(self) -> str:
        """What explains this result: ``"matches"``, ``"ssim_map"``, ``"histograms"`` or
        ``"pair"`` (``visual["draws"]``, else the registered method's)."""
        if "draws" in self.visual:
            return str(self.visual["draws"])
        from .registry import method_names, get_method

        return get_method(self.method).draws if self.method in method_names() else "pair"

    @property
    def frame(self) -> str:
        """Coordinate frame of the drawable points: ``"extracted"`` or ``"original"``."""
        return str(self.visual.get("frame", "extracted"))


class SearchHit(NamedTuple):
    """One search result: ``(path, score, details)``; unpacks as a tuple.

    ``score`` lies in [0, 1], higher is more similar; how it is computed depends on the
    method (see :meth:`simlab.index.Index.search`). ``details`` holds plain numbers and
    strings.

    ``bow-verify`` also says whether the hit is a ``match`` (geometrically verified and
    significant: its ``log_nfa``, the log10 of the a-contrario number of false alarms,
    is at most the search's ``max_log_nfa``) and which ``region`` of the query it
    covers; other methods never claim a match.

    Examples
    --------
    >>> hit = SearchHit("a.jpg", 0.8, {"match": True, "region": [0, 0, 10, 20]})
    >>> hit.match, hit.region, SearchHit("b.jpg", 0.1, {}).match
    (True, [0, 0, 10, 20], False)
    """

    path: str
    score: float
    details: dict

    @property
    def match(self) -> bool:
        """Whether the search says this indexed image is in the query (not just alike)."""
        return bool(self.details.get("match", False))

    @property
    def region(self) -> list[float] | None:
        """``[left, top, right, bottom]`` of the query (its pixels) the image covers."""
        return self.details.get("region")


#: Columns of the table of :func:`simlab.duplicates.find`: one :class:`PairMatch` each.
PAIR_COLUMNS = ("a", "b", "kind", "score", "inliers", "matches", "inlier_ratio",
                "rotation_degrees", "scale", "mirrored", "overlap_a", "overlap_b")


@dataclass(frozen=True)
class PairMatch:
    """A verified comparison of two images (or of one with itself, for copy-move).

    Coordinates (``points_*``, ``region_*``) are in the pixels features were extracted
    from (after ``max_side``, frame ``"extracted"``); ``matrix`` maps a to b in the
    original pixels.
    """

    a: str
    b: str
    kind: str
    score: float
    inliers: int
    matches: int
    inlier_ratio: float
    rotation_degrees: float
    scale: float
    mirrored: bool
    overlap_a: float
    overlap_b: float
    points_a: np.ndarray = field(repr=False, compare=False)
    points_b: np.ndarray = field(repr=False, compare=False)
    region_a: np.ndarray = field(repr=False, compare=False)
    region_b: np.ndarray = field(repr=False, compare=False)
    matrix: np.ndarray | None = field(default=None, repr=False, compare=False)
    frame: str = field(default="extracted", repr=False, compare=False)
    #: log10 of the a-contrario number of false alarms among the comparisons made
    #: (:mod:`simlab.local.significance`); ``inf`` when nothing was verified.
    log_nfa: float = field(default=math.inf, compare=False)
    #: Calibrated probability that the pair is a true copy (None when not calibrated).
    probability: float | None = field(default=None, compare=False)
    #: Why the match was raised, in words (one line each).
    reasons: tuple = field(default=(), repr=False, compare=False)
    #: Why it is *not* an alarm although verified ("" when it is one): a periodic
    #: texture, a symmetric design, a flat area...
    ruled_out: str = field(default="", compare=False)

    def row(self) -> dict[str, Any]:
        """The table row: the fields named in :data:`PAIR_COLUMNS`."""
        return {name: getattr(self, name) for name in PAIR_COLUMNS}

    def transform(self) -> dict[str, Any]:
        """The estimated transform, JSON-ready (for ``simlab pairs --json``)."""
        return {"rotation_degrees": self.rotation_degrees, "scale": self.scale,
                "mirrored": self.mirrored, "overlap_a": self.overlap_a,
                "overlap_b": self.overlap_b, "kind": self.kind}


@dataclass
class PairsResult:
    """What :func:`simlab.duplicates.find` found: flagged pairs, skipped files, counts.

    Iterating gives the flagged :class:`PairMatch` objects, most certain first;
    ``len()`` is how many were flagged.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per flagged pair, columns :data:`PAIR_COLUMNS` (add your own, e.g.
        whether a pair was planted: :func:`simlab.lab.widgets.browse_pairs` can
        show them).
    matches : dict
        ``(a, b)`` -> :class:`PairMatch` of each flagged pair, for the pictures.
    skipped : list of dict
        ``{"path", "reason"}`` per file that could not be read.
    candidates : list of tuple
        ``(a, b, mirrored, similarity)`` per pair the pruning sent to verification.
    stats : dict
        Counts, options and seconds per stage.
    verified : list
        Every :class:`PairMatch` verification produced, flagged or not (one per pair
        and one per image searched for copy-move): what the benchmark calibrates on,
        and where ruled-out copy-moves are listed.
    sources : dict
        Item -> its provenance, for items read out of PDFs (see
        :func:`simlab.duplicates.papers.find_in_papers`).
    """

    table: Any
    matches: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    candidates: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    verified: list = field(default_factory=list)
    #: Item (path or id, as in ``a``/``b``) -> where it comes from: for a panel of a PDF
    #: its file, page, figure, panel, label and box in page points (see
    #: :func:`simlab.duplicates.papers.find_in_papers`); empty for a folder of files.
    sources: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self):
        return (self.matches[(a, b)] for a, b in zip(self.table["a"], self.table["b"]))

    @classmethod
    def empty(cls, **parts: Any) -> "PairsResult":
        """A result with no flagged pair (``parts`` fill the other fields).

        Examples
        --------
        >>> result = PairsResult.empty(skipped=[{"path": "x.png", "reason": "empty"}])
        >>> len(result), list(result), result.skipped[0]["path"]
        (0, [], 'x.png')
        """
        import pandas as pd

        return cls(pd.DataFrame(columns=list(PAIR_COLUMNS)), **parts)
