"""Feature extraction on a Dask cluster: a local one of N processes, or an existing one.

``simlab index`` and ``simlab pairs`` read and describe every image, and that is most
of their time; the images are independent, so the work spreads over processes and
machines. :func:`cluster` opens a ``dask.distributed`` client (a ``LocalCluster`` of
``workers`` processes, one thread each, or the scheduler at ``address``) and returns a
:class:`Cluster` whose :meth:`Cluster.map_files` runs one task per batch of images and
gives back what :func:`simlab.parallel.map_files` gives: the results in input order and
the files that could not be read, each with its reason. Everything else (vocabulary,
pruning, verification, saving) stays in the calling process, so the result equals the
single-process one.

Dask is imported only here, and this module only when a cluster is asked for
(``--workers`` or ``--scheduler``): ``import simlab`` never loads it. Workers read the
images by path, so on a cluster of several machines every worker must see the folder
at the same path (a shared file system).

Examples
--------
>>> with cluster(workers=1, progress=False) as running:           # doctest: +SKIP
...     results, skipped = running.map_files(len, ["a", "bb"], progress=False)
>>> results                                                          # doctest: +SKIP
{'a': 1, 'bb': 2}
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator, Sequence

from .errors import InvalidParameterError, SimlabError

__all__ = ["Cluster", "cluster", "BATCH"]

#: Images per task: large enough that scheduling costs little next to the work (some
#: 30 ms per image), small enough that the progress bar moves and workers stay balanced.
BATCH = 8


def _run_batch(function: Callable[[str], Any], paths: Sequence[str]) -> list[tuple]:
    """One task: ``function`` on each path, a SimlabError kept as the file's reason."""
    from .parallel import one_blas_thread

    done = []
    with one_blas_thread():  # the processes are the parallelism
        for path in paths:
            try:
                done.append((path, function(path), None))
            except SimlabError as exc:
                done.append((path, None, exc.reason_for(path)))
    return done


class Cluster:
    """A connected Dask client that runs simlab's per-file work (see :func:`cluster`)."""

    def __init__(self, client, *, local: bool):
        self.client = client
        self.local = local

    @property
    def workers(self) -> int:
        """How many worker processes the scheduler knows."""
        return len(self.client.scheduler_info().get("workers", {}))

    def map_files(self, function: Callable[[str], Any], paths: Sequence[str], *,
                  progress: bool = True, desc: str = "", unit: str = "image",
                  batch: int = BATCH) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """:func:`simlab.parallel.map_files` with the files spread over the cluster.

        ``function`` is sent to the workers (cloudpickle: a closure over plain data or
        numpy arrays is fine); its results come back in input order.
        """
        from dask.distributed import as_completed
        from tqdm.auto import tqdm

        paths = list(paths)
        if not paths:
            return {}, []
        remote = self.client.scatter(function, broadcast=True, hash=False)
        batches = [paths[start:start + batch] for start in range(0, len(paths), batch)]
        futures = [self.client.submit(_run_batch, remote, chunk, pure=False)
                   for chunk in batches]
        outcome: dict[str, tuple] = {}
        with tqdm(total=len(paths), desc=desc or None, unit=unit, disable=not progress) as bar:
            for future in as_completed(futures):
                for path, value, reason in future.result():
                    outcome[path] = (value, reason)
                bar.update(len(future.result()))
                future.release()
        results: dict[str, Any] = {}
        skipped: list[dict[str, str]] = []
        for path in paths:  # input order, as the thread pool gives it
            value, reason = outcome[path]
            if reason is not None:
                skipped.append({"path": path, "reason": reason})
            else:
                results[path] = value
        return results, skipped


@contextlib.contextmanager
def cluster(*, workers: int | None = None, address: str | None = None,
            progress: bool = True) -> Iterator[Cluster]:
    """A Dask cluster for the duration of the block.

    Parameters
    ----------
    workers : int, optional
        Start a ``LocalCluster`` of this many worker processes (one thread each),
        closed at the end of the block.
    address : str, optional
        Connect to a running scheduler instead (``tcp://host:8786``); it stays up.
    progress : bool
        Say on stderr where Dask's dashboard is.

    Raises
    ------
    InvalidParameterError
        Neither or both given, fewer than one worker, Dask missing, or a scheduler that
        does not answer.
    """
    if (workers is None) == (address is None):
        raise InvalidParameterError("give a number of workers or a scheduler address, "
                                    "not both")
    if workers is not None and int(workers) < 1:
        raise InvalidParameterError(f"--workers must be at least 1, got {workers}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InvalidParameterError(
            "--workers and --scheduler need dask.distributed: pip install "
            "'dask[distributed]'") from None
    local = None
    try:
        if workers is not None:
            local = LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                 processes=True, dashboard_address=":0")
            client = Client(local)
        else:
            client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        if local is not None:
            local.close()
        where = f"the scheduler at {address}" if address else "a local cluster"
        raise InvalidParameterError(f"could not reach {where}: {exc}") from None
    try:
        if progress:
            link = getattr(client, "dashboard_link", None)
            kind = f"{workers} local worker processes" if workers else f"scheduler {address}"
            print(f"simlab: Dask, {kind}" + (f"; dashboard {link}" if link else ""),
                  file=sys.stderr)
        yield Cluster(client, local=local is not None)
    finally:
        client.close()
        if local is not None:
            local.close()
