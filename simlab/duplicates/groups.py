"""Groups of images sharing content, and the redundant copies a user could remove.

Dedup tools answer two questions besides "which pairs": which images belong together
(connected sets: a and b share content, b and c do, so a, b and c form one group) and
which files could go (a copy whose whole content another, larger file of the group
holds). Nothing is deleted: these are lists for a person to act on.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["groups", "redundant_copies"]

#: A copy is redundant when at least this share of it lies inside the kept image.
_CONTAINED = 0.9


def groups(matches: Iterable) -> list[list[str]]:
    """Connected sets of images joined by cross-image matches, largest first.

    Copy-move findings (``a == b``) join nothing.

    Examples
    --------
    >>> from collections import namedtuple
    >>> Pair = namedtuple("Pair", "a b")
    >>> groups([Pair("x", "y"), Pair("y", "z"), Pair("p", "q"), Pair("r", "r")])
    [['x', 'y', 'z'], ['p', 'q']]
    """
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]  # path halving
            name = parent[name]
        return name

    order: list[str] = []
    for match in matches:
        if match.a == match.b:
            continue
        for name in (match.a, match.b):
            if name not in parent:
                order.append(name)
        parent[root(match.a)] = root(match.b)
    members: dict[str, list[str]] = {}
    for name in order:
        members.setdefault(root(name), []).append(name)
    return sorted(members.values(), key=lambda group: (-len(group), order.index(group[0])))


def redundant_copies(matches: Iterable, sizes: dict[str, int] | None = None
                     ) -> list[dict[str, Any]]:
    """Files whose whole content another file of their group holds: candidates to remove.

    In each group the kept image is the largest (``sizes``: path -> pixels; the first
    listed when unknown or equal). Another member is redundant when a match joins it to
    the kept image and covers at least 90 % of it (an exact, re-saved, recoloured,
    turned or mirrored copy, or a crop of the kept image); a member that shows more
    than the kept one (the kept image is its crop) is not.

    Returns
    -------
    list of dict
        ``{"path", "keep", "kind", "overlap"}`` per redundant file.

    Examples
    --------
    >>> from collections import namedtuple
    >>> Pair = namedtuple("Pair", "a b kind overlap_a overlap_b")
    >>> redundant_copies([Pair("big.png", "crop.png", "crop", 0.4, 1.0)],
    ...                  {"big.png": 1000, "crop.png": 400})
    [{'path': 'crop.png', 'keep': 'big.png', 'kind': 'crop', 'overlap': 1.0}]
    """
    matches = [m for m in matches if m.a != m.b]
    sizes = sizes or {}
    out = []
    for group in groups(matches):
        keep = max(group, key=lambda name: (sizes.get(name, 0), -group.index(name)))
        for match in matches:
            if keep not in (match.a, match.b):
                continue
            other, covered = (match.b, match.overlap_b) if match.a == keep else \
                (match.a, match.overlap_a)
            if covered >= _CONTAINED and other != keep:
                out.append({"path": other, "keep": keep, "kind": match.kind,
                            "overlap": round(float(covered), 3)})
    seen, unique = set(), []
    for item in out:  # a file may match the kept one twice (plain and mirrored)
        if item["path"] not in seen:
            seen.add(item["path"])
            unique.append(item)
    return unique
