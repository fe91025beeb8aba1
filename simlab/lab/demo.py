"""The main job on built-in data: every method on every teaching pair.

``simlab demo --out DIR`` (and ``make demo``) writes ``scores.csv``, ``scores.json``,
a methods x pairs heatmap and one explaining figure per pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

__all__ = ["run_demo", "score_table", "plot_heatmap"]


def score_table(methods: Sequence[str] | None = None, *, max_side: int = 384,
                progress: bool = True):
    """Scores of every method on every teaching pair, one row per (pair, method).

    Returns the long table and the frames of :func:`simlab.compare_all` by pair name.

    Examples
    --------
    >>> table, _ = score_table(["phash"], max_side=96, progress=False)
    >>> float(table.set_index("pair").loc["identical", "score"])
    1.0
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..comparison import compare_all
    from .samples import teaching_pairs

    pairs = teaching_pairs(max_side=max_side)
    frames, rows = {}, []
    for name, pair in tqdm(pairs.items(), desc="teaching pairs", disable=not progress):
        frame = compare_all(pair.image_a, pair.image_b, methods)
        frames[name] = (pair, frame)
        for row in frame.itertuples():
            rows.append({"pair": name, "same_source": pair.same_source, "method": row.method,
                         "score": row.score, "raw": row.raw, "seconds": row.seconds,
                         "skipped": row.skipped})
    return pd.DataFrame(rows), frames


def plot_heatmap(table, *, ax=None):
    """Methods x pairs heatmap of scores: which method survives which edit."""
    import matplotlib.pyplot as plt
    import numpy as np

    grid = table.pivot(index="method", columns="pair", values="score")
    grid = grid[list(dict.fromkeys(table["pair"]))]
    grid = grid.loc[list(dict.fromkeys(table["method"]))]
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * grid.shape[1], 1.0 + 0.5 * grid.shape[0]))
    else:
        fig = ax.figure
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1,
                      aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=40, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (y, x), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        ax.text(x, y, "skip" if value != value else f"{value:.2f}", ha="center",
                va="center", color="white" if value != value or value < 0.6 else "black",
                fontsize="small")
    fig.colorbar(image, ax=ax, label="score (1 = identical)")
    ax.set_title("score of each method on each edited copy (last column: unrelated image)")
    fig.tight_layout()
    return fig


def run_demo(out: str | Path, methods: Sequence[str] | None = None) -> str:
    """Write the demo table and figures into ``out``; return a printable summary."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import atomic_path, write_json
    from ..plotting import plot_comparison

    out = Path(out)
    table, frames = score_table(methods)
    with atomic_path(out / "scores.csv") as temporary:
        table.to_csv(temporary, index=False)
    write_json(out / "scores.json", table.to_dict(orient="records"))
    with atomic_path(out / "heatmap.png") as temporary:
        plot_heatmap(table).savefig(temporary, dpi=110, format="png")
    plt.close("all")
    for name, (pair, frame) in frames.items():
        figure = plot_comparison(pair.image_a, pair.image_b, frame, title=f"original vs {name}")
        with atomic_path(out / f"pair-{name.replace('/', '-').replace(' ', '-')}.png") as tmp:
            figure.savefig(tmp, dpi=80, format="png")
        plt.close(figure)
    grid = table.pivot(index="method", columns="pair", values="score")
    return f"{grid.round(2).to_string()}\n\nwrote {out}/scores.csv, scores.json, heatmap.png " \
           f"and {len(frames)} pair figures"
