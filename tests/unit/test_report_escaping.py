"""Sheet values reach the dashboards as text only, and the pages forbid what could leak.

Cheap, browser-free checks on the rendered HTML; tests/browser shows the same in Chromium.
Every ligand name here is an HTML payload, so whichever ligand is the best hit, a top hit or a
table row, a value rendered as markup (e.g. `| safe` in a template) shows up raw.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from omtx_hub.testing.synthetic import make_plan, write_screen
from omtx_report.cli import main
from omtx_report.render import script_json
from tests.dashboard_pages import page_table

PAYLOADS = [
    "<img src=x onerror=alert({i})>",
    "<script>alert({i})</script>",
    '"><svg onload=alert({i})>',
    "</script><script>alert({i})</script>",
]
SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O", "CCCl", "CCBr", "CCOC"]
ROWS = [
    (PAYLOADS[i % len(PAYLOADS)].format(i=i), smiles, f"<b onmouseover=alert({i})>series</b>")
    for i, smiles in enumerate(SMILES)
]
# Sources a page may use: itself and inline data, never another host.
LOCAL_SOURCES = {"'self'", "'none'", "data:", "blob:", "'unsafe-inline'", "'unsafe-eval'"}


@pytest.fixture(scope="module")
def pages_dir(tmp_path_factory) -> Path:
    """The report folder of a rendered screen of hostile names, with the results index; two
    proteins in a selectivity panel, whose view shows the names too."""
    root = tmp_path_factory.mktemp("hostile")
    panel = {"target": "P1", "anti_targets": ["P2"]}
    plan = make_plan(root, ROWS, shard_size=3, proteins=2, selectivity=panel)
    screen_dir = write_screen(plan, root / "results", failed_every=4)
    assert main([str(screen_dir)]) == 0
    assert main([str(root / "results")]) == 0
    return screen_dir / "report"


@pytest.fixture(scope="module")
def pages(pages_dir) -> dict[str, str]:
    scripts = "\n".join(path.read_text() for path in sorted(pages_dir.rglob("*.js")))
    return {
        "dashboard": (pages_dir / "index.html").read_text(),
        "index": (pages_dir.parents[1] / "index.html").read_text(),  # results/index.html
        "structure scripts": scripts,
        "data pieces": "\n".join(p.read_text() for p in sorted((pages_dir / "data").glob("*.js"))),
    }


def markup(page: str) -> str:
    """The page without the contents of its <script> elements (which are checked apart)."""
    return re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", page, flags=re.S)


@pytest.mark.parametrize("page", ["dashboard", "index", "structure scripts"])
def test_no_sheet_value_appears_as_markup(pages, page):
    for name, _, series in ROWS:
        assert name not in pages[page]
        assert series not in pages[page]


def test_the_best_and_top_hits_are_shown_escaped(pages):
    shown = [
        name
        for name, _, _ in ROWS
        if name.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
        in markup(pages["dashboard"])
    ]
    assert shown, "no ligand name is shown in the dashboard's HTML"
    # (Names shown inline are isolated in <bdi>: docs/reliability.md, the names.)
    best = re.search(r'class="select-row"[^>]*><b><bdi>(.*?)</bdi></b>', pages["dashboard"])
    best = best.group(1)
    assert "&lt;" in best and "<" not in best
    index_best = re.search(r"<td><bdi>(&lt;.*?)</bdi> <span", pages["index"]).group(1)
    assert "<" not in index_best


@pytest.mark.parametrize("element", ["screen-data", "selectivity-data"])
def test_embedded_data_cannot_end_its_script_element(pages, element):
    data = re.search(
        rf'<script type="application/json" id="{element}">(.*?)</script>',
        pages["dashboard"],
        flags=re.S,
    ).group(1)
    assert "<" not in data and ">" not in data
    # The table's rows are in its data pieces; the selectivity view's in the page.
    held = pages["data pieces"] if element == "screen-data" else data
    assert "\\u003cimg src=x onerror=alert(0)\\u003e" in held


def test_data_pieces_cannot_end_a_script_or_start_markup(pages_dir):
    pieces = sorted((pages_dir / "data").glob("*.js"))
    assert pieces
    for path in pieces:
        text = path.read_text()
        assert "<" not in text and ">" not in text and "&" not in text, path.name
        assert re.fullmatch(r"window\.omtxData\(\"[a-z0-9_-]+\",.*\);\n", text, flags=re.S)


def csp(page: str) -> dict[str, set[str]]:
    policies = re.findall(
        r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', markup(page)
    )
    assert len(policies) == 1, "the page must carry exactly one Content-Security-Policy"
    directives = [part.split() for part in policies[0].split(";") if part.strip()]
    return {name: set(sources) for name, *sources in directives}


@pytest.mark.parametrize("page", ["dashboard", "index"])
def test_content_security_policy_allows_no_other_host(pages, page):
    policy = csp(pages[page])
    assert "default-src" in policy
    for directive, sources in policy.items():
        assert sources <= LOCAL_SOURCES, f"{directive} allows {sources - LOCAL_SOURCES}"
    # Nothing may be sent anywhere: connections only to the page's own origin (file:).
    assert policy.get("connect-src", policy["default-src"]) <= {"'self'", "'none'"}


def test_the_index_allows_no_script_at_all(pages):
    policy = csp(pages["index"])
    assert policy["default-src"] == {"'none'"} and "script-src" not in policy


def test_missing_texts_are_null_not_nan(pages_dir):
    values = page_table(pages_dir / "index.html")["values"]
    completed = [i for i, status in enumerate(values["status"]) if status == "completed"]
    assert completed and all(values["error"][i] is None for i in completed)
    assert "nan" not in {str(value).lower() for value in values["error"]}


def test_nan_can_never_reach_the_page():
    # JSON.parse rejects NaN: the page would show nothing at all.
    with pytest.raises(ValueError):
        script_json({"score": float("nan")})


def test_structure_scripts_hand_over_their_name_and_mmcif(pages_dir):
    scripts = sorted((pages_dir / "structures").glob("*.js"))
    assert scripts
    for script in scripts:
        call = re.fullmatch(r"window\.omtxStructure\((.*)\);\n", script.read_text(), flags=re.S)
        name, cif = json.loads(f"[{call.group(1)}]")
        assert name == script.stem
        assert cif.startswith("data_") and "_atom_site" in cif
