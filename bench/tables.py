"""Metric columns of the benchmarks' Markdown tables, named, ordered and rounded as
:data:`restorer.facts.METRICS` says (the CLI and the window read the same table)."""
from __future__ import annotations

from restorer.facts import METRICS, format_value

__all__ = ["metric_keys", "metric_header", "metric_cells"]


def metric_keys(results) -> list[str]:
    """Keys of :data:`METRICS` present in any of ``results`` (dicts of metric key -> value), in
    METRICS' order."""
    present = set().union(*(r.keys() for r in results))
    return [k for k in METRICS if k in present]


def metric_header(keys: list[str]) -> str:
    """``LPIPS-Alex ↓ | ... | PSNR dB ↑``: one header cell per key, with its unit and direction."""
    return " | ".join(" ".join(filter(None, (METRICS[k].name, METRICS[k].unit,
                                             "↑" if METRICS[k].higher_is_better else "↓"))) for k in keys)


def metric_cells(result: dict, keys: list[str]) -> str:
    """Cells of one row: each value with its metric's decimals; ``-`` where ``result`` lacks a key."""
    return " | ".join(format_value(result[k], METRICS[k].decimals) if k in result else "-" for k in keys)
