// Small DOM helpers shared by the pages: element building, number formatting, errors and busy buttons.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export const fmt = (x, digits = 4) => Number(x).toFixed(digits);

export function lines(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

// "a | b" per line: the pair format of the contrastive and quality pages.
export function pairs(text) {
  return lines(text).map((line, i) => {
    const parts = line.split("|").map((part) => part.trim());
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`line ${i + 1} is not "text | text"`);
    return parts;
  });
}

export function errorBox() {
  return el("p", { class: "error", role: "alert", hidden: true });
}

export function showError(box, err) {
  box.hidden = false;
  const status = err.status ? ` (HTTP ${err.status})` : "";
  box.textContent = `Error${status}: ${err.message}`;
}

// Runs `work` with the button disabled and the error box cleared or filled.
export async function busy(button, box, work) {
  button.disabled = true;
  box.hidden = true;
  box.textContent = "";
  try {
    return await work();
  } catch (err) {
    showError(box, err);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function field(id, label, control, hint) {
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text: label }), control,
    hint ? el("small", { text: hint }) : null);
}

export function table(headers, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => (c instanceof Node ? el("td", {}, c) : el("td", { text: c })))))));
}

export function section(title, ...children) {
  return el("section", { class: "card" }, el("h3", { text: title }), ...children);
}
