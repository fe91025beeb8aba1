"""The local-feature engine shared by ``compare``, ``pairs`` and ``search``.

One home for each step of local-feature matching:

* :mod:`~simlab.local.extract`: SIFT, RootSIFT and AKAZE keypoints as plain arrays,
  with the options each job needs (contrast stretch, fill mask, fine octave, cap);
* :mod:`~simlab.local.mirror`: the left-right mirror of descriptors, points, angles,
  transforms and images;
* :mod:`~simlab.local.invert`: the intensity inversion (negative) of descriptors and
  orientations, also a permutation;
* :mod:`~simlab.local.correspond`: correspondences (ratio test, mutual nearest
  neighbours, same visual word, an image against itself);
* :mod:`~simlab.local.verification`: the one verifier (RANSAC model, distinct inliers, the
  chance guard, the transform and the overlap it found);
* :mod:`~simlab.local.significance`: how surprising a verified match is (the a-contrario
  number of false alarms, :meth:`Verification.log_nfa`).

Examples
--------
>>> from simlab import samples
>>> from simlab.local import extract_local, ratio_matches, verify
>>> image = samples.sample_image("astronaut", max_side=256)
>>> a, b = extract_local(image), extract_local(samples.rotate(image, 20))
>>> pairs = ratio_matches(a["descriptors"], b["descriptors"])
>>> found = verify(a, b, pairs)
>>> found.inliers > 50, round(found.transform["rotation_degrees"])  # y down: clockwise
(True, -20)
"""

from .correspond import mutual_matches, ratio_matches, self_matches, word_correspondences
from .extract import DESCRIPTORS, check_features, extract_local, keypoint_arrays
from .invert import invert_angles, invert_descriptors, invert_features
from .mirror import (can_mirror, flip_matrix, mirror_angles, mirror_descriptors,
                     mirror_features, mirror_image, mirror_points)
from .significance import inlier_chance, log_nfa
from .verification import (MODELS, Verification, describe_transform, distinct, fit_model,
                     overlap, to_original, verify)

__all__ = ["extract_local", "keypoint_arrays", "check_features", "DESCRIPTORS",
           "mirror_descriptors", "mirror_points", "mirror_angles", "mirror_image",
           "mirror_features", "can_mirror", "flip_matrix", "invert_descriptors",
           "invert_angles", "invert_features", "ratio_matches", "mutual_matches",
           "word_correspondences", "self_matches", "verify", "fit_model", "distinct",
           "describe_transform", "to_original", "overlap", "Verification", "MODELS",
           "log_nfa", "inlier_chance"]
