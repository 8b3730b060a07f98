"""The leaderboard of finished runs, from what each run left behind (`lle-report`, notebooks).

`collect` finds the runs and makes one row per run, `tables` writes the CSV and Markdown tables, `plots` the
figures, `page` the HTML page (from `templates/index.html`), and `build.write_report` all of them into one
folder. The command line is `lle.cli.report`.
"""

from lle.report.build import FILES, write_report
from lle.report.collect import (
    bench_latencies,
    config_macs,
    find_runs,
    leaderboard,
    ranking_psnr,
    read_run,
)
from lle.report.page import write_html
from lle.report.plots import plot_per_image_psnr, plot_psnr_vs_macs
from lle.report.tables import (
    MARKDOWN_COLUMNS,
    csv_columns,
    markdown_table,
    write_csv,
    write_markdown,
)

__all__ = [
    "FILES",
    "MARKDOWN_COLUMNS",
    "bench_latencies",
    "config_macs",
    "csv_columns",
    "find_runs",
    "leaderboard",
    "markdown_table",
    "plot_per_image_psnr",
    "plot_psnr_vs_macs",
    "ranking_psnr",
    "read_run",
    "write_csv",
    "write_html",
    "write_markdown",
    "write_report",
]


def __getattr__(name: str):
    # `lle.report.main` predates lle.cli (console scripts installed before 0.2.0 still import it); imported
    # on first use so that the library does not import its own command line.
    if name == "main":
        from lle.cli.report import main

        return main
    raise AttributeError(f"module 'lle.report' has no attribute {name!r}")
