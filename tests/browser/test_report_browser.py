"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright.

Checks what a user does: sort, filter, page, select a target and see its 3D structure drawn
(pixels in the WebGL canvas), with no request leaving the page and no console error.
"""

from __future__ import annotations

import io
from pathlib import Path

import gemmi
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from omtx_hub.aggregate import write_csv, write_parquet
from omtx_hub.testing.chromium import CHROMIUM, CHROMIUM_FLAGS
from omtx_hub.testing.synthetic import make_plan, write_screen
from omtx_report import render, table_data
from omtx_report.cli import main
from omtx_report.data import read_parquet_table
from tests.dashboard_pages import page_table
from tests.unit.test_screen_consensus import aggregated_consensus_screen

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="BROWSER TESTS SKIPPED: /usr/bin/chromium is missing (`make browser` installs it)",
)
FLAGS = ["--headless", *CHROMIUM_FLAGS]
HOSTILE = "<script>alert(1)</script>"
# Runs only if a name is ever inserted as markup (a <script> added through innerHTML never runs).
EVENT_HANDLER = "<img src=x onerror=alert(3)>"
SMILES = [
    "CCO",
    "CCN",
    "CCC",
    "c1ccccc1",
    "CC(=O)O",
    "CCCl",
    "CCBr",
    "CCOC",
    "CCCN",
    "OCCO",
    "CCCCl",
    "CCCBr",
    "CC(C)O",
    "CC(C)N",
    "c1ccncc1",
    "CCC(=O)O",
    "CCCCC",
    "CCOCC",
]
ROWS = [(f"L{i}", smiles, "lead") for i, smiles in enumerate(SMILES)]
ROWS += [(HOSTILE, "CCCCO", '"><img src=x onerror=alert(2)>'), (EVENT_HANDLER, "CCCCN", "lead")]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One Chromium for this module's tests. Not for the session: Playwright's sync API keeps
    an asyncio loop running in the main thread until it stops, and in-process Snakemake runs
    of later tests (random order) then fail with NestedCoroutineError."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A persistent context is a fresh --user-data-dir of our own.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser):
    """A tab that records every non-file request, console error and dialog."""
    tab = browser.new_page()
    tab.external_requests, tab.problems = [], []
    tab.on(
        "request",
        lambda r: r.url.startswith(("file:", "data:")) or tab.external_requests.append(r.url),
    )
    tab.on("console", lambda m: m.type == "error" and tab.problems.append(m.text))
    tab.on("pageerror", lambda error: tab.problems.append(str(error)))
    tab.on(
        "dialog",
        lambda dialog: (tab.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()),
    )
    yield tab
    tab.close()


def render_screen(
    root: Path, rows, *, cif_scale: float = 1.0, msa_files: bool = False, triage=None
) -> Path:
    plan = make_plan(root, rows, shard_size=5, msa_files=msa_files, triage=triage)
    screen_dir = write_screen(plan, root / "results", failed_every=6, cif_scale=cif_scale)
    assert main([str(screen_dir)]) == 0
    return screen_dir / "report" / "index.html"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Path:
    # With triage rules: the chemistry and triage columns are shown (they are opt-in).
    return render_screen(
        tmp_path_factory.mktemp("dashboard"), ROWS, triage={"exclude_alerts": ["PAINS"]}
    )


def column(tab, key: str) -> list:
    texts = tab.locator(f"#targets tbody td[data-key={key}]").all_text_contents()
    return [float(t) if t else None for t in texts]


def canvas_pixels(tab) -> int:
    """Pixels of the viewer that are clearly not its white background."""
    image = Image.open(io.BytesIO(tab.locator("#viewer canvas").screenshot())).convert("RGB")
    return sum(min(pixel) < 200 for pixel in image.get_flattened_data())


def open_dashboard(tab, page_path: Path) -> None:
    tab.goto(page_path.as_uri())
    tab.wait_for_function("window.dashboardReady === true")


def test_sort_filter_select_and_view(page, dashboard, tmp_path):
    open_dashboard(page, dashboard)
    assert page.locator("#targets tbody tr").count() == len(ROWS)

    page.click("th[data-key=affinity_probability_binary]")
    values = column(page, "affinity_probability_binary")
    completed = [v for v in values if v is not None]
    assert completed == sorted(completed) and values[-3:] == [None] * 3  # failed rows last
    page.click("th[data-key=affinity_probability_binary]")
    assert page.get_attribute("th[data-key=affinity_probability_binary]", "aria-sort") == (
        "descending"
    )
    completed = [v for v in column(page, "affinity_probability_binary") if v is not None]
    assert completed == sorted(completed, reverse=True)

    page.fill("#filter-pmin", "0.5")
    assert all(v >= 0.5 for v in column(page, "affinity_probability_binary"))
    page.fill("#filter-pmin", "")
    page.select_option("#filter-status", "failed")
    failed = page.locator("#targets tbody td[data-key=status]").all_text_contents()
    assert len(failed) == 3 and all("synthetic failure" in text for text in failed)
    page.select_option("#filter-status", "")
    page.fill("#filter-text", "alert")
    names = page.locator("#targets tbody td[data-key=ligand_name]").all_text_contents()
    assert names == [HOSTILE, EVENT_HANDLER]  # shown as text, never run
    for hostile in (HOSTILE, EVENT_HANDLER):
        page.fill("#filter-text", hostile)
        page.locator("#targets tbody tr").first.click()
        assert page.text_content("#detail-title") == hostile
        assert page.locator("#detail-title *").count() == 0
    page.fill("#filter-text", "")

    page.click("th[data-key=rank]")
    page.locator("#targets tbody tr").first.click()
    page.wait_for_function("!!window.viewerReady", timeout=30_000)
    assert "protein cartoon" in page.text_content("#viewer-message")
    assert canvas_pixels(page) > 1000
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert page.external_requests == []
    assert page.problems == []


def test_no_sheet_value_became_an_element(page, dashboard):
    """Every place a name is shown (best hit, top hits, table, detail title) holds it as text."""
    open_dashboard(page, dashboard)
    for row in range(page.locator("#targets tbody tr").count()):
        page.locator("#targets tbody tr").nth(row).click()
    assert page.locator("img[src=x], script:not([src]):text('alert')").count() == 0
    handlers = "document.querySelectorAll('[onerror], [onload], [onmouseover]').length"
    assert page.evaluate(handlers) == 0
    assert page.problems == []  # no dialog opened, no error


def test_content_security_policy_is_in_force(page, dashboard):
    open_dashboard(page, dashboard)
    policy = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert "default-src 'self' data: blob:" in policy and "connect-src 'self'" in policy
    blocked = page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener("securitypolicyviolation",
                                      event => resolve(event.effectiveDirective));
            fetch("http://127.0.0.1:9/leak").catch(() => {});
        })"""
    )
    assert blocked == "connect-src"
    assert page.external_requests == []


def test_random_weight_structure_still_draws(page, tmp_path):
    """Random weights put atoms thousands of Å apart: the viewer draws spheres and says so."""
    spread = render_screen(tmp_path, ROWS[:3], cif_scale=400.0)
    open_dashboard(page, spread)
    page.locator("#targets tbody tr").first.click()
    page.wait_for_function("!!window.viewerReady", timeout=30_000)
    assert "implausible geometry" in page.text_content("#viewer-message")
    assert canvas_pixels(page) > 200
    assert page.external_requests == [] and page.problems == []


def test_index_links_to_the_dashboard(page, dashboard):
    results = dashboard.parents[2]
    assert main([str(results)]) == 0
    page.goto((results / "index.html").as_uri())
    page.click("tr[data-screen=synthetic] a:text('dashboard')")
    page.wait_for_function("window.dashboardReady === true")
    assert page.title().startswith("synthetic")
    assert page.external_requests == [] and page.problems == []


def test_flags_are_badges_and_filter_the_table(page, tmp_path):
    rows = [
        ("racemate", "CC(F)c1ccccc1", "lead"),
        ("hydrochloride", "CN(C)Cc1ccccc1.Cl", "lead"),
        ("relative", "C[C@H](F)c1ccccc1 |&1:1|", "lead"),
        ("plain", "CCO", "lead"),
    ]
    # With an MSA, so that the rows carry only their ligands' flags (no no-msa).
    open_dashboard(page, render_screen(tmp_path, rows, msa_files=True))
    badges = page.locator("#targets tbody td[data-key=flags] .badge-flag")
    assert sorted(badges.all_text_contents()) == ["enhanced-stereo", "undefined-stereo"]
    assert badges.first.get_attribute("title")  # what the code means, on hover
    page.select_option("#filter-flag", "undefined-stereo")
    names = page.locator("#targets tbody td[data-key=ligand_name]").all_text_contents()
    assert names == ["racemate"]
    page.select_option("#filter-flag", "-")
    names = page.locator("#targets tbody td[data-key=ligand_name]").all_text_contents()
    assert sorted(names) == ["hydrochloride", "plain"]
    page.select_option("#filter-flag", "*")
    assert page.locator("#targets tbody tr").count() == 2
    page.select_option("#filter-flag", "")
    # The table shows the modelled molecule; the sheet's SMILES is in its tooltip and details.
    page.fill("#filter-text", "hydrochloride")
    cell = page.locator("#targets tbody td[data-key=modeled_smiles]").first
    assert cell.text_content() == "CN(C)Cc1ccccc1"
    assert "sheet: CN(C)Cc1ccccc1.Cl" in cell.get_attribute("title")
    page.locator("#targets tbody tr").first.click()
    details = page.text_content("#detail-body")
    assert "CN(C)Cc1ccccc1.Cl" in details and "counter-ion removed: chloride" in details
    assert page.external_requests == [] and page.problems == []


def test_single_sequence_rows_show_the_no_msa_badge(page, dashboard):
    # The synthetic screen's protein is single-sequence: every row carries the flag.
    open_dashboard(page, dashboard)
    rows = page.locator("#targets tbody tr").count()
    badges = page.locator("#targets tbody td[data-key=flags] .badge-flag")
    assert badges.all_text_contents() == ["no-msa"] * rows
    assert badges.first.get_attribute("title") == "no MSA: reduced accuracy"
    assert page.locator("#card-proteins .badge-flag").all_text_contents() == [
        "no MSA: reduced accuracy"
    ]
    assert page.problems == []


def selectivity_column(tab, key: str) -> list:
    texts = tab.locator(f"#selectivity tbody td[data-key={key}]").all_text_contents()
    return [float(t) if t else None for t in texts]


def test_selectivity_view_sorts_and_opens_each_targets_details(page, tmp_path):
    plan = make_plan(
        tmp_path,
        ROWS,
        shard_size=5,
        proteins=2,
        selectivity={"target": "P1", "anti_targets": ["P2"]},
    )
    screen_dir = write_screen(plan, tmp_path / "results", failed_every=6)
    assert main([str(screen_dir)]) == 0
    open_dashboard(page, screen_dir / "report" / "index.html")
    page.wait_for_function("window.selectivityReady === true")
    assert page.locator("#selectivity tbody tr").count() == len(ROWS)  # one per compound

    header = "#selectivity th[data-key=selectivity_pic50]"
    page.click(header)  # highest first
    assert page.get_attribute(header, "aria-sort") == "descending"
    margins = selectivity_column(page, "selectivity_pic50")
    compared = [m for m in margins if m is not None]
    assert compared == sorted(compared, reverse=True) and len(compared) < len(margins)
    assert margins[len(compared) :] == [None] * (len(margins) - len(compared))  # missing last
    page.click(header)
    compared = [m for m in selectivity_column(page, "selectivity_pic50") if m is not None]
    assert compared == sorted(compared)

    # A compound's score on the anti-target opens that target's details.
    first = page.locator("#selectivity tbody tr").first
    name = first.locator("td[data-key=ligand_name]").text_content()
    first.locator("td[data-key=pic50_P2] a.select-row").click()
    assert page.text_content("#detail-title") == name
    assert "P2" in page.text_content("#detail-body")
    assert page.external_requests == [] and page.problems == []


def test_selected_targets_persist_and_export_a_purchase_list(page, dashboard, tmp_path):
    open_dashboard(page, dashboard)
    page.click("th[data-key=rank]")
    rows = page.locator("#targets tbody tr")
    chosen = [rows.nth(0), rows.nth(2)]
    names = [row.locator("td[data-key=ligand_name]").text_content() for row in chosen]
    for row in chosen:
        row.locator("input.purchase-select").check()
    assert page.text_content("#purchase-count") == "2 selected"
    # Ticking a box does not open the row's details.
    assert page.text_content("#detail-title") == "Select a target"
    # Kept per screen in the browser: the ticks survive a reload, and follow the rows when
    # the table is sorted, filtered or paged.
    open_dashboard(page, dashboard)
    assert page.text_content("#purchase-count") == "2 selected"
    page.fill("#filter-text", names[1])
    assert page.locator("#targets tbody input.purchase-select:checked").count() == 1
    page.fill("#filter-text", "")

    with page.expect_download() as download:
        page.click("#purchase-export")
    path = tmp_path / "purchase.csv"
    download.value.save_as(path)
    assert download.value.suggested_filename.endswith("_purchase_list.csv")
    bought = pd.read_csv(path)
    assert sorted(bought["ligand_name"]) == sorted(names)
    assert {"smiles", "affinity_probability_binary", "alerts", "structure"} <= set(bought)
    assert all(
        href.endswith(name)
        for href, name in zip(bought["structure_href"], bought["structure"], strict=True)
    )

    page.click("#purchase-clear")
    assert page.text_content("#purchase-count") == "0 selected"
    assert page.is_disabled("#purchase-export")


def every_page(tab, key: str) -> list:
    """A column's values on every page of the table, from the first page to the last."""
    if tab.locator("#page-prev").is_enabled():
        tab.evaluate("window.omtxDashboard.settled()")
    values = column(tab, key)
    while tab.locator("#page-next").is_enabled():
        tab.click("#page-next")
        tab.evaluate("window.omtxDashboard.settled()")
        values += column(tab, key)
    return values


def test_a_screen_in_many_pieces_pages_sorts_filters_and_selects_as_one(
    page, tmp_path, monkeypatch
):
    """Rows in data pieces of 3, 5 to a page: each page, sort, filter and selection loads the
    pieces it needs (asynchronously, from file://) and shows what a one-piece screen shows."""
    monkeypatch.setattr(table_data, "CHUNK_ROWS", 3)
    monkeypatch.setattr(render, "PAGE_SIZE", 5)
    dashboard = render_screen(tmp_path, ROWS)
    settled = "window.omtxDashboard.settled()"
    open_dashboard(page, dashboard)
    assert page.text_content("#page-info") == "Page 1 of 4 · 20 of 20 targets"
    # A link to a row (as the selectivity view draws them) whose piece no page has loaded.
    last = len(ROWS) - 1
    page.evaluate(
        """row => { const link = document.createElement("a");
                    link.className = "select-row"; link.dataset.row = row;
                    document.body.appendChild(link); link.click(); }""",
        last,
    )
    page.evaluate(settled)
    assert (
        page.text_content("#detail-title") == page_table(dashboard)["values"]["ligand_name"][last]
    )
    ranks = every_page(page, "rank")
    assert len(ranks) == len(ROWS) and ranks == sorted(ranks)

    page.click("#page-prev")  # back to the first page before sorting
    page.click("th[data-key=affinity_probability_binary]")
    page.evaluate(settled)
    page.click("th[data-key=affinity_probability_binary]")
    page.evaluate(settled)
    assert page.text_content("#page-info").startswith("Page 1 of 4")
    values = every_page(page, "affinity_probability_binary")
    completed = [v for v in values if v is not None]
    assert completed == sorted(completed, reverse=True) and values[len(completed) :] == [None] * 3

    page.fill("#filter-pmin", "0.5")
    page.evaluate(settled)
    passing = every_page(page, "affinity_probability_binary")
    assert passing == [v for v in completed if v >= 0.5]
    page.fill("#filter-pmin", "")
    page.fill("#filter-text", "alert")
    page.evaluate(settled)
    names = page.locator("#targets tbody td[data-key=ligand_name]").all_text_contents()
    assert sorted(names) == sorted([HOSTILE, EVENT_HANDLER])
    page.fill("#filter-text", "")
    page.evaluate(settled)

    assert page.external_requests == [] and page.problems == []


def test_posebusters_and_triage_filters_and_interactions_in_the_details(page, tmp_path):
    """The pose checks' columns as aggregation writes them: PoseBusters shown and filtered
    (pass, fail, not checked) through its filter-column piece, a pose's interactions listed
    in its details; the triage verdicts filtered by passing, failing any rule, or failing one
    rule (a property window's rule whatever value each row quotes)."""
    rows = [(f"L{i}", smiles, "") for i, smiles in enumerate(["CCO", "CCN", "CCC", "CCCl"])]
    plan = make_plan(tmp_path, rows, shard_size=5, msa_files=True)
    screen_dir = write_screen(plan, tmp_path / "results")
    table = read_parquet_table(screen_dir / "batch_results.parquet")
    table = table.sort_values("ligand_name").reset_index(drop=True)  # L0 to L3, each once
    table["posebusters_pass"] = pd.array([True, False, None, True], dtype="boolean")
    table["posebusters_failed"] = ["", "bond_lengths", None, ""]
    table["interactions"] = ["A:MET318:hbond-donor;A:LYS271:ionic", "", None, ""]
    table["triage"] = [
        "pass",
        "posebusters; mw 512.25 outside [-, 500]",
        "no posebusters_pass",
        "mw 600 outside [-, 500]",
    ]
    write_csv(table, screen_dir / "batch_results.csv")
    write_parquet(table, screen_dir / "batch_results.parquet")
    assert main([str(screen_dir)]) == 0
    open_dashboard(page, screen_dir / "report" / "index.html")
    settled = "window.omtxDashboard.settled()"

    def cells(key: str) -> list[str]:
        return page.locator(f"#targets tbody td[data-key={key}]").all_text_contents()

    shown = dict(zip(cells("ligand_name"), cells("posebusters_pass"), strict=True))
    assert shown == {"L0": "True", "L1": "False", "L2": "", "L3": "True"}
    for wanted, expected in (("True", {"L0", "L3"}), ("False", {"L1"}), ("-", {"L2"})):
        page.select_option("#filter-posebusters", wanted)
        page.evaluate(settled)
        assert set(cells("ligand_name")) == expected, wanted
    page.select_option("#filter-posebusters", "")
    choices = page.locator("#filter-triage option").all_text_contents()
    assert choices == [
        "all",
        "pass",
        "fails a rule",
        "fails mw outside [-, 500] (2)",
        "fails no posebusters_pass (1)",
        "fails posebusters (1)",
    ]
    for wanted, expected in (
        ("pass", {"L0"}),
        ("*", {"L1", "L2", "L3"}),
        ("mw outside [-, 500]", {"L1", "L3"}),
        ("posebusters", {"L1"}),
    ):
        page.select_option("#filter-triage", wanted)
        page.evaluate(settled)
        assert set(cells("ligand_name")) == expected, wanted
    page.select_option("#filter-posebusters", "False")  # both filters hold at once
    page.evaluate(settled)
    assert cells("ligand_name") == ["L1"]
    page.select_option("#filter-triage", "")
    page.select_option("#filter-posebusters", "True")
    page.evaluate(settled)
    page.locator("#targets tbody tr", has_text="L0").first.click()
    page.evaluate(settled)
    items = page.locator("#detail-body ul.interactions li").all_text_contents()
    assert items == ["A:MET318 hbond-donor", "A:LYS271 ionic"]
    assert page.external_requests == [] and page.problems == []


def test_a_consensus_row_is_listed_first_and_drawn_with_both_poses(page, tmp_path):
    """A consensus screen (tests/unit/test_screen_consensus.py): the agreeing rows first, and a
    Boltz-2 row's viewer holds Chai-1's ligand moved onto Boltz-2's (the same pose, Chai-1's
    structure written rigidly moved)."""
    layout = aggregated_consensus_screen(tmp_path)
    assert main([str(layout.screen_dir)]) == 0
    open_dashboard(page, layout.report / "index.html")
    names = page.locator("#targets tbody td[data-key=ligand_name]").all_text_contents()
    assert names[:3] == ["pyrrole", "azole", "benzene"]
    page.locator("#targets tbody tr").first.click()
    page.wait_for_function("!!window.viewerReady", timeout=30_000)
    assert "Chai-1's ligand in magenta sticks" in page.text_content("#viewer-message")
    chai = np.array(page.evaluate("window.viewerChai1Atoms"))
    boltz_file = next(p for p in layout.structure_files() if p.name == "s1_P1_1_pyrrole.cif")
    structure = gemmi.read_structure(str(boltz_file))
    boltz = np.array([[a.pos.x, a.pos.y, a.pos.z] for r in structure[0]["B"] for a in r])
    assert chai.shape == boltz.shape
    # Each of Chai-1's atoms on one of Boltz-2's (the files name them differently).
    distances = np.linalg.norm(chai[:, None] - boltz[None], axis=-1)
    assert distances.min(axis=1).max() < 0.01
    assert canvas_pixels(page) > 1000
    assert page.external_requests == []
    assert page.problems == []
