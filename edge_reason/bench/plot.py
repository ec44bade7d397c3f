"""The benchmark report as a PNG: tokens/s per backend, with the decode roofline drawn in.

Two panels share the layout: decode tokens/s above (with min-max whiskers and,
over each bar, a black tick at that backend's roofline: read bandwidth over the
weight bytes it reads per token) and prefill tokens/s below. Bars are grouped by
quantization and thread count, one colour per backend. matplotlib is an
optional extra (`pip install 'edge-reason[bench]'`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# One colour per backend, the same in every plot.
COLOURS = {
    "native": "#1b7837",
    "llama.cpp": "#2166ac",
    "onnxruntime": "#b2182b",
    "tflite": "#e08214",
    "torch": "#762a83",
}


def plot_report(report: dict[str, Any], path: str | Path) -> None:
    """Draw `report` (schema 1, from run_cases) into the PNG file `path`."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    rows = report["results"]
    if not rows:
        raise ValueError("the report has no results to plot")
    groups = list(dict.fromkeys((r["quant"], r["threads"]) for r in rows))  # as measured
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    by_key = {(r["backend"], r["quant"], r["threads"]): r for r in rows}
    width = 0.8 / len(backends)

    # constrained layout makes room for the legend below the panels; a legend beside them
    # (bbox_to_anchor) is invisible to tight_layout, which left half the image blank
    fig, (decode_ax, prefill_ax) = plt.subplots(
        2,
        1,
        figsize=(max(6.0, 1.6 * len(groups) * len(backends) ** 0.5 + 1), 7.5),
        sharex=True,
        layout="constrained",
    )
    roofline_drawn = False
    labelled: set[str] = set()
    for b, backend in enumerate(backends):
        colour = COLOURS.get(backend, "#666666")
        for g, (quant, threads) in enumerate(groups):
            r = by_key.get((backend, quant, threads))
            if r is None:
                continue
            x = g + (b - (len(backends) - 1) / 2) * width
            label = None if backend in labelled else backend  # one legend entry each
            labelled.add(backend)
            whisker = [
                [r["decode_tps"] - r["decode_tps_min"]],
                [r["decode_tps_max"] - r["decode_tps"]],
            ]
            decode_ax.bar(
                x,
                r["decode_tps"],
                width,
                color=colour,
                label=label,
                yerr=whisker,
                capsize=3,
                error_kw={"elinewidth": 1},
            )
            prefill_ax.bar(x, r["prefill_tps"], width, color=colour)
            _label_bar(decode_ax, x, r["decode_tps"], top=r["decode_tps_max"])
            _label_bar(prefill_ax, x, r["prefill_tps"], top=r["prefill_tps"])
            if r.get("roofline_tps"):
                decode_ax.hlines(
                    r["roofline_tps"],
                    x - width / 2,
                    x + width / 2,
                    colors="black",
                    linewidth=2.5,
                    label=None
                    if roofline_drawn
                    else "roofline (median measured bandwidth / bytes per token)",
                )
                roofline_drawn = True

    decode_ax.set_ylabel("decode tokens/s")
    prefill_ax.set_ylabel("prefill tokens/s")
    s = report["settings"]
    decode_ax.set_title(
        f"{report['machine'].get('cpu', '')}\n{s['prompt_tokens']}-token prompt, "
        f"{s['gen_tokens']} decoded tokens, median of {s['repeats']}",
        fontsize=10,
    )
    prefill_ax.set_xticks(range(len(groups)))
    prefill_ax.set_xticklabels([f"{q}\n{t} thread{'s' if t > 1 else ''}" for q, t in groups])
    for ax in (decode_ax, prefill_ax):
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.15)
    handles, labels = decode_ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=min(3, len(labels)))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _label_bar(ax: Any, x: float, value: float, *, top: float) -> None:
    """Write `value` (whole tokens/s) just above height `top` of the bar at `x`."""
    ax.annotate(
        f"{value:.0f}",
        (x, top),
        ha="center",
        va="bottom",
        fontsize=8,
        xytext=(0, 2),
        textcoords="offset points",
    )
