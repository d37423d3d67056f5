// OMTX-Hub dashboard: the "selected" state of targets and the purchase list.
//
// Each table row gets a checkbox; what is ticked is kept in the browser (localStorage, per
// screen) so that it survives reloading the page. "Export purchase list" downloads a CSV of
// the ticked targets: EXPORT_COLUMNS, then the structure's file name and its path relative to
// this page. The page runs from file://, where a script can read no file beside it, so the
// structures are not packed here: `omtx-hub purchase-list results/<screen> --selected
// purchase_list.csv --out DIR` copies them (docs/results.md, "Triage and the purchase list").
//
// This module only reads the page's embedded data and decorates rows the table script drew
// (any <tr data-row> of #targets), so it works whatever way the table is loaded and paged.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("screen-data").textContent);
  const values = data.values;
  // The CSV's columns, those the screen has, in this order.
  const EXPORT_COLUMNS = [
    "protein", "rank", "ligand_name", "ligand_id", "index", "smiles", "modeled_smiles",
    "affinity_probability_binary", "affinity_pred_value", "pic50", "confidence_score", "iptm",
    "ligand_iptm", "flags", "alerts", "triage",
  ].filter((key) => key in values);
  const storageKey = `omtx-hub:selected:${data.screen}`;
  // A target's identity that outlives the page: protein and sheet row.
  const idOf = (i) => `${values.protein[i]}\u0000${values.index[i]}`;
  const rowOf = new Map(Array.from({ length: data.rows }, (_, i) => [idOf(i), i]));

  function load() {
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey) ?? "[]");
      return new Set(stored.filter((id) => rowOf.has(id)));
    } catch {
      return new Set(); // storage refused (private mode) or not ours: start empty
    }
  }
  const selected = load();

  function save() {
    try {
      localStorage.setItem(storageKey, JSON.stringify([...selected]));
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

  function structureColumns(i) {
    const entry = data.structure[i];
    return entry ? [entry[1], `${data.structure_folders[entry[0]]}/${entry[1]}`] : [null, null];
  }

  // The ticked targets in the table's rank order (protein, then rank).
  function purchaseCsv() {
    const rows = [...selected].map((id) => rowOf.get(id)).sort((a, b) => a - b);
    const lines = [[...EXPORT_COLUMNS, "structure", "structure_href"].map(csvCell).join(",")];
    for (const i of rows) {
      lines.push([...EXPORT_COLUMNS.map((key) => values[key][i]), ...structureColumns(i)].map(csvCell).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  }

  function exportList() {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([purchaseCsv()], { type: "text/csv" }));
    link.download = `${data.screen}_purchase_list.csv`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 0);
  }

  function checkbox(i) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "purchase-select";
    box.checked = selected.has(idOf(i));
    box.title = "Select for the purchase list";
    box.setAttribute("aria-label", `Select ${values.ligand_name[i] ?? values.ligand_id[i]} (${values.protein[i]})`);
    box.addEventListener("click", (event) => event.stopPropagation()); // not the row's details
    box.addEventListener("change", () => {
      if (box.checked) selected.add(idOf(i));
      else selected.delete(idOf(i));
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
      if (tr.querySelector(".purchase-select")) continue;
      const td = document.createElement("td");
      td.className = "purchase-column";
      td.appendChild(checkbox(Number(tr.dataset.row)));
      tr.insertBefore(td, tr.firstChild);
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
