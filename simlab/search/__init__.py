"""Reverse image search: an index of image files, one backend class per method.

* :mod:`~simlab.search.index`: :class:`Index` (files, sync, save/load) and :func:`build`;
* :mod:`~simlab.search.backends`: what each method stores and how it searches.

``simlab.index`` is the same API under its public name.
"""

from .index import (DEFAULT_METHOD, FORMAT_VERSION, METHODS, Index, SearchHit, build)

__all__ = ["Index", "build", "SearchHit", "METHODS", "DEFAULT_METHOD", "FORMAT_VERSION"]
