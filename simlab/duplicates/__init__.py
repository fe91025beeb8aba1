"""Find duplicated images in a folder: every pair, features extracted once.

An image-integrity check compares every panel of a paper with every other one, looking
for a panel that reappears rotated, mirrored, recoloured or cropped, or a region copied
inside one panel (copy-move). Comparing every pair with SIFT from scratch (the loop of
the blog post that started simlab) costs two extractions per pair and grows with N². Here:

1. **Encode once.** SIFT (or RootSIFT) keypoints are extracted once per image, in
   parallel. The features are a dict of plain arrays (``np.savez`` / ``np.load(...,
   allow_pickle=False)`` round-trip them), so a cache can hold them.
2. **Mirrors for free.** Mirroring an image mirrors each SIFT descriptor by a fixed
   permutation of its 128 bins (:func:`simlab.local.mirror_descriptors`), so matching against the
   flipped descriptors finds mirrored copies without a second extraction.
3. **Prune cheaply.** Each image becomes a tf-idf bag of visual words over a vocabulary
   learnt from the folder and closed under mirroring; only each image's few most similar
   images (normal or mirrored) go on to geometric verification, so the expensive step
   grows with N, not N².
4. **Verify.** Ratio-test matches are kept only when one similarity transform (rotation,
   uniform scale, translation; RANSAC) explains them *and* turns and scales their
   keypoints as it should; a pair is flagged with at least ``min_inliers`` such inliers
   making up a high enough ``inlier_ratio`` of the matches, which is what keeps grey,
   low-texture panels from drowning in chance pairs.
5. **Copy-move.** Each image is also matched against itself, two ways. Keypoints: nearest
   neighbours other than the keypoint itself, away from its own position, verified the
   same way (finds copies that were scaled or turned by any angle). Dense: a region of
   some 60-80 px described by SIFT's large keypoints also describes its surroundings, so
   those descriptors differ between the two copies; a whitened image correlated with itself
   (and with itself turned by 90 and 180 degrees) shows a copied region as a sharp peak at
   its shift, and a pixel comparison at that shift finds the region (:func:`find_copy_move`).

Where each step lives: :mod:`~simlab.duplicates.features` (1), :mod:`simlab.local.mirror`
(2), :mod:`~simlab.duplicates.prune` over :mod:`simlab.bow` (3),
:mod:`~simlab.duplicates.matching` over :mod:`simlab.local.verify` (4),
:mod:`~simlab.duplicates.copy_move` (5) and :mod:`~simlab.duplicates.find` (the job).
"""

from ..local.mirror import mirror_descriptors
from ..local.verify import describe_transform
from ..results import PairMatch
from .copy_move import find_copy_move
from .features import METHODS, encode_folder, extract_features
from .find import COLUMNS, find
from .matching import verify_pair
from .prune import candidate_pairs

__all__ = ["find", "encode_folder", "extract_features", "mirror_descriptors",
           "candidate_pairs", "verify_pair", "find_copy_move", "describe_transform",
           "PairMatch", "METHODS", "COLUMNS"]
