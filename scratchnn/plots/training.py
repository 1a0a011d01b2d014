"""Plots of training: the learning curves per epoch, and the tuning heatmap of a grid search.

* ``learning_curves``: training and validation loss, and validation accuracy, per epoch;
* ``tuning_heatmap``: validation accuracy over learning rate x hidden units,
  with the best batch size written in each cell.
"""

from __future__ import annotations

import numpy as np

from .figure import figure, save, with_white_background

__all__ = ["learning_curves", "tuning_heatmap"]


def learning_curves(history: list[dict], path, kept_epoch: int | None = None):
    """Loss (training, and validation if recorded) and validation accuracy against the epoch.

    With validation data, a star on both panels marks ``kept_epoch``: the epoch
    whose weights were saved (``History.best_epoch``). Without it, the star
    marks the epoch of the lowest validation loss, the one early stopping and
    Ctrl-C keep, which is not always the epoch of the best accuracy. Returns
    the ``Figure``, already written to ``path``.
    """
    epochs = [r["epoch"] for r in history]
    has_val = any("val_loss" in r for r in history)
    fig = figure(9 if has_val else 5, 3.6)
    axes = fig.subplots(1, 2 if has_val else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(epochs, [r["loss"] for r in history], marker="o", ms=3, label="training loss")
    if has_val:
        ax.plot(epochs, [r.get("val_loss") for r in history], marker="o", ms=3, label="validation loss")
    ax.set(xlabel="epoch", ylabel="loss (mean per row)", title="Loss")
    ax.grid(alpha=0.3)
    if has_val:
        with_val = [r for r in history if r.get("val_loss") is not None]
        lowest = min(with_val, key=lambda r: r["val_loss"])["epoch"]
        kept = lowest if kept_epoch is None else kept_epoch
        record = next((r for r in history if r["epoch"] == kept), None)
        if record is None:
            raise ValueError(f"kept_epoch must be one of the history's epochs, got {kept_epoch!r}")
        why = {epochs[-1]: " (the last epoch)", lowest: " (lowest validation loss)"}.get(kept, "")
        star = {"marker": "*", "ms": 12, "ls": "none", "color": "tab:red", "zorder": 3}
        ax.plot([kept], [record["val_loss"]], **star, label=f"saved: epoch {kept}{why}")
        # the second panel shows the validation score: accuracy for classes, R2 for a numeric target
        key, name = ("val_r2", "R2") if "val_r2" in record else ("val_accuracy", "accuracy")
        acc_ax = axes[1]
        acc_ax.plot(epochs, [r.get(key) for r in history], marker="o", ms=3, color="tab:green")
        if record.get(key) is not None:
            acc_ax.plot([kept], [record[key]], **star, label=f"saved: epoch {kept}, {name} {record[key]:.4f}")
            acc_ax.legend(loc="lower right")
        acc_ax.set(xlabel="epoch", ylabel=name, title=f"Validation {name}")
        acc_ax.grid(alpha=0.3)
    ax.legend()
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    save(fig, path)
    return fig


def _fmt(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def tuning_heatmap(rows: list[dict], path, defaults: dict | None = None) -> None:
    """Best validation accuracy for each (learning rate, hidden units) pair, best batch size inside.

    ``rows`` are grid-search results (settings plus ``val_accuracy`` and
    ``status``). A dimension missing from the grid takes its value from
    ``defaults`` (the base settings), so the map is drawn for any grid.
    Diverged cells are grey and say so.
    """
    defaults = defaults or {}

    def get(row, key):
        value = row.get(key, defaults.get(key))
        return tuple(value) if isinstance(value, list) else value

    lrs = sorted({get(r, "learning_rate") for r in rows}, key=float)
    # the architecture axis: the layer specs when the grid searches them, else the MLP's widths
    arch = "layers" if any(get(r, "layers") is not None for r in rows) else "hidden_units"
    if arch == "layers":
        units = sorted({get(r, arch) for r in rows}, key=str)
    else:
        units = sorted({get(r, arch) for r in rows}, key=lambda u: (np.prod(u), str(u)))
    acc = np.full((len(lrs), len(units)), np.nan)
    best_bs: dict[tuple[int, int], object] = {}
    diverged = set()
    for row in rows:
        i, j = lrs.index(get(row, "learning_rate")), units.index(get(row, arch))
        if row.get("status") != "ok" or row.get("val_accuracy") is None:
            diverged.add((i, j))
            continue
        if np.isnan(acc[i, j]) or row["val_accuracy"] > acc[i, j]:
            acc[i, j] = row["val_accuracy"]
            best_bs[i, j] = get(row, "batch_size")
    fig = figure(max(5.0, 1.3 * len(units) + 2.5), max(3.5, 0.75 * len(lrs) + 1.8))
    ax = fig.subplots()
    masked = np.ma.masked_invalid(acc)
    cmap = with_white_background("viridis").with_extremes(bad="lightgrey")
    finite = acc[np.isfinite(acc)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax - vmin < 0.01:  # one value (or nearly): give the colour bar a readable range
        vmin, vmax = vmin - 0.005, vmax + 0.005
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fig.colorbar(image, ax=ax, label="validation accuracy")
    labels = [_fmt(u) for u in units]
    long = arch == "layers" and max(map(len, labels)) > 12
    ax.set_xticks(range(len(units)), labels, rotation=20 if long else 0, ha="right" if long else "center")
    ax.set_yticks(range(len(lrs)), [_fmt(lr) for lr in lrs])
    xlabel = "layers" if arch == "layers" else "hidden units"
    ax.set(xlabel=xlabel, ylabel="learning rate", title="Grid search: best validation accuracy")
    mid = (vmin + vmax) / 2
    for i in range(len(lrs)):
        for j in range(len(units)):
            if np.isfinite(acc[i, j]):
                text = f"{acc[i, j]:.3f}\nbatch {_fmt(best_bs[i, j])}"
                colour = "black" if acc[i, j] > mid else "white"
            else:
                text, colour = ("diverged" if (i, j) in diverged else "-"), "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    save(fig, path)
