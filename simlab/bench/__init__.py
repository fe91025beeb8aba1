"""Benchmarks, evaluation and baselines: ``simlab bench compare|methods|pairs|search``.

Product code never imports this package; it measures the product.

* :mod:`~simlab.bench.compare`: time per ``extract`` and per pair of each method;
* :mod:`~simlab.bench.auc`: ROC AUC of each pair method on labelled pairs;
* :mod:`~simlab.bench.pairs`: the duplicate finder on a planted-duplicate folder;
* :mod:`~simlab.bench.search`: reverse image search on a Copydays-style set;
* :mod:`~simlab.bench.baselines`: what the benchmarks compare against.
"""

from .compare import bench_compare

__all__ = ["bench_compare"]
