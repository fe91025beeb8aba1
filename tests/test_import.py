"""`import simlab` stays fast: no TensorFlow or Keras until a deep method runs."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_tensorflow():
    code = ("import sys, simlab; simlab.method_names(); simlab.available_methods(); "
            "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'pypdfium2', 'reportlab') if m in sys.modules]; "
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
