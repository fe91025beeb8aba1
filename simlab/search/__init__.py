"""Reverse image search: an index of image files and one backend class per method.

The public entry points are :func:`simlab.index.build` and :class:`simlab.index.Index`;
:mod:`simlab.search.backends` holds the methods.
"""
