"""Hostile files and crashed runs: the battery of issue 16, kept as tests.

Decompression bombs (PNG and JPEG headers) and fuzzed bytes run in subprocesses under an
address-space cap (``RLIMIT_AS``), so a regression fails the test instead of taking the
machine down, and their peak memory is measured. Writers are killed with SIGKILL at each
point of a save, two writers race, a reader loads beside a writer, and each kind of
damaged index is opened. Every case failed before the fixes of issue 16.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simlab import samples
from simlab.errors import (CorruptIndexError, ImageTooLargeError, IndexLockedError,
                           IndexNotFoundError, InvalidParameterError, NotAFileError,
                           SimlabError)
from simlab.index import Index, build
from simlab.io import load_image, scan_images
from simlab.search.storage import index_lock

SIMLAB = [sys.executable, "-m", "simlab.cli"]
#: What no command may exceed on a hostile file under 10 MB (peak resident memory).
MEMORY_LIMIT = 2 * 2**30
#: The address-space cap of the subprocesses: above the limit (address space counts more
#: than resident memory), far below what would hurt the machine.
ADDRESS_CAP = int(2.5 * 2**30)


# ---------------------------------------------------------------------------------------
# Hostile files

def _png_bomb(path: Path, width: int, height: int, mode: str = "L") -> Path:
    """A valid flat-grey PNG of ``width`` x ``height``, written row by row (a few hundred
    KB on disk, hundreds of MB decoded)."""
    colour_type, channels = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4)}[mode]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes([128]) * (width * channels)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                                  colour_type, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def _jpeg_bomb(path: Path, width: int, height: int) -> Path:
    """A JPEG of well under 1 KB whose header declares ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 80, 40)).save(buffer, "JPEG", quality=50)
    data = bytearray(buffer.getvalue())
    i = 2
    while i < len(data):
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):  # start of frame: precision, height, width
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            break
        i += 2 + length
    path.write_bytes(bytes(data))
    return path


def _photo(side: int, seed: int) -> np.ndarray:
    """A photo-like image (smooth structure plus texture) of ``side`` px."""
    image = samples.sample_image(["astronaut", "coffee", "chelsea", "rocket"][seed % 4])
    import cv2

    height = side * image.shape[0] // image.shape[1]
    return cv2.resize(image, (side, height), interpolation=cv2.INTER_CUBIC)


def _run(args: list[str], *, cap: int = ADDRESS_CAP, env: dict | None = None,
         timeout: float = 300) -> tuple[int, str, str, int]:
    """Run a command under an address-space cap: exit status, stdout, stderr and peak
    resident memory in bytes (from the child's own rusage)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with open(os.devnull, "rb") as stdin:
        process = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, preexec_fn=limit,
                                   env={**os.environ, "PYTHONWARNINGS": "ignore",
                                        **(env or {})})
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    # communicate() reaped the child: its rusage is in RUSAGE_CHILDREN's maximum, which
    # only grows, so each measured command runs in its own wrapper process.
    return process.returncode, out.decode(), err.decode(), 0


def _run_measured(args: list[str], **kwargs) -> tuple[int, str, str, int]:
    """:func:`_run` inside a fresh wrapper, so the peak is this command's alone."""
    wrapper = textwrap.dedent("""
        import json, os, resource, subprocess, sys
        cap = int(sys.argv[1])
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        done = subprocess.run(sys.argv[2:], preexec_fn=limit, capture_output=True,
                              stdin=subprocess.DEVNULL)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(json.dumps({"code": done.returncode, "out": done.stdout.decode(),
                          "err": done.stderr.decode(), "peak": peak}))
    """)
    cap = kwargs.pop("cap", ADDRESS_CAP)
    code, out, err, _ = _run([sys.executable, "-c", wrapper, str(cap), *args],
                             cap=8 * 2**30, **kwargs)
    assert code == 0, err
    result = json.loads(out)
    return result["code"], result["out"], result["err"], result["peak"]


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    found = {
        "png-grey-12000": _png_bomb(folder / "grey.png", 12000, 12000, "L"),
        "png-rgb-12000": _png_bomb(folder / "rgb.png", 12000, 12000, "RGB"),
        "jpeg-12000": _jpeg_bomb(folder / "header.jpg", 12000, 12000),
        "jpeg-30000x4096": _jpeg_bomb(folder / "wide.jpg", 30000, 4096),
    }
    palette = Image.new("P", (12000, 12000), 3)
    palette.putpalette([i % 256 for i in range(768)])
    palette.save(folder / "palette.gif")
    Image.new("L", (12000, 12000), 90).save(folder / "deflate.tif",
                                            compression="tiff_adobe_deflate")
    found.update({"gif-12000": folder / "palette.gif", "tiff-12000": folder / "deflate.tif"})
    assert all(path.stat().st_size < 10 * 2**20 for path in found.values())
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reference") / "reference.jpg"
    Image.fromarray(samples.sample_image("astronaut")).save(path, quality=90)
    return path


@pytest.mark.parametrize("bomb", ["png-grey-12000", "png-rgb-12000", "jpeg-12000",
                                  "jpeg-30000x4096", "gif-12000", "tiff-12000"])
def test_compare_every_method_on_a_bomb_stays_under_2_gb(bombs, reference, bomb):
    # Before: the 1.3 KB JPEG made `compare --method all` take all 23.5 GB (123 s);
    # under a cap ssim, sift and akaze died with tracebacks.
    code, out, err, peak = _run_measured(
        [*SIMLAB, "compare", str(bombs[bomb]), str(reference), "--method", "all", "--json"])
    assert code == 0, err
    assert "Traceback" not in err and peak < MEMORY_LIMIT, (peak, err[-500:])
    payload = json.loads(out)
    ran = {result["method"] for result in payload["results"]}
    assert {"histogram", "ssim", "sift", "rootsift", "akaze", "phash"} <= ran
    assert all(0.0 <= result["score"] <= 1.0 for result in payload["results"])


def test_full_size_compare_is_refused_by_the_memory_budget_not_the_kernel(bombs, reference,
                                                                          tmp_path):
    # --max-side 0 lifts the default size: methods that would need tens of GB are
    # skipped with the reason before they start; the cheap ones still run. An RGBA file
    # is composited on white a band of rows at a time (4.2 GB of floats at once before).
    rgba = _png_bomb(tmp_path / "rgba.png", 12000, 12000, "RGBA")
    for bomb in (bombs["png-rgb-12000"], rgba):
        code, out, err, peak = _run_measured(
            [*SIMLAB, "compare", str(bomb), str(reference), "--method", "all",
             "--max-side", "0", "--json"])
        assert code == 0, err
        assert peak < MEMORY_LIMIT and "Traceback" not in err, peak
        payload = json.loads(out)
        skipped = {item["method"]: item["reason"] for item in payload["skipped"]}
        assert "would need about" in skipped["sift"]
        assert "SIMLAB_MEMORY_BUDGET_MB" in skipped["sift"]
        assert {"histogram", "phash"} <= {result["method"] for result in payload["results"]}
    # Through the API, compare() at full size raises ImageTooLargeError before starting.
    script = textwrap.dedent("""
        import sys, simlab
        from simlab.errors import ImageTooLargeError
        try:
            simlab.compare(sys.argv[1], sys.argv[2], "ssim", max_side=None)
        except ImageTooLargeError as exc:
            print(exc)
    """)
    code, out, err, peak = _run_measured([sys.executable, "-c", script,
                                          str(bombs["png-rgb-12000"]), str(reference)])
    assert code == 0 and "ssim on 12000x12000 and 512x512 pixels would need" in out, err
    assert peak < MEMORY_LIMIT


def test_folder_jobs_on_bombs_stay_under_2_gb(bombs, reference, tmp_path):
    # Before: `pairs`/`index` on a 140 KB 12000x12000 PNG cost 1.8 GB each.
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in [*bombs.values(), reference]:
        shutil.copy(path, folder / path.name)
    Image.fromarray(samples.sample_image("coffee")).save(folder / "coffee.png")
    index = tmp_path / "index"
    for args in (["index", str(folder), "--index", str(index), "--json"],
                 ["search", *map(str, bombs.values()), "--index", str(index), "--json"],
                 ["pairs", str(folder), "--out", str(tmp_path / "pairs"), "--json"]):
        code, out, err, peak = _run_measured([*SIMLAB, *args])
        assert code == 0, err
        assert peak < MEMORY_LIMIT and "Traceback" not in err, (args[0], peak)
        json.loads(out)


def test_pixel_limit_can_be_raised_above_pillows_own(tmp_path):
    # Before: Pillow refused 200 Mpx itself, whatever SIMLAB_MAX_PIXELS said.
    path = _png_bomb(tmp_path / "big.png", 14200, 14200)
    script = ("import sys; from simlab import load_image; "
              "print(load_image(sys.argv[1], max_side=640).shape)")
    code, out, err, peak = _run_measured([sys.executable, "-c", script, str(path)],
                                         env={"SIMLAB_MAX_PIXELS": "250000000"})
    assert code == 0 and out.strip() == "(640, 640, 3)", err
    assert peak < MEMORY_LIMIT
    code, _, err, _ = _run_measured([sys.executable, "-c", script, str(path)])
    assert code != 0 and "ImageTooLargeError" in err and "SIMLAB_MAX_PIXELS" in err


_FUZZ = textwrap.dedent("""
    import io, os, sys, tempfile, warnings
    import numpy as np
    from PIL import Image
    import simlab
    from simlab import SimlabError, load_image, samples

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(int(sys.argv[1]))
    base = samples.sample_image("astronaut", max_side=96)
    seeds = {}
    for fmt, ext, options in [("PNG", "png", {}), ("JPEG", "jpg", {"quality": 80}),
                              ("GIF", "gif", {}), ("TIFF", "tif", {}), ("BMP", "bmp", {}),
                              ("WEBP", "webp", {"quality": 60}), ("PPM", "ppm", {})]:
        buffer = io.BytesIO()
        Image.fromarray(base).save(buffer, fmt, **options)
        seeds[ext] = buffer.getvalue()
    folder = tempfile.mkdtemp()
    escaped, loaded = [], 0
    for i in range(int(sys.argv[2])):
        ext = list(seeds)[i % len(seeds)]
        data = bytearray(seeds[ext])
        kind, count = int(rng.integers(4)), int(rng.integers(1, 12))
        if kind == 0:    # random bytes anywhere
            for _ in range(count):
                data[rng.integers(len(data))] = rng.integers(256)
        elif kind == 1:  # the header: sizes, modes, offsets
            for _ in range(count):
                data[rng.integers(min(64, len(data)))] = rng.integers(256)
        elif kind == 2:  # truncated
            data = data[:rng.integers(1, len(data))]
        else:            # a repeated chunk
            start = int(rng.integers(len(data)))
            stop = min(len(data), start + int(rng.integers(1, 200)))
            data = data[:start] + data[start:stop] * int(rng.integers(1, 5)) + data[start:]
        path = os.path.join(folder, f"fuzz{i}.{ext}")
        with open(path, "wb") as handle:
            handle.write(bytes(data))
        for step in ("load", "load_small", "compare"):
            try:
                if step == "load":
                    image = load_image(path)
                    assert image.dtype == np.uint8 and image.ndim == 3
                    loaded += 1
                elif step == "load_small":
                    load_image(path, max_side=64)
                else:
                    simlab.compare(path, base, "sift")
            except SimlabError:
                pass
            except Exception as exc:
                escaped.append(f"{path} {step}: {type(exc).__name__}: {exc}"[:300])
    print(loaded)
    print("\\n".join(escaped))
""")


def test_fuzzed_files_give_simlab_errors_only_under_a_memory_cap():
    # 600 seeded mutations of seven formats: every failure must be a SimlabError (a
    # fuzzed 30000x4096 header used to load and then make SIFT fail to allocate 1.9 GB).
    code, out, err, peak = _run_measured([sys.executable, "-c", _FUZZ, "16", "600"])
    assert code == 0, err[-2000:]
    loaded, *escaped = out.strip().split("\n")
    assert [line for line in escaped if line] == []
    assert int(loaded) > 50  # the mutations leave many files readable: they are compared
    assert peak < MEMORY_LIMIT


# ---------------------------------------------------------------------------------------
# Bad entries in folders and bad values

def test_folder_entries_simlab_cannot_read_are_listed_as_skipped(tmp_path, capsys):
    from simlab.cli import main

    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(samples.sample_image("coffee", max_side=200)).save(folder / "good.png")
    (folder / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (folder / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    np.save(folder / "array.npy", np.zeros((32, 32)))
    os.mkfifo(folder / "pipe.png")
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.symlink("missing.png", folder / "broken.png")
    os.symlink("..", folder / "sub" / "up")
    (folder / "notes.txt").write_text("not an image, not image-like: ignored")
    expected = {"logo.svg": "SVG", "photo.heic": "HEIC", "array.npy": "numpy",
                "pipe.png": "FIFO", "loop.jpg": "loop", "broken.png": "missing",
                "up": "link to a folder"}
    paths, skipped = scan_images(folder)
    assert [p.name for p in paths] == ["good.png"]
    reasons = {Path(item["path"]).name: item["reason"] for item in skipped}
    assert set(reasons) == set(expected)
    assert all(word in reasons[name] for name, word in expected.items()), reasons
    # The folder jobs list them too (before, they were left out silently).
    assert main(["index", str(folder), "--index", str(tmp_path / "ix"), "--method",
                 "phash", "--json"]) == 0
    listed = {Path(item["path"]).name for item in json.loads(capsys.readouterr().out)["skipped"]}
    assert listed == set(expected)
    assert main(["pairs", str(folder), "--out", str(tmp_path / "pairs"), "--json"]) == 0
    listed = {Path(item["path"]).name for item in json.loads(capsys.readouterr().out)["skipped"]}
    assert listed == set(expected)
    with pytest.raises(NotAFileError, match="FIFO"):  # before: "is a directory"
        load_image(folder / "pipe.png")


def test_search_goes_on_after_a_bad_query_and_exits_3(tmp_path, capsys):
    from simlab.cli import main

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("coffee", "rocket"):
        Image.fromarray(samples.sample_image(name, max_side=200)).save(folder / f"{name}.png")
    index = str(tmp_path / "index")
    assert main(["index", str(folder), "--index", index, "--method", "phash"]) == 0
    capsys.readouterr()
    (tmp_path / "empty.jpg").write_bytes(b"")
    queries = [str(folder / "coffee.png"), str(tmp_path / "empty.jpg"),
               str(tmp_path / "missing.png"), str(folder / "rocket.png")]
    # Before: nothing printed, exit 2, the fourth query never searched.
    assert main(["search", *queries, "--index", index, "--json", "--top", "1"]) == 3
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert [entry["query"] for entry in payload] == queries
    assert Path(payload[0]["results"][0]["path"]).name == "coffee.png"
    assert Path(payload[3]["results"][0]["path"]).name == "rocket.png"
    assert payload[1]["results"] == [] and "empty" in payload[1]["error"]
    assert payload[2]["results"] == [] and "no such file" in payload[2]["error"]
    assert "2 of 4 queries failed" in captured.err
    assert main(["search", *queries, "--index", index, "--top", "1"]) == 3
    text = capsys.readouterr().out
    assert "rocket.png" in text and "failed: the file is empty" in text


@pytest.mark.parametrize("args, message", [
    (lambda d: ["index", str(d / "emptydir"), "--index", str(d / "ix")], "no image files"),
    (lambda d: ["index", str(d / "allbad"), "--index", str(d / "ix")],
     "none of the 2 image files could be read.*a.jpg: the file is empty.*b.png: not a"),
    (lambda d: ["pairs", str(d / "allbad"), "--out", str(d / "afile")], "is a file"),
    (lambda d: ["compare", str(d / "a.png"), str(d / "a.png"), "--method", "phash"],
     "SIMLAB_MAX_PIXELS='abc' is not a positive whole number"),
])
def test_bad_folders_and_values_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "emptydir").mkdir()
    (tmp_path / "allbad").mkdir()
    (tmp_path / "allbad" / "a.jpg").write_bytes(b"")
    (tmp_path / "allbad" / "b.png").write_text("hello")
    (tmp_path / "afile").write_text("x")
    Image.fromarray(samples.sample_image("coffee", max_side=64)).save(tmp_path / "a.png")
    env = {"SIMLAB_MAX_PIXELS": "abc"} if "SIMLAB_MAX_PIXELS" in message else {}
    code, _, err, _ = _run([*SIMLAB, *args(tmp_path)], env=env)
    # Before: AttributeError, NotADirectoryError, ValueError tracebacks, or advice about
    # flat images that named none of the files.
    errors = [line for line in err.splitlines() if line.startswith("simlab: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    import re
    assert re.search(message, errors[0]), err
    assert not (tmp_path / "ix").exists()  # a failed first build leaves nothing behind


def test_max_side_zero_is_full_size_for_compare_and_refused_elsewhere(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(samples.sample_image("coffee", max_side=200)).save(path)
    code, out, err, _ = _run([*SIMLAB, "compare", str(path), str(path), "--method", "ssim",
                              "--max-side", "0", "--json"])
    assert code == 0 and json.loads(out)["results"][0]["score"] == 1.0, err
    for command in (["pairs", str(tmp_path), "--out", str(tmp_path / "o")],
                    ["compare", str(path), str(path)]):
        code, _, err, _ = _run([*SIMLAB, *command, "--max-side", "3"])
        assert code == 2 and "--max-side" in err and "Traceback" not in err
    # Before: "array(1x1x3 uint8) ... too small", naming no file.
    with pytest.raises(InvalidParameterError, match="a.png: max_side must be"):
        load_image(path, max_side=0)


# ---------------------------------------------------------------------------------------
# Crashes, locks and concurrent writers

def _image_folder(folder: Path, names: tuple[str, ...], side: int = 96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(samples.sample_image(name, max_side=side)).save(folder / f"{name}.png")
    return folder


_KILLED_SAVE = textwrap.dedent("""
    import io, os, signal, sys
    import numpy as np
    import simlab.search.storage as storage
    from simlab.index import build

    folder, index, point = sys.argv[1], sys.argv[2], sys.argv[3]
    replaced = []
    real_replace, real_savez = os.replace, np.savez

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def replace(source, target):
        replaced.append(target)
        if point == "before-manifest-rename" and len(replaced) == 2:
            die()
        real_replace(source, target)
        if point == "after-arrays-rename" and len(replaced) == 1:
            die()
        if point == "before-old-arrays-removed" and len(replaced) == 2:
            die()

    def savez(handle, **arrays):
        if point == "during-arrays-write":
            buffer = io.BytesIO()
            real_savez(buffer, **arrays)
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            handle.flush()
            die()
        real_savez(handle, **arrays)

    os.replace = replace
    storage.np.savez = savez
    build(folder, path=index, method="phash", progress=False)
    print("not killed")
""")

KILL_POINTS = ["during-arrays-write", "after-arrays-rename", "before-manifest-rename",
               "before-old-arrays-removed"]


@pytest.mark.parametrize("first_build", [True, False], ids=["first-build", "update"])
@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_during_save_leaves_a_usable_index(tmp_path, point, first_build):
    # Before: a first build killed at its save left only a temporary .arrays-<hex>.npz,
    # and `simlab index` and even --rebuild refused the folder; killed updates leaked
    # temporary files forever.
    folder = _image_folder(tmp_path / "images", ("coffee", "camera", "rocket"))
    index = tmp_path / "index"
    if not first_build:
        build(folder, path=index, method="phash", progress=False)
        _image_folder(folder, ("chelsea",))
    code, out, err, _ = _run([sys.executable, "-c", _KILLED_SAVE, str(folder), str(index),
                              point])
    assert code == -signal.SIGKILL, (out, err)
    if first_build and point != "before-old-arrays-removed":
        with pytest.raises(IndexNotFoundError, match="interrupted"):
            Index.load(index)
    else:  # an update killed at any point leaves the old or the new generation
        assert len(Index.load(index)) in (3, 4)
    # The next run recovers and cleans; --rebuild works as well.
    for extra in ([], ["--rebuild"]):
        code, _, err, _ = _run([*SIMLAB, "index", str(folder), "--index", str(index),
                                "--method", "phash", *extra])
        assert code == 0, err
        names = sorted(p.name for p in index.iterdir())
        assert len(Index.load(index)) == len(list(folder.iterdir()))
        arrays = [n for n in names if n.startswith("arrays-")]
        manifest = json.loads((index / "index.json").read_text())
        named = {manifest["arrays"], *(s["arrays"] for s in manifest["shards"])}
        # Only the files the manifest names: an update adds a shard, a rebuild writes one.
        assert names == sorted(["index.json", "index.lock", *arrays]), names
        assert set(arrays) == named and len(arrays) == (1 if extra else len(named)), names


def test_a_second_writer_is_told_who_holds_the_lock(tmp_path):
    folder = _image_folder(tmp_path / "images", ("coffee", "camera"))
    index = tmp_path / "index"
    build(folder, path=index, method="phash", progress=False)
    with index_lock(index):  # this process is updating the index
        code, _, err, _ = _run([*SIMLAB, "index", str(folder), "--index", str(index)])
        assert code == 2 and f"being updated by process {os.getpid()}" in err, err
    # A lock whose process died (SIGKILL) is no lock: the kernel dropped it.
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from simlab.search.storage import index_lock
        with index_lock({str(index)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    with pytest.raises(IndexLockedError, match=f"process {holder.pid}") as caught:
        build(folder, path=index, progress=False)
    assert caught.value.pid == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert holder.pid == json.loads((index / "index.lock").read_text())["pid"]  # stale
    assert len(build(folder, path=index, progress=False)) == 2


def test_a_lock_let_go_while_we_look_is_taken_not_refused(tmp_path):
    # A holder clears its name from index.lock just before letting go (and names itself
    # just after taking it). A writer that looks in that moment used to be refused with
    # "another process"; now it looks again and gets the lock.
    index = tmp_path / "index"
    index.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, time
        descriptor = os.open({str(index / "index.lock")!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # held, but no name written
        print("locked", flush=True)
        time.sleep(0.3)
    """)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    with index_lock(index):
        assert json.loads((index / "index.lock").read_text())["pid"] == os.getpid()
    assert holder.wait() == 0


def test_two_concurrent_index_runs_never_lose_images(tmp_path):
    # Before: the last writer won and the other's images were lost, 10 of 10 trials.
    names = ("astronaut", "coffee", "camera", "chelsea", "rocket", "coins", "moon",
             "immunohistochemistry", "hubble_deep_field", "cat", "retina", "cell")
    for trial in range(2):
        # Two runs that each add their own folder to one index, started together: each
        # has seconds of extraction to do, so they overlap.
        first = _image_folder(tmp_path / f"first{trial}", names[:6], side=512)
        second = _image_folder(tmp_path / f"second{trial}", names[6:], side=512)
        index = str(tmp_path / f"index{trial}")
        build([first / "coffee.png"], path=index, progress=False)  # a bow-verify index
        runs = [subprocess.Popen([*SIMLAB, "index", str(folder), "--index", index],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for folder in (first, second)]
        results = [(run.wait(timeout=300), run.stderr.read().decode()) for run in runs]
        for code, err in results:
            assert code == 0 or (code == 2 and "being updated by process" in err), err
        for (code, _), folder in zip(results, (first, second)):
            if code == 2:  # the one refused runs again once the other is done
                assert _run([*SIMLAB, "index", str(folder), "--index", index])[0] == 0
        paths = {Path(p).parent.name for p in Index.load(index).paths}
        assert paths == {f"first{trial}", f"second{trial}"}
        assert len(Index.load(index)) == 12


_API_WRITER = textwrap.dedent("""
    import sys, time
    from simlab.errors import IndexConflictError, IndexLockedError
    from simlab.index import Index

    index = Index.load(sys.argv[1])
    index.add([sys.argv[2]], progress=False)
    while time.time() < float(sys.argv[3]):
        pass
    try:
        index.save()
        print("saved")
    except (IndexConflictError, IndexLockedError) as exc:
        print(type(exc).__name__)
""")


def test_two_api_writers_at_the_same_instant_never_break_the_index(tmp_path):
    # Before: 2 of 30 trials left index.json naming an arrays file the other deleted.
    folder = _image_folder(tmp_path / "images", ("coffee", "camera", "rocket", "chelsea"))
    index = tmp_path / "index"
    build([folder / "coffee.png", folder / "camera.png"], path=index, method="phash",
          progress=False)
    outcomes = set()
    for trial in range(3):
        start = time.time() + 2.0
        writers = [subprocess.Popen([sys.executable, "-c", _API_WRITER, str(index),
                                     str(folder / name), str(start)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for name in ("rocket.png", "chelsea.png")]
        said = [w.communicate(timeout=120)[0].decode().strip() for w in writers]
        assert all(w.returncode == 0 for w in writers), said
        outcomes.update(said)
        loaded = Index.load(index)  # never broken
        assert "saved" in said and 3 <= len(loaded) <= 4
        # The one that did not save was told why, rather than silently dropping images.
        assert all(s in ("saved", "IndexConflictError", "IndexLockedError") for s in said)
    assert outcomes & {"IndexConflictError", "IndexLockedError"}


_WRITER_LOOP = textwrap.dedent("""
    import sys
    from simlab.index import Index

    index = Index.load(sys.argv[1])
    for i in range(int(sys.argv[2])):
        index.options["max_side"] = 640 + i % 2  # a change, so each save is new
        index.save()
    print("done")
""")


def test_a_reader_beside_a_writer_always_loads_a_complete_index(tmp_path):
    # Before: 14 of 1,880 loads failed beside one writer.
    folder = _image_folder(tmp_path / "images", ("coffee", "camera", "rocket"))
    index = tmp_path / "index"
    build(folder, path=index, method="phash", progress=False)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER_LOOP, str(index), "300"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    loads, failures = 0, []
    while writer.poll() is None:
        try:
            assert len(Index.load(index)) == 3
            loads += 1
        except SimlabError as exc:
            failures.append(str(exc))
    assert writer.returncode == 0, writer.stderr.read().decode()
    assert failures == [] and loads > 20


# ---------------------------------------------------------------------------------------
# Damaged indexes

@pytest.fixture(scope="module")
def small_indexes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("indexes")
    folder = _image_folder(root / "images", ("coffee", "camera", "rocket", "chelsea"),
                           side=160)
    return {method: build(folder, path=root / method, method=method, progress=False,
                          **({"words": 64, "training_images": 4} if method == "bow" else {})
                          ).path
            for method in ("phash", "histogram", "bow")}


def _damaged(source: Path, tmp_path: Path, edit) -> Path:
    target = tmp_path / "damaged"
    shutil.copytree(source, target)
    manifest_path = target / "index.json"
    manifest = json.loads(manifest_path.read_text())
    # The file of the images' features (the first shard; field 'arrays' holds the
    # vocabulary).
    arrays_path = target / (manifest["shards"][0]["arrays"] if "shards" in manifest
                            else manifest["arrays"])
    result = edit(manifest, arrays_path, target)
    if isinstance(result, dict):  # an edited manifest; other edits changed files
        manifest_path.write_text(json.dumps(result))
    return target


def _rewrite_arrays(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays.update(changes)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _edit(field: str, value):
    def edit(manifest, arrays, root):
        target = manifest
        *parents, last = field.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
        return manifest
    return edit


_DELETE = object()

DAMAGE = {
    # name: (index method, edit, what the message must name)
    "arrays-outside-the-folder": ("phash", _edit("arrays", "../../other/arrays.npz"),
                                  "field 'arrays'"),
    "arrays-etc-passwd": ("phash", _edit("arrays", "/etc/passwd"), "field 'arrays'"),
    "entry-without-path": ("phash", _edit("files.0.path", _DELETE), "files[0].path"),
    "relative-path": ("phash", _edit("files.1.path", "coffee.png"), "files[1].path"),
    "no-max-side": ("phash", _edit("options.max_side", _DELETE), "options.max_side"),
    "max-side-abc": ("phash", _edit("options.max_side", "abc"), "options.max_side"),
    "max-side-0": ("phash", _edit("options.max_side", 0), "options.max_side"),
    "files-not-a-list": ("phash", _edit("files", {"a": 1}), "field 'files'"),
    "size-negative": ("phash", _edit("files.2.size", -5), "files[2].size"),
    "count-disagrees": ("phash", _edit("count", 99), "field 'count'"),
    "unknown-method": ("phash", _edit("method", "magic"), "field 'method'"),
    "bins-string": ("histogram", _edit("options.bins", "8"), "options.bins"),
    "word-ids-past-the-vocabulary": ("bow", lambda m, a, r: _rewrite_arrays(
        a, words=np.full_like(_member(a, "words"), 60_000)), "past the vocabulary"),
    "offsets-disagree": ("bow", lambda m, a, r: _rewrite_arrays(
        a, words=np.zeros(10, np.uint16)), "'offsets'"),
    "wrong-width-vectors": ("histogram", lambda m, a, r: _rewrite_arrays(
        a, vectors=np.zeros((4, 100), np.float32)), "'vectors' has shape (4, 100)"),
    "nan-vectors": ("histogram", lambda m, a, r: _rewrite_arrays(
        a, vectors=np.full((4, 512), np.nan, np.float32)), "NaN"),
    "bad-points": ("bow", lambda m, a, r: _rewrite_arrays(
        a, points=np.full_like(_member(a, "points"), 1e4)), "'points'"),
    "hashes-wrong-shape": ("phash", lambda m, a, r: _rewrite_arrays(
        a, hashes=np.zeros((4, 3), np.uint8)), "'hashes' has shape"),
    "missing-array": ("phash", lambda m, a, r: _rewrite_arrays(a) or _drop_member(a, "scales"),
                      "'scales' is missing"),
    "npy-instead-of-npz": ("phash", lambda m, a, r: np.save(a, np.zeros(3)) or
                           a.with_suffix(".npz.npy").replace(a), "single .npy array"),
    "not-a-zip": ("phash", lambda m, a, r: a.write_bytes(b"just text, no zip"),
                  "not a zip archive"),
    "manifest-is-a-directory": ("phash", lambda m, a, r: (r / "index.json").unlink()
                                or (r / "index.json").mkdir(), "index.json cannot be read"),
    "manifest-not-json": ("phash", lambda m, a, r: (r / "index.json").write_bytes(b"\xff{"),
                          "not valid JSON"),
    "manifest-a-list": ("phash", lambda m, a, r: (r / "index.json").write_text("[]"),
                        "must hold a JSON object"),
}


def _member(path: Path, name: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as stored:
        return stored[name]


def _drop_member(path: Path, name: str) -> None:
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files if key != name}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_index_is_a_corrupt_index_error_naming_the_field(small_indexes, tmp_path,
                                                                 case):
    # Before: KeyError, ValueError, IndexError, TypeError or PermissionError tracebacks,
    # files opened outside the index folder, or (max_side 0) a wrong top hit, exit 0.
    method, edit, named = DAMAGE[case]
    other = tmp_path / "other"
    other.mkdir()
    decoy = next(small_indexes[method].glob("arrays-*.npz"))
    shutil.copy(decoy, other / "arrays.npz")  # a valid file outside: must not be read
    target = _damaged(small_indexes[method], tmp_path, edit)
    # Opening checks what is cheap (fields, shapes, offsets); the values of the large
    # arrays are checked when the first search reads them: either way, the same error.
    query = tmp_path / "query.png"
    Image.fromarray(samples.sample_image("coffee", max_side=160)).save(query)
    with pytest.raises(CorruptIndexError) as caught:
        Index.load(target).search(query)
    message = str(caught.value)
    assert named in message, message
    assert "allow_pickle" not in message and "rebuild" in message
    code, _, err, _ = _run([*SIMLAB, "search", str(query), "--index", str(target)])
    assert code == 2 and err.count("\n") == 1 and named in err, err


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_MARKER}",))


_MARKER = Path("/tmp") / f"simlab-unpickled-{os.getpid()}"


@pytest.mark.parametrize("form", ["object-member", "pickle-file"])
def test_pickles_in_the_arrays_file_are_never_loaded(small_indexes, tmp_path, form):
    def edit(manifest, arrays, root):
        if form == "object-member":
            _rewrite_arrays(arrays, scales=np.array([_Payload()] * 4, dtype=object))
        else:
            arrays.write_bytes(pickle.dumps(_Payload()))
        return manifest

    target = _damaged(small_indexes["phash"], tmp_path, edit)
    with pytest.raises(CorruptIndexError) as caught:
        Index.load(target)
    assert "allow_pickle" not in str(caught.value)
    assert not _MARKER.exists()


def test_unreadable_manifest_is_a_corrupt_index_error(small_indexes, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    target = _damaged(small_indexes["phash"], tmp_path, lambda m, a, r: m)
    (target / "index.json").chmod(0)
    with pytest.raises(CorruptIndexError, match="permission denied"):
        Index.load(target)


def test_memory_errors_of_a_method_become_image_too_large(monkeypatch):
    # A method that runs out of memory anyway (OpenCV's "Insufficient memory") is an
    # ImageTooLargeError naming the sizes, not a cv2.error traceback.
    import dataclasses

    import cv2

    import simlab
    from simlab import comparison
    from simlab.registry import get_method

    def exhausted(image, params):
        raise cv2.error("OpenCV(4.14) ... error: (-4:Insufficient memory) Failed to "
                        "allocate 1966080000 bytes in function 'OutOfMemoryError'")

    spec = dataclasses.replace(get_method("sift"), extract=exhausted)
    monkeypatch.setattr(comparison, "get_method", lambda name: spec)
    image = samples.sample_image("coffee", max_side=128)
    with pytest.raises(ImageTooLargeError, match="ran out of memory on 128x85"):
        simlab.compare(image, image, "sift")


@pytest.mark.parametrize("method", ["phash", "histogram", "bow-verify"])
def test_an_index_whose_images_were_all_deleted_still_loads(tmp_path, method):
    # Validation must accept what save writes for an emptied index ((0, 0) vectors).
    folder = _image_folder(tmp_path / "images", ("coffee",))
    build(folder, path=tmp_path / "index", method=method, progress=False)
    (folder / "coffee.png").unlink()
    assert build(folder, path=tmp_path / "index", progress=False).last_update["removed"] == 1
    assert len(Index.load(tmp_path / "index")) == 0
