"""PDFs in, reused panels out: `simlab pairs paper.pdf` on generated papers and bad PDFs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simlab.errors import DamagedPdfError, EncryptedPdfError, NotAPdfError

SIMLAB = [str(Path(sys.executable).with_name("simlab"))]


def run(*args):
    """The installed console script, as a user runs it."""
    return subprocess.run(SIMLAB + [str(a) for a in args], capture_output=True, text=True,
                          timeout=600, env={**os.environ})


def iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


@pytest.fixture(scope="module")
def papers(tmp_path_factory):
    """Two generated papers: one-image, per-panel and scanned figures, planted reuse."""
    from simlab.lab.papers import make_papers

    folder = tmp_path_factory.mktemp("papers")
    truth = make_papers(folder, papers=2, pages=3, figures=3, panels=[4, 6, 4],
                        modes=("single", "separate"), scanned_pages=1,
                        reuse=("rotation+recolour", "mirror"), cross_paper=("crop",),
                        copy_move=1, random_state=3)
    return folder, truth


@pytest.fixture(scope="module")
def pairs_json(papers, tmp_path_factory):
    folder, truth = papers
    out = tmp_path_factory.mktemp("report")
    done = run("pairs", *[p["path"] for p in truth["papers"]], "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), out


def _same_place(source, side) -> bool:
    return (os.path.samefile(source["file"], side["file"]) and source["page"] == side["page"]
            and iou(source["box"], side["box"]) >= 0.8)


def test_cli_finds_planted_reuse_with_provenance(papers, pairs_json):
    folder, truth = papers
    payload, _ = pairs_json
    found = payload["pairs"]
    assert found, "nothing flagged"
    for entry in found:  # every finding says where both sides are on the pages
        for side in ("a", "b"):
            source = entry["source"][side]
            assert set(source) >= {"file", "page", "figure", "panel", "label", "box"}
            assert source["page"] >= 1 and len(source["box"]) == 4
            x0, y0, x1, y1 = source["box"]
            assert 0 <= x0 < x1 <= source["page_size"][0] + 1
            assert 0 <= y0 < y1 <= source["page_size"][1] + 1
            assert entry[side].startswith(source["file"] + "#page=")
    for planted in truth["reuse"]:
        hits = [e for e in found
                if (_same_place(e["source"]["a"], planted["a"])
                    and _same_place(e["source"]["b"], planted["b"]))
                or (_same_place(e["source"]["a"], planted["b"])
                    and _same_place(e["source"]["b"], planted["a"]))]
        assert hits, f"planted {planted['planted']} not found: {planted}"
        if planted["kind"] == "copy-move":
            assert hits[0]["a"] == hits[0]["b"] and hits[0]["kind"] == "copy-move"
        else:
            # The letters printed beside the panels are read back.
            labels = {hits[0]["source"]["a"]["label"], hits[0]["source"]["b"]["label"]}
            assert labels == {planted["a"]["label"], planted["b"]["label"]}
    # Nothing else: every flagged pair is a planted one.
    assert len(found) == len(truth["reuse"]), [
        (e["source"]["a"], e["source"]["b"]) for e in found]
    assert {e["kind"] for e in payload["cross_image"]} >= {"rotation", "mirror", "crop"}


def test_cli_json_keeps_the_pairs_contract(pairs_json):
    payload, out = pairs_json
    for key in ("pairs", "skipped", "cross_image", "copy_move", "ruled_out", "groups",
                "redundant", "tests", "papers"):
        assert key in payload
    entry = payload["pairs"][0]
    for key in ("a", "b", "score", "inliers", "transform", "kind", "log_nfa", "picture"):
        assert key in entry
    assert (out / "pictures" / entry["picture"]).is_file()
    assert [p["pages"] for p in payload["papers"]] == [3, 3]


def test_text_output_names_pages_and_panels(papers, tmp_path):
    folder, truth = papers
    done = run("pairs", truth["papers"][0]["path"], "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "1 PDFs: 3 pages" in done.stdout
    assert "paper1.pdf p. " in done.stdout and ", panel " in done.stdout


def test_no_split_compares_whole_figures(papers, tmp_path):
    folder, truth = papers
    done = run("pairs", truth["papers"][0]["path"], "--out", tmp_path / "out", "--json",
               "--no-split", "--no-copy-move")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    figures = truth["papers"][0]["figures"]
    boxes = [e["source"][side]["box"] for e in payload["pairs"] for side in "ab"]
    single = [f for f in figures if f["mode"] == "single"]
    # A figure held as one image is one item: its box is the whole figure.
    for entry in payload["pairs"]:
        for side in "ab":
            source = entry["source"][side]
            assert source["panel"] == 1
    assert any(iou(box, f["box"]) > 0.9 for box in boxes for f in single)


def test_a_folder_with_pdfs_and_images(papers, tmp_path):
    """PDFs beside image files: a panel saved as a PNG is found in the PDF."""
    from PIL import Image

    from simlab.duplicates.papers import load_item

    folder, truth = papers
    (tmp_path / "in").mkdir()
    paper = Path(truth["papers"][0]["path"])
    (tmp_path / "in" / paper.name).write_bytes(paper.read_bytes())
    figure = truth["papers"][0]["figures"][0]
    done = run("pairs", tmp_path / "in", "--out", tmp_path / "out", "--json",
               "--no-copy-move")
    payload = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    source = next(e["source"]["a"] for e in payload["pairs"])
    panel = load_item(source)  # the JSON's source is enough to read the panel again
    Image.fromarray(np.ascontiguousarray(panel[:, ::-1])).save(tmp_path / "in" / "panel.png")
    done = run("pairs", tmp_path / "in" / paper.name, tmp_path / "in" / "panel.png",
               "--out", tmp_path / "out2", "--json", "--no-copy-move")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    hits = [e for e in payload["pairs"] if str(tmp_path / "in" / "panel.png") in (e["a"], e["b"])]
    assert hits and hits[0]["kind"] == "mirror"
    side = "a" if hits[0]["a"].endswith("panel.png") else "b"
    assert hits[0]["source"][side]["page"] is None  # a file is its own source
    assert figure["page"] >= 1


# --- bad PDFs -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_pdfs(tmp_path_factory, papers):
    from reportlab.pdfgen import canvas

    folder = tmp_path_factory.mktemp("bad")
    locked = canvas.Canvas(str(folder / "encrypted.pdf"), encrypt="secret")
    locked.drawString(100, 700, "a locked paper")
    locked.showPage()
    locked.save()
    text = canvas.Canvas(str(folder / "text-only.pdf"))
    text.drawString(100, 700, "a paper without figures")
    text.showPage()
    text.save()
    whole = Path(papers[1]["papers"][0]["path"]).read_bytes()
    (folder / "truncated.pdf").write_bytes(whole[:len(whole) // 3])
    (folder / "not-a-pdf.pdf").write_text("these are notes, not a PDF")
    (folder / "empty.pdf").write_bytes(b"")
    return folder


@pytest.mark.parametrize("name, words", [
    ("encrypted.pdf", "encrypted"), ("truncated.pdf", "damaged or truncated"),
    ("not-a-pdf.pdf", "does not start like a PDF"), ("empty.pdf", "empty")])
def test_unreadable_pdf_is_one_clear_error(bad_pdfs, tmp_path, name, words):
    done = run("pairs", bad_pdfs / name, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.startswith("simlab: error: ") and name in done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr


def test_pdf_errors_are_simlab_errors(bad_pdfs):
    from simlab.pdf import read_pdf

    for name, error in (("encrypted.pdf", EncryptedPdfError),
                        ("truncated.pdf", DamagedPdfError),
                        ("not-a-pdf.pdf", NotAPdfError)):
        with pytest.raises(error, match=name):
            list(read_pdf(bad_pdfs / name, progress=False))


def test_image_less_pdf_gives_an_empty_result_with_a_reason(bad_pdfs, tmp_path):
    done = run("pairs", bad_pdfs / "text-only.pdf", "--out", tmp_path / "out", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["pairs"] == []
    assert payload["skipped"][0]["path"].endswith("text-only.pdf")
    assert "no figures found" in payload["skipped"][0]["reason"]


def test_bad_pdfs_among_good_ones_are_skipped_and_listed(bad_pdfs, papers, tmp_path):
    folder, truth = papers
    done = run("pairs", bad_pdfs, truth["papers"][0]["path"], "--out", tmp_path / "out",
               "--json", "--no-copy-move")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    reasons = {Path(s["path"]).name: s["reason"] for s in payload["skipped"]}
    assert set(reasons) == {"encrypted.pdf", "truncated.pdf", "not-a-pdf.pdf", "empty.pdf",
                            "text-only.pdf"}
    assert "encrypted" in reasons["encrypted.pdf"]
    assert payload["pairs"], "the good paper was still searched"


def _bar_chart(canvas, x, y, scale, heights):
    """A plot drawn in vector graphics only: axes, ticks, bars, a curve and tick labels."""
    canvas.line(x, y, x + 300 * scale, y)
    canvas.line(x, y, x, y + 150 * scale)
    for i, height in enumerate(heights):
        canvas.setFillColorRGB(0.2 + 0.04 * i, 0.3, 0.7)
        canvas.rect(x + (8 + 20 * i) * scale, y, 14 * scale, height * scale, fill=1)
        canvas.line(x + (15 + 20 * i) * scale, y, x + (15 + 20 * i) * scale, y - 4 * scale)
    curve = canvas.beginPath()
    curve.moveTo(x, y + 70 * scale)
    for step in np.linspace(0, 290, 40)[1:]:
        curve.lineTo(x + step * scale, y + (70 + 40 * np.sin(step / 30)) * scale)
    canvas.drawPath(curve, stroke=1, fill=0)
    canvas.setFont("Helvetica", 8 * scale)
    for i in range(0, len(heights), 2):
        canvas.drawString(x + (10 + 20 * i) * scale, y - 12 * scale, f"d{i}")


def test_a_reused_vector_plot_is_rendered_and_found(tmp_path):
    """A figure with no pixels (a plot drawn as paths), reused smaller on another page:
    both are read as vector figures and the reuse is flagged; a rule under the text and
    the text itself are not figures."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    from simlab.pdf import read_pdf

    heights = np.random.default_rng(3).uniform(10, 120, 14)
    path = tmp_path / "plots.pdf"
    pdf = canvas.Canvas(str(path), pagesize=letter)
    for number, (x, y, scale) in enumerate([(100, 350, 1.0), (150, 200, 0.8)], start=1):
        pdf.setFont("Times-Roman", 10)
        for line in range(10):
            pdf.drawString(72, 720 - 12 * line, f"Body text of page {number}, line {line}.")
        pdf.line(72, 600, 540, 600)
        _bar_chart(pdf, x, y, scale, heights)
        pdf.showPage()
    pdf.save()
    pages = list(read_pdf(path, progress=False))
    assert [[f.kind for f in p.figures] for p in pages] == [["vector"], ["vector"]]
    # the first plot: axes from (100, 350) to (400, 500) in PDF points, y upwards
    assert iou(pages[0].figures[0].box, (100, 792 - 500, 400, 792 - 338)) >= 0.8
    done = run("pairs", path, "--out", tmp_path / "out", "--json")
    assert done.returncode == 0, done.stderr
    finding = json.loads(done.stdout)["cross_image"][0]
    assert {finding["source"]["a"]["page"], finding["source"]["b"]["page"]} == {1, 2}
    assert finding["source"]["a"]["figure_kind"] == "vector"


def test_a_matplotlib_figure_gives_its_picture_and_its_plot_once(tmp_path):
    """matplotlib's PDF: a white background behind everything, a picture (imshow) with
    its frame and ticks, and a line plot beside it. The picture is read as an image at its
    own pixels, the plot as a vector figure, and neither holds the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simlab.lab.samples import sample_image
    from simlab.pdf import read_pdf

    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
    left.imshow(sample_image("camera", max_side=256), interpolation="none")  # unresampled
    x = np.linspace(0, 10, 200)
    right.plot(x, np.sin(x))
    right.plot(x, np.cos(x))
    figure.savefig(tmp_path / "figure.pdf")
    plt.close(figure)
    (page,) = read_pdf(tmp_path / "figure.pdf", progress=False)
    kinds = {f.kind: f for f in page.figures}
    assert sorted(kinds) == ["image", "vector"] and len(page.figures) == 2
    assert kinds["image"].image.shape[:2] == (256, 256)  # native pixels
    image, plot = kinds["image"].box, kinds["vector"].box
    assert plot[0] >= image[2], "the plot lies right of the picture, apart from it"


def test_dpi_is_checked(papers, tmp_path):
    done = run("pairs", papers[1]["papers"][0]["path"], "--out", tmp_path / "o", "--dpi", "0")
    assert done.returncode == 2 and "--dpi" in done.stderr


def test_report_shows_findings_on_the_pages(pairs_json, chromium_browser):
    """The report, opened in Chromium: page thumbnails load, each finding's panels are
    boxed where they are on the page, and the boxes link to the findings."""
    payload, out = pairs_json
    page = chromium_browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto((out / "index.html").as_uri())
    thumbnails = page.locator("#pages ~ .pageblock img")
    assert thumbnails.count() >= 2
    for index in range(thumbnails.count()):
        assert thumbnails.nth(index).evaluate("i => i.complete && i.naturalWidth") > 0
    boxes = page.locator(".pageblock a.box")
    sides = sum(1 if e["a"] == e["b"] else 2 for e in payload["pairs"])
    assert boxes.count() == sides
    # A box sits where its panel is on the page.
    entry = payload["pairs"][0]
    source = entry["source"]["a"]
    box = page.locator(".pageblock a.box[href='#finding-1']").first
    frame = box.bounding_box()
    image = box.locator("xpath=..").locator("img").bounding_box()
    width, height = source["page_size"]
    assert abs((frame["x"] - image["x"]) / image["width"] - source["box"][0] / width) < 0.02
    assert abs((frame["y"] - image["y"]) / image["height"] - source["box"][1] / height) < 0.02
    assert frame["width"] > 10 and frame["height"] > 10
    box.click()
    assert page.evaluate("location.hash") == "#finding-1"
    # The finding's row links back to its pages.
    back = page.locator("#finding-1 td.pages a.box").first
    target = back.get_attribute("href")
    assert page.locator(target).count() == 1
    page.close()


# --- panels ---------------------------------------------------------------------------

def test_a_figure_without_gutters_is_kept_whole():
    from simlab.duplicates.panels import split_panels
    from simlab.lab.samples import sample_image

    for name in ("astronaut", "coins", "hubble_deep_field"):
        image = sample_image(name, max_side=400)
        assert [p.box for p in split_panels(image)] == [(0, 0, image.shape[1], image.shape[0])]
    # Two pictures that touch: no gutter, one panel.
    touching = np.hstack([sample_image("camera", max_side=200)[:130, :200],
                          sample_image("coffee", max_side=200)[:130, :200]])
    assert len(split_panels(touching)) == 1


def test_a_pinwheel_layout_is_split_by_connected_regions():
    """No straight gutter crosses a pinwheel of five pictures: its regions are found."""
    from simlab.duplicates.panels import split_panels
    from simlab.lab.samples import sample_image

    figure = np.full((320, 320, 3), 255, np.uint8)
    boxes = [(10, 10, 200, 100), (210, 10, 310, 200), (10, 110, 110, 310),
             (120, 110, 200, 200), (120, 210, 310, 310)]
    for (x0, y0, x1, y1), name in zip(boxes, ("astronaut", "coffee", "chelsea", "rocket",
                                                "hubble_deep_field")):
        figure[y0:y1, x0:x1] = sample_image(name, max_side=400)[:y1 - y0, :x1 - x0]
    assert sorted(p.box for p in split_panels(figure)) == sorted(boxes)


def test_shapes_that_are_not_pictures_are_not_split_apart():
    """Two round cells on a white ground, with no gutter between them: one panel."""
    import cv2

    from simlab.duplicates.panels import split_panels

    figure = np.full((300, 300, 3), 255, np.uint8)
    cv2.circle(figure, (90, 90), 70, (120, 30, 30), -1)
    cv2.circle(figure, (200, 190), 70, (30, 120, 30), -1)
    assert [p.box for p in split_panels(figure)] == [(0, 0, 300, 300)]


def test_split_recovers_the_planted_grid_with_letters(papers):
    from simlab.pdf import read_pdf
    from simlab.duplicates.panels import split_panels

    folder, truth = papers
    paper = truth["papers"][0]
    single = next(f for f in paper["figures"] if f["mode"] == "single" and not f["scanned"])
    page = next(p for p in read_pdf(paper["path"], progress=False, pages=[single["page"]]))
    figure = page.figures[0]
    found = split_panels(figure.image)
    assert len(found) == len(single["panels"])
    for planted, panel in zip(single["panels"], found):
        assert iou(planted["box"], figure.pixel_to_page(panel.box)) >= 0.9
        assert panel.label == planted["label"]


def test_labels_read_in_several_fonts_or_left_unknown():
    import pypdfium2 as pdfium
    from reportlab.pdfgen import canvas

    from simlab.duplicates.panels import read_label

    import tempfile

    path = Path(tempfile.mkdtemp()) / "letters.pdf"
    sheet = canvas.Canvas(str(path), pagesize=(400, 200))
    fonts = ["Helvetica-Bold", "Helvetica", "Times-Bold", "Times-Roman"]
    for row, font in enumerate(fonts):
        sheet.setFont(font, 10)
        for column, letter in enumerate("ABCDEFGH"):
            sheet.drawString(20 + 30 * column, 180 - 40 * row, letter)
    sheet.save()
    document = pdfium.PdfDocument(str(path))
    image = np.asarray(document[0].render(scale=300 / 72).to_pil().convert("RGB"))
    document.close()
    scale = 300 / 72
    for row, font in enumerate(fonts):
        read = []
        for column, letter in enumerate("ABCDEFGH"):
            x, y = (20 + 30 * column) * scale, (200 - (180 - 40 * row)) * scale
            crop = image[int(y - 14 * scale):int(y + 4 * scale),
                         int(x - 6 * scale):int(x + 14 * scale)]
            read.append(read_label(crop))
        assert read == list("ABCDEFGH"), (font, read)
    # Not a letter: a photograph's corner, a blank.
    from simlab.lab.samples import sample_image

    assert read_label(np.full((30, 30, 3), 255, np.uint8)) is None
    assert read_label(sample_image("coffee", max_side=60)) is None
