"""simlab: how similar are two images, and which images in a folder are alike?

One API over classic and deep methods: colour/grey histograms, SSIM, SIFT and RootSIFT,
AKAZE, pHash and VGG16. Every comparison returns a :class:`Similarity` with a score in
[0, 1], the method's raw value, and what is needed to draw an explanation.

Examples
--------
>>> import simlab
>>> from skimage import data
>>> simlab.compare(data.camera(), data.camera(), method="sift").score
1.0
"""

from .comparison import compare, compare_all, extract
from .errors import SimlabError
from .io import list_images, load_image
from .registry import available_methods, get_method, method_names
from .results import Similarity

__all__ = [
    "compare",
    "compare_all",
    "extract",
    "load_image",
    "list_images",
    "get_method",
    "method_names",
    "available_methods",
    "Similarity",
    "SimlabError",
]
__version__ = "0.1.0"

# Submodules with heavier imports (matplotlib, ipywidgets) load on first attribute access,
# so `simlab.duplicates.find()` works after a plain `import simlab`. The notebook tooling
# lives in simlab.lab; `from simlab import samples` (or widgets...) reaches it there.
_LAZY_SUBMODULES = {
    "plotting": "plotting", "bench": "bench", "cli": "cli", "duplicates": "duplicates",
    "index": "index", "search": "search", "local": "local", "bow": "bow", "lab": "lab",
    "samples": "lab.samples", "widgets": "lab.widgets", "robustness": "lab.robustness",
    "demo": "lab.demo", "report": "lab.report",
}


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{_LAZY_SUBMODULES[name]}")
    raise AttributeError(f"module 'simlab' has no attribute {name!r}")
