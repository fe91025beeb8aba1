"""Image input: every accepted form gives RGB uint8; every bad input its named error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from simlab import errors, load_image, list_images
from simlab.io import MIN_SIDE


def test_grey_array_is_expanded_to_rgb():
    grey = np.arange(64 * 48, dtype=np.uint32).reshape(64, 48) % 256
    out = load_image(grey.astype(np.uint8))
    assert out.shape == (64, 48, 3) and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 2]).all()


def test_rgba_array_is_composited_on_white():
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:16, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    out = load_image(rgba)
    assert out[0, 0].tolist() == [200, 0, 0]
    assert out[-1, -1].tolist() == [255, 255, 255]


def test_sixteen_bit_png_is_scaled(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((40, 40), 65535, np.uint16)).save(path)
    out = load_image(path)
    assert out.dtype == np.uint8 and int(out.max()) == 255


def test_uint16_and_float_arrays_are_scaled():
    assert int(load_image(np.full((20, 20), 65535, np.uint16)).max()) == 255
    assert int(load_image(np.full((20, 20), 0.5, np.float32))[0, 0, 0]) == 128


def test_alpha_png_file(tmp_path):
    path = tmp_path / "alpha.png"
    Image.fromarray(np.zeros((30, 30, 4), np.uint8)).save(path)  # fully transparent
    assert load_image(path).min() == 255


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    image = Image.fromarray(wide)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).shape[:2] == (60, 20)


def test_pil_image_and_path_types(tmp_path, original):
    path = tmp_path / "x.png"
    Image.fromarray(original).save(path)
    from_str = load_image(str(path))
    assert np.array_equal(from_str, load_image(path))
    assert np.array_equal(from_str, load_image(Image.open(path)))
    assert np.array_equal(from_str, original)


def test_max_side_shrinks(original):
    assert max(load_image(original, max_side=100).shape[:2]) == 100


def test_large_jpeg_is_decoded_small_with_the_scale_of_the_file(tmp_path):
    from simlab.io import load_scaled

    rows, cols = np.mgrid[0:1200, 0:1600]
    photo = np.stack([rows % 256, cols % 256, (rows + cols) % 256], axis=2).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(photo).save(path, quality=90)
    image, scale = load_scaled(path, 400)
    assert image.shape == (300, 400, 3) and scale == 0.25
    # Decoding at reduced size (libjpeg's DCT scaling) must still give the same picture.
    reference = load_image(photo, max_side=400).astype(int)
    assert np.abs(image.astype(int) - reference).mean() < 6
    enlarged, factor = load_scaled(load_image(path, max_side=200), 400, upscale=True)
    assert enlarged.shape == (300, 400, 3) and factor == 2.0


def test_missing_file(tmp_path):
    with pytest.raises(errors.ImageNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(errors.EmptyImageFileError, match="empty.png.*0 bytes"):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n" * 20)
    with pytest.raises(errors.NotAnImageError, match="notes.png"):
        load_image(path)


def test_truncated_image(tmp_path, original):
    path = tmp_path / "cut.jpg"
    Image.fromarray(original).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(errors.TruncatedImageError, match="cut.jpg.*truncated"):
        load_image(path)


def test_too_small(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 40, 3), np.uint8)).save(path)
    with pytest.raises(errors.ImageTooSmallError, match=f"tiny.png.*{MIN_SIDE}"):
        load_image(path)


def test_too_large_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(path)
    with pytest.raises(errors.ImageTooLargeError, match="big.png.*max_pixels"):
        load_image(path, max_pixels=100_000)
    monkeypatch.setenv("SIMLAB_MAX_PIXELS", "1000")
    with pytest.raises(errors.ImageTooLargeError):
        load_image(path)
    assert load_image(path, max_pixels=200_000).shape == (300, 400, 3)


@pytest.mark.parametrize("array, message", [
    (np.zeros((20, 20, 2), np.uint8), "shape"),
    (np.zeros((20,), np.uint8), "shape"),
    (np.zeros((20, 20), np.complex64), "dtype"),
    (np.full((20, 20), 3.0), r"\[0, 1\]"),
    (np.full((20, 20), np.nan), "NaN"),
])
def test_bad_arrays(array, message):
    with pytest.raises(errors.InvalidArrayError, match=message):
        load_image(array)


def test_unsupported_object():
    with pytest.raises(errors.InvalidArrayError, match="list"):
        load_image([[1, 2], [3, 4]])


def test_errors_are_simlab_errors():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SimlabError)


def test_list_images(tmp_path):
    for name in ("b.jpg", "a.PNG", "sub/c.tif", ".hidden/d.png", "readme.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == \
        ["a.PNG", "b.jpg", "sub/c.tif"]
    with pytest.raises(errors.ImageNotFoundError):
        list_images(tmp_path / "missing")


def test_list_images_skips_simlab_outputs_and_follows_symlinks_once(tmp_path):
    from simlab.io import list_images

    for name in ("a.png", "sub/b.jpg", "report/pictures/0001_a__b.png", "ix/c.png",
                 "out/d.png", ".hidden/e.png"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    for name in ("pairs.csv", "skipped.csv", "index.html"):  # a pairs report
        (tmp_path / "report" / name).write_text("")
    (tmp_path / "ix" / "index.json").write_text("{}")  # an index
    (tmp_path / "ix" / "arrays-1.npz").write_bytes(b"")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path)  # a cycle must not hang
    (tmp_path / "linked").symlink_to(tmp_path / "sub")
    listed = [p.relative_to(tmp_path).as_posix() for p in
              list_images(tmp_path, exclude=[tmp_path / "out"])]
    assert listed == ["a.png", "linked/b.jpg"] or listed == ["a.png", "sub/b.jpg"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["a.png"]
@pytest.mark.parametrize("kind", ["rgb-png", "grey-png", "palette-gif", "16bit-png",
                                  "rotated-tiff"])
def test_reduced_decode_gives_the_picture_of_a_full_decode(tmp_path, kind):
    # Large files are reduced right after decoding (before any conversion copy): the
    # result must match decoding at full size and shrinking, EXIF rotation included.
    rows, cols = np.mgrid[0:1000, 0:3000]
    rgb = np.stack([rows % 256, cols % 256, (rows + cols) % 256], axis=2).astype(np.uint8)
    image = {"rgb-png": Image.fromarray(rgb), "grey-png": Image.fromarray(rgb[..., 0]),
             "palette-gif": Image.fromarray(rgb).convert("P"),
             "16bit-png": Image.fromarray((cols * 21).astype(np.uint16)),
             "rotated-tiff": Image.fromarray(rgb)}[kind]
    path = tmp_path / ("image.gif" if kind == "palette-gif" else
                       "image.tif" if kind == "rotated-tiff" else "image.png")
    exif = image.getexif()
    if kind == "rotated-tiff":
        exif[0x0112] = 6  # shown turned by 90 degrees: 1000 wide, 3000 high
    image.save(path, exif=exif)
    from simlab.io import load_scaled

    small, scale = load_scaled(path, 300)
    reference = load_image(load_image(path), max_side=300)
    assert small.shape == reference.shape and scale == 0.1
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 1.0


def test_max_side_and_pixel_limit_values_are_checked(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(path)
    for bad in (0, -5, 3, 2.5, "640"):
        with pytest.raises(errors.InvalidParameterError, match="a.png: max_side"):
            load_image(path, max_side=bad)
    monkeypatch.setenv("SIMLAB_MAX_PIXELS", "lots")
    with pytest.raises(errors.InvalidParameterError, match="SIMLAB_MAX_PIXELS='lots'"):
        load_image(path)
