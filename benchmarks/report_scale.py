"""Dashboard scale: rendering a 100,000-target screen, and sorting/filtering it in Chromium.

Writes a finished screen of N ligands in the workflow's real formats (omtx_hub.testing.synthetic:
real plan, shard manifests, summary.json and batch_results.csv from omtx_hub.aggregate, one
structure file per target, hard-linked), then
1. runs `omtx-report <screen dir>` in a fresh process: wall time, peak memory, page size;
2. opens the page in headless /usr/bin/chromium (Playwright) and times, inside the page, a
   sort click and a filter keystroke including the re-layout, and the page load.

    python benchmarks/report_scale.py [--ligands 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, ligand_sheet, measure

from omtx_hub.testing.chromium import CHROMIUM, CHROMIUM_FLAGS
from omtx_hub.testing.synthetic import make_plan, write_screen

# Runs one interaction synchronously in the page and returns its milliseconds, layout included.
TIMED = """([selector, action, value]) => {
  const element = document.querySelector(selector);
  const started = performance.now();
  if (action === "click") element.click();
  else { element.value = value; element.dispatchEvent(new Event("input")); }
  document.body.offsetHeight;
  return performance.now() - started;
}"""


def browser_timings(page_path: Path, profile: Path) -> dict[str, float]:
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
        tab.wait_for_function("window.dashboardReady === true", timeout=120_000)
        timings = {"load_s": time.perf_counter() - started}
        steps = {
            "sort_binder_probability": ("th[data-key=affinity_probability_binary]", "click", ""),
            "sort_again_descending": ("th[data-key=affinity_probability_binary]", "click", ""),
            "sort_ligand_name": ("th[data-key=ligand_name]", "click", ""),
            "filter_text_first_keystroke": ("#filter-text", "input", "c"),
            "filter_text_CPD-00012": ("#filter-text", "input", "cpd-00012"),
            "clear_text_filter": ("#filter-text", "input", ""),
            "filter_binder_probability_0.9": ("#filter-pmin", "input", "0.9"),
        }
        for name, step in steps.items():
            timings[f"{name}_s"] = tab.evaluate(TIMED, list(step)) / 1000
        timings["rows_after_filters"] = tab.text_content("#page-info")
        context.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ligands", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    arguments = parser.parse_args()
    workdir = arguments.keep or Path(tempfile.mkdtemp(prefix="omtx-report-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with open(ligand_sheet(arguments.ligands)) as handle:
        rows = [(r["name"], r["smiles"], r["series"]) for r in csv.DictReader(handle)]
    started = time.perf_counter()
    plan = make_plan(workdir, rows, screen="scale", shard_size=100, top_n=20)
    shutil.rmtree(workdir / "results", ignore_errors=True)  # --keep: the store's sheet cache stays
    screen_dir = write_screen(plan, workdir / "results", failed_every=97)
    print(
        f"setup (plan + {len(rows):,} results written): {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )

    command = [sys.executable, "-m", "omtx_report.cli", str(screen_dir)]
    wall, peak = measure(command, cwd=REPO)
    page = screen_dir / "report" / "index.html"
    print(
        f"render {len(rows):,} targets: {wall:.1f} s wall (fresh process, imports included), "
        f"peak RSS {peak:.0f} MiB, index.html {page.stat().st_size / 2**20:.1f} MiB"
    )
    for name, value in browser_timings(page, workdir / "chromium-profile").items():
        print(f"chromium {name}: {value if isinstance(value, str) else f'{value:.3f}'}")


if __name__ == "__main__":
    main()
