"""`import simlab` stays fast: no TensorFlow or Keras until a deep method runs."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_tensorflow():
    code = ("import sys, simlab; simlab.method_names(); simlab.available_methods(); "
            "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'dask', 'distributed', "
            "'faiss', 'pypdfium2', 'reportlab') if m in sys.modules]; "
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_import_and_folder_jobs_without_cluster_flags_do_not_load_dask_or_faiss(tmp_path):
    from PIL import Image

    from simlab import samples

    Image.fromarray(samples.sample_image("coffee", max_side=128)).save(tmp_path / "a.png")
    Image.fromarray(samples.sample_image("camera", max_side=128)).save(tmp_path / "b.png")
    code = ("import sys, simlab; from simlab.cli import main; "
            f"main(['pairs', {str(tmp_path)!r}, '--out', {str(tmp_path / 'out')!r}]); "
            f"main(['index', {str(tmp_path)!r}, '--index', {str(tmp_path / 'ix')!r}]); "
            "heavy = [m for m in ('dask', 'distributed', 'faiss') if m in sys.modules]; "
            "print('HEAVY', heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
