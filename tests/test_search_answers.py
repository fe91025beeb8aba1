"""Search answers: several matches per query with regions, negatives, and no match."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.cli import main
from simlab.index import build

NAMES = ("astronaut", "coffee", "camera", "chelsea", "rocket", "immunohistochemistry")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name in NAMES:
        Image.fromarray(samples.sample_image(name, max_side=320)).save(folder / f"{name}.png")
    return build(folder, path=tmp_path_factory.mktemp("ix") / "index", progress=False)


def _name(hit) -> str:
    return Path(hit.path).stem


def _collage() -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """Coffee and chelsea pasted side by side into a picture that is not indexed."""
    canvas = np.array(Image.fromarray(samples.sample_image("moon", max_side=None))
                      .convert("RGB").resize((760, 400)))
    boxes = {}
    for name, left in (("coffee", 20), ("chelsea", 400)):
        panel = np.array(Image.fromarray(samples.sample_image(name, max_side=340)))
        height, width = panel.shape[:2]
        canvas[30:30 + height, left:left + width] = panel
        boxes[name] = (left, 30, left + width, 30 + height)
    return canvas, boxes


def test_a_collage_returns_each_indexed_image_with_its_region(built):
    query, boxes = _collage()
    hits = built.search(query, top=4)
    matches = [hit for hit in hits if hit.match]
    assert {_name(hit) for hit in matches} == {"coffee", "chelsea"}
    assert all(hit.match for hit in hits[:2])  # matches come first
    for hit in matches:
        left, top, right, bottom = boxes[_name(hit)]
        region = hit.region  # in the query's pixels
        assert abs(region[0] - left) < 12 and abs(region[2] - right) < 12
        assert abs(region[1] - top) < 12 and abs(region[3] - bottom) < 12
        assert hit.details["log_nfa"] < -10
    assert all(hit.region is None and not hit.match for hit in hits[2:])


def _gradient(size: int = 300) -> np.ndarray:
    """A smooth colour ramp: no keypoints, so only its thumbnail can find it."""
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    return (np.stack([np.outer(ramp, np.ones(size)), np.outer(np.ones(size), ramp),
                      np.full((size, size), 0.3)], axis=2) * 255).astype(np.uint8)


def test_a_figures_plain_panel_is_searched_alone_and_found(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    for name in ("coffee", "camera", "chelsea", "rocket"):
        Image.fromarray(samples.sample_image(name, max_side=320)).save(folder / f"{name}.png")
    ramp = _gradient()
    Image.fromarray(ramp).save(folder / "ramp.png")
    # Look-alikes (not its mirror image, which the search treats as the same picture).
    for k, other in enumerate([255 - ramp, ramp.transpose(1, 0, 2), ramp[::-1],
                               ramp[..., ::-1], np.rot90(ramp)]):
        Image.fromarray(np.ascontiguousarray(other)).save(folder / f"look-alike{k}.png")
    index = build(folder, path=tmp_path_factory.mktemp("ix") / "index", progress=False)
    # A figure on white: coffee, verified in the whole, beside the ramp, which is not.
    figure = np.full((360, 700, 3), 255, np.uint8)
    coffee = samples.sample_image("coffee", max_side=300)
    figure[30:30 + coffee.shape[0], 20:20 + coffee.shape[1]] = coffee
    figure[30:330, 380:680] = _gradient()
    hits = index.search(figure, top=3)
    assert _name(hits[0]) == "coffee" and hits[0].match
    # The whole figure's thumbnail put a look-alike before the ramp; the panel's own
    # search puts the ramp right after the match.
    ramp = hits[1]
    assert _name(ramp) == "ramp" and not ramp.match and ramp.region is None
    # The panel's box, in the query's pixels (searched at 640 px: within a pixel).
    assert ramp.details["panel"] == pytest.approx([380, 30, 680, 330], abs=1.5)
    # Without more answers the panels are not searched.
    assert all("panel" not in hit.details for hit in index.search(figure, top=3, answers=1))


def test_one_answer_stops_after_the_first_round(built):
    query, _ = _collage()
    first = built.search(query, top=4, answers=1, shortlist=1)
    assert sum(hit.match for hit in first) == 1


def test_a_negative_is_found_by_permuting_descriptors(built):
    negative = 255 - samples.sample_image("chelsea", max_side=320)
    hit = built.search(negative, top=2)[0]
    assert _name(hit) == "chelsea" and hit.match and hit.details["inverted"]
    assert hit.details["inliers"] >= 20
    # Without the inverted side the negative is not recognised.
    assert not any(hit.match for hit in built.search(negative, top=3, invert=False))
    # An ordinary copy is not read as a negative.
    plain = built.search(samples.jpeg(samples.sample_image("chelsea", max_side=320), 30))[0]
    assert plain.match and not plain.details["inverted"]


def test_a_query_whose_source_is_not_indexed_has_no_match(built):
    hits = built.search(samples.sample_image("moon", max_side=320), top=3)
    assert len(hits) == 3 and not any(hit.match for hit in hits)
    assert all(hit.region is None for hit in hits)


def test_cli_says_no_match_and_gives_regions_in_json(built, tmp_path, capsys):
    stranger = tmp_path / "moon.png"
    Image.fromarray(samples.sample_image("moon", max_side=320)).save(stranger)
    assert main(["search", str(stranger), "--index", str(built.path), "--top", "2"]) == 0
    assert "0 matches: no indexed image is in this query" in capsys.readouterr().out
    collage = tmp_path / "collage.png"
    Image.fromarray(_collage()[0]).save(collage)
    assert main(["search", str(collage), "--index", str(built.path), "--top", "3",
                 "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)[0]
    assert payload["matches"] == 2
    first = payload["results"][0]
    assert first["match"] is True and len(first["region"]) == 4
    assert first["details"]["verified"] is True  # the old key stays
    assert payload["results"][2]["match"] is False and payload["results"][2]["region"] is None


def _search_names(index, query, queue):
    queue.put([_name(hit) for hit in index.search(query, top=3) if hit.match])


def test_a_forked_child_searches_like_its_parent(built):
    # The candidates are verified on two threads; a child forked after its parent
    # searched must make its own (the parent's threads do not exist in it).
    import multiprocessing

    query = samples.sample_image("coffee", max_side=300)
    parent = [_name(hit) for hit in built.search(query, top=3) if hit.match]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_search_names, args=(built, query, queue))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == parent == ["coffee"]


def test_panel_hits_join_the_list_in_their_place():
    from simlab.search.backends import _with_panel_hits

    def hit(i, score, match=False, verified=False):
        return (i, score, {"match": match, "verified": verified})

    whole = [hit(1, 0.8, True, True), hit(2, 0.5, False, True), hit(3, 0.09), hit(4, 0.05)]
    panels = [hit(2, 0.6, True, True), hit(5, 0.07), hit(4, 0.08), hit(6, 0.45, False, True)]
    merged = _with_panel_hits(whole, panels, 10)
    # Matches (a panel's match replaces the weaker entry), then verified images, then
    # the rest by score; an image listed twice keeps its better entry.
    assert [(i, score) for i, score, _ in merged] == [
        (1, 0.8), (2, 0.6), (6, 0.45), (3, 0.09), (4, 0.08), (5, 0.07)]
    assert _with_panel_hits(whole, panels, 3) == merged[:3]
    assert _with_panel_hits(whole, [], 10) == whole


def _screenshot(picture: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``picture`` shown in a drawn viewer window: title bar, side panel, menu marks."""
    window = np.full((800, 1400, 3), 236, np.uint8)
    window[:30] = (60, 60, 70)
    window[70:, :220] = (222, 222, 226)
    for row in range(12):  # the side panel's file names, as dark dashes
        window[100 + 28 * row:106 + 28 * row, 14:14 + 60 + 7 * (row % 5)] = 30
    height, width = picture.shape[:2]
    top, left = 120, 600
    window[top:top + height, left:left + width] = picture
    return window, (left, top, left + width, top + height)


def test_a_screenshot_is_searched_at_the_pictures_own_resolution(built):
    # At 640 px the whole window shrinks the 340-px picture to about 155 px.
    picture = samples.sample_image("rocket", max_side=340)
    window, box = _screenshot(picture)
    hit = built.search(window, top=3)[0]
    assert _name(hit) == "rocket" and hit.match
    assert hit.details["panel"] == pytest.approx(list(box), abs=4)  # the file's pixels
    assert hit.region == pytest.approx(list(box), abs=12)
    # An ordinary query has no frame: nothing changes for it.
    plain = built.search(samples.sample_image("rocket", max_side=300), top=3)[0]
    assert plain.match and "panel" not in plain.details


def test_a_frame_around_a_thin_strip_is_not_searched_as_a_picture(built):
    from simlab.duplicates.panels import framed_picture
    from simlab.io import load_scaled

    # A band 15 px tall across a flat picture: framed, too thin to be a picture (cut
    # out, it was too small to search and the search failed).
    page = np.full((256, 256, 3), 240, np.uint8)
    page[62:77] = np.random.default_rng(0).integers(0, 255, (15, 256, 3))
    assert framed_picture(load_scaled(page, 640)[0]) is not None
    hits = built.search(page, top=2)
    assert len(hits) == 2 and not any("panel" in hit.details for hit in hits)


def test_a_tiny_crop_enlarged_back_is_found_at_half_size(built):
    import cv2

    # A tenth of coffee (96 x 63 px of the indexed 320 px) enlarged to 640 px: smooth at
    # the search's size, whose finest keypoints are then interpolation, not coffee.
    coffee = samples.sample_image("coffee", max_side=320)
    height, width = coffee.shape[:2]
    crop = coffee[height // 2:height // 2 + int(0.3 * height), width // 5:width // 5
                  + int(0.3 * width)]
    query = cv2.resize(crop, (640, round(640 * crop.shape[0] / crop.shape[1])),
                       interpolation=cv2.INTER_LINEAR)
    hit = built.search(query, top=3)[0]
    assert _name(hit) == "coffee" and hit.match and hit.details["searched_at"] == 0.5
    assert hit.details["log_nfa"] < -10
    assert not any(h.match for h in built.search(query, top=3, coarse=False))
    # Its region is the whole query, in the query's pixels (not the halved image's).
    assert hit.region == pytest.approx([0, 0, query.shape[1] - 1, query.shape[0] - 1],
                                       abs=8)
    # A query matched whole is not searched again: nothing says half size.
    whole = built.search(samples.sample_image("coffee", max_side=300), top=3)
    assert whole[0].match and not any("searched_at" in h.details for h in whole)
