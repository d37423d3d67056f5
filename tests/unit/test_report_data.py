"""omtx_report without a browser: results directory -> page data -> HTML, index, progress."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from omtx_hub.layout import ScreenLayout
from omtx_hub.ranking import best_targets
from omtx_hub.store import LocalStore
from omtx_hub.summary import SUMMARY_VERSION, UnreadableSummary
from omtx_hub.testing.synthetic import make_plan, write_screen
from omtx_report import plots, table_data
from omtx_report.cli import main
from omtx_report.data import load_finished_screen
from omtx_report.render import number, page_data, render_dashboard, render_index, script_json
from tests.dashboard_pages import ascending, page_table
from tests.screens import running_screen_data

HOSTILE = "<script>alert(1)</script>"
SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O", "CCCl", "CCBr", "CCOC", "CCCN", "OCCO"]
ROWS = [(f"L{i}", smiles, "lead" if i % 2 else "</td><b>x</b>") for i, smiles in enumerate(SMILES)]
ROWS += [(HOSTILE, "CCCCO", "x"), ("NA", "CCCCN", "x")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("report")
    # Top lists of 20: every completed compound is a top hit of the dashboards below.
    plan = make_plan(workdir, ROWS, shard_size=4, top_n=20)
    return write_screen(plan, workdir / "results", failed_every=5)


def test_finished_screen_is_read_from_the_workflow_files(finished):
    data = load_finished_screen(finished)
    assert data.counts() == {"completed": 10, "failed": 2, "pending": 0}
    assert data.screen == "synthetic"
    assert set(data.table["ligand_name"]) >= {HOSTILE, "NA"}  # 'NA' is a name, not missing
    assert sum(s["targets"] for s in data.shards) == len(ROWS)
    failed = data.table[data.table["status"] == "failed"]
    assert failed["error"].str.contains("synthetic failure").all()
    assert all(folder.startswith("structures/P1/") for folder in data.structures.folders)


def test_structures_are_found_as_the_layout_lists_them(finished):
    """Every exported structure's path by its file name, as ScreenLayout.structure_files
    lists them; a name with no structure (or none) has no path."""
    structures = load_finished_screen(finished).structures
    files = ScreenLayout(finished).structure_files()
    assert len(files) == len(structures.names) == 10  # the completed targets'
    names = [path.name for path in files]
    assert structures.paths([*names, "missing.cif", None]) == [
        *(path.relative_to(finished).as_posix() for path in files),
        None,
        None,
    ]
    assert structures.locate(pd.Series(["missing.cif", None, names[0]])).tolist()[:2] == [-1, -1]


def test_page_data_is_columnar_and_keeps_every_row_and_extra_column(finished, tmp_path):
    data = load_finished_screen(finished)
    page = page_table(render_dashboard(data, tmp_path / "report"))
    assert page["rows"] == len(ROWS)
    keys = [c["key"] for c in page["columns"]]
    assert "series" in keys  # the sheet's own column
    assert all(len(page["values"][key]) == len(ROWS) for key in keys)
    assert page["values"]["ligand_name"] == data.table["ligand_name"].tolist()
    probability = pd.Series(page["values"]["affinity_probability_binary"], dtype=float)
    assert probability.dropna().between(0, 1).all() and probability.isna().sum() == 2
    linked = [entry for entry in page["structure"] if entry]
    assert len(linked) == 10
    for folder, name in linked:
        href = f"{page['structure_folders'][folder]}/{name}"  # as the page resolves it
        assert Path(os.path.normpath(tmp_path / "report" / href)).is_file()


def test_embedded_json_cannot_close_its_script_element():
    text = script_json({"name": HOSTILE, "svg": "<!-- x --> & </SCRIPT>"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": HOSTILE, "svg": "<!-- x --> & </SCRIPT>"}


def test_dashboard_escapes_sheet_values_and_links_downloads(finished):
    page = render_dashboard(load_finished_screen(finished), finished / "report", top_n=20)
    html = page.read_text()
    assert HOSTILE not in html and "</td><b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # top-hit card, as text
    assert page_table(page)["values"]["ligand_name"].count(HOSTILE) == 1
    # Nothing is fetched: every src/href is relative, a data: URI or a fragment.
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert not re.match(r"[a-z]+://", url), url
    assert 'href="../batch_results.csv"' in html
    assert 'href="../batch_results.parquet"' in html
    archive = finished / "report" / "synthetic_top10_structures.zip"
    names = zipfile.ZipFile(archive).namelist()
    assert len(names) == 10 and all(re.fullmatch(r"synthetic_P1_\d+_.+\.cif", n) for n in names)
    scripts = list((finished / "report" / "structures").glob("*.cif.js"))
    assert len(scripts) == 10
    assert scripts[0].read_text().startswith("window.omtxStructure(")


def test_dashboard_flags_single_sequence_results(finished):
    # The synthetic screen's protein is single-sequence (msa: empty).
    page = render_dashboard(load_finished_screen(finished), finished / "report", top_n=20)
    html = page.read_text()
    card = re.search(r"<b>P1</b>.*?</p>", html).group(0)
    assert "MSA single-sequence" in card
    assert re.search(r'class="badge badge-flag"[^>]*>no MSA: reduced accuracy</span>', card)
    data = page_table(page)
    assert set(data["values"]["flags"]) == {"no-msa"}
    assert data["flag_meanings"]["no-msa"] == "no MSA: reduced accuracy"
    assert next(c for c in data["columns"] if c["key"] == "flags")["shown"]


def test_the_affinity_is_written_as_log10_of_ic50_over_micromolar(finished):
    # Boltz's affinity_pred_value is log10(IC50 / µM), a number without a unit: the dashboard
    # once wrote "log10 IC50 -1.2 µM", a value in µM it is not.
    page = render_dashboard(load_finished_screen(finished), finished / "report", top_n=20)
    html = page.read_text()
    assert "log10 IC50" not in html
    assert re.search(r"· log10\(IC50/µM\) -?[0-9.e+-]+ · confidence", html)  # the best target
    assert not re.search(r"log10\(IC50/µM\) -?[0-9.e+-]+ µM", html)
    labels = {c["key"]: c["label"] for c in page_table(page)["columns"]}
    assert labels["affinity_pred_value"] == "log10(IC50/µM)"
    assert labels["ic50_um"] == "IC50 (µM)"


def test_ligand_iptm_is_shown_for_what_boltz_computes(finished):
    # Boltz's compute_ptms takes every non-polymer chain for a ligand, cofactors included.
    page = render_dashboard(load_finished_screen(finished), finished / "report", top_n=20)
    (column,) = [c for c in page_table(page)["columns"] if c["key"] == "ligand_iptm"]
    assert column["label"] == "protein–ligand ipTM"
    assert "cofactors included" in column["help"]
    assert "column.help" in page.read_text()  # the header's and the detail view's tooltip


def test_plots_are_valid_svg_and_dense_scatters_stay_small():
    for svg in (
        plots.histogram([1, 2, 2, 3], title="h", x_label="x"),
        plots.scatter([1, 2], [3, 4], title="<s>", x_label="x", y_label="y"),
        plots.histogram([], title="empty", x_label="x"),
    ):
        ElementTree.fromstring(svg)
    many = list(range(100_000))
    dense = plots.scatter(many, many[::-1], title="t", x_label="x", y_label="y")
    ElementTree.fromstring(dense)
    assert len(dense) < 300_000 and "density of 100,000 targets" in dense


def test_running_screen_shows_pending_targets_per_shard(tmp_path):
    plan = make_plan(tmp_path, ROWS, shard_size=4)
    write_screen(plan, tmp_path / "results", shards_done=1, committed_in_open_shard=2)
    data, text = running_screen_data(
        plan, LocalStore(plan.config.store), tmp_path / "results", with_text=True
    )
    assert [(s["completed"], s["pending"]) for s in data.shards] == [(4, 0), (2, 2), (0, 4)]
    assert data.counts() == {"completed": 6, "failed": 0, "pending": 6}
    assert (
        "6 done, 0 failed, 6 pending of 12 targets; shards: 1 finished, 1 running, 1 waiting"
        in text
    )
    page = render_dashboard(data, tmp_path / "progress", live=True)
    assert "in progress" in page.read_text()
    assert page_table(page)["values"]["status"].count("pending") == 6
    # The index lists the screen as unfinished, from its manifests alone.
    index = render_index(tmp_path / "results", [tmp_path / "results" / plan.screen]).read_text()
    assert "running or interrupted" in index and "4 targets in 1 finished shards" in index


def test_cli_renders_every_screen_and_the_index(finished, capsys):
    assert main([str(finished.parent)]) == 0
    index = (finished.parent / "index.html").read_text()
    assert 'href="synthetic/report/index.html"' in index and "finished with failures" in index
    assert HOSTILE not in index
    assert "report/index.html" in capsys.readouterr().out


def test_page_data_names_each_proteins_ligand_chain_for_the_viewer(finished):
    """The 3D viewer shows the screened ligand by its chain, so cofactors and ions (other
    hetero atoms) are not taken for it."""
    data = load_finished_screen(finished)
    page = page_data(data, finished / "report", embedded=[], depictions={})
    assert page["ligand_chains"] == {"P1": "B"}
    assert data.summary.proteins[0].ligand_chain == "B"


def svg_titled(html: str, title: str) -> str:
    """The inline SVG plot whose <title> is `title`."""
    for svg in re.findall(r"<svg .*?</svg>", html, re.S):
        if f"<title>{title}</title>" in svg:
            return svg
    raise AssertionError(f"no plot titled {title!r}")


def test_dashboard_follows_rank_by_per_protein_and_plots_binders_only(tmp_path):
    rows = [*ROWS, ("L0-again", "OCC", "lead")]  # OCC is CCO (L0): one compound, two names
    plan = make_plan(
        tmp_path, rows, shard_size=4, top_n=6, proteins=2, report={"rank_by": "affinity"}
    )
    screen_dir = write_screen(plan, tmp_path / "results", failed_every=5)
    data = load_finished_screen(screen_dir)
    page = render_dashboard(data, screen_dir / "report", top_n=6)
    html = page.read_text()
    values = page_table(page)["values"]
    # The table shows batch_results.csv's rank, and the two rows of one compound share it.
    assert values["rank"] == data.table["rank"].tolist()
    same = data.table[data.table["ligand_name"].isin(["L0", "L0-again"])]
    assert same.groupby("protein")["rank"].nunique().eq(1).all()
    # Top hits: best_targets by report.rank_by (affinity among binders first), each compound once.
    expected = best_targets(data.table, 6, rank_by="affinity", binder_threshold=0.5)
    hits = re.findall(r'class="hit select-row" data-row="(\d+)"', html)
    assert [int(row) for row in hits] == expected.index.tolist()
    assert "report.rank_by: affinity</code>: predicted binders by affinity" in html
    assert "(lowest log10(IC50/µM) first)" in html and "log10 IC50" not in html
    # Both heads are table columns; protein_iptm (0 for one protein chain) is not, it is n/a.
    keys = [c["key"] for c in page_table(page)["columns"] if c["shown"]]
    assert {"affinity_pred_value1", "affinity_probability_binary2"} <= set(keys)
    assert "protein_iptm" not in values
    assert list(page_table(page)["not_applicable"]["P2"]) == ["protein ipTM"]
    for protein in ("P1", "P2"):
        counts = data.summary.per_protein[protein].counts
        card = re.search(rf'data-protein="{protein}">(.*?)</p>', html).group(1)
        assert f"{counts.compounds} compounds" in card and f"{counts.binders} binders" in card
        # One point per predicted binder of this protein, nothing else.
        scatter = svg_titled(html, f"P(binder) vs. affinity, binders (P ≥ 0.5) · {protein}")
        assert scatter.count("<circle") == counts.binders > 0
        histogram = svg_titled(html, f"Binder probability · {protein}")
        bars = re.findall(r"<title>(\d+) in \[", histogram)
        assert sum(int(n) for n in bars) == counts.completed  # compounds, L0 once
    index = render_index(tmp_path / "results", [screen_dir]).read_text()
    best = expected.iloc[0]
    assert f"<bdi>{best['ligand_name']}</bdi> <span" in index
    assert f"(log10(IC50/µM) {number(best['affinity_pred_value'])})" in index


@pytest.mark.parametrize("version", [None, SUMMARY_VERSION + 1])
def test_a_summary_of_another_version_is_refused_with_the_remedy(tmp_path, capsys, version):
    """No fallbacks for other shapes: a summary of another version, or from before summaries
    had one, is refused, naming the file and how to aggregate again without predicting."""
    plan = make_plan(tmp_path, ROWS[:4], shard_size=4)
    screen_dir = write_screen(plan, tmp_path / "results")
    summary_path = screen_dir / "summary.json"
    document = json.loads(summary_path.read_text())
    document["summary_version"] = version
    if version is None:
        del document["summary_version"]
    summary_path.write_text(json.dumps(document))
    with pytest.raises(UnreadableSummary, match="snakemake --forcerun aggregate_screen"):
        load_finished_screen(screen_dir)
    assert main([str(tmp_path / "results")]) == 1  # the index reads it too
    error = capsys.readouterr().err
    assert str(summary_path) in error and "this omtx-hub reads summary_version 1" in error


def test_flags_are_badges_with_counts_and_a_filter_and_the_modelled_molecule_is_shown(tmp_path):
    rows = [
        ("racemate", "CC(F)c1ccccc1", "x"),
        ("hydrochloride", "CN(C)Cc1ccccc1.Cl", "x"),
        ("relative", "C[C@H](F)c1ccccc1 |&1:1|", "x"),
    ]
    plan = make_plan(tmp_path, rows, top_n=3)
    data = load_finished_screen(write_screen(plan, tmp_path / "results"))
    html = render_dashboard(data, tmp_path / "report", top_n=3).read_text()
    card = re.search(r'<div class="card" id="card-flags">(.*?)</div>', html, re.S).group(1)
    for code in ("enhanced-stereo", "undefined-stereo"):
        assert re.search(
            rf'<span class="badge badge-flag" title="[^"]+">{code}</span> 1 ligand<', card
        )
        assert f'<option value="{code}">{code} (1)</option>' in html
    assert "1 standardised for Boltz" in card
    hits = re.search(r'aria-label="Top hits">(.*?)</section>', html, re.S).group(1)
    # The racemate's and the relative one's, and every hit's no-msa (a single-sequence screen).
    assert hits.count('class="badge badge-flag"') == 2 + hits.count(">no-msa</span>") == 5
    page = page_table(tmp_path / "report" / "index.html")
    shown = [c["key"] for c in page["columns"] if c["shown"]]
    assert shown[3:5] == ["modeled_smiles", "flags"]
    salt = page["values"]["ligand_name"].index("hydrochloride")
    assert page["values"]["modeled_smiles"][salt] == "CN(C)Cc1ccccc1"
    assert page["values"]["smiles"][salt] == "CN(C)Cc1ccccc1.Cl"
    assert page["values"]["standardisation"][salt] == "counter-ion removed: chloride"
    assert set(page["depictions"]) == set(page["values"]["modeled_smiles"])
    assert page["flag_meanings"]["undefined-stereo"].startswith("a stereocentre")


def test_table_pieces_hold_every_row_once_and_sort_orders_as_the_page_sorts(
    finished, tmp_path, monkeypatch
):
    """A screen larger than one chunk: its rows are split over data/rows-<n>.js, only the first
    loads with the page, and each shown column's order piece sorts as the page's table would:
    ascending, missing values last, ties in the table's order."""
    monkeypatch.setattr(table_data, "CHUNK_ROWS", 5)
    data = load_finished_screen(finished)
    page = render_dashboard(data, tmp_path / "report")
    table = page_table(page)
    assert table["chunks"] == 3 and table["eager"] == ["rows-0"]
    assert '<script src="data/rows-0.js"></script>' in page.read_text()
    assert table["values"]["ligand_name"] == data.table["ligand_name"].tolist()
    assert len(table["structure"]) == len(ROWS)
    for key in ("affinity_probability_binary", "ligand_name", "rank", "status"):
        values = table["values"][key]
        missing_last = lambda i: (values[i] is None, 0 if values[i] is None else values[i], i)  # noqa: E731, B023
        expected = sorted(range(len(values)), key=missing_last)
        assert ascending(page, key) == expected, key

    # Rendered again, smaller: the earlier render's pieces are gone, a hard-linked piece
    # (a `cp -al` copy of another report) is replaced, never written into.
    elsewhere = tmp_path / "elsewhere.js"
    elsewhere.write_text("kept")
    (tmp_path / "report" / "data" / "rows-0.js").unlink()
    os.link(elsewhere, tmp_path / "report" / "data" / "rows-0.js")
    monkeypatch.setattr(table_data, "CHUNK_ROWS", 100)
    render_dashboard(data, tmp_path / "report")
    assert sorted(p.name for p in (tmp_path / "report" / "data").glob("rows-*")) == ["rows-0.js"]
    assert elsewhere.read_text() == "kept"
    assert page_table(page)["eager"] == [
        "rows-0",
        *page_table(page)["orders"].values(),
        *page_table(page)["filter_columns"].values(),
        "search-0",
    ]
