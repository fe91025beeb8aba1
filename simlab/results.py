"""The one result type every similarity method returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["Similarity"]


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
        map, histograms). Not JSON; read by :mod:`simlab.plotting`.

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
