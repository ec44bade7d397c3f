"""The benchmark report as a PNG: tokens/s per backend, with the decode roofline drawn in.

Two panels share the layout: decode tokens/s above (with min-max whiskers and,
over each bar, a black tick at that backend's roofline: read bandwidth over the
weight bytes it reads per token) and prefill tokens/s below. Bars are grouped by
quantization and thread count, one colour per backend (speculative rows are a
backend of their own: "native prompt-lookup"); they show batch 1. When several batch
sizes were measured, a third panel draws the aggregate decode tokens/s against the
batch size, one line per quantization x thread count, with the memory roofline
B x bandwidth / bytes per token dashed per quantization. matplotlib is an optional
extra (`pip install 'edge-reason[bench]'`).
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
    "native prompt-lookup": "#7fbf7b",
}
# The batch panel: one colour per quantization, one marker per thread count.
QUANT_COLOURS = {"int4": "#1b7837", "int8": "#2166ac", "f32": "#b2182b", "file": "#e08214"}
MARKERS = "osD^v<>"


def plot_report(report: dict[str, Any], path: str | Path) -> None:
    """Draw `report` (schema 1 or 2, from run_cases) into the PNG file `path`."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    every = report["results"]
    if not every:
        raise ValueError("the report has no results to plot")
    rows = [r for r in every if r.get("batch", 1) == 1]  # the bars: one prompt at a time
    batched = len({r.get("batch", 1) for r in every}) > 1
    groups = list(dict.fromkeys((r["quant"], r["threads"]) for r in rows))  # as measured
    backends = list(dict.fromkeys(_series(r) for r in rows))
    by_key = {(_series(r), r["quant"], r["threads"]): r for r in rows}
    width = 0.8 / len(backends)

    # constrained layout makes room for the legend below the panels; a legend beside them
    # (bbox_to_anchor) is invisible to tight_layout, which left half the image blank
    width_in = max(8.0 if batched else 6.0, 1.6 * len(groups) * len(backends) ** 0.5 + 1)
    fig = plt.figure(figsize=(width_in, 11.0 if batched else 7.5), layout="constrained")
    if batched:
        grid = fig.add_gridspec(3, 1, height_ratios=[1, 1, 1.2])
        decode_ax = fig.add_subplot(grid[0])
        prefill_ax = fig.add_subplot(grid[1], sharex=decode_ax)
        _plot_batches(fig.add_subplot(grid[2]), every, report["machine"])
    else:
        decode_ax, prefill_ax = fig.subplots(2, 1, sharex=True)
    decode_ax.tick_params(labelbottom=False)
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


def _series(r: dict[str, Any]) -> str:
    """A bar's backend label: the backend, then its speculative method if any."""
    return f"{r['backend']} {r['speculative']}" if r.get("speculative") else r["backend"]


def _plot_batches(ax: Any, rows: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    """Aggregate decode tokens/s against the batch size (log2), a line per quantization x
    thread count of the native engine's plain rows, and per quantization the roofline
    B x bandwidth / bytes per token at the highest bandwidth measured by thread count
    (median), dashed."""
    from matplotlib.ticker import FuncFormatter, NullLocator

    lines: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        if r["backend"] == "native" and not r.get("speculative"):
            lines.setdefault((r["quant"], r["threads"]), []).append(r)
    sizes = sorted({r.get("batch", 1) for rows_ in lines.values() for r in rows_})
    thread_counts = sorted({t for _, t in lines})
    for (quant, threads), measured in lines.items():
        measured.sort(key=lambda r: r.get("batch", 1))
        colour = QUANT_COLOURS.get(quant, "#666666")
        ax.errorbar(
            [r.get("batch", 1) for r in measured],
            [r["decode_tps"] for r in measured],
            yerr=[
                [r["decode_tps"] - r["decode_tps_min"] for r in measured],
                [r["decode_tps_max"] - r["decode_tps"] for r in measured],
            ],
            color=colour,
            marker=MARKERS[thread_counts.index(threads) % len(MARKERS)],
            capsize=3,
            label=f"{quant}, {threads} thread{'s' if threads > 1 else ''}",
        )
    bandwidth = machine.get("read_bandwidth_gbs", {})
    for quant in dict.fromkeys(q for q, _ in lines):
        measured = [r for (q, _), rs in lines.items() if q == quant for r in rs]
        bytes_per_token = max(r.get("bytes_per_token") or 0 for r in measured)
        gbs = max((bandwidth.get(str(r["threads"]), 0.0) for r in measured), default=0.0)
        if not bytes_per_token or not gbs:
            continue
        ax.plot(
            sizes,
            [b * gbs * 1e9 / bytes_per_token for b in sizes],
            linestyle="--",
            color=QUANT_COLOURS.get(quant, "#666666"),
            label=f"{quant} roofline: B x {gbs:.1f} GB/s / {bytes_per_token / 1e6:.0f} MB",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:g}"))
    ax.set_xlabel("batch size B (prompts decoded together, native engine)")
    ax.set_ylabel("aggregate decode tokens/s")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, loc="upper left")


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
