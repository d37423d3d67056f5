// OMTX-Hub screen dashboard: the ranked table (sort, filter, pages) and the selected
// target's details and 3D structure. All data comes from the embedded JSON; every value is
// written with textContent, never as markup, so sheet values cannot inject anything.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("screen-data").textContent);
  const values = data.values;
  const shown = data.columns.filter((c) => c.shown);
  const columnType = Object.fromEntries(data.columns.map((c) => [c.key, c.type]));
  const embedded = new Set(data.embedded);
  const $ = (id) => document.getElementById(id);
  // A target's structure file: its name and its path relative to this page, or null.
  const structureOf = (i) => {
    const entry = data.structure[i];
    return entry && { name: entry[1], href: `${data.structure_folders[entry[0]]}/${entry[1]}` };
  };

  let order = Array.from({ length: data.rows }, (_, i) => i); // rows in the sort order
  let visible = order; // the sorted rows that pass the filters
  let page = 0;
  let sort = { key: null, direction: 1 };
  let selected = null;
  let searchText = null; // per row, lower-cased name + ID + SMILES; built on first search
  // A row's flag codes (the `flags` column is ';'-separated).
  const flagsOf = (i) => (values.flags[i] ?? "").split(";").filter(Boolean);

  const formatNumber = (x) =>
    x === null ? "" : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : String(+x.toPrecision(3));

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // Missing values sort last in both directions; ties keep the screen's ranking.
  function comparator(key, direction) {
    const column = values[key];
    if (columnType[key] === "num") {
      return (a, b) => {
        const x = column[a], y = column[b];
        if (x === null || y === null) return x === null ? (y === null ? a - b : 1) : -1;
        return (x - y) * direction || a - b;
      };
    }
    return (a, b) => {
      const x = column[a], y = column[b];
      if (x === null || y === null) return x === null ? (y === null ? a - b : 1) : -1;
      return (x < y ? -1 : x > y ? 1 : 0) * direction || a - b;
    };
  }

  function numberFilter(id) {
    const text = $(id).value.trim();
    const value = text === "" ? NaN : Number(text);
    return Number.isFinite(value) ? value : null;
  }

  function applyFilters() {
    const text = $("filter-text").value.trim().toLowerCase();
    const pMin = numberFilter("filter-pmin");
    const affinityMax = numberFilter("filter-affmax");
    const confidenceMin = numberFilter("filter-confmin");
    const status = $("filter-status").value;
    const flag = $("filter-flag").value;
    const tests = [];
    const poseCheck = poseCheckFilter($("filter-posebusters").value);
    if (poseCheck) tests.push(poseCheck);
    if (text) {
      if (searchText === null) {
        searchText = order.map(() => "");
        for (let i = 0; i < data.rows; i++) {
          searchText[i] = [values.ligand_name[i], values.ligand_id[i], values.modeled_smiles[i], values.smiles[i]].join("\u0000").toLowerCase();
        }
      }
      tests.push((i) => searchText[i].includes(text));
    }
    const atLeast = (column, bound) => (i) => column[i] !== null && column[i] >= bound;
    const atMost = (column, bound) => (i) => column[i] !== null && column[i] <= bound;
    if (pMin !== null) tests.push(atLeast(values.affinity_probability_binary, pMin));
    if (affinityMax !== null) tests.push(atMost(values.affinity_pred_value, affinityMax));
    if (confidenceMin !== null) tests.push(atLeast(values.confidence_score, confidenceMin));
    if (status) tests.push((i) => values.status[i] === status);
    if (flag === "*") tests.push((i) => flagsOf(i).length > 0);
    else if (flag === "-") tests.push((i) => flagsOf(i).length === 0);
    else if (flag) tests.push((i) => flagsOf(i).includes(flag));
    visible = tests.length ? order.filter((i) => tests.every((test) => test(i))) : order;
    page = 0;
    renderTable();
  }

  // The PoseBusters filter: rows whose pose passes ("True"), fails ("False") or was not
  // checked ("-"); null for all rows.
  function poseCheckFilter(wanted) {
    if (!wanted) return null;
    const passed = values.posebusters_pass ?? [];
    if (wanted === "-") return (i) => (passed[i] ?? null) === null;
    return (i) => passed[i] === wanted;
  }

  function sortBy(key) {
    // First click ascending, then each click flips it.
    sort = { key, direction: sort.key === key ? -sort.direction : 1 };
    order = Array.from({ length: data.rows }, (_, i) => i).sort(comparator(key, sort.direction));
    applyFilters();
  }

  function renderHeader() {
    const row = document.querySelector("#targets thead tr");
    for (const column of shown) {
      const th = element("th", column.label);
      th.dataset.key = column.key;
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      th.title = `Sort by ${column.label}`;
      th.addEventListener("click", () => sortBy(column.key));
      th.addEventListener("keydown", (event) => event.key === "Enter" && sortBy(column.key));
      row.appendChild(th);
    }
    row.appendChild(element("th", "Structure"));
  }

  function renderTable() {
    for (const th of document.querySelectorAll("#targets th[data-key]")) {
      const active = th.dataset.key === sort.key;
      th.setAttribute("aria-sort", active ? (sort.direction > 0 ? "ascending" : "descending") : "none");
    }
    const pages = Math.max(1, Math.ceil(visible.length / data.page_size));
    page = Math.min(page, pages - 1);
    const body = document.createElement("tbody");
    for (const i of visible.slice(page * data.page_size, (page + 1) * data.page_size)) {
      const tr = document.createElement("tr");
      tr.dataset.row = i;
      if (i === selected) tr.className = "selected";
      for (const column of shown) {
        const value = values[column.key][i];
        const td = element("td", column.type === "num" ? formatNumber(value) : value);
        td.dataset.key = column.key;
        // With replicates: the mean ± the standard deviation across them.
        const spread = column.spread && values[column.spread][i];
        if (spread !== undefined && spread !== null && value !== null) td.textContent += ` ± ${formatNumber(spread)}`;
        if (column.key === "status") {
          td.className = `status-${value}`;
          if (values.error[i]) td.appendChild(element("div", values.error[i], "error"));
        } else if (column.key === "modeled_smiles") {
          td.className = "smiles";
          td.title = values.smiles[i] === value ? value : `${value}\nsheet: ${values.smiles[i]}`;
        } else if (column.key === "flags") {
          td.textContent = "";
          for (const code of flagsOf(i)) {
            const badge = element("span", code, "badge badge-flag");
            badge.title = data.flag_meanings[code] ?? "";
            td.appendChild(badge);
          }
        }
        tr.appendChild(td);
      }
      const link = element("td");
      const structure = structureOf(i);
      if (structure) {
        const a = element("a", "⤓ cif");
        a.href = structure.href;
        a.download = structure.name;
        a.title = structure.name;
        link.appendChild(a);
      }
      tr.appendChild(link);
      body.appendChild(tr);
    }
    $("targets").replaceChild(body, $("targets").tBodies[0]);
    $("page-info").textContent = `Page ${page + 1} of ${pages} · ${visible.length.toLocaleString("en")} of ${data.rows.toLocaleString("en")} targets`;
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
  }

  function renderDetails(i) {
    $("detail-title").textContent = values.ligand_name[i] ?? values.ligand_id[i];
    const body = $("detail-body");
    body.replaceChildren();
    body.className = "";
    const smiles = data.depicted_rows[i];
    if (smiles) {
      const image = element("img");
      image.src = data.depictions[smiles];
      image.alt = "2D structure";
      body.appendChild(image);
    }
    body.appendChild(element("p", values.modeled_smiles[i], "smiles-full"));
    const table = element("table", null, "kv");
    for (const column of data.columns) {
      const value = values[column.key][i];
      if (value === null || column.key === "modeled_smiles" || column.key === "ligand_name") continue;
      const tr = element("tr");
      tr.appendChild(element("th", column.label));
      tr.appendChild(element("td", column.type === "num" ? formatNumber(value) : value));
      table.appendChild(tr);
    }
    // Scores that are 0 by construction for this protein's chains: shown as n/a, with why.
    for (const [label, reason] of Object.entries(data.not_applicable[values.protein[i]] ?? {})) {
      const tr = element("tr");
      tr.appendChild(element("th", label));
      const td = element("td", "n/a", "muted");
      td.title = reason;
      tr.appendChild(td);
      table.appendChild(tr);
    }
    body.appendChild(table);
    renderInteractions(body, i);
    const structure = structureOf(i);
    if (structure) {
      const a = element("a", `Download ${structure.name}`);
      a.href = structure.href;
      a.download = structure.name;
      body.appendChild(a);
    }
  }

  // The pose's interactions with the receptor, one per line (`chain:RESNAMEnumber:type`).
  function renderInteractions(body, i) {
    const cell = values.interactions ? values.interactions[i] : null;
    if (!cell) return;
    body.appendChild(element("h3", "Interactions (Boltz's residue numbering)"));
    const list = element("ul", null, "interactions");
    for (const item of cell.split(";").filter(Boolean)) {
      const [chain, residue, type] = item.split(":");
      list.appendChild(element("li", `${chain}:${residue} ${type}`));
    }
    body.appendChild(list);
  }

  // --- 3D viewer: 3Dmol.js, protein cartoon + ligand sticks ---
  const structureText = new Map();
  let wanted = null;
  let viewer = null;

  function viewerMessage(text) {
    $("viewer-message").textContent = text;
  }

  // The screened ligand is its receptor's ligand chain (summary.json, proteins[].ligand_chain);
  // other hetero atoms are cofactors and ions, drawn in grey. Pages of older screens lack the
  // chain: then every hetero atom is the ligand.
  let wantedChain = null;
  const ligandSelection = () => (wantedChain ? { chain: wantedChain } : { hetflag: true });
  const isLigand = (atom) => (wantedChain ? atom.chain === wantedChain : atom.hetflag);

  // Random or broken weights place atoms hundreds of Å apart: no bonds, no cartoon, and
  // atoms too small to see. Such a structure is drawn as large spheres, and said so.
  function plausible(atoms) {
    return atoms.some((atom) => isLigand(atom) && atom.bonds.length > 0);
  }

  function show(name, cif) {
    if (name !== wanted) return;
    viewer ??= $3Dmol.createViewer($("viewer"), { backgroundColor: "white" });
    viewer.clear();
    const model = viewer.addModel(cif, "cif");
    const ligand = ligandSelection();
    const cofactors = { hetflag: true, not: ligand };
    const atoms = model.selectedAtoms({});
    const hasCofactors = atoms.some((atom) => atom.hetflag && !isLigand(atom));
    const cofactorNote = hasCofactors ? ", cofactors and ions in grey" : "";
    if (plausible(atoms)) {
      viewer.setStyle({ hetflag: false }, { cartoon: { color: "spectrum" } });
      viewer.setStyle(cofactors, { stick: { radius: 0.15, colorscheme: "greyCarbon" }, sphere: { scale: 0.3, colorscheme: "greyCarbon" } });
      viewer.setStyle(ligand, { stick: { radius: 0.2, colorscheme: "greenCarbon" }, sphere: { scale: 0.18, colorscheme: "greenCarbon" } });
      viewer.addStyle({ within: { distance: 5, sel: ligand }, hetflag: false }, { stick: { radius: 0.1 } });
      viewer.zoomTo({ within: { distance: 6, sel: ligand } });
      viewerMessage(`${name}: protein cartoon, ligand in green sticks${cofactorNote}, residues within 5 Å as thin sticks.`);
    } else {
      const extent = Math.max(...["x", "y", "z"].map((axis) => Math.max(...atoms.map((a) => a[axis])) - Math.min(...atoms.map((a) => a[axis]))));
      const radius = Math.max(1, extent / 60);
      viewer.setStyle({}, { sphere: { radius, color: "#9fb3c8" } });
      viewer.setStyle(ligand, { sphere: { radius, colorscheme: "greenCarbon" } });
      viewer.zoomTo();
      viewerMessage(`${name}: implausible geometry (the ligand has no bonded atoms; atoms span ${Math.round(extent)} Å), drawn as spheres: protein${hasCofactors ? " and cofactors" : ""} grey, ligand green.`);
    }
    viewer.render(() => {
      window.viewerReady = name;
    });
  }

  // Called by structures/<name>.js, which the page loads with a <script> tag.
  window.omtxStructure = (name, cif) => {
    structureText.set(name, cif);
    show(name, cif);
  };

  function offerFilePicker(name) {
    viewerMessage(`${name} is not embedded in this page. Open the file to view it: `);
    const input = element("input");
    input.type = "file";
    input.accept = ".cif,.mmcif";
    input.addEventListener("change", () => input.files[0]?.text().then((text) => window.omtxStructure(name, text)));
    $("viewer-message").appendChild(input);
  }

  function loadStructure(i) {
    const structure = structureOf(i);
    wanted = structure?.name;
    wantedChain = data.ligand_chains?.[values.protein[i]] ?? null;
    window.viewerReady = null;
    if (!structure) {
      viewer?.clear();
      viewer?.render();
      viewerMessage(values.status[i] === "completed" ? "The structure file is not available yet." : `No structure: this target is ${values.status[i]}.`);
      return;
    }
    const name = structure.name;
    viewerMessage(`Loading ${name}…`);
    if (structureText.has(name)) return show(name, structureText.get(name));
    if (embedded.has(name)) {
      const script = element("script");
      script.src = `structures/${encodeURIComponent(name)}.js`;
      script.onerror = () => viewerMessage(`Could not load structures/${name}.js next to this page.`);
      document.head.appendChild(script);
    } else if (location.protocol.startsWith("http")) {
      fetch(structure.href)
        .then((response) => (response.ok ? response.text() : Promise.reject(new Error(response.status))))
        .then((text) => window.omtxStructure(name, text))
        .catch(() => offerFilePicker(name));
    } else {
      offerFilePicker(name);
    }
  }

  function select(i) {
    selected = i;
    for (const tr of document.querySelectorAll("#targets tbody tr")) tr.classList.toggle("selected", Number(tr.dataset.row) === i);
    renderDetails(i);
    loadStructure(i);
  }

  renderHeader();
  for (const id of ["filter-text", "filter-pmin", "filter-affmax", "filter-confmin", "filter-status", "filter-flag", "filter-posebusters"]) {
    $(id).addEventListener("input", applyFilters);
  }
  $("page-prev").addEventListener("click", () => { page -= 1; renderTable(); });
  $("page-next").addEventListener("click", () => { page += 1; renderTable(); });
  $("targets").addEventListener("click", (event) => {
    const tr = event.target.closest("tbody tr");
    if (tr && !event.target.closest("a")) select(Number(tr.dataset.row));
  });
  // Links to a target's row: the top hits, and the cells other views draw later
  // (selectivity.js), hence one listener on the document.
  document.addEventListener("click", (event) => {
    const link = event.target.closest(".select-row");
    if (!link) return;
    event.preventDefault();
    select(Number(link.dataset.row));
    $("detail-title").scrollIntoView({ behavior: "smooth" });
  });
  renderTable();
  // For the page's other views (selectivity.js), which format numbers as the table does.
  window.omtxDashboard = { formatNumber };
  window.dashboardReady = true;
})();
