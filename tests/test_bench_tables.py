"""The benchmarks' table columns follow restorer.facts.METRICS."""
from bench.tables import metric_cells, metric_header, metric_keys


def test_columns_follow_the_metrics_table():
    rows = [{"psnr": 27.214, "lpips_alex": 0.20471}, {"ssim": 0.79661, "lpips_alex": 0.1}]
    keys = metric_keys(rows)
    assert keys == ["lpips_alex", "psnr", "ssim"]  # METRICS' order, not the rows'
    assert metric_header(keys) == "LPIPS-Alex ↓ | PSNR dB ↑ | SSIM ↑"
    assert metric_cells(rows[0], keys) == "0.2047 | 27.21 | -"
    assert metric_cells({"lpips_alex": 0.0, "psnr": float("inf"), "ssim": 1.0}, keys) == "0.0000 | ∞ | 1.0000"
