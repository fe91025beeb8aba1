"""Notebook tooling: sample images and edits, widgets, robustness curves, the demo and
the HTML report. Product code (``compare``, ``pairs``, ``search``) never imports it.

``from simlab import samples`` (and ``widgets``, ``robustness``, ``demo``, ``report``)
still works: :mod:`simlab` forwards those names here.
"""
