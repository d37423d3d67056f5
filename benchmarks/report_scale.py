"""Dashboard scale: rendering a large screen's dashboard, then loading, sorting, filtering and
paging it in headless Chromium.

The screen is either one you already have (--screen-dir, e.g. a `bookkeeping.py --keep`
screen; its dashboard is rendered into --out, the screen is only read) or a new one of N
ligands in the workflow's real formats (omtx_hub.testing.synthetic: real plan, shard
manifests, summary.json and batch_results.csv/.parquet from omtx_hub.aggregate, one structure
file per target, hard-linked). Then
1. the dashboard is rendered in a fresh process: wall time, CPU seconds, peak memory, the
   page's size and its data pieces' (count and total);
2. the page is opened from file:// in headless /usr/bin/chromium, driven over the DevTools
   protocol (Playwright; nothing leaves the machine): the time from the page's request until
   the first page of the table is drawn (`dashboardReadyAt`, the page's own clock) and until
   the filters' data is in (`filtersReadyAt`, loaded in the background); then each step's
   time inside the page, from the click or keystroke until the table is drawn again, the
   pieces it needed loaded (`omtxDashboard.settled()`)
   and the layout done.

    python benchmarks/report_scale.py [--ligands 100000] [--keep DIR]
    python benchmarks/report_scale.py --screen-dir DIR --out DIR

The one-minute load average is printed before each part: on a shared machine other work
stretches every time.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, ligand_sheet, measure_with_cpu

from omtx_hub.testing.chromium import CHROMIUM, CHROMIUM_FLAGS
from omtx_hub.testing.synthetic import make_plan, write_screen

# Runs one step in the page; returns its milliseconds until the table is drawn again.
TIMED = """async ([selector, action, value]) => {
  const element = document.querySelector(selector);
  const started = performance.now();
  if (action === "click") element.click();
  else { element.value = value; element.dispatchEvent(new Event("input")); }
  await window.omtxDashboard.settled();
  document.body.offsetHeight;
  return performance.now() - started;
}"""
SORT = "th[data-key=affinity_probability_binary]"
STEPS = {
    "sort_binder_probability": (SORT, "click", ""),
    "sort_again_descending": (SORT, "click", ""),
    "next_page": ("#page-next", "click", ""),
    "sort_ligand_name": ("th[data-key=ligand_name]", "click", ""),
    "sort_affinity": ("th[data-key=affinity_pred_value]", "click", ""),
    "filter_text_first_keystroke": ("#filter-text", "input", "c"),
    "filter_text_CPD-00012": ("#filter-text", "input", "cpd-00012"),
    "clear_text_filter": ("#filter-text", "input", ""),
    "filter_binder_probability_0.9": ("#filter-pmin", "input", "0.9"),
    "clear_binder_probability": ("#filter-pmin", "input", ""),
    "filter_status_failed": ("#filter-status", "input", "failed"),
    "select_a_row": ("#targets tbody tr", "click", ""),
    "select_last_top_hit": (".hits .hit:last-child", "click", ""),
}
RENDER = (
    "import sys; from omtx_report.data import load_finished_screen; "
    "from omtx_report.render import render_dashboard; "
    "print(render_dashboard(load_finished_screen(sys.argv[1]), sys.argv[2]))"
)


def load_average() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def browser_timings(page_path: Path, profile: Path) -> dict[str, float | str]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        tab = context.new_page()
        started = time.perf_counter()
        tab.goto(page_path.as_uri())
        tab.wait_for_function("window.dashboardReady === true", timeout=120_000, polling=20)
        timings: dict[str, float | str] = {"load_seen_by_driver_s": time.perf_counter() - started}
        tab.wait_for_function("window.filtersReady === true", timeout=300_000, polling=20)
        # The page's own clock, from the request of the page: the driver's polls wait while
        # the page's thread is busy.
        timings["load_s"] = tab.evaluate("window.dashboardReadyAt") / 1000
        timings["filters_data_loaded_s"] = tab.evaluate("window.filtersReadyAt") / 1000
        for name, step in STEPS.items():
            timings[f"{name}_s"] = tab.evaluate(TIMED, list(step)) / 1000
            if name == "filter_status_failed":
                timings["rows_after_filters"] = tab.text_content("#page-info")
        context.close()
    return timings


def synthetic_screen(workdir: Path, ligands: int) -> Path:
    with open(ligand_sheet(ligands)) as handle:
        rows = [(r["name"], r["smiles"], r["series"]) for r in csv.DictReader(handle)]
    started = time.perf_counter()
    plan = make_plan(workdir, rows, screen="scale", shard_size=100, top_n=20)
    shutil.rmtree(workdir / "results", ignore_errors=True)  # --keep: the store's sheet cache stays
    screen_dir = write_screen(plan, workdir / "results", failed_every=97)
    print(
        f"setup (plan + {len(rows):,} results written): {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return screen_dir


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ligands", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--screen-dir", type=Path, help="an aggregated screen to render")
    parser.add_argument("--out", type=Path, help="the dashboard's folder (with --screen-dir)")
    arguments = parser.parse_args()
    if arguments.screen_dir:
        if not arguments.out:
            parser.error("--screen-dir needs --out: the screen's own folder is not written")
        screen_dir, out = arguments.screen_dir.resolve(), arguments.out.resolve()
        workdir = out.parent
    else:
        workdir = arguments.keep or Path(tempfile.mkdtemp(prefix="omtx-report-scale-"))
        workdir.mkdir(parents=True, exist_ok=True)
        screen_dir = synthetic_screen(workdir, arguments.ligands)
        out = screen_dir / "report"

    print(f"render: {load_average()}")
    command = [sys.executable, "-c", RENDER, str(screen_dir), str(out)]
    wall, cpu, peak = measure_with_cpu(command, cwd=REPO)
    page = out / "index.html"
    pieces = list((out / "data").glob("*.js"))
    print(
        f"render {screen_dir}: {wall:.1f} s wall, {cpu:.1f} s CPU (fresh process, imports "
        f"included), peak RSS {peak:.0f} MiB; index.html {page.stat().st_size / 2**20:.1f} MiB, "
        f"{len(pieces):,} data pieces {sum(p.stat().st_size for p in pieces) / 2**20:.0f} MiB"
    )
    print(f"chromium: {load_average()}")
    for name, value in browser_timings(page, workdir / "chromium-profile").items():
        print(f"chromium {name}: {value if isinstance(value, str) else f'{value:.3f}'}")
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
