// OMTX-Hub dashboard: the "selected" state of targets and the purchase list.
//
// Each table row gets a checkbox; what is ticked is kept in the browser (localStorage, per
// screen) so that it survives reloading the page. "Export purchase list" downloads a CSV of
// the ticked targets: EXPORT_COLUMNS, then the structure's file name and its path relative to
// this page. The page runs from file://, where a script can read no file beside it, so the
// structures are not packed here: `omtx-hub purchase-list results/<screen> --selected
// purchase_list.csv --out DIR` copies them (docs/results.md, "Triage and the purchase list").
//
// This module decorates rows the table script drew (any <tr data-row> of #targets) and reads
// rows through window.omtxDashboard.row, which loads a row's piece of the table when it is not
// in yet: it works however the table is loaded and paged (docs/dashboards.md).
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("screen-data").textContent);
  const keys = new Set(data.columns.map((c) => c.key));
  // The CSV's columns, those the screen has, in this order.
  const EXPORT_COLUMNS = [
    "protein", "rank", "ligand_name", "ligand_id", "index", "smiles", "modeled_smiles",
    "affinity_probability_binary", "affinity_pred_value", "pic50", "confidence_score", "iptm",
    "ligand_iptm", "flags", "alerts", "triage",
  ].filter((key) => keys.has(key));
  const storageKey = `omtx-hub:selected:${data.screen}`;
  const dashboard = window.omtxDashboard;
  // A target's identity that outlives the page: protein and sheet row. The selection maps it
  // to its table row, where its values are (checked again on export: a screen aggregated
  // again may have moved it).
  const idOf = (row) => `${row.values.protein}\u0000${row.values.index}`;

  function load() {
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey) ?? "[]");
      return new Map(stored.filter((entry) => Array.isArray(entry) && entry.length === 2 && Number.isInteger(entry[1]) && entry[1] >= 0 && entry[1] < data.rows));
    } catch {
      return new Map(); // storage refused (private mode) or not ours: start empty
    }
  }
  const selected = load();

  function save() {
    try {
      localStorage.setItem(storageKey, JSON.stringify([...selected.entries()]));
    } catch {
      // The selection still works for this visit.
    }
    document.getElementById("purchase-count").textContent = `${selected.size.toLocaleString("en")} selected`;
    document.getElementById("purchase-export").disabled = selected.size === 0;
    document.getElementById("purchase-clear").disabled = selected.size === 0;
  }

  // Spreadsheet formula injection: text a spreadsheet would run gets a "'" first, as
  // batch_results.csv writes it (omtx_hub.result_tables.neutralise_formula_text).
  const FORMULA = /^'*[=+\-@\t\r]/;
  const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  function csvCell(value) {
    if (value === null || value === undefined) return "";
    let text = String(value);
    if (typeof value === "string" && FORMULA.test(text) && !NUMBER.test(text)) text = `'${text}`;
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  }

  const structureColumns = (row) => (row.structure ? [row.structure.name, row.structure.href] : [null, null]);

  // The ticked targets in the table's rank order (protein, then rank); one whose row now holds
  // another target (the screen was aggregated again) is left out and named in the console.
  async function purchaseCsv() {
    const lines = [[...EXPORT_COLUMNS, "structure", "structure_href"].map(csvCell).join(",")];
    for (const [id, i] of [...selected.entries()].sort((a, b) => a[1] - b[1])) {
      const row = await dashboard.row(i);
      if (idOf(row) !== id) {
        console.warn(`purchase list: ${id.replace("\u0000", " row ")} is no longer row ${i}; left out`);
        continue;
      }
      lines.push([...EXPORT_COLUMNS.map((key) => row.values[key]), ...structureColumns(row)].map(csvCell).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }

  async function exportList() {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([await purchaseCsv()], { type: "text/csv" }));
    link.download = `${data.screen}_purchase_list.csv`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 0);
  }

  function checkbox(row) {
    const box = document.createElement("input");
    const id = idOf(row);
    box.type = "checkbox";
    box.className = "purchase-select";
    box.checked = selected.get(id) === row.index;
    box.title = "Select for the purchase list";
    box.setAttribute("aria-label", `Select ${row.values.ligand_name ?? row.values.ligand_id} (${row.values.protein})`);
    box.addEventListener("click", (event) => event.stopPropagation()); // not the row's details
    box.addEventListener("change", () => {
      if (box.checked) selected.set(id, row.index);
      else selected.delete(id);
      save();
    });
    return box;
  }

  function decorate() {
    const table = document.getElementById("targets");
    const header = table.tHead.rows[0];
    if (header && !header.querySelector(".purchase-column")) {
      const th = document.createElement("th");
      th.className = "purchase-column";
      th.textContent = "Buy";
      th.title = "Select targets for the purchase list";
      header.insertBefore(th, header.firstChild);
    }
    for (const tr of table.querySelectorAll("tbody tr[data-row]")) {
      if (tr.querySelector(".purchase-column")) continue;
      const td = document.createElement("td");
      td.className = "purchase-column";
      tr.insertBefore(td, tr.firstChild);
      // The row is drawn, so its piece is in: this resolves at once.
      dashboard.row(Number(tr.dataset.row)).then((row) => td.appendChild(checkbox(row)));
    }
  }

  function toolbar() {
    const bar = document.createElement("div");
    bar.id = "purchase-bar";
    bar.className = "filters";
    const count = document.createElement("span");
    count.id = "purchase-count";
    const exportButton = document.createElement("button");
    exportButton.id = "purchase-export";
    exportButton.type = "button";
    exportButton.textContent = "Export purchase list (CSV)";
    exportButton.addEventListener("click", exportList);
    const clear = document.createElement("button");
    clear.id = "purchase-clear";
    clear.type = "button";
    clear.textContent = "Clear selection";
    clear.addEventListener("click", () => {
      selected.clear();
      for (const box of document.querySelectorAll(".purchase-select")) box.checked = false;
      save();
    });
    bar.append(count, " ", exportButton, " ", clear);
    document.getElementById("filters").after(bar);
  }

  toolbar();
  save();
  decorate();
  // The table script redraws rows on every sort, filter and page.
  new MutationObserver(decorate).observe(document.getElementById("targets"), { childList: true, subtree: true });
  window.omtxPurchase = { purchaseCsv, selected };
})();
