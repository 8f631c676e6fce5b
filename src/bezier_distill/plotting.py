"""PNG figures: sample scatters and ODE trajectories (2-D data), image grids, result plots."""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from .storage import atomic_write_bytes  # noqa: E402


def _save(fig, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _limits(arrays: list[Tensor]) -> tuple[float, float]:
    lo = min(float(a.quantile(0.005)) for a in arrays)
    hi = max(float(a.quantile(0.995)) for a in arrays)
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def scatter_panels(
    panels: dict[str, Tensor], path: str | Path, *, reference: Tensor | None = None, cols: int = 4
) -> None:
    """One scatter per entry of ``panels`` (title -> ``(N, 2)`` points), same axes for all.

    ``reference`` (the data) is drawn first as its own panel when given.
    """
    items = ([("data", reference)] if reference is not None else []) + list(panels.items())
    cols = min(cols, len(items))
    rows = math.ceil(len(items) / cols)
    lim = _limits([p.flatten() for _, p in items])
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(items) :]:
        ax.axis("off")
    for ax, (title, pts) in zip(axes.flat, items):
        pts = pts.detach().cpu()
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5, color="black" if title == "data" else "C0")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    _save(fig, path)


def trajectory_panels(panels: dict[str, Tensor], path: str | Path, *, lines: int = 200) -> None:
    """ODE paths per entry of ``panels`` (title -> ``(T, B, 2)``): start in grey, end in blue."""
    cols = len(panels)
    lim = _limits([p.flatten() for p in panels.values()])
    fig, axes = plt.subplots(1, cols, figsize=(3.8 * cols, 3.8), squeeze=False)
    for ax, (title, traj) in zip(axes.flat, panels.items()):
        traj = traj.detach().cpu()[:, :lines]
        ax.plot(traj[:, :, 0], traj[:, :, 1], color="C1", alpha=0.25, lw=0.6)
        ax.scatter(traj[0, :, 0], traj[0, :, 1], s=3, color="grey", label="x0")
        ax.scatter(traj[-1, :, 0], traj[-1, :, 1], s=3, color="C0", label="x1")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes.flat[0].legend(loc="lower left", fontsize=7, markerscale=3)
    _save(fig, path)


def _grid(n: int, width: float, height: float, cols: int = 2):
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def dot_plot(panels: dict[str, dict], path: str | Path, *, xlabel: str) -> None:
    """Per panel: methods on the y-axis, one marker series each with error bars (mean, sd).

    ``panels[title] = {"labels": [...], "series": {name: [(mean, sd) | None, ...]}, "floor": x}``.
    """
    height = max(3.0, 0.22 * max(len(p["labels"]) for p in panels.values()) + 1.0)
    fig, axes = _grid(len(panels), 6.0, height)
    for ax, (title, p) in zip(axes, panels.items()):
        y = list(range(len(p["labels"])))
        for j, (name, values) in enumerate(p["series"].items()):
            pts = [(v[0], v[1], yy + 0.15 * (j - 0.5)) for v, yy in zip(values, y) if v is not None]
            if pts:
                xs, sds, ys = zip(*pts)
                ax.errorbar(xs, ys, xerr=sds, fmt="o", ms=3.5, capsize=2, label=name)
        ax.axvline(p["floor"], color="grey", ls="--", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels(p["labels"], fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.invert_yaxis()
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _floor_axes(ax, title: str, floor: float | None, xlabel: str, ylabel: str) -> None:
    if floor is not None:
        ax.axhline(floor, color="grey", ls="--", lw=1, label="noise floor")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10)


def line_panels(panels: dict[str, dict], path: str | Path, *, xlabel: str, ylabel: str) -> None:
    """Per panel: lines of ``(x, mean, sd)`` points; ``panels[title] = {"series": ..., "floor": y}``
    (``floor`` None: no noise-floor line)."""
    fig, axes = _grid(len(panels), 4.8, 3.6)
    for ax, (title, p) in zip(axes, panels.items()):
        for name, pts in p["series"].items():
            xs, means, sds = zip(*pts)
            ax.errorbar(xs, means, yerr=sds, marker="o", ms=4, capsize=2, label=name)
        _floor_axes(ax, title, p["floor"], xlabel, ylabel)
        ax.set_xticks(sorted({x for pts in p["series"].values() for x, _, _ in pts}))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def xy_panels(panels: dict[str, dict], path: str | Path, *, xlabel: str, ylabel: str) -> None:
    """Per panel: scatter groups of ``(x, y, label)``; ``panels[title] = {"groups": ..., "floor": y}``."""
    fig, axes = _grid(len(panels), 4.8, 3.6)
    for ax, (title, p) in zip(axes, panels.items()):
        for name, pts in p["groups"].items():
            xs, ys, _ = zip(*pts)
            ax.scatter(xs, ys, s=14, label=name)
        _floor_axes(ax, title, p["floor"], xlabel, ylabel)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def frontier_panels(panels: dict[str, dict], path: str | Path, *, xlabel: str, ylabel: str) -> None:
    """Quality against compute, both on log axes. Per panel: ``lines`` (name -> ``(x, mean, sd)``
    points, joined in order of x), ``points`` (group name -> ``(x, y)`` scatter) and ``floor``."""
    fig, axes = _grid(len(panels), 4.8, 3.6)
    for ax, (title, p) in zip(axes, panels.items()):
        for name, pts in p["lines"].items():
            xs, means, sds = zip(*sorted(pts))
            ax.errorbar(xs, means, yerr=sds, marker="o", ms=4, capsize=2, label=name)
        for i, (name, pts) in enumerate(p["points"].items()):
            xs, ys = zip(*pts)
            ax.scatter(xs, ys, s=10, marker="x^sd"[i % 4], color="grey", alpha=0.7, label=name)
        _floor_axes(ax, title, p["floor"], xlabel, ylabel)
        ax.set_xscale("log")
        ax.legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)


VERDICT_COLOURS = {
    "better": "C2",
    "worse": "C3",
    "equivalent": "C0",
    "inconclusive": "grey",
    "metric-dependent": "C1",
}


def interval_panels(panels: dict[str, list[tuple]], path: str | Path, *, xlabel: str) -> None:
    """Per panel (a claim): one horizontal interval per item ``(label, mean, low, high, verdict,
    margin)``, coloured by the verdict, over a grey band of ±margin, with the zero line."""
    height = max(2.2, 0.32 * max((len(v) for v in panels.values()), default=1) + 1.2)
    fig, axes = _grid(max(len(panels), 1), 5.2, height)
    for ax, (title, items) in zip(axes, panels.items()):
        for y, (_, mean, low, high, verdict, margin) in enumerate(items):
            ax.fill_between([-margin, margin], y - 0.3, y + 0.3, color="0.88", lw=0)
            colour = VERDICT_COLOURS.get(verdict, "black")
            ax.plot([low, high], [y, y], color=colour, lw=2)
            ax.plot([mean], [y], "o", color=colour, ms=4)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(range(len(items)))
        ax.set_yticklabels([i[0] for i in items], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
    handles = [plt.Line2D([], [], color=c, lw=2, label=v) for v, c in VERDICT_COLOURS.items()]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="0.88", label="equivalence margin"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _save(fig, path)


def tile(images: Tensor, shape: tuple[int, int, int], cols: int = 8) -> Tensor:
    """Flat ``(N, C*H*W)`` images in [-1, 1] -> one ``(rows*H, cols*W, C)`` picture in [0, 1]."""
    c, h, w = shape
    x = ((images.float().reshape(-1, c, h, w).clamp(-1, 1) + 1) / 2).cpu()
    rows = math.ceil(x.shape[0] / cols)
    canvas = x.new_ones(c, rows * (h + 1) + 1, cols * (w + 1) + 1)
    for i, im in enumerate(x):
        r, k = divmod(i, cols)
        canvas[:, 1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + k * (w + 1) : 1 + k * (w + 1) + w] = im
    return canvas.permute(1, 2, 0)


def image_panels(
    panels: dict[str, Tensor], shape: tuple[int, int, int], path: str | Path, *, n: int = 32, cols: int = 4
) -> None:
    """One grid of the first ``n`` images per entry of ``panels`` (title -> flat images).

    In a translation figure put the inputs first: image i of every panel comes from input i.
    """
    items = list(panels.items())
    cols = min(cols, len(items))
    rows = math.ceil(len(items) / cols)
    per_row = 8
    aspect = (math.ceil(n / per_row) * shape[1]) / (per_row * shape[2])
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 3.2 * aspect * rows + 0.5 * rows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, images) in zip(axes.flat, items):
        picture = tile(images[:n], shape, per_row).numpy()
        ax.imshow(picture[..., 0] if shape[0] == 1 else picture, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    _save(fig, path)
