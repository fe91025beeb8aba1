"""Index storage on disk: one writer at a time, readers that always see one generation.

An index directory holds ``index.json`` (the manifest) and ``arrays-<id>.npz`` files:
one per shard of images (field ``shards``), the vocabulary in the one field ``arrays``
names (the first shard written with it). Each file holds its own id (member
``generation``), is written once and never changed: an update writes new files, then the
manifest naming every file of the new generation. This module owns how they are written
and read, so the index classes above it never touch files directly:

- :func:`index_lock` takes ``index.lock`` for a whole update (load, extract, save). A
  second writer gets :class:`~simlab.errors.IndexLockedError` naming the process that
  holds it. The lock is an OS file lock (``flock``): it dies with its process, so a
  writer killed with ``kill -9`` leaves no stale lock behind (the pid left in the file
  only serves the message).
  Stale locks: there are none to handle on POSIX (the kernel releases a dead
  process's ``flock``; the next writer just takes the lock). Where ``fcntl`` is missing
  the lock is an ``O_CREAT | O_EXCL`` pid file, removed by the next writer when its pid
  no longer runs.
- :func:`write_arrays` writes one new arrays file (temporary file, fsync,
  ``os.replace``); :func:`write_manifest` then writes ``index.json`` (atomically, last)
  and only then removes the files it no longer names. Writers first remove what killed
  writers left (:func:`clean_debris`: temporary files and arrays no manifest names).
  :func:`write_generation` does all three for a one-file generation.
- :func:`read_index` reads the manifest, then the files it names; when a writer
  replaced the generation in between (a file is gone), it reads again.
- :func:`load_arrays` reads an ``.npz`` without ever unpickling, refusing compressed or
  object members and members whose declared size does not match the bytes stored, so
  a damaged or hostile file cannot make it allocate more than the file holds.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with index_lock(root):
...     generation = write_generation(root, {"x": np.arange(3)}, {"format": "demo"})
>>> manifest, arrays = read_generation(root)
>>> manifest["format"], arrays["x"].tolist()
('demo', [0, 1, 2])
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import threading
import time
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import CorruptIndexError, IndexLockedError, InvalidParameterError

try:  # POSIX; elsewhere the lock falls back to an exclusive-create pid file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["MANIFEST", "LOCK", "index_lock", "write_generation", "read_generation",
           "read_index", "write_arrays", "write_manifest", "referenced_files",
           "read_manifest", "current_generation", "load_arrays", "clean_debris",
           "is_index_file", "arrays_name"]

MANIFEST = "index.json"
LOCK = "index.lock"
#: ``arrays-<32 hex digits>.npz``: the only arrays file names a manifest may give, so a
#: manifest can never point outside its own directory.
_ARRAYS = re.compile(r"arrays-[0-9a-f]{32}\.npz")
#: Temporary files of simlab.files.atomic_path for the arrays and the manifest.
_TEMPORARY = re.compile(r"\.(arrays-[0-9a-f]{32}\.npz|index\.json)\..+")

_UNNAMED_RETRIES = 50  # x 20 ms: a holder names itself within microseconds
_held: dict[str, list] = {}  # realpath -> [thread id, depth, fd]
_held_guard = threading.Lock()


def arrays_name(generation: str) -> str:
    """File name of a generation's arrays.

    Examples
    --------
    >>> arrays_name("0" * 32)
    'arrays-00000000000000000000000000000000.npz'
    """
    return f"arrays-{generation}.npz"


def is_index_file(name: str) -> bool:
    """True for the files an index directory may hold (including a killed writer's).

    Examples
    --------
    >>> [is_index_file(n) for n in ("index.json", "index.lock", "photo.jpg")]
    [True, True, False]
    """
    return (name in (MANIFEST, LOCK) or bool(_ARRAYS.fullmatch(name))
            or bool(_TEMPORARY.fullmatch(name)))


# ---------------------------------------------------------------------------------------
# The lock

def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _locked_error(root: Path, holder: dict[str, Any]) -> IndexLockedError:
    pid = holder.get("pid")
    who = f"process {pid}" if isinstance(pid, int) else "another process"
    host = holder.get("host")
    if host and host != platform.node():
        who += f" on {host}"
    since = f" since {holder['started']}" if holder.get("started") else ""
    return IndexLockedError(
        f"the index is being updated by {who}{since}; wait for it to finish and run the "
        "command again", os.fspath(root), pid if isinstance(pid, int) else None)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _acquire(root: Path) -> int:
    """Take the OS lock on ``root/index.lock``; returns its descriptor."""
    path = root / LOCK
    if fcntl is None:  # pragma: no cover - exclusive create, stale pid files recovered
        for _ in range(2):
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                holder = _holder(path)
                if _pid_alive(holder.get("pid")):
                    raise _locked_error(root, holder) from None
                path.unlink(missing_ok=True)  # its process is gone: a stale lock
        else:
            raise _locked_error(root, _holder(path))
    else:
        unnamed = 0
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                holder = _holder(path)
                # An empty record means the holder is between taking the lock and naming
                # itself, or between clearing its name and letting go: look again shortly
                # so the user learns who holds it (or gets the lock) instead of "someone".
                if not holder and unnamed < _UNNAMED_RETRIES:
                    unnamed += 1
                    time.sleep(0.02)
                    continue
                raise _locked_error(root, holder) from None
            try:  # the file we locked must still be the one at that path
                if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(descriptor)  # removed by a failed first build meanwhile: again
    record = {"pid": os.getpid(), "host": platform.node(),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(record).encode(), 0)
    return descriptor


def _release(root: Path, descriptor: int) -> None:
    try:
        os.ftruncate(descriptor, 0)  # the file stays: unlinking it would let a second
    finally:                         # writer lock a new file while the first holds the old
        if fcntl is None:  # pragma: no cover
            os.close(descriptor)
            (root / LOCK).unlink(missing_ok=True)
        else:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)


@contextlib.contextmanager
def index_lock(root: str | os.PathLike) -> Iterator[None]:
    """Hold ``root/index.lock`` (creating ``root``) for the duration of the block.

    Re-entrant within one thread (an update that saves holds it once); another thread
    or process trying to update the same index gets
    :class:`~simlab.errors.IndexLockedError` at once instead of overwriting its work.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InvalidParameterError("is a file; choose a directory path for the index",
                                    os.fspath(root))
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(root)
    me = threading.get_ident()
    with _held_guard:
        held = _held.get(key)
        if held is not None and held[0] != me:
            raise _locked_error(root, _holder(root / LOCK))
        if held is not None:
            held[1] += 1
        else:
            _held[key] = [me, 1, None]
    try:
        if _held[key][2] is None:
            _held[key][2] = _acquire(root)
        yield
    finally:
        with _held_guard:
            entry = _held[key]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                if entry[2] is not None:
                    if created and [p.name for p in root.iterdir()] == [LOCK]:
                        # Nothing was written (the update failed): leave no trace. The
                        # file goes while still locked; _acquire checks for that.
                        (root / LOCK).unlink(missing_ok=True)
                    _release(root, entry[2])
                    if created:
                        with contextlib.suppress(OSError):
                            root.rmdir()  # only if empty


# ---------------------------------------------------------------------------------------
# Writing and reading generations

def clean_debris(root: Path, keep: str | Sequence[str] | None = None) -> list[str]:
    """Remove what killed writers left in ``root`` (call with the lock held).

    Temporary files of interrupted writes, and arrays files not in ``keep`` (the files
    the manifest names), go. Returns the names removed.
    """
    kept = {keep} if isinstance(keep, str) else set(keep or ())
    removed = []
    for entry in root.iterdir():
        name = entry.name
        if _TEMPORARY.fullmatch(name) or (_ARRAYS.fullmatch(name) and name not in kept):
            entry.unlink(missing_ok=True)
            removed.append(name)
    return removed


def referenced_files(manifest: dict[str, Any]) -> list[str]:
    """The arrays files a manifest names: ``arrays`` (shared) and each shard's, in order.

    Names that are not ``arrays-<32 hex digits>.npz`` are left out (the readers refuse
    them with a message; the cleaners must never keep or touch anything else).
    """
    names = []
    candidates = [manifest.get("arrays")]
    shards = manifest.get("shards")
    if isinstance(shards, list):
        candidates += [shard.get("arrays") for shard in shards if isinstance(shard, dict)]
    for name in candidates:
        if isinstance(name, str) and _ARRAYS.fullmatch(name) and name not in names:
            names.append(name)
    return names


def _current_arrays(root: Path) -> list[str]:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        return referenced_files(manifest) if isinstance(manifest, dict) else []
    except (OSError, ValueError, AttributeError):
        return []


def current_generation(root: str | os.PathLike) -> str | None:
    """The generation ``root/index.json`` names, or None (no or unreadable manifest)."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
        generation = manifest.get("generation")
        return generation if isinstance(generation, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def write_arrays(root: str | os.PathLike, arrays: dict[str, np.ndarray],
                 identity: str | None = None) -> str:
    """Write one arrays file atomically (temporary file, fsync, ``os.replace``).

    The file is ``arrays-<identity>.npz`` (a new random identity by default) and holds
    its identity as member ``generation``, so a file can never pass for another.
    Returns its name. Call with :func:`index_lock` held.
    """
    from ..files import atomic_path

    identity = identity or uuid.uuid4().hex
    name = arrays_name(identity)
    with atomic_path(Path(root) / name) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, generation=np.array(identity), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
    return name


def write_manifest(root: str | os.PathLike, manifest: dict[str, Any]) -> str:
    """Write ``index.json`` atomically (a new ``generation``), then drop the arrays files
    it no longer names. Call with :func:`index_lock` held, after writing the new
    arrays files (:func:`write_arrays`). Returns the generation."""
    from ..files import write_json

    root = Path(root)
    generation = manifest.get("generation") or uuid.uuid4().hex
    manifest = {**manifest, "generation": generation}
    write_json(root / MANIFEST, manifest)
    # Files of old generations go only now: a reader holding the old manifest finds
    # them gone and reads the new manifest (read_index).
    clean_debris(root, keep=referenced_files(manifest))
    return generation


def write_generation(root: str | os.PathLike, arrays: dict[str, np.ndarray],
                     manifest: dict[str, Any]) -> str:
    """Write a new generation of ``root`` in one arrays file: the arrays, then the
    manifest, then drop the old files.

    Call with :func:`index_lock` held. ``manifest`` gets the ``generation`` and
    ``arrays`` fields. Returns the generation.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clean_debris(root, keep=_current_arrays(root))
    generation = uuid.uuid4().hex
    name = write_arrays(root, arrays, generation)
    return write_manifest(root, {**manifest, "generation": generation, "arrays": name})


def _bad_name(field_name: str, name: Any, label: str) -> CorruptIndexError:
    return CorruptIndexError(
        f"{MANIFEST}: field '{field_name}' must be the name of a file in the index folder "
        f"like 'arrays-<32 hex digits>.npz', got {name!r}; rebuild the index with "
        "--rebuild", label)


def read_index(root: str | os.PathLike, *,
               check: Callable[[dict[str, Any]], None] | None = None,
               attempts: int = 3) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                           list[dict[str, np.ndarray]]]:
    """The manifest of ``root``, its shared arrays and each shard's, all of one generation.

    The shared file is the one field ``arrays`` names (the vocabulary; in a manifest
    without ``shards``, every array); the shards are those of field ``shards``
    (``[{"arrays": name, "count": images}, ...]``; without it, one shard: the shared
    file). Arrays are memory-mapped (:func:`load_arrays`): opening reads headers only.
    ``check(manifest)`` validates the manifest first. Raises
    :class:`~simlab.errors.CorruptIndexError` naming the field or file at fault.
    """
    root = Path(root)
    label = os.fspath(root)
    for attempt in range(attempts):
        manifest = read_manifest(root)
        if check is not None:
            check(manifest)
        name = manifest.get("arrays")
        if not isinstance(name, str) or not _ARRAYS.fullmatch(name):
            raise _bad_name("arrays", name, label)
        generation = manifest.get("generation")
        shards = manifest.get("shards")
        if shards is None and (not isinstance(generation, str)
                               or name != arrays_name(generation)):
            raise CorruptIndexError(
                f"{MANIFEST}: field 'arrays' ({name!r}) does not belong to field "
                f"'generation' ({generation!r}); rebuild the index with --rebuild", label)
        names = [name]
        if shards is not None:
            if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
                raise CorruptIndexError(f"{MANIFEST}: field 'shards' must be a list of "
                                        "objects; rebuild the index with --rebuild", label)
            for i, shard in enumerate(shards):
                if not isinstance(shard.get("arrays"), str) or \
                        not _ARRAYS.fullmatch(shard["arrays"]):
                    raise _bad_name(f"shards[{i}].arrays", shard.get("arrays"), label)
            names += [shard["arrays"] for shard in shards]
        loaded: dict[str, dict[str, np.ndarray]] = {}
        try:
            for member in names:
                if member not in loaded:
                    loaded[member] = _load_own(root, member, label)
        except FileNotFoundError as missing:
            if attempt + 1 < attempts and current_generation(root) != generation:
                time.sleep(0.01 * (attempt + 1))
                continue  # a writer replaced this generation while we read it
            field_name = "'arrays'" if missing.args[0] == name else "'shards'"
            raise CorruptIndexError(f"{missing.args[0]} (field {field_name} of {MANIFEST}) "
                                    "is missing; rebuild the index with --rebuild",
                                    label) from None
        shared = loaded[name]
        if shards is None:
            return manifest, shared, [shared]
        return manifest, shared, [loaded[shard["arrays"]] for shard in shards]
    raise AssertionError("unreachable")  # pragma: no cover


def _load_own(root: Path, name: str, label: str) -> dict[str, np.ndarray]:
    """The arrays of ``root/name``, which must hold its own identity (member
    ``generation``, the hex digits of its name); ``FileNotFoundError(name)`` if gone."""
    try:
        arrays = load_arrays(root / name, label=label)
    except FileNotFoundError:
        raise FileNotFoundError(name) from None
    stored = arrays.pop("generation", None)
    if stored is None or stored.shape != () or stored.dtype.kind != "U" \
            or arrays_name(str(stored)) != name:
        raise CorruptIndexError(f"{name} does not belong to this {MANIFEST} (its "
                                "generation differs); rebuild the index", label)
    return arrays


def read_generation(root: str | os.PathLike, *,
                    check: Callable[[dict[str, Any]], None] | None = None,
                    attempts: int = 3) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest of ``root`` and the arrays of its field ``arrays`` (one generation).

    ``check(manifest)`` validates the manifest before the arrays are read (format,
    version...). Raises :class:`~simlab.errors.CorruptIndexError` naming the field or
    file at fault. Sharded indexes: :func:`read_index`.
    """
    manifest, shared, _ = read_index(root, check=check, attempts=attempts)
    return manifest, shared


def read_manifest(root: Path) -> dict[str, Any]:
    """``root/index.json`` as a dict, or :class:`CorruptIndexError` saying why not."""
    label = os.fspath(root)
    try:
        text = (root / MANIFEST).read_bytes().decode("utf-8")
        manifest = json.loads(text)
    except PermissionError:
        raise CorruptIndexError(f"{MANIFEST} cannot be read (permission denied); fix its "
                                "permissions or rebuild the index", label) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptIndexError(f"{MANIFEST} is not valid JSON ({exc}); rebuild the index "
                                "with --rebuild", label) from None
    except OSError as exc:
        raise CorruptIndexError(f"{MANIFEST} cannot be read ({exc.strerror or exc}); "
                                "rebuild the index with --rebuild", label) from None
    if not isinstance(manifest, dict):
        raise CorruptIndexError(f"{MANIFEST} must hold a JSON object, got "
                                f"{type(manifest).__name__}; rebuild the index", label)
    return manifest


def load_arrays(path: Path, *, label: str | None = None, mmap: bool = True
                ) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` written by :func:`write_generation`, safely.

    Never unpickles; refuses compressed members, object arrays and members whose
    declared shape needs more bytes than they hold. With ``mmap`` (the default) the
    arrays are read-only views of the file mapped into memory, not copies: opening
    costs the headers alone, and only the pages a search touches are read (the
    members are stored uncompressed, so each one's bytes lie in the file as they
    are). The mapping outlives the file's removal by a later writer (POSIX keeps an
    unlinked file's pages until the last mapping goes). Raises ``FileNotFoundError``
    when the file is missing and :class:`CorruptIndexError` for everything else.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
    >>> np.savez(target, x=np.arange(4.0))
    >>> arrays = load_arrays(target)
    >>> arrays["x"].tolist(), arrays["x"].flags.writeable
    ([0.0, 1.0, 2.0, 3.0], False)
    """
    import mmap as _mmap

    name = path.name
    label = label or os.fspath(path.parent)

    def corrupt(problem: str) -> CorruptIndexError:
        return CorruptIndexError(f"{name} {problem}; rebuild the index with --rebuild",
                                 label)

    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise corrupt("is a directory, not an arrays file") from None
    except OSError as exc:
        raise corrupt(f"cannot be read ({exc.strerror or exc})") from None
    arrays: dict[str, np.ndarray] = {}
    layouts: dict[str, tuple] = {}
    with handle:
        on_disk = os.fstat(handle.fileno()).st_size
        if not zipfile.is_zipfile(handle):
            handle.seek(0)
            start = handle.read(6)
            if start.startswith(b"PK\x03\x04"):
                raise corrupt("is truncated or damaged (the zip archive has no end)")
            kind = "a single .npy array" if start == b"\x93NUMPY" else "not a zip archive"
            raise corrupt(f"is {kind}, not the .npz arrays archive simlab writes")
        try:
            with zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    key = info.filename[:-4] if info.filename.endswith(".npy") else None
                    if not key:
                        raise corrupt(f"holds {info.filename!r}, which is not an array")
                    if info.compress_type != zipfile.ZIP_STORED:
                        raise corrupt(f"member {key!r} is compressed; simlab writes "
                                      "uncompressed arrays")
                    if info.file_size != info.compress_size or info.file_size > on_disk:
                        raise corrupt(f"member {key!r} claims {info.file_size:,} bytes, "
                                      f"more than the file holds")
                    with archive.open(info) as member:
                        if not mmap:
                            arrays[key] = _read_member(member, info.file_size, key, corrupt)
                            continue
                        layout = _member_layout(member, info.file_size, key, corrupt)
                    start = _member_start(handle, info, on_disk, key, corrupt)
                    layouts[key] = (start + layout[0],) + layout[1:]
        except CorruptIndexError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
                ValueError, OverflowError) as exc:
            text = str(exc)
            if "pickle" in text:  # never repeat numpy's advice to load unsafely
                text = "an object (pickled) array"
            raise corrupt(f"is truncated or damaged ({text})") from None
        if not layouts:
            return arrays
        try:
            mapped = _mmap.mmap(handle.fileno(), 0, access=_mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise corrupt(f"cannot be mapped into memory ({exc})") from None
    for key, (offset, shape, fortran, dtype, count) in layouts.items():
        if offset + count * dtype.itemsize > len(mapped):
            raise corrupt(f"member {key!r} is truncated")
        flat = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset) if count \
            else np.empty(0, dtype)
        arrays[key] = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return arrays


def _member_start(handle, info: zipfile.ZipInfo, on_disk: int, key: str, corrupt) -> int:
    """Where a stored member's bytes begin in the archive: after its local header."""
    import struct

    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise corrupt(f"member {key!r} has no local header")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    if start + info.file_size > on_disk:
        raise corrupt(f"member {key!r} is truncated")
    return start


def _npy_header(member, key: str, corrupt):
    from numpy.lib import format as npy

    version = npy.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = npy.read_array_header_1_0(member)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = npy.read_array_header_2_0(member)
    else:
        raise corrupt(f"member {key!r} has an unknown .npy version {version}")
    if dtype.hasobject:
        raise corrupt(f"member {key!r} is an object (pickled) array; simlab never "
                      "unpickles")
    count = 1
    for side in shape:
        count *= int(side)
    return shape, fortran, dtype, count


def _member_layout(member, size: int, key: str, corrupt) -> tuple:
    """``(header bytes, shape, fortran, dtype, count)`` of a member, its size checked."""
    shape, fortran, dtype, count = _npy_header(member, key, corrupt)
    header = member.tell()
    if count * dtype.itemsize != size - header:
        raise corrupt(f"member {key!r} declares shape {shape} ({count * dtype.itemsize:,} "
                      f"bytes) but holds {size - header:,}")
    return header, shape, fortran, dtype, count


def _read_member(member, size: int, key: str, corrupt) -> np.ndarray:
    header, shape, fortran, dtype, count = _member_layout(member, size, key, corrupt)
    array = np.empty(count, dtype=dtype)  # bounded: the bytes are in the file itself
    if count and member.readinto(memoryview(array).cast("B")) != array.nbytes:
        raise corrupt(f"member {key!r} is truncated")
    if fortran:
        return array.reshape(shape[::-1]).T
    return array.reshape(shape)
