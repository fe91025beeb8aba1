"""Index methods as backends: one class per method, encode -> arrays -> prepare -> search.

:class:`~simlab.search.index.Index` keeps the files, their sync, saving and loading; a
backend says what one method stores per image and how it searches it. Adding an index
method is adding a class here and an entry in :data:`BACKENDS`.

* :class:`VerifiedWords` (``bow-verify``, the default) and :class:`Words` (``bow``):
  RootSIFT visual words in an inverted file (:mod:`simlab.bow`), the shortlist verified
  by the engine (:mod:`simlab.local`) on same-word correspondences;
* :class:`NaiveWords` (``naive-bow``): the naive SIFT bag of words from a well-known
  forum question, for teaching and as a baseline;
* :class:`PerceptualHash` (``phash``), :class:`ColourHistogram` (``histogram``) and
  :class:`DeepVector` (``vgg16``): global descriptors; the dense ones searched with
  faiss (:mod:`simlab.search.vectors`).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ..bow.fusion import best_first
from ..errors import UnknownMethodError
from ..local.significance import MATCH_LOG_NFA
from .features import FeatureTable, column, flat, parts
from .validation import Invalid, checked_array

__all__ = ["Backend", "BACKENDS", "get_backend", "MIN_INLIER_RATIO", "MAX_LOG_NFA",
           "fallback_features"]

#: Verification also needs this many inliers per same-word correspondence. Chance
#: alignments on repetitive textures reach 8-16 inliers, but out of hundreds of
#: correspondences: on four draws of the search benchmark (400 queries, shortlists of
#: 50), the other images verified had a median ratio of 0.055 and the true sources at
#: least 0.052. At 0.05 every true source stayed verified and 23 of the 46 chance
#: verifications with 8-16 inliers did not.
MIN_INLIER_RATIO = 0.05

Hit = tuple[int, float, dict]

#: A candidate is a match when the log10 of the number of false alarms of its best
#: verification (:mod:`simlab.local.significance`) is at most this. The tests counted
#: are the verifications the search made (candidates x query sides tried, every round):
#: only those could have produced a false alarm, and an index's other images were never
#: fitted (counting every indexed image would make the same evidence weaker as a
#: collection grows). Measured with ``simlab bench search --hard`` (671 indexed images;
#: 150 queries whose source is not indexed, 120 whose source is): matches on no-source
#: queries 2.0 % at 0, 0.7 % at -10 (one: a wallpaper with the MATE logo matching
#: another wallpaper that shows the same logo), 0 at -15; top hits that are true matches
#: 0.833, 0.808, 0.792 of the queries with a source. The null model (uniform positions
#: and orientations) is loose for the look-alike structure of real pictures, hence a
#: margin well below 0.
MAX_LOG_NFA = MATCH_LOG_NFA  # one bound for search matches and flagged pairs
#: The fewest distinct inliers worth a RANSAC fit when looking for matches: at -10,
#: fewer than 6 inliers are never significant on a 640-px image.
MATCH_MIN_INLIERS = 6


def _stack(features: Sequence[dict], key: str, dtype, width: int | None = None) -> np.ndarray:
    count = len(features)
    if width is None:
        width = len(features[0][key]) if count else 0
    return column(features, key, dtype, width)


def _vectors(arrays: dict, name: str, count: int, width: int) -> np.ndarray:
    """Float rows, one per image (an emptied index stores (0, 0): no width); their
    values are checked when a search stacks them (:func:`_finite`)."""
    return checked_array(arrays, name, (count, width if count else None), "f")


def _finite(stacked: np.ndarray, name: str) -> np.ndarray:
    """``stacked``, refused when it holds NaN or infinities (checked as a whole)."""
    if not np.isfinite(stacked).all():
        raise Invalid(f"'{name}' holds NaN or infinite values")
    return stacked


def _float32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, np.float32)


def _int64(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, np.int64)


class Backend:
    """One index method. Subclasses set the attributes and override the methods."""

    #: Name in ``index.json``, ``--method`` and :data:`simlab.index.METHODS`.
    name = ""
    #: One line for ``simlab index --help``.
    summary = ""
    #: Options stored with an index (they change the stored features).
    defaults: dict[str, Any] = {}
    #: Learns a visual vocabulary from a sample of the images first.
    uses_words = False

    def check(self, options: dict) -> None:
        """Raise when the method cannot run with ``options`` here (missing weights)."""

    def encode(self, image: np.ndarray, options: dict, vocabulary) -> dict:
        """What the index stores of one image (already loaded at ``max_side``)."""
        raise NotImplementedError

    def to_arrays(self, features: Sequence[dict], vocabulary) -> dict[str, np.ndarray]:
        """The stored per-image features of one shard as plain arrays for ``np.savez``."""
        return {}

    def shared_arrays(self, vocabulary) -> dict[str, np.ndarray]:
        """What every shard shares (the vocabulary), as plain arrays."""
        return {}

    def load_vocabulary(self, arrays: dict, options: dict) -> Any:
        """The vocabulary of :meth:`shared_arrays`'s arrays (or None), checked."""
        return None

    def from_arrays(self, arrays: dict, table: FeatureTable, options: dict,
                    vocabulary) -> None:
        """Add :meth:`to_arrays`'s arrays of one shard to ``table`` (which holds each
        image's ``scale`` and ``shape``). Only cheap checks here (names, shapes, dtypes,
        offsets; a bad one raises :class:`~simlab.search.validation.Invalid`): an index
        opens without reading its arrays. Values are checked when used: per image
        (``table.add_check``) or per column in :meth:`prepare`."""

    def prepare(self, features: Sequence[dict], vocabulary) -> dict:
        """Search structures, built once per change of the index; checks the values of
        the columns it reads (raising :class:`~simlab.search.validation.Invalid`)."""
        return {}

    def search(self, image: np.ndarray, prepared: dict, features: Sequence[dict], *,
               options: dict, vocabulary, top: int, mirror: bool, **settings) -> list[Hit]:
        """``(image number, score, details)`` of the best ``top``, best first."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Visual words

def fallback_features(image: np.ndarray, *, mirrored: bool = False) -> dict[str, np.ndarray]:
    """Ordinal thumbnail and colour histogram: ``bow-verify``'s global fallback.

    Both are computed on a 128-px thumbnail: a 16x16 layout and a colour distribution
    need no more, and it keeps the cost near 1 ms at 640 px. ``mirrored`` adds the
    ordinal vector of the left-right mirrored image (for a query).

    Examples
    --------
    >>> sorted(fallback_features(np.zeros((64, 64, 3), np.uint8)))
    ['ordinal', 'vector']
    """
    from ..io import resize_longest_side
    from ..local.mirror import mirror_image
    from ..methods.ordinal import ordinal_vector

    thumbnail = resize_longest_side(image, 128)
    found = {"ordinal": ordinal_vector(thumbnail),
             "vector": ColourHistogram.vector(thumbnail, bins=8)}
    if mirrored:
        found["ordinal_mirrored"] = ordinal_vector(mirror_image(thumbnail))
    return found


class Words(Backend):
    """RootSIFT visual words: a fine vocabulary, tf-idf and an inverted file (``bow``).

    ``fine_octave_below``: images of at least 400 px skip SIFT's doubled first octave
    (:func:`simlab.local.extract_local`). Measured side by side on the 724-image
    benchmark set (medians of 2 builds each): 28.3 against 18.4 images/s, query median
    159 against 233 ms; recall@1 0.90 against 0.91 on an earlier draw of the set. A
    value above ``max_side`` keeps the doubled octave for every image.
    """

    name = "bow"
    summary = ("RootSIFT bag of visual words: ~20k-word k-means tree, tf-idf, inverted file, "
               "cosine; flips handled")
    defaults = {"max_side": 640, "upscale": False, "max_keypoints": 1000,
                "contrast_threshold": 0.01, "fine_octave_below": 400, "words": 20_480,
                "training_images": 400}
    uses_words = True
    #: Keypoint orientations stored per image, for the engine's chance guard.
    keeps_orientation = True

    def local_features(self, image: np.ndarray, options: dict) -> dict:
        from ..local import extract_local

        return extract_local(image, descriptor="rootsift",
                             max_keypoints=int(options["max_keypoints"]),
                             contrast_threshold=float(options["contrast_threshold"]),
                             stretch=True, fine_octave_below=options.get("fine_octave_below"))

    def train(self, descriptors: np.ndarray, options: dict):
        from ..bow import train_vocabulary

        return train_vocabulary(descriptors, words=int(options["words"]))

    def encode(self, image, options, vocabulary):
        found = self.local_features(image, options)
        kept = {"points": found["points"], "descriptors": found["descriptors"]}
        if self.keeps_orientation:
            kept.update(angles=found["angles"], sizes=found["sizes"])
        if vocabulary is not None:
            kept["words"] = vocabulary.assign(kept.pop("descriptors"))
        return kept

    def to_arrays(self, features, vocabulary):
        lengths = np.array([len(f["words"]) for f in features], np.int64)
        arrays = {"offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)}
        # uint16 halves the file when the vocabulary fits (20,480 words does).
        word_type = np.uint16 if vocabulary.words <= 65_536 else np.uint32
        arrays["words"] = np.concatenate([f["words"] for f in features] or [np.zeros(0)]) \
            .astype(word_type)
        if "points" in self.stored:
            points = np.concatenate([f["points"] for f in features] or [np.zeros((0, 2))])
            # float16 keeps 1 px up to 2048 px, far below the RANSAC threshold; larger
            # images (a max_side above 2048) keep float32.
            fine = not len(points) or float(np.abs(points).max()) <= 2048
            arrays["points"] = points.astype(np.float16 if fine else np.float32)
        if "angles" in self.stored:
            # 1.4-degree steps and 3 significant digits: far finer than the guard's
            # 20 degrees and factor 1.5.
            angles = np.concatenate([f["angles"] for f in features] or [np.zeros(0)])
            arrays["angles"] = np.round(np.mod(angles, 360.0) * 256.0 / 360.0) \
                .astype(np.int64).astype(np.uint8)
            arrays["sizes"] = np.concatenate(
                [f["sizes"] for f in features] or [np.zeros(0)]).astype(np.float16)
        return arrays

    def shared_arrays(self, vocabulary):
        return vocabulary.to_arrays()

    @property
    def stored(self) -> tuple[str, ...]:
        return ("points", "angles", "sizes") if self.keeps_orientation else ("points",)

    def load_vocabulary(self, arrays, options):
        from ..bow import Vocabulary

        top = checked_array(arrays, "vocabulary_top", (None, 128), "f")
        checked_array(arrays, "vocabulary_sub", (len(top), None, 128), "f")
        checked_array(arrays, "vocabulary_trained_on", (), "i")
        if len(top) == 0 or arrays["vocabulary_sub"].shape[1] == 0 or not (
                np.isfinite(top).all() and np.isfinite(arrays["vocabulary_sub"]).all()):
            raise Invalid("the vocabulary ('vocabulary_top', 'vocabulary_sub') must be "
                          "non-empty and finite")
        return Vocabulary.from_arrays(arrays)

    def from_arrays(self, arrays, table, options, vocabulary):
        count = len(table)
        offsets = checked_array(arrays, "offsets", (count + 1,), "i").astype(np.int64)
        words = checked_array(arrays, "words", (None,), "u")
        if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(words):
            raise Invalid("'offsets' must rise from 0 to the number of words stored")
        table.add_ragged("words", words, offsets, _int64)
        if "points" in self.stored:
            table.add_ragged("points", checked_array(arrays, "points", (len(words), 2), "f"),
                             offsets, _float32)
        if "angles" in self.stored:
            # 1.4-degree steps (see to_arrays).
            table.add_ragged("angles", checked_array(arrays, "angles", (len(words),), "u"),
                             offsets, lambda a: np.asarray(a, np.float32) * (360 / 256))
            table.add_ragged("sizes", checked_array(arrays, "sizes", (len(words),), "f"),
                             offsets, _float32)
        table.add_check(lambda item: self.check_item(item, vocabulary))

    def check_item(self, item: dict, vocabulary) -> None:
        """Refuse an image whose stored words, points or sizes cannot be its own."""
        words = item["words"]
        if len(words) and int(words.max()) >= vocabulary.words:
            raise Invalid(f"'words' holds word {int(words.max())}, past the vocabulary's "
                          f"{vocabulary.words} words")
        if "points" in item:
            points = item["points"]
            bounds = np.asarray(item["shape"], np.float32)[::-1] + 1  # (width, height)
            if not (np.isfinite(points).all() and (points >= -1).all()
                    and (points <= bounds).all()):
                raise Invalid("'points' must lie inside their images")
        if "sizes" in item:
            sizes = item["sizes"]
            if not (np.isfinite(sizes).all() and (sizes >= 0).all()):
                raise Invalid("'sizes' must be finite keypoint sizes")

    def shard_words(self, features, vocabulary) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(words, lengths)`` of each shard of ``features``, word ids checked."""
        shards = []
        for part in parts(features):
            values, lengths = flat(part, "words")
            if len(values) and int(values.max()) >= vocabulary.words:
                raise Invalid(f"'words' holds word {int(values.max())}, past the "
                              f"vocabulary's {vocabulary.words} words")
            shards.append((values, lengths))
        return shards

    def prepare(self, features, vocabulary):
        from ..bow.inverted import InvertedFile, ShardedInvertedFile

        # Each shard gets its own inverted file (one idf for all): searched one by one,
        # their cosines put end to end (the merge of the shards' shortlists).
        shards = InvertedFile.build_shards(self.shard_words(features, vocabulary),
                                           vocabulary.words)
        return {"inverted": shards[0] if len(shards) == 1 else ShardedInvertedFile(shards)}

    def query(self, image: np.ndarray, options: dict, vocabulary, *, mirror: bool,
              invert: bool = False) -> dict:
        """The query's words and points, and those of its mirror image (``_mirrored``);
        with ``invert`` also of its negative (``_inverted``, ``_inverted_mirrored``).

        Keypoint ``i`` is the same patch on every side (mirror and inversion are
        permutations of the descriptors, :mod:`simlab.local.mirror` and
        :mod:`simlab.local.invert`); a mirrored side's points are in the mirror's pixels.
        """
        from ..local import invert_features, mirror_features

        found = self.local_features(image, options)
        sides = {"": found}
        if len(found["descriptors"]):
            if mirror:
                sides["_mirrored"] = mirror_features(found)
            if invert:
                sides["_inverted"] = invert_features(found)
                if mirror:
                    sides["_inverted_mirrored"] = invert_features(sides["_mirrored"])
        # One assignment for every side: the vocabulary tree is walked once.
        words = np.split(vocabulary.assign(np.concatenate(
            [f["descriptors"] for f in sides.values()])), len(sides))
        return {side: {"points": f["points"], "angles": f["angles"], "sizes": f["sizes"],
                       "words": side_words}
                for (side, f), side_words in zip(sides.items(), words)}

    def cosines(self, query: dict, prepared: dict) -> tuple[np.ndarray, np.ndarray]:
        """Best cosine per image over both orientations, and which was better."""
        cosines = prepared["inverted"].cosines(query[""]["words"])
        mirrored = np.zeros(len(cosines), bool)
        if "_mirrored" in query:
            flipped = prepared["inverted"].cosines(query["_mirrored"]["words"])
            mirrored = flipped > cosines
            cosines = np.maximum(cosines, flipped)
        return cosines, mirrored

    def search(self, image, prepared, features, *, options, vocabulary, top, mirror,
               **settings):
        query = self.query(image, options, vocabulary, mirror=mirror)
        cosines, mirrored = self.cosines(query, prepared)
        order = best_first(cosines, top)
        return [(int(i), float(np.clip(cosines[i], 0, 1)),
                 {"cosine": float(cosines[i]), "mirrored": bool(mirrored[i])}) for i in order]

    @staticmethod
    def verify(query_side: dict, stored: dict, *, threshold: float, min_inliers: int):
        """The engine's verification of same-word correspondences (query -> stored)."""
        screened = Words.screen([query_side], [stored], min_inliers=min_inliers)[0]
        if not isinstance(screened, tuple):
            return screened
        return Words.fit(query_side, stored, *screened, threshold=threshold,
                         min_inliers=min_inliers)

    @staticmethod
    def screen(query_sides: Sequence[dict], stored: Sequence[dict], *, min_inliers: int
               ) -> list:
        """The cheap half of :meth:`verify` for each pair ``(query_sides[g], stored[g])``
        at once: a failed :class:`~simlab.local.Verification` where no transform could
        keep ``min_inliers``, else ``(pairs, subset)`` for :meth:`fit`."""
        from ..local import Verification, distinct
        from ..local.correspond import word_correspondences_batch
        from ..local.verification import guard_windows

        found = word_correspondences_batch([q["words"] for q in query_sides],
                                           [s["words"] for s in stored])
        screened: list = [(pairs, None) for pairs in found]
        enough = [g for g, pairs in enumerate(found) if len(pairs) >= int(min_inliers)]
        windows = guard_windows([query_sides[g] for g in enough], [stored[g] for g in enough],
                                [found[g] for g in enough], needed=min_inliers)
        for g, (bound, subset) in zip(enough, windows):
            pairs = found[g]
            if bound >= int(min_inliers):  # inliers are distinct places: fewer still
                bound = min(distinct(query_sides[g]["points"][pairs[subset, 0]]),
                            distinct(stored[g]["points"][pairs[subset, 1]]))
            if bound < int(min_inliers):
                # No rotation and scale agree with enough of them: the chance guard would
                # leave too few inliers whatever RANSAC fitted.
                screened[g] = Verification(
                    pairs, np.zeros(len(pairs), bool), None, 0, "similarity",
                    "no rotation and scale agree with enough correspondences")
            else:
                screened[g] = (pairs, subset)
        return screened

    @staticmethod
    def fit(query_side: dict, stored: dict, pairs: np.ndarray, subset, *, threshold: float,
            min_inliers: int):
        """The costly half of :meth:`verify`: RANSAC and the guard (see :meth:`screen`)."""
        from ..local import verify

        # RANSAC samples only where enough turn and grow alike (fewer, cleaner points).
        return verify(query_side, stored, pairs, model="similarity", threshold=threshold,
                      min_correspondences=max(2, int(min_inliers)), fit_subset=subset)


class VerifiedWords(Words):
    """``bow``, with the shortlist verified and a global fallback (``bow-verify``)."""

    name = "bow-verify"
    summary = ("RootSIFT bag of visual words (tf-idf, inverted file, cosine), shortlist "
               "re-ranked by RANSAC-verified same-word correspondences, unverified images "
               "by rank fusion with an ordinal thumbnail and colour histogram; flips handled")
    defaults = dict(Words.defaults)
    #: Float vectors of the fallback: array name -> key in an image's features.
    vectors = {"vectors": "vector", "ordinals": "ordinal"}

    def encode(self, image, options, vocabulary):
        found = super().encode(image, options, vocabulary)
        found.update(fallback_features(image))
        return found

    def to_arrays(self, features, vocabulary):
        arrays = super().to_arrays(features, vocabulary)
        # The fallback cosines need 3 digits, and float16 halves the file.
        for name, key in self.vectors.items():
            arrays[name] = _stack(features, key, np.float32).astype(np.float16)
        return arrays

    #: Width of each fallback vector: an 8x8x8 histogram and a 16x16 ordinal thumbnail.
    widths = {"vectors": 512, "ordinals": 256}

    def from_arrays(self, arrays, table, options, vocabulary):
        super().from_arrays(arrays, table, options, vocabulary)
        for name, key in self.vectors.items():
            table.add_rows(key, _vectors(arrays, name, len(table), self.widths[name]),
                           _float32)

    def prepare(self, features, vocabulary):
        prepared = super().prepare(features, vocabulary)
        prepared["shapes"] = _stack(features, "shape", np.int64, 2)
        for name, key in self.vectors.items():
            prepared[name] = _finite(_stack(features, key, np.float32, self.widths[name]),
                                     name)
        return prepared

    @staticmethod
    def fallback_scores(image: np.ndarray, prepared: dict, mirror: bool
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Every image's ordinal-thumbnail cosine (of the better orientation) and
        colour-histogram cosine with the query."""
        thumbnail = fallback_features(image, mirrored=mirror)
        ordinal = prepared["ordinals"] @ thumbnail["ordinal"]
        if mirror:
            ordinal = np.maximum(ordinal, prepared["ordinals"] @ thumbnail["ordinal_mirrored"])
        return ordinal, prepared["vectors"] @ thumbnail["vector"]

    def search(self, image, prepared, features, *, options, vocabulary, top, mirror,
               shortlist: int = 50, min_inliers: int = 8,
               min_inlier_ratio: float = MIN_INLIER_RATIO, ransac_threshold: float = 6.0,
               answers: int = 5, invert: bool = True, max_log_nfa: float = MAX_LOG_NFA,
               **settings):
        from ..bow import FUSION_K
        from ..bow.fusion import fused_best

        query = self.query(image, options, vocabulary, mirror=mirror, invert=invert)
        # The fallback's scans and the sides' inverted-file products are memory-bound
        # and run without the GIL: on the two threads, side by side.
        fallback = _pool().submit(self.fallback_scores, image, prepared, mirror)
        side_cosines = dict(zip(query, _pool().map(
            lambda side: prepared["inverted"].cosines(side["words"]), query.values())))
        cosines = np.max(np.stack(list(side_cosines.values())), axis=0)
        # The rank fusion of unverified images takes the plain sides' cosine: the
        # negative's cosines are noise for an ordinary query and moved strangers up.
        plain_cosines = np.max(np.stack([c for side, c in side_cosines.items()
                                         if "inverted" not in side]), axis=0)
        # Unverified images: the orientation whose words agree better.
        mirrored = side_cosines["_mirrored"] > side_cosines[""] if "_mirrored" in \
            side_cosines else np.zeros(len(cosines), bool)
        found = _Answers(len(cosines), image.shape[:2])
        shapes = prepared["shapes"]
        keep = np.ones(len(query[""]["words"]), bool)  # query keypoints not explained yet
        for round_number in range(max(1, int(answers))):
            if round_number:  # what is left of the query after setting matches aside
                side_cosines = dict(zip(query, _pool().map(
                    lambda side: prepared["inverted"].cosines(side["words"][keep]),
                    query.values())))
            best = np.max(np.stack(list(side_cosines.values())), axis=0)
            best[found.matched] = -1.0
            # Later rounds look at fewer candidates: what is left of a collage ranks its
            # other images high, and a single image's leftovers (a backdrop, a window's
            # chrome) should cost little.
            size = int(shortlist) if not round_number else min(int(shortlist), LATER_SHORTLIST)
            candidates = [int(i) for i in best_first(best, size) if best[i] > 0]
            matched_before = found.matched.copy()
            sides = {side: query[side] if not round_number else
                     {k: v[keep] for k, v in query[side].items()} for side in query}
            # The cheap half of every verification the round may make, at once.
            needed = min(int(min_inliers), MATCH_MIN_INLIERS)
            stored = {i: features[i] for i in candidates}
            turns = {i: _sides_to_try(side_cosines, i) for i in candidates}
            tries = [(i, side) for i in candidates for side in turns[i]]
            screened = dict(zip(tries, self.screen([sides[side] for _, side in tries],
                                                   [stored[i] for i, _ in tries],
                                                   min_inliers=needed)))

            def check(i: int) -> list:
                # One candidate's sides in turn, stopping once it is confirmed.
                tried, done = [], bool(found.verified[i])
                for side in turns[i]:
                    verification = screened[i, side]
                    if isinstance(verification, tuple):
                        verification = self.fit(sides[side], stored[i], *verification,
                                                threshold=ransac_threshold,
                                                min_inliers=needed)
                    confirmed = verification.confirmed(min_inliers=min_inliers,
                                                       min_inlier_ratio=min_inlier_ratio)
                    tried.append((side, verification, confirmed))
                    if confirmed or done:
                        break
                return tried

            # Two threads: RANSAC (OpenCV) runs without the GIL, so one candidate's fit
            # overlaps the other's numpy work. Results are taken in candidate order.
            for i, tried in zip(candidates, _pool().map(check, candidates)):
                for side, verification, confirmed in tried:
                    found.tests += 1
                    found.consider(i, side, verification, confirmed)
            new = found.decide(candidates, max_log_nfa=max_log_nfa,
                               shapes=shapes)
            new = [i for i in new if not matched_before[i]]
            if not new or round_number + 1 >= int(answers):
                break
            keep &= ~found.covered(query[""]["points"], new)
            if keep.sum() < max(MIN_LEFT, 2 * int(min_inliers)):
                break
        # A composite query (a collage, a figure) whose matches leave panels uncovered:
        # each such panel is searched on its own, for pictures too plain to verify
        # inside the whole (a sky beside a brick wall) but ranked first by their own
        # fallback.
        panel_hits = self.panel_answers(
            image, prepared, features, found, answers=answers,
            settings=dict(options=options, vocabulary=vocabulary, mirror=mirror,
                          shortlist=shortlist, min_inliers=min_inliers,
                          min_inlier_ratio=min_inlier_ratio,
                          ransac_threshold=ransac_threshold, invert=invert,
                          max_log_nfa=max_log_nfa))
        verified, inliers = found.verified, found.inliers
        # Images geometry does not confirm: reciprocal-rank fusion of the bag-of-words
        # cosine, the ordinal thumbnail (of the better orientation) and the histogram.
        ordinal, histogram = fallback.result()
        best_fused = 3.0 / FUSION_K
        # Matches first, then other verified images (by inliers, cosine breaking ties),
        # then the best of the rest by fusion (:func:`~simlab.bow.fusion.fused_best`:
        # the order a sort of every image gives, ties by index, in linear time).
        geometric = verified | found.matched
        confirmed = np.flatnonzero(geometric)
        key = inliers[confirmed] + np.clip(plain_cosines[confirmed], 0, 0.999)
        confirmed = confirmed[np.lexsort((confirmed, -key, ~found.matched[confirmed]))]
        rest, rest_fused = fused_best([plain_cosines, ordinal, histogram],
                                      int(top) + len(confirmed))
        fused = dict(zip(rest.tolist(), rest_fused.tolist()))
        order = np.concatenate([confirmed, rest[~geometric[rest]]])[:max(0, int(top))]
        hits = []
        for i in order:
            if geometric[i]:  # a match with fewer than min_inliers (significant) too
                score = inliers[i] / (inliers[i] + 10.0)
            else:  # below 0.1, so below any verified image's (>= 0.44 at 8 inliers)
                score = 0.099 * min(1.0, fused[int(i)] / best_fused)
            side = found.side.get(int(i), "")
            log_nfa = found.log_nfa[i]
            hits.append((int(i), float(score),
                         {"inliers": int(inliers[i]), "verified": bool(verified[i]),
                          "cosine": float(cosines[i] if int(i) in found.side and
                                          "inverted" in found.side[int(i)]
                                          else plain_cosines[i]),
                          "ordinal": float(ordinal[i]),
                          "histogram": float(histogram[i]),
                          "mirrored": "mirrored" in side if int(i) in found.side
                          else bool(mirrored[i]),
                          "inverted": "inverted" in side,
                          "match": bool(found.matched[i]),
                          "log_nfa": float(log_nfa) if np.isfinite(log_nfa) else None,
                          "region": found.regions.get(int(i))}))
        return _with_panel_hits(hits, panel_hits, int(top))

    def panel_answers(self, image: np.ndarray, prepared: dict, features, found, *,
                      answers: int, settings: dict) -> list[Hit]:
        """The best hit of each panel of ``image`` that no match covers, searched alone.

        Only for a query that already matched something (a composite is known to hold
        indexed pictures) while its matches cover under :data:`PANEL_COVERED` of it, and
        that splits into panels along gutters
        (:func:`simlab.duplicates.panels.split_panels`). A hit's ``panel`` detail is
        the panel's box; its ``region`` (a match) is in the whole query's pixels.
        """
        from ..duplicates.panels import split_panels

        matched = np.flatnonzero(found.matched)
        if int(answers) <= 1 or not len(matched):
            return []
        inside = _inside([found.regions[int(i)] for i in matched], image.shape)
        if inside.mean() >= PANEL_COVERED:
            return []
        hits = []
        for panel in split_panels(image, read_labels=False):
            x0, y0, x1, y1 = panel.box
            if min(x1 - x0, y1 - y0) < PANEL_SMALLEST or \
                    inside[y0:y1, x0:x1].mean() >= PANEL_COVERED:
                continue
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            hits += [hit for hit in self._part_hit(crop, prepared, features, box=panel.box,
                                                   offset=(x0, y0), settings=settings)
                     if not found.matched[hit[0]]]
        return hits

    def _part_hit(self, crop: np.ndarray, prepared: dict, features, *, box, offset,
                  crop_scale: float = 1.0, factor: float = 1.0, settings: dict,
                  extra: dict | None = None) -> list[Hit]:
        """The best hit of one part of the query (a panel, a framed picture) searched
        alone, for one answer: its ``panel`` detail is ``box`` (none when ``box`` is
        None), ``extra`` is added to its details, and a match's ``region`` is mapped
        into the whole query's pixels as ``(offset + v / crop_scale) * factor``
        (``offset`` is ``(x, y)``)."""
        found = []
        for i, score, details in self.search(crop, prepared, features, top=1, answers=1,
                                             **settings)[:1]:
            details = dict(details, **(extra or {}))
            if box is not None:
                details["panel"] = [float(v) for v in box]
            if details.get("region") is not None:
                details["region"] = [(offset[k % 2] + v / crop_scale) * factor
                                     for k, v in enumerate(details["region"])]
            found.append((int(i), score, details))
        return found

    def framed_answers(self, query, image: np.ndarray, scale: float, hits: list[Hit],
                       prepared: dict, features, *, top: int, **settings) -> list[Hit]:
        """``hits`` with the best hit of the picture inside the query's frame, when the
        query is a picture framed by flat colours (a screenshot of a viewer window:
        :func:`simlab.duplicates.panels.framed_picture`) that no match covers.

        The picture is cut from the query file at its own resolution: a screenshot
        loaded at ``max_side`` shrinks a 500-px picture to about 220 px, where its
        keypoints are lost. ``image`` is the query at ``scale`` of the file; the hit's
        ``panel`` and ``region`` are in ``image``'s pixels, as ``hits``' are.
        """
        from ..duplicates.panels import framed_picture
        from ..io import load_scaled

        regions = [d["region"] for _, _, d in hits if d.get("match") and d.get("region")]
        if regions and _inside(regions, image.shape).mean() >= PANEL_COVERED:
            return hits  # matches cover the query: no frame is left to look into
        box = framed_picture(image)
        if box is None or min(box[2] - box[0], box[3] - box[1]) < PANEL_SMALLEST:
            return hits  # no frame, or a strip too thin to be the picture
        for _, _, details in hits:
            region = details.get("region") if details.get("match") else None
            if region is not None and _box_share(region, box) >= PANEL_COVERED:
                return hits  # the framed picture is matched already
        # The file again, at the size where the picture's longest side is max_side
        # (never more than the file): memory stays bounded for a huge screenshot.
        max_side = settings["options"].get("max_side")
        wanted = None
        if max_side:
            picture_side = max(box[2] - box[0], box[3] - box[1]) / scale  # file pixels
            wanted = int(np.ceil(max(image.shape[:2]) / scale
                                 * min(1.0, int(max_side) / picture_side)))
        full, full_scale = load_scaled(query, wanted)
        # The box in those pixels, a pixel of margin lost to the scaling kept out.
        left, top_, right, bottom = (int(round(v / scale * full_scale)) for v in box)
        crop = np.ascontiguousarray(full[top_ + 1:max(top_ + 2, bottom - 1),
                                         left + 1:max(left + 2, right - 1)])
        if min(crop.shape[:2]) < PANEL_SMALLEST:  # an enlarged small query's frame
            return hits
        crop, crop_scale = load_scaled(crop, max_side)
        # Crop pixels -> the reloaded file's (offset) -> the query's (factor).
        found = self._part_hit(crop, prepared, features, box=box,
                               offset=(left + 1, top_ + 1), crop_scale=crop_scale,
                               factor=scale / full_scale, settings=settings)
        return _with_panel_hits(hits, found, int(top))

    def coarse_answers(self, image: np.ndarray, hits: list[Hit], prepared: dict, features,
                       *, top: int, **settings) -> list[Hit]:
        """``hits`` with the best hit of the query searched again at half its size,
        when nothing matched it whole and that hit is a verified match.

        A tiny crop enlarged back to full size, or a blurred copy, is smooth at the
        search's resolution: its finest keypoints are noise that the keypoint cap
        keeps in place of the real ones. Halved (and without SIFT's doubled first
        octave) it shows the keypoints its source has. The hit's ``searched_at``
        detail is 0.5 and its ``region`` is in ``image``'s pixels.
        """
        if any(details.get("match") for _, _, details in hits) or \
                min(image.shape[:2]) < 2 * COARSE_SMALLEST:
            return hits
        import cv2

        half = cv2.resize(image, ((image.shape[1] + 1) // 2, (image.shape[0] + 1) // 2),
                          interpolation=cv2.INTER_AREA)
        scale = half.shape[1] / image.shape[1]
        # A second look, not a second search: the shortlist of explaining away's later
        # rounds (the sources gained on the hard benchmark rank well inside it).
        settings = dict(settings, options=dict(settings["options"], fine_octave_below=0),
                        shortlist=min(int(settings.get("shortlist", LATER_SHORTLIST)),
                                      LATER_SHORTLIST))
        found = []
        for i, score, details in self._part_hit(half, prepared, features, box=None,
                                                offset=(0.0, 0.0), crop_scale=scale,
                                                settings=settings,
                                                extra={"searched_at": 0.5}):
            # A second look doubles the chances of a chance match: its hit must be both
            # significant and verified (6 inliers passed the significance on their own
            # for a held-out query whose source was not indexed). Unconfirmed hits stay
            # in the whole query's order.
            if not (details.get("match") and details.get("verified")):
                continue
            if details.get("region") is not None:  # within the query, pixel edges kept
                bounds = (image.shape[1] - 1, image.shape[0] - 1) * 2
                details["region"] = [float(min(max(v, 0.0), bounds[k]))
                                     for k, v in enumerate(details["region"])]
            found.append((i, score, details))
        return _with_panel_hits(hits, found, int(top))


#: A query whose shorter side is under twice this (px) is not searched again at half size.
COARSE_SMALLEST = 64


def _inside(regions, shape) -> np.ndarray:
    """The pixels of an image of ``shape`` inside any of ``regions`` (query boxes)."""
    inside = np.zeros(tuple(shape[:2]), bool)
    for region in regions:
        left, top, right, bottom = (int(round(v)) for v in region)
        inside[max(0, top):max(0, bottom), max(0, left):max(0, right)] = True
    return inside


def _box_share(region, box) -> float:
    """The share of ``box`` (``x0, y0, x1, y1``) that ``region`` covers."""
    width = min(region[2], box[2]) - max(region[0], box[0])
    height = min(region[3], box[3]) - max(region[1], box[1])
    area = max(1.0, float(box[2] - box[0]) * float(box[3] - box[1]))
    return max(0.0, width) * max(0.0, height) / area


#: A composite query's panels are searched alone while its matches cover less than this
#: share of it (and of the panel); panels smaller than PANEL_SMALLEST px are skipped.
PANEL_COVERED, PANEL_SMALLEST = 0.8, 64


def _with_panel_hits(hits: list[Hit], panel_hits: list[Hit], top: int) -> list[Hit]:
    """``hits`` with the panels' own best hits put in: matches after the matches,
    the others among the unconfirmed hits by score (both scales are the same fusion's);
    an image listed twice keeps its better entry."""
    if not panel_hits:
        return hits
    best = {}
    for hit in panel_hits:
        if hit[0] not in best or hit[1] > best[hit[0]][1]:
            best[hit[0]] = hit
    first = [h for h in hits if h[2].get("match")]
    taken = {h[0] for h in first}
    # A panel's match also replaces the whole query's weaker entry for that image.
    matches = [h for h in best.values() if h[2].get("match") and h[0] not in taken]
    taken |= {h[0] for h in matches}
    confirmed = [h for h in hits if h[2].get("verified") and h[0] not in taken]
    taken |= {h[0] for h in confirmed}
    confirmed += [h for h in best.values() if h[2].get("verified") and h[0] not in taken]
    taken |= {h[0] for h in confirmed}
    rest = {h[0]: h for h in hits if h[0] not in taken}
    for hit in best.values():
        if hit[0] not in taken and (hit[0] not in rest or hit[1] > rest[hit[0]][1]):
            rest[hit[0]] = hit
    # Unconfirmed hits by score, ties in their order of arrival (stable).
    unconfirmed = sorted(rest.values(), key=lambda h: -h[1])
    return (first + matches + confirmed + unconfirmed)[:max(0, top)]


_POOL: tuple[int, Any] | None = None  # (process id, executor)


def _pool():
    """The search's verification threads (two: the cores this project targets).

    Made again in a forked child: the parent's threads do not exist there.
    """
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=2,
                                                 thread_name_prefix="simlab-verify"))
    return _POOL[1]


#: Explaining away: candidates verified in each round after the first, and the fewest
#: query keypoints left outside the matches' regions worth another round.
LATER_SHORTLIST, MIN_LEFT = 20, 40
#: A candidate is tried as a negative first when an inverted side's cosine beats the
#: plain sides' by this factor (both are noise for unrelated images).
INVERT_MARGIN = 1.25


def _sides_to_try(side_cosines: dict, i: int) -> list[str]:
    """Query sides to verify against image ``i``, most promising first.

    The two orientations (plain, mirrored) by cosine: word statistics can favour the
    wrong one, so both get a turn, as before. The negative's sides are tried first when
    their cosine beats the plain sides' clearly, and then the better plain side too;
    otherwise not at all (verifying them for every candidate doubled a search).
    """
    plain = sorted((s for s in side_cosines if "inverted" not in s),
                   key=lambda s: -side_cosines[s][i])
    negative = sorted((s for s in side_cosines if "inverted" in s),
                      key=lambda s: -side_cosines[s][i])
    if negative and side_cosines[negative[0]][i] > INVERT_MARGIN * side_cosines[plain[0]][i]:
        return negative + plain[:1]
    return plain


class _Answers:
    """What a search has verified so far: per image its best verification, and matches."""

    def __init__(self, count: int, query_shape):
        self.inliers = np.zeros(count, np.int64)
        self.verified = np.zeros(count, bool)
        self.matched = np.zeros(count, bool)
        self.log_nfa = np.full(count, np.inf)
        self.side: dict[int, str] = {}
        self.best: dict[int, Any] = {}
        self.regions: dict[int, list[float]] = {}
        self.query_shape = tuple(int(v) for v in query_shape)
        #: Verifications made (candidates x sides tried, every round): the tests.
        self.tests = 0

    def consider(self, i: int, side: str, verification, confirmed: bool) -> None:
        if (confirmed, verification.inliers) > (self.verified[i], self.inliers[i]):
            self.inliers[i], self.verified[i] = verification.inliers, confirmed
            self.side[int(i)], self.best[int(i)] = side, verification

    def decide(self, candidates, *, max_log_nfa: float, shapes) -> list[int]:
        """Significance of this round's candidates' best verifications; the new matches."""
        new = []
        for i in candidates:
            verification = self.best.get(int(i))
            if verification is None or verification.matrix is None:
                continue
            self.log_nfa[i] = verification.log_nfa(tests=self.tests)
            if self.log_nfa[i] <= max_log_nfa and not self.matched[i]:
                self.matched[i] = True
                self.regions[int(i)] = self.region(verification, self.side[int(i)],
                                                   shapes[i])
                new.append(int(i))
        return new

    def region(self, verification, side: str, shape) -> list[float]:
        """The query box ``[left, top, right, bottom]`` (its pixels) the image covers."""
        from ..local.verification import overlap

        polygon = overlap(verification.matrix, self.query_shape, tuple(shape))[2]
        if not len(polygon):
            return [0.0, 0.0, 0.0, 0.0]
        if "mirrored" in side:  # back from the mirror's pixels
            polygon = polygon.copy()
            polygon[:, 0] = self.query_shape[1] - 1.0 - polygon[:, 0]
        low, high = polygon.min(0), polygon.max(0)
        return [float(low[0]), float(low[1]), float(high[0]), float(high[1])]

    def covered(self, points: np.ndarray, images: Sequence[int]) -> np.ndarray:
        """Which query keypoints lie inside the regions of ``images``."""
        inside = np.zeros(len(points), bool)
        for i in images:
            left, top, right, bottom = self.regions[int(i)]
            inside |= (points[:, 0] >= left) & (points[:, 0] <= right) & \
                (points[:, 1] >= top) & (points[:, 1] <= bottom)
        return inside


class NaiveWords(Words):
    """The naive SIFT bag of words from a well-known forum question (``naive-bow``).

    OpenCV's default SIFT on the grey image (every keypoint), an 800-word flat k-means
    vocabulary, L1-normalised word histograms, nearest neighbour by Euclidean distance.
    It works for near-identical queries and fails beyond: kept to show why, and as the
    benchmark's baseline.
    """

    name = "naive-bow"
    summary = ("the naive SIFT bag of words from a well-known forum question, as a "
               "baseline: SIFT, 800-word flat k-means, L1-normalised histograms, nearest "
               "neighbour by Euclidean distance")
    defaults = {"max_side": 640, "words": 800, "training_images": 400}
    keeps_orientation = False

    @property
    def stored(self) -> tuple[str, ...]:
        return ()

    def local_features(self, image, options):
        from ..local import extract_local

        return extract_local(image, descriptor="sift", max_keypoints=0)

    def train(self, descriptors, options):
        from ..bow import train_vocabulary

        return train_vocabulary(descriptors, words=int(options["words"]), branches=1)

    def encode(self, image, options, vocabulary):
        found = self.local_features(image, options)
        kept = {"descriptors": found["descriptors"]}
        if vocabulary is not None:
            kept["words"] = vocabulary.assign(kept.pop("descriptors"))
        return kept

    def prepare(self, features, vocabulary):
        histograms = np.zeros((len(features), vocabulary.words), np.float32)
        start = 0
        for values, lengths in self.shard_words(features, vocabulary):
            owners = np.repeat(np.arange(start, start + len(lengths)), lengths)
            np.add.at(histograms, (owners, np.asarray(values, np.int64)), 1.0)
            start += len(lengths)
        histograms /= np.maximum(histograms.sum(axis=1, keepdims=True), 1.0)
        return {"histograms": histograms}

    def search(self, image, prepared, features, *, options, vocabulary, top, mirror,
               **settings):
        words = vocabulary.assign(self.local_features(image, options)["descriptors"])
        histogram = np.bincount(words, minlength=vocabulary.words).astype(np.float32)
        histogram /= max(float(histogram.sum()), 1.0)
        distances = np.linalg.norm(prepared["histograms"] - histogram, axis=1)
        order = np.argsort(distances, kind="stable")[:top]
        return [(int(i), float(np.clip(1 - distances[i] / np.sqrt(2), 0, 1)),
                 {"l2_distance": float(distances[i])}) for i in order]


# ---------------------------------------------------------------------------------------
# Global descriptors

class PerceptualHash(Backend):
    """64-bit pHash of the image and of its mirror; exact Hamming search (``phash``)."""

    name = "phash"
    summary = "64-bit perceptual hash, exact Hamming search; flips handled"
    defaults = {"max_side": 640}

    @staticmethod
    def hashes(image: np.ndarray) -> dict[str, np.ndarray]:
        from ..local.mirror import mirror_image
        from ..methods.phash import phash_features

        return {"hash": phash_features(image, {})["hash"],
                "hash_mirrored": phash_features(mirror_image(image), {})["hash"]}

    def encode(self, image, options, vocabulary):
        return self.hashes(image)

    def to_arrays(self, features, vocabulary):
        return {f"hashes{side}": _stack(features, f"hash{side}", np.uint8, 8)
                for side in ("", "_mirrored")}

    def from_arrays(self, arrays, table, options, vocabulary):
        for side in ("", "_mirrored"):
            stored = checked_array(arrays, f"hashes{side}", (len(table), 8), "u")
            if stored.dtype != np.uint8:
                raise Invalid(f"'hashes{side}' must be uint8, got {stored.dtype}")
            table.add_rows(f"hash{side}", stored)

    def prepare(self, features, vocabulary):
        return {"bits": np.unpackbits(_stack(features, "hash", np.uint8, 8), axis=1)
                .astype(bool)}

    def search(self, image, prepared, features, *, options, vocabulary, top, mirror,
               **settings):
        found = self.hashes(image)
        hamming = lambda hash_bytes: (prepared["bits"] != np.unpackbits(hash_bytes)).sum(axis=1)
        distances = hamming(found["hash"])
        mirrored = np.zeros(len(distances), bool)
        if mirror:
            flipped = hamming(found["hash_mirrored"])
            mirrored = flipped < distances
            distances = np.minimum(distances, flipped)
        order = best_first(-distances, top)
        return [(int(i), 1.0 - float(distances[i]) / 64.0,
                 {"hamming_distance": int(distances[i]), "mirrored": bool(mirrored[i])})
                for i in order]


class _Vector(Backend):
    """A unit vector per image, searched by cosine with faiss (:mod:`~simlab.search.vectors`)."""

    def vector_of(self, image: np.ndarray, options: dict) -> np.ndarray:
        raise NotImplementedError

    def encode(self, image, options, vocabulary):
        return {"vector": self.vector_of(image, options)}

    def to_arrays(self, features, vocabulary):
        return {"vectors": _stack(features, "vector", np.float32)}

    def width(self, options: dict) -> int:
        """Length of each stored vector."""
        raise NotImplementedError

    def from_arrays(self, arrays, table, options, vocabulary):
        table.add_rows("vector", _vectors(arrays, "vectors", len(table), self.width(options)),
                       _float32)

    def prepare(self, features, vocabulary):
        from .vectors import vector_index

        return {"vectors": vector_index(_finite(_stack(features, "vector", np.float32),
                                                "vectors"))}

    def search(self, image, prepared, features, *, options, vocabulary, top, mirror,
               **settings):
        from .vectors import nearest

        rows, cosines = nearest(prepared["vectors"], self.vector_of(image, options), top)
        return [(int(i), float(np.clip(cosine, 0, 1)), {"cosine": float(cosine)})
                for i, cosine in zip(rows[0], cosines[0]) if i >= 0]


class ColourHistogram(_Vector):
    """8x8x8 RGB histogram without the fill of a rotated copy, Hellinger (``histogram``)."""

    name = "histogram"
    summary = "8x8x8 RGB colour histogram (Hellinger), cosine search with faiss"
    defaults = {"max_side": 640, "bins": 8}

    @staticmethod
    def vector(image: np.ndarray, *, bins: int = 8) -> np.ndarray:
        """Square-rooted, unit-length histogram: the cosine of two is their
        Bhattacharyya coefficient, which a plain matrix product searches exactly."""
        from ..borders import fill_mask
        from ..methods.histogram import histogram_features

        fill = fill_mask(image)  # a rotated copy's corners are not picture
        hist = histogram_features(image, {"color_space": "rgb", "bins": int(bins),
                                          "mask": None if fill is None else ~fill})["hist"]
        vector = np.sqrt(np.maximum(hist.ravel(), 0)).astype(np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def vector_of(self, image, options):
        return self.vector(image, bins=int(options["bins"]))

    def width(self, options):
        return int(options["bins"]) ** 3


class DeepVector(_Vector):
    """Keras VGG16's 512-d embedding (``vgg16``; needs the ImageNet weights)."""

    name = "vgg16"
    summary = "Keras VGG16 (ImageNet) 512-d embedding, cosine search with faiss; needs weights"
    defaults = {"max_side": 640, "weights": "imagenet"}

    def check(self, options):
        from ..methods.deep import _check_available

        _check_available({"weights": options["weights"]})

    def width(self, options):
        return 512  # VGG16's pooled last block

    def vector_of(self, image, options):
        from ..methods.deep import vgg16_features

        return vgg16_features(image, {"weights": options["weights"]})["vector"]


#: Index methods by name; ``bow-verify`` is the default.
BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (
    VerifiedWords(), Words(), PerceptualHash(), ColourHistogram(), DeepVector(),
    NaiveWords())}


def get_backend(name: str) -> Backend:
    """The backend of index method ``name``.

    Examples
    --------
    >>> get_backend("phash").defaults["max_side"]
    640
    >>> get_backend("nope")
    Traceback (most recent call last):
    ...
    simlab.errors.UnknownMethodError: unknown index method 'nope'; try one of: \
bow-verify, bow, phash, histogram, vgg16, naive-bow
    """
    if name not in BACKENDS:
        raise UnknownMethodError(
            f"unknown index method {name!r}; try one of: {', '.join(BACKENDS)}")
    return BACKENDS[name]
