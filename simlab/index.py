"""Reverse image search over a folder: ``simlab.index.build()`` and ``Index``.

The public home of the search API; the code lives in :mod:`simlab.search` (the index in
:mod:`simlab.search.index`, one backend class per method in
:mod:`simlab.search.backends`).
"""

from .search.index import *  # noqa: F401,F403
from .search.index import __all__  # noqa: F401
