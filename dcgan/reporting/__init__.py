"""Reporting: rows turned into what a reader sees, and two result sets judged against each other.

- ``tables``: rows -> pandas tables (the paper's Tables 1 and 2 with measured rows beside the
  quoted ones, baselines, generative metrics, throughput, the probe curve) and their display;
- ``plots``: the loss curves and the probe curve as PNG files;
- ``document``: a report folder (CSV and Markdown per table, report.md and report.html with
  the pictures);
- ``compare``: two result sets (or two variants in one), one noise-aware verdict per shared
  measurement, and the gate's exit code, for `dcgan compare` and the main job alike.

Reads rows (plain dicts) and image files only: may import results, the metrics' registry
(quality.metrics, for the compare's bands) and the package's lowest layers, never a stage.
"""
