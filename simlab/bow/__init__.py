"""Bags of visual words: vocabularies, tf-idf with an inverted file, rank fusion.

Used by reverse image search (:mod:`simlab.search`) and by the duplicate finder's pair
pruning (:mod:`simlab.duplicates`).

Examples
--------
>>> import numpy as np
>>> from simlab.bow import InvertedFile, train_vocabulary
>>> rng = np.random.default_rng(0)
>>> vocabulary = train_vocabulary(rng.random((3000, 16), np.float32), words=100)
>>> images = [rng.random((40, 16), np.float32) for _ in range(3)]
>>> inverted = InvertedFile.build([vocabulary.assign(d) for d in images], vocabulary.words)
>>> int(np.argmax(inverted.cosines(vocabulary.assign(images[1][:20]))))
1
"""

from .fusion import FUSION_K, rank_fusion
from .inverted import InvertedFile
from .vocabulary import (DescriptorPool, Vocabulary, lloyd, mirrored_words, nearest_centre,
                         train_vocabulary)

__all__ = ["Vocabulary", "train_vocabulary", "DescriptorPool", "mirrored_words",
           "nearest_centre", "lloyd", "InvertedFile", "rank_fusion", "FUSION_K"]
