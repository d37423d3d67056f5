// OMTX-Hub dashboard, selectivity view: the panel's compounds x targets (the page's
// #selectivity-data), sortable by any column and in pages. A compound's name and each
// protein's scores link to that target's row of the table of all targets (`.select-row`,
// which dashboard.js handles). Every value is written with textContent, never as markup.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("selectivity-data").textContent);
  const values = data.values;
  const $ = (id) => document.getElementById(id);
  const { formatNumber } = window.omtxDashboard;
  let order = Array.from({ length: data.rows }, (_, i) => i); // the target's rank order
  let sort = { key: null, direction: -1 };
  let page = 0;

  // Missing values sort last in both directions; ties keep the target's rank order.
  function comparator(column, direction) {
    const cells = values[column.key];
    return (a, b) => {
      const x = cells[a], y = cells[b];
      if (x === null || y === null) return x === null ? (y === null ? a - b : 1) : -1;
      const difference = column.type === "num" ? x - y : x < y ? -1 : x > y ? 1 : 0;
      return difference * direction || a - b;
    };
  }

  function sortBy(column) {
    // First click: highest (or last in the alphabet) first; each further click reverses.
    sort = { key: column.key, direction: sort.key === column.key ? -sort.direction : -1 };
    order = Array.from({ length: data.rows }, (_, i) => i).sort(comparator(column, sort.direction));
    page = 0;
    render();
  }

  function cell(column, i) {
    const value = values[column.key][i];
    const td = document.createElement("td");
    td.dataset.key = column.key;
    let text = column.type === "num" ? (value === null ? "" : formatNumber(value)) : value ?? "";
    if (column.protein && value === null && values[`status_${column.protein}`][i] !== "completed") {
      text = values[`status_${column.protein}`][i]; // failed, pending or not predicted
      td.className = "muted";
      td.title = values.missing[i] ?? "";
    }
    const row = column.protein ? data.table_rows[column.protein][i] : null;
    if (row === null || text === "") {
      td.textContent = text;
      return td;
    }
    const link = document.createElement("a");
    link.href = "#";
    link.className = "select-row";
    link.dataset.row = row;
    link.textContent = text;
    link.title = `${column.protein}: this target's details`;
    td.appendChild(link);
    return td;
  }

  function render() {
    for (const th of document.querySelectorAll("#selectivity th")) {
      const active = th.dataset.key === sort.key;
      th.setAttribute("aria-sort", active ? (sort.direction > 0 ? "ascending" : "descending") : "none");
    }
    const pages = Math.max(1, Math.ceil(order.length / data.page_size));
    page = Math.min(page, pages - 1);
    const body = document.createElement("tbody");
    for (const i of order.slice(page * data.page_size, (page + 1) * data.page_size)) {
      const tr = document.createElement("tr");
      for (const column of data.columns) tr.appendChild(cell(column, i));
      body.appendChild(tr);
    }
    $("selectivity").replaceChild(body, $("selectivity").tBodies[0]);
    $("selectivity-info").textContent = `Page ${page + 1} of ${pages} · ${data.rows.toLocaleString("en")} compounds`;
    $("selectivity-prev").disabled = page === 0;
    $("selectivity-next").disabled = page >= pages - 1;
  }

  const header = document.querySelector("#selectivity thead tr");
  for (const column of data.columns) {
    const th = document.createElement("th");
    th.textContent = column.label;
    th.dataset.key = column.key;
    th.tabIndex = 0;
    th.title = `Sort by ${column.label}`;
    th.addEventListener("click", () => sortBy(column));
    th.addEventListener("keydown", (event) => event.key === "Enter" && sortBy(column));
    header.appendChild(th);
  }
  $("selectivity-prev").addEventListener("click", () => { page -= 1; render(); });
  $("selectivity-next").addEventListener("click", () => { page += 1; render(); });
  render();
  window.selectivityReady = true;
})();
