"""Plots on bare matplotlib figures, as MLflow draws them (its dpi, fonts and line styles).

Shared by ``mltrail.evaluate``'s classifier artifacts and sklearn autologging's
training plots (:mod:`mltrail.sklearn._plots`), so neither imports the other.
Each plot gets its own ``matplotlib.figure.Figure``, saved through the Agg
canvas: nothing is added to pyplot's figure list and the user's backend is left
as it was. matplotlib is imported only when a figure is drawn.

Example::

    save_figure(lambda fig: fig.subplots().plot([0, 1], [0, 1]), "line.png", figsize=(6.0, 4.0))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_DPI = 175  # MLflow's resolution for these plots (its figure.dpi / savefig.dpi)


@dataclass(frozen=True)
class TrainingPlot:
    """One plot to draw: its artifact name (without ``.png``), title, size and drawing call."""

    name: str
    title: str
    draw: Callable[[Any], Any]  # axes -> an sklearn Display drawn on them
    figsize: tuple[float, float] | None = None  # None: matplotlib's default size
    font_size: float = 8.0

    def draw_on(self, figure: Any) -> None:
        """Draw the plot on new axes of ``figure`` and give it its title."""
        self.draw(figure.subplots()).ax_.set_title(self.title)


def confusion_matrix_plot(name: str, draw: Callable[[Any], Any], font_size: float) -> TrainingPlot:
    """MLflow's normalized confusion matrix (6 x 4 inches, its title); ``draw`` puts the display on the axes.

    Shared by sklearn autologging and the classifier artifacts of ``mltrail.evaluate``.
    """
    return TrainingPlot(
        name=name, title="Normalized confusion matrix", draw=draw, figsize=(6.0, 4.0), font_size=font_size
    )


def render(plot: TrainingPlot, path: str) -> None:
    """Draw ``plot`` on a new bare ``Figure`` and save it as a PNG at ``path``."""
    save_figure(plot.draw_on, path, figsize=plot.figsize, font_size=plot.font_size)


def save_figure(
    draw: Callable[[Any], Any],
    path: str,
    figsize: tuple[float, float] | None = None,
    font_size: float = 8.0,
    tight_bbox: bool = False,
) -> None:
    """Call ``draw(figure)`` on a new bare ``Figure`` (MLflow's dpi and fonts) and save it as a PNG.

    ``tight_bbox`` crops the PNG to what was drawn, legends outside the axes included
    (MLflow's evaluator saves its plots with ``bbox_inches="tight"``). Shared by sklearn
    autologging and ``mltrail.evaluate``'s classifier plots.
    """
    import matplotlib
    from matplotlib.figure import Figure

    # rc_context restores the user's rcParams (never the backend) on exit; fonts are read
    # from them while the artists are created and while the figure is laid out and saved.
    with matplotlib.rc_context({"font.size": font_size, "axes.labelsize": 8.0}):
        figure = Figure(figsize=figsize, dpi=_DPI, layout="tight")
        draw(figure)
        figure.savefig(path, format="png", dpi=_DPI, bbox_inches="tight" if tight_bbox else None)


def line_curves(
    ax: Any,
    series: list[tuple[str, Any, Any]],
    xlabel: str,
    ylabel: str,
    title: str,
    diagonal: tuple[list[float], list[float]],
    legend_outside: bool = False,
) -> None:
    """MLflow's ROC / precision-recall drawing: one stepped line per ``(label, x, y)``, a dashed reference line.

    ``diagonal`` is the reference line's ``(xs, ys)``; ``legend_outside`` puts the legend right
    of the axes (one line per class, as for a multiclass model).
    """
    for label, xs, ys in series:
        ax.plot(xs, ys, label=label, drawstyle="steps-post", linewidth=1)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.plot(*diagonal, color="gray", alpha=0.3, drawstyle="default", linestyle="dashed")
    if legend_outside:
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5))
    else:
        ax.legend(loc="best")
