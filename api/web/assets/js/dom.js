// Building page elements. Text always goes in as text nodes, never as markup.

/**
 * A new element: `el("a", {href: "/", class: "button"}, "Home")`.
 * Props: `class`, `text`, `dataset`, `on<event>` handlers, booleans (set when true), attributes.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `node` with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  return node;
}

/**
 * Show `message` in a notice element (`kind`: error, ok or info). An Error shows its message;
 * a Node (or an array of nodes and strings) is shown as it is.
 */
export function showNotice(node, message, kind = "error") {
  node.className = `notice ${kind}`;
  if (message instanceof Node || Array.isArray(message)) fill(node, message);
  else node.textContent = message instanceof Error ? message.message : String(message);
  node.hidden = false;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
}

export function hideNotice(node) {
  node.hidden = true;
  node.textContent = "";
}

/** Run `work` with `button` disabled (and marked busy) until it settles. */
export async function whileBusy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A `<table>` in a scrolling wrapper; `columns` are {label, num?}; rows are arrays of cells. */
export function table(columns, rows, { empty = "Nothing yet.", rowClass } = {}) {
  if (!rows.length) return el("p", { class: "empty", text: empty });
  const head = el(
    "tr",
    {},
    columns.map((c) => el("th", { class: c.num ? "num" : null, scope: "col", text: c.label })),
  );
  const body = rows.map((cells, i) =>
    el(
      "tr",
      { class: rowClass ? rowClass(i) : null },
      cells.map((cell, j) =>
        cell instanceof HTMLTableCellElement
          ? cell
          : el("td", { class: columns[j] && columns[j].num ? "num" : null }, cell),
      ),
    ),
  );
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
}
