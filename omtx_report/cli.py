"""omtx-report: render dashboards from results directories.

omtx-report results/                 every screen's dashboard + results/index.html
omtx-report results/<screen>         one screen's dashboard (results/<screen>/report/)
omtx-report progress -c config.yaml  state of a running screen (terminal + progress page)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omtx_hub.layout import ScreenLayout
from omtx_hub.summary import UnreadableSummary
from omtx_report.data import find_screens, load_finished_screen
from omtx_report.progress import running_screen
from omtx_report.render import render_dashboard, render_index


def _dashboard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--top-n",
        type=int,
        help="show only the first N top hits (with depictions and in the structures zip); "
        "default: every best target of summary.json (report.top_n)",
    )
    parser.add_argument(
        "--viewer-structures",
        type=int,
        default=100,
        help="best targets whose structure is embedded for the offline 3D viewer (default 100)",
    )


def build(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="omtx-report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, help="results/ or results/<screen>")
    _dashboard_options(parser)
    args = parser.parse_args(argv)
    options = {
        "top_n": args.top_n,
        "viewer_structures": args.viewer_structures,
    }
    layout = ScreenLayout(args.path)
    if layout.summary.is_file():
        page = render_dashboard(load_finished_screen(args.path), layout.report, **options)
        print(page)
        return 0
    if not args.path.is_dir():
        parser.error(f"{args.path} is not a directory")
    screens = find_screens(args.path)
    for screen_dir in screens:
        layout = ScreenLayout(screen_dir)
        if layout.summary.is_file():
            print(render_dashboard(load_finished_screen(screen_dir), layout.report, **options))
    print(render_index(args.path, screens))
    return 0


def progress(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="omtx-report progress",
        description="Show a running or interrupted screen's state from its files (run it in "
        "the directory Snakemake runs in); writes results/<screen>/progress/index.html.",
    )
    parser.add_argument(
        "-c",
        "--configfile",
        nargs="+",
        type=Path,
        required=True,
        help="the screen's config file(s), as given to snakemake",
    )
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--no-page", action="store_true", help="only print the shard table")
    _dashboard_options(parser)
    args = parser.parse_args(argv)
    data, report = running_screen(args.configfile, args.results)
    print(report)
    if not args.no_page:
        page = render_dashboard(
            data,
            ScreenLayout(data.screen_dir).progress,
            top_n=args.top_n,
            viewer_structures=args.viewer_structures,
            live=True,
        )
        print(page)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "progress":
        return progress(argv[1:])
    try:
        return build(argv)
    except UnreadableSummary as error:  # the message names the file and what to run
        print(f"omtx-report: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
