"""Writing output files atomically (a reader never sees a half-written file), and how
paths are printed."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "write_json", "json_ready", "display_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix,
                                    dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates the file 0600; give the result the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def json_ready(value: Any) -> Any:
    """Turn numpy scalars, tuples and NaN into plain JSON values (NaN -> None).

    Examples
    --------
    >>> import numpy as np
    >>> json_ready({"a": np.float32(0.5), "b": float("nan"), "c": (1, 2)})
    {'a': 0.5, 'b': None, 'c': [1, 2]}
    """
    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(json_ready(data), indent=2) + "\n")


def display_path(path: str | os.PathLike) -> str:
    """How the CLI prints a file: relative to the current directory when inside it,
    absolute otherwise (one convention for ``pairs`` and ``search``).

    JSON keeps each command's documented paths (``search``: absolute; ``pairs``: as
    listed under the folder given).

    Examples
    --------
    >>> import os
    >>> display_path(os.path.join(os.getcwd(), "a", "b.png")) == os.path.join("a", "b.png")
    True
    >>> display_path("/") == os.path.abspath("/") or os.getcwd() == "/"
    True
    """
    absolute = os.path.abspath(path)
    here = os.getcwd()
    try:
        inside = os.path.commonpath([absolute, here]) == here
    except ValueError:  # another drive (Windows)
        inside = False
    return os.path.relpath(absolute, here) if inside else absolute
