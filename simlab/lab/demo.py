"""The main job on built-in data: every method on every teaching pair.

``simlab demo --out DIR`` (and ``make demo``) writes ``scores.csv``, ``scores.json``,
a methods x pairs heatmap and one explaining figure per pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

__all__ = ["run_demo", "score_table", "plot_heatmap", "skipped_reasons"]


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


def skipped_reasons(table) -> dict[str, str]:
    """Why each method that produced no score was skipped: method -> reason.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"pair": ["a", "b"], "method": ["vgg16", "vgg16"],
    ...                       "score": [float("nan")] * 2, "skipped": ["no weights"] * 2})
    >>> skipped_reasons(table)
    {'vgg16': 'no weights'}
    """
    reasons: dict[str, str] = {}
    for row in table.itertuples():
        if isinstance(row.skipped, str):
            reasons.setdefault(row.method, row.skipped)
    return reasons


def plot_heatmap(table, *, ax=None):
    """Methods x pairs heatmap of scores: which method survives which edit.

    A method that could not run here gets a grey row marked "skipped", and the reason
    is written under the heatmap.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"pair": ["crop", "crop"], "method": ["sift", "vgg16"],
    ...                       "score": [0.8, float("nan")], "skipped": [None, "no weights"]})
    >>> fig = plot_heatmap(table)
    >>> "vgg16 skipped: no weights" in fig.texts[0].get_text()
    True
    """
    import textwrap

    import numpy as np

    from ..plotting import new_figure

    grid = table.pivot(index="method", columns="pair", values="score")
    grid = grid[list(dict.fromkeys(table["pair"]))]
    grid = grid.loc[list(dict.fromkeys(table["method"]))]
    reasons = skipped_reasons(table)
    width = 1.0 + 0.9 * grid.shape[1]
    caption = "\n".join(textwrap.fill(f"{method} skipped: {reason}",
                                       width=max(40, int(width * 14)))
                         for method, reason in reasons.items())
    extra = 0.16 * (caption.count("\n") + 1) + 0.2 if caption else 0.0
    if ax is None:
        fig, ax = new_figure(figsize=(width, 1.0 + 0.5 * grid.shape[0] + extra))
    else:
        fig = ax.figure
    values = grid.to_numpy(dtype=float)
    ax.set_facecolor("#d9d9d9")  # NaN cells are not drawn: the grey shows through
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=40, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (y, x), value in np.ndenumerate(values):
        skipped = value != value
        ax.text(x, y, "skipped" if skipped else f"{value:.2f}", ha="center",
                va="center", color="#444444" if skipped else
                ("white" if value < 0.6 else "black"), fontsize="small")
    fig.colorbar(image, ax=ax, label="score (1 = identical)")
    ax.set_title("score of each method on each edited copy (last column: unrelated image)")
    if caption:
        fig.text(0.01, 0.01, caption, fontsize="x-small", va="bottom", ha="left")
        fig.tight_layout(rect=(0, extra / fig.get_size_inches()[1], 1, 1))
    else:
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
    grid = grid.loc[list(dict.fromkeys(table["method"])), list(dict.fromkeys(table["pair"]))]
    grid = grid.round(2).astype(object)
    grid = grid.where(grid.notna(), "skipped")
    notes = "".join(f"\n{method} skipped: {reason}"
                    for method, reason in skipped_reasons(table).items())
    return f"{grid.to_string()}\n{notes}\n\nwrote {out}/scores.csv, scores.json, " \
           f"heatmap.png and {len(frames)} pair figures"
