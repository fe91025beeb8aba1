"""`make lab` starts JupyterLab on the notebooks, as root too, and prints a URL that works."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import stop_process_group

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_make_lab_prints_a_working_url(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # This interpreter's environment, and no re-install: `-o` keeps the setup stamp as is.
    command = ["make", "-C", str(ROOT), "-o", ".venv/.simlab-installed", "lab",
               f"BIN={Path(sys.executable).parent}", f"LAB_PORT={port}"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    lab = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=env, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(lab.stdout), daemon=True)
    reader.start()
    pattern = re.compile(rf"http://(?:localhost|127\.0\.0\.1):{port}/lab\?token=\w+")
    try:
        deadline = time.monotonic() + 120
        url = None
        while url is None and time.monotonic() < deadline and lab.poll() is None:
            url = next((m.group(0) for line in list(lines) if (m := pattern.search(line))),
                       None)
            time.sleep(0.3)
        output = "".join(lines)
        assert url, f"no JupyterLab URL printed by `make lab`:\n{output[-3000:]}"
        if os.geteuid() == 0:
            assert "--allow-root" in output
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert "JupyterLab" in response.read().decode("utf-8", "replace")
    finally:
        stop_process_group(lab)
