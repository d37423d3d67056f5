// OMTX-Hub screen dashboard: the ranked table (sort, filter, pages) and the selected
// target's details and 3D structure. The table's description is the embedded JSON; its rows,
// sort orders and filter columns are pieces beside the page (data/<piece>.js, see
// omtx_report/table_data.py), loaded as they are needed: a page of the table needs only its
// own rows. Every value is written with textContent, never as markup, so sheet values cannot
// inject anything.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("screen-data").textContent);
  const shown = data.columns.filter((c) => c.shown);
  const embedded = new Set(data.embedded);
  const $ = (id) => document.getElementById(id);

  // --- pieces: each data/<name>.js calls window.omtxData(name, payload) ---
  const pieces = window.omtxPieces; // those loaded with the page are already in
  const arriving = new Map(); // name -> {promise, resolve}
  window.omtxData = (name, payload) => {
    pieces.set(name, payload);
    arriving.get(name)?.resolve(payload);
  };
  function piece(name) {
    if (pieces.has(name)) return Promise.resolve(pieces.get(name));
    if (!arriving.has(name)) {
      const entry = {};
      entry.promise = new Promise((resolve, reject) => {
        entry.resolve = resolve;
        const script = document.createElement("script");
        script.src = `${data.data_folder}/${encodeURIComponent(name)}.js`;
        script.onerror = () => {
          arriving.delete(name);
          reject(new Error(`Could not load ${data.data_folder}/${name}.js next to this page.`));
        };
        document.head.appendChild(script);
      });
      arriving.set(name, entry);
    }
    return arriving.get(name).promise;
  }
  function bytes(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  const decoded = new Map(); // piece name -> its typed arrays, decoded once
  async function decodedPiece(name, decode) {
    if (!decoded.has(name)) decoded.set(name, decode(await piece(name)));
    return decoded.get(name);
  }

  // A row's values live in its chunk's piece (rows-<n>), loaded by rowsLoaded.
  const chunkOf = (i) => Math.floor(i / data.chunk_rows);
  const rowsLoaded = (rows) => Promise.all([...new Set(Array.from(rows, chunkOf))].map((c) => piece(`rows-${c}`)));
  function value(key, i) {
    const chunk = chunkOf(i);
    return pieces.get(`rows-${chunk}`).values[key][i - chunk * data.chunk_rows];
  }
  // A target's structure file: its name and its path relative to this page, or null. `link`:
  // the row's own (`structure`), or a consensus pair's Chai-1 structure (`chai1_structure`).
  const structureOf = (i, link = "structure") => {
    const chunk = chunkOf(i);
    const entry = pieces.get(`rows-${chunk}`)[link]?.[i - chunk * data.chunk_rows];
    return entry ? { name: entry[1], href: `${data.structure_folders[entry[0]]}/${entry[1]}` } : null;
  };
  // A row's flag codes (the `flags` column is ';'-separated).
  const flagCodes = (text) => (text ?? "").split(";").filter(Boolean);

  const identity = new Int32Array(data.rows);
  for (let i = 0; i < data.rows; i++) identity[i] = i;
  let order = identity; // rows in the sort order
  let visible = order; // the sorted rows that pass the filters
  let page = 0;
  let sort = { key: null, direction: 1 };
  let selected = null;
  // Each change of sort, filters or page: later ones win over a slower earlier one.
  let generation = 0;
  let latest = Promise.resolve();
  const track = (promise) => {
    latest = promise.catch((error) => {
      $("page-info").textContent = error.message;
      console.error(error);
    });
    return latest;
  };

  const formatNumber = (x) =>
    x === null ? "" : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : String(+x.toPrecision(3));

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // The rows in a column's order: the render's ascending order (missing values last, ties in
  // the screen's ranking); descending reverses it, keeping ties in that ranking and missing
  // values last.
  const descendingOrders = new Map();
  async function orderOf(key, direction) {
    const [ascending, ties, missing] = await decodedPiece(data.orders[key], (payload) => [
      new Int32Array(bytes(payload.order).buffer),
      bytes(payload.ties),
      payload.missing,
    ]);
    if (direction > 0) return ascending;
    if (!descendingOrders.has(key)) {
      const present = ascending.length - missing;
      const descending = new Int32Array(ascending.length);
      let k = 0;
      for (let end = present; end > 0; ) {
        let start = end - 1;
        while (start > 0 && ties[start]) start--;
        descending.set(ascending.subarray(start, end), k);
        k += end - start;
        end = start;
      }
      descending.set(ascending.subarray(present), k);
      descendingOrders.set(key, descending);
    }
    return descendingOrders.get(key);
  }

  // A filter column for every row: numbers (NaN for missing), or text as [names, codes].
  const filterColumn = (key) =>
    decodedPiece(data.filter_columns[key], (payload) =>
      payload.numbers !== undefined
        ? new Float64Array(bytes(payload.numbers).buffer)
        : { names: payload.names, codes: new Uint32Array(bytes(payload.codes).buffer) },
    );
  // The rows whose lower-cased name, ID or SMILES holds `text`: each search piece is one
  // string of its rows' texts, "\u0000" after each row (a character no search box holds, so
  // no match spans two rows), scanned with indexOf, far faster than a test per row.
  const searchPiece = (name, first) =>
    decodedPiece(name, (text) => {
      const starts = [0];
      for (let end = text.indexOf("\u0000"); end !== -1; end = text.indexOf("\u0000", end + 1)) starts.push(end + 1);
      return { text, first, starts: Int32Array.from(starts) };
    });
  async function searchMatches(query) {
    const matches = new Uint8Array(data.rows);
    const parts = await Promise.all(data.search.map((name, n) => searchPiece(name, n * data.search_rows)));
    for (const { text, first, starts } of parts) {
      for (let at = text.indexOf(query); at !== -1; ) {
        let low = 0, high = starts.length - 1; // the last row starting at or before `at`
        while (low < high) {
          const middle = (low + high + 1) >> 1;
          if (starts[middle] <= at) low = middle;
          else high = middle - 1;
        }
        matches[first + low] = 1;
        at = low + 1 < starts.length ? text.indexOf(query, starts[low + 1]) : -1;
      }
    }
    return matches;
  }

  function numberFilter(id) {
    const text = $(id).value.trim();
    const number = text === "" ? NaN : Number(text);
    return Number.isFinite(number) ? number : null;
  }

  // A text column's test, decided once per distinct value.
  function textTest(column, accepts) {
    const verdicts = column.names.map(accepts);
    return (i) => verdicts[column.codes[i]];
  }

  async function filtered(current) {
    const text = $("filter-text").value.trim().toLowerCase();
    const pMin = numberFilter("filter-pmin");
    const affinityMax = numberFilter("filter-affmax");
    const confidenceMin = numberFilter("filter-confmin");
    const status = $("filter-status").value;
    const flag = $("filter-flag").value;
    const poseCheck = $("filter-posebusters").value;
    const triage = $("filter-triage")?.value; // no such filter without triage rules
    const tests = [];
    if (text) {
      const matches = await searchMatches(text);
      tests.push((i) => matches[i] === 1);
    }
    const atLeast = (column, bound) => (i) => column[i] >= bound; // NaN (missing) fails
    const atMost = (column, bound) => (i) => column[i] <= bound;
    if (pMin !== null) tests.push(atLeast(await filterColumn("affinity_probability_binary"), pMin));
    if (affinityMax !== null) tests.push(atMost(await filterColumn("affinity_pred_value"), affinityMax));
    if (confidenceMin !== null) tests.push(atLeast(await filterColumn("confidence_score"), confidenceMin));
    if (status) tests.push(textTest(await filterColumn("status"), (name) => name === status));
    if (flag) {
      const accepts = flag === "*" ? (codes) => codes.length > 0 : flag === "-" ? (codes) => codes.length === 0 : (codes) => codes.includes(flag);
      tests.push(textTest(await filterColumn("flags"), (name) => accepts(flagCodes(name))));
    }
    if (poseCheck && data.filter_columns.posebusters_pass) {
      tests.push(textTest(await filterColumn("posebusters_pass"), poseCheckAccepts(poseCheck)));
    }
    if (triage) tests.push(textTest(await filterColumn("triage"), triageAccepts(triage)));
    if (!tests.length) return current;
    const passing = new Int32Array(current.length);
    let count = 0;
    for (const i of current) if (tests.every((test) => test(i))) passing[count++] = i;
    return passing.subarray(0, count);
  }

  function applyFilters() {
    const mine = ++generation;
    return track(
      filtered(order).then((rows) => {
        if (mine !== generation) return;
        visible = rows;
        page = 0;
        return renderTable();
      }),
    );
  }

  // The PoseBusters filter's test of a `posebusters_pass` value: the pose passes ("True"),
  // fails ("False") or was not checked ("-": missing).
  const poseCheckAccepts = (wanted) => (wanted === "-" ? (name) => name === null : (name) => name === wanted);

  // The Triage filter's test of a row's failed rules (the `triage` column without the values
  // it quotes: "pass", or rules joined by "; "): it passes, fails any rule ("*"), or fails
  // the rule chosen.
  const triageAccepts = (wanted) =>
    wanted === "pass" ? (name) => name === "pass"
    : wanted === "*" ? (name) => name !== null && name !== "pass"
    : (name) => name !== null && name.split("; ").includes(wanted);

  function sortBy(key) {
    // First click ascending, then each click flips it.
    sort = { key, direction: sort.key === key ? -sort.direction : 1 };
    const mine = ++generation;
    markSort();
    return track(
      orderOf(key, sort.direction).then((rows) => {
        if (mine !== generation) return;
        order = rows;
        return applyFilters();
      }),
    );
  }

  function turnPage(step) {
    page += step;
    ++generation;
    return track(renderTable());
  }

  function renderHeader() {
    const row = document.querySelector("#targets thead tr");
    for (const column of shown) {
      const th = element("th", column.label);
      th.dataset.key = column.key;
      th.setAttribute("aria-sort", "none");
      th.tabIndex = 0;
      th.title = column.help ? `${column.help}. Click to sort` : `Sort by ${column.label}`;
      th.addEventListener("click", () => sortBy(column.key));
      th.addEventListener("keydown", (event) => event.key === "Enter" && sortBy(column.key));
      row.appendChild(th);
    }
    row.appendChild(element("th", "Structure"));
  }

  function markSort() {
    for (const th of document.querySelectorAll("#targets th[data-key]")) {
      const active = th.dataset.key === sort.key;
      th.setAttribute("aria-sort", active ? (sort.direction > 0 ? "ascending" : "descending") : "none");
    }
  }

  async function renderTable() {
    const mine = generation;
    markSort();
    const pages = Math.max(1, Math.ceil(visible.length / data.page_size));
    page = Math.min(page, pages - 1);
    const rows = visible.subarray(page * data.page_size, (page + 1) * data.page_size);
    $("targets").setAttribute("aria-busy", "true");
    await rowsLoaded(rows);
    if (mine !== generation) return;
    const body = document.createElement("tbody");
    for (const i of rows) {
      const tr = document.createElement("tr");
      tr.dataset.row = i;
      if (i === selected) tr.className = "selected";
      for (const column of shown) {
        const cell = value(column.key, i);
        const td = element("td", column.type === "num" ? formatNumber(cell) : cell);
        td.dataset.key = column.key;
        // With replicates: the mean ± the standard deviation across them.
        const spread = column.spread && value(column.spread, i);
        if (spread !== undefined && spread !== null && cell !== null) td.textContent += ` ± ${formatNumber(spread)}`;
        if (column.key === "status") {
          td.className = `status-${cell}`;
          if (value("error", i)) td.appendChild(element("div", value("error", i), "error"));
        } else if (column.key === "modeled_smiles") {
          td.className = "smiles";
          const sheet = value("smiles", i);
          td.title = sheet === cell ? cell : `${cell}\nsheet: ${sheet}`;
        } else if (column.key === "flags") {
          td.textContent = "";
          for (const code of flagCodes(cell)) {
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
    $("targets").setAttribute("aria-busy", "false");
    $("page-info").textContent = `Page ${(page + 1).toLocaleString("en")} of ${pages.toLocaleString("en")} · ${visible.length.toLocaleString("en")} of ${data.rows.toLocaleString("en")} targets`;
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
  }

  // One row's data: its values by column key, and its structure file.
  function rowOf(i) {
    return {
      index: i,
      values: Object.fromEntries(data.columns.map((c) => [c.key, value(c.key, i)])),
      structure: structureOf(i),
      chai1Structure: structureOf(i, "chai1_structure"),
    };
  }

  // A binder's sequence, each residue coloured by its pLDDT band (data.plddt_bands, high
  // first: [lowest pLDDT, class, meaning]); `plddt` is batch_results' ';'-separated text.
  function sequenceStrip(sequence, plddt) {
    const strip = element("p", null, "sequence-strip");
    const values = plddt ? plddt.split(";").map(Number) : [];
    [...sequence].forEach((letter, i) => {
      const cell = element("span", letter);
      if (i < values.length) {
        const band = data.plddt_bands.find(([low]) => values[i] >= low);
        if (band) cell.className = band[1];
        cell.title = `${letter}${i + 1} pLDDT ${values[i].toFixed(2)}`;
      }
      strip.appendChild(cell);
    });
    return strip;
  }

  function renderDetails(row) {
    const values = row.values;
    $("detail-title").textContent = values.ligand_name ?? values.ligand_id;
    const body = $("detail-body");
    body.replaceChildren();
    body.className = "";
    const smiles = data.depicted_rows[row.index];
    if (smiles) {
      const image = element("img");
      image.src = data.depictions[smiles];
      image.alt = "2D structure";
      body.appendChild(image);
    }
    if (values.sequence) {
      body.appendChild(sequenceStrip(values.sequence, values.binder_residue_plddt));
    } else {
      body.appendChild(element("p", values.modeled_smiles, "smiles-full"));
    }
    const table = element("table", null, "kv");
    for (const column of data.columns) {
      const value = values[column.key];
      const shownAbove = ["modeled_smiles", "ligand_name", "sequence", "binder_residue_plddt"];
      if (value === null || value === undefined || shownAbove.includes(column.key)) continue;
      const tr = element("tr");
      const th = element("th", column.label);
      if (column.help) th.title = column.help;
      tr.appendChild(th);
      tr.appendChild(element("td", column.type === "num" ? formatNumber(value) : value));
      table.appendChild(tr);
    }
    // Scores that are 0 by construction for this protein's chains: shown as n/a, with why.
    for (const [label, reason] of Object.entries(data.not_applicable[values.protein] ?? {})) {
      const tr = element("tr");
      tr.appendChild(element("th", label));
      const td = element("td", "n/a", "muted");
      td.title = reason;
      tr.appendChild(td);
      table.appendChild(tr);
    }
    body.appendChild(table);
    renderInteractions(body, values.interactions);
    const structure = row.structure;
    if (structure) {
      const a = element("a", `Download ${structure.name}`);
      a.href = structure.href;
      a.download = structure.name;
      body.appendChild(a);
    }
  }

  // The pose's interactions with the receptor, one per line (`chain:RESNAMEnumber:type`).
  function renderInteractions(body, cell) {
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

  // A consensus pair's Boltz-2 row: Chai-1's ligand, moved into this structure's frame by the
  // superposition aggregation computed (`chai1_superposition`: [R | t] row by row, x -> R x +
  // t), in magenta sticks. Chai-1's structures hold no hetero atoms but the ligand.
  function addChai1Pose(partner) {
    const model = viewer.addModel(partner.cif, "cif");
    const m = partner.superposition;
    for (const atom of model.selectedAtoms({})) {
      const [x, y, z] = [atom.x, atom.y, atom.z];
      atom.x = m[0] * x + m[1] * y + m[2] * z + m[3];
      atom.y = m[4] * x + m[5] * y + m[6] * z + m[7];
      atom.z = m[8] * x + m[9] * y + m[10] * z + m[11];
    }
    viewer.setStyle({ model }, {});
    viewer.setStyle({ model, hetflag: true }, { stick: { radius: 0.2, colorscheme: "magentaCarbon" } });
    window.viewerChai1Atoms = model.selectedAtoms({ hetflag: true }).map((atom) => [atom.x, atom.y, atom.z]);
  }

  function show(name, cif, partner = null) {
    if (name !== wanted) return;
    viewer ??= $3Dmol.createViewer($("viewer"), { backgroundColor: "white" });
    viewer.clear();
    window.viewerChai1Atoms = null;
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
      if (partner?.cif) addChai1Pose(partner);
      viewerMessage(`${name}: protein cartoon, ligand in green sticks${cofactorNote}, residues within 5 Å as thin sticks.${partner?.note ?? ""}`);
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

  // Called by structures/<name>.js, which the page loads with a <script> tag, and by the file
  // picker: the text goes to every load waiting for it.
  const waiting = new Map(); // name -> the resolve functions of the loads waiting for it
  window.omtxStructure = (name, cif) => {
    structureText.set(name, cif);
    for (const resolve of waiting.get(name) ?? []) resolve(cif);
    waiting.delete(name);
  };

  // A structure's mmCIF text: loaded once, from its embedded script, over HTTP, or null where
  // neither can give it (a page opened from disk without it embedded).
  function structureTextOf(structure) {
    const name = structure.name;
    if (structureText.has(name)) return Promise.resolve(structureText.get(name));
    return new Promise((resolve) => {
      waiting.set(name, [...(waiting.get(name) ?? []), resolve]);
      if (embedded.has(name)) {
        const script = element("script");
        script.src = `structures/${encodeURIComponent(name)}.js`;
        script.onerror = () => resolve(null);
        document.head.appendChild(script);
      } else if (location.protocol.startsWith("http")) {
        fetch(structure.href)
          .then((response) => (response.ok ? response.text() : Promise.reject(new Error(response.status))))
          .then((text) => window.omtxStructure(name, text))
          .catch(() => resolve(null));
      } else {
        resolve(null);
      }
    });
  }

  function offerFilePicker(row) {
    const name = row.structure.name;
    viewerMessage(`${name} is not embedded in this page. Open the file to view it: `);
    const input = element("input");
    input.type = "file";
    input.accept = ".cif,.mmcif";
    input.addEventListener("change", () =>
      input.files[0]?.text().then((text) => {
        window.omtxStructure(name, text);
        if (wanted === name) loadStructure(row);
      }),
    );
    $("viewer-message").appendChild(input);
  }

  // A consensus pair's Boltz-2 row: Chai-1's structure and its superposition, or null.
  async function chai1Partner(row) {
    const { chai1Structure, values } = row;
    if (!chai1Structure || !values.chai1_superposition) return null;
    const cif = await structureTextOf(chai1Structure);
    const rmsd = values.consensus_rmsd === null ? "" : ` (pose RMSD ${formatNumber(values.consensus_rmsd)} Å)`;
    if (cif === null) return { note: ` Chai-1's pose: ${chai1Structure.name} is not embedded in this page.` };
    return {
      cif,
      superposition: values.chai1_superposition.split(" ").map(Number),
      note: ` Chai-1's ligand in magenta sticks, receptors superposed${rmsd}.`,
    };
  }

  function loadStructure(row) {
    const { structure, values } = row;
    wanted = structure?.name;
    wantedChain = data.ligand_chains?.[values.protein] ?? null;
    window.viewerReady = null;
    if (!structure) {
      viewer?.clear();
      viewer?.render();
      viewerMessage(values.status === "completed" ? "The structure file is not available yet." : `No structure: this target is ${values.status}.`);
      return;
    }
    const name = structure.name;
    viewerMessage(`Loading ${name}…`);
    Promise.all([structureTextOf(structure), chai1Partner(row)]).then(([cif, partner]) => {
      if (name !== wanted) return;
      if (cif === null && embedded.has(name)) return viewerMessage(`Could not load structures/${name}.js next to this page.`);
      if (cif === null) return offerFilePicker(row);
      show(name, cif, partner);
    });
  }

  // The row's chunk may still have to load (a top hit or a selectivity link far down).
  async function select(i) {
    selected = i;
    for (const tr of document.querySelectorAll("#targets tbody tr")) tr.classList.toggle("selected", Number(tr.dataset.row) === i);
    await rowsLoaded([i]);
    if (selected !== i) return;
    const row = rowOf(i);
    renderDetails(row);
    loadStructure(row);
  }

  renderHeader();
  for (const id of ["filter-text", "filter-pmin", "filter-affmax", "filter-confmin", "filter-status", "filter-flag", "filter-posebusters", "filter-triage"]) {
    $(id)?.addEventListener("input", applyFilters);
  }
  $("page-prev").addEventListener("click", () => turnPage(-1));
  $("page-next").addEventListener("click", () => turnPage(1));
  $("targets").addEventListener("click", (event) => {
    const tr = event.target.closest("tbody tr");
    if (tr && !event.target.closest("a")) track(select(Number(tr.dataset.row)));
  });
  // Links to a target's row: the top hits, and the cells other views draw later
  // (selectivity.js), hence one listener on the document.
  document.addEventListener("click", (event) => {
    const link = event.target.closest(".select-row");
    if (!link) return;
    event.preventDefault();
    track(select(Number(link.dataset.row)));
    $("detail-title").scrollIntoView({ behavior: "smooth" });
  });
  // For the page's other views (selectivity.js), which format numbers as the table does;
  // settled(): resolves once the latest sort, filter, page or selection is drawn.
  window.omtxDashboard = {
    formatNumber,
    // One row's data (rowOf), its piece loaded first: for purchase.js, which keeps rows of
    // any page.
    row: async (i) => {
      await rowsLoaded([i]);
      return rowOf(i);
    },
    settled: async () => {
      for (let seen = null; seen !== latest; ) await (seen = latest);
    },
  };
  track(renderTable()).then(async () => {
    window.dashboardReadyAt = performance.now(); // since the page was requested
    window.dashboardReady = true;
    // The filters' data, loaded while the user looks at the first page (already in for a
    // screen that fits one chunk), one piece at a time, so that a click is not kept waiting.
    for (const name of [...Object.values(data.filter_columns), ...data.search]) await piece(name);
    window.filtersReadyAt = performance.now();
    window.filtersReady = true;
  });
})();
