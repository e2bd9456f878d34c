// Inline SVG charts (no library, no network): heat maps, points on the unit circle, line charts, histograms, bars.

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

function svg(width, height, label, wide = false) {
  const node = document.createElementNS(NS, "svg");
  node.setAttribute("viewBox", `0 0 ${width} ${height}`);
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", label);
  node.classList.add("chart", wide ? "wide" : "small");
  return node;
}

function add(parent, tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  parent.append(node);
  return node;
}

// Blue for negative, white for 0, red for positive, scaled by the largest magnitude shown.
function diverging(value, scale) {
  const t = Math.max(-1, Math.min(1, value / (scale || 1)));
  const fade = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
}

export function heatmap(matrix, rowLabels, label) {
  const cols = matrix[0].length;
  const cell = 2;
  const rowHeight = 14;
  const left = 90;
  const node = svg(left + cols * cell, matrix.length * rowHeight + 16, label, true);
  // The 99th percentile of |value|: a few outlier dimensions (BERT has them) would otherwise wash out the rest.
  const magnitudes = matrix.flat().map(Math.abs).sort((a, b) => a - b);
  const scale = magnitudes[Math.floor(0.99 * (magnitudes.length - 1))] || 1;
  matrix.forEach((row, r) => {
    add(node, "text", { x: left - 6, y: r * rowHeight + 11, "text-anchor": "end", class: "tick" }, rowLabels[r]);
    row.forEach((value, c) => {
      add(node, "rect", { x: left + c * cell, y: r * rowHeight, width: cell, height: rowHeight - 1, fill: diverging(value, scale) });
    });
  });
  add(node, "text", { x: left, y: matrix.length * rowHeight + 13, class: "tick" }, `dimension 0 … ${cols - 1}  (red +, blue −; full colour at |value| ≥ ${scale.toFixed(2)})`);
  return node;
}

export function unitCircle(points, pairCount, label) {
  const size = 320;
  const mid = size / 2;
  const radius = 130;
  const node = svg(size, size, label);
  add(node, "circle", { cx: mid, cy: mid, r: radius, fill: "none", stroke: "#bbb" });
  const at = ([x, y]) => [mid + x * radius, mid - y * radius];
  const group = add(node, "g", {});
  const draw = (frame) => {
    group.replaceChildren();
    for (let i = 0; i < pairCount; i++) {
      const [ax, ay] = at(frame[i]);
      const [px, py] = at(frame[i + pairCount]);
      const colour = PALETTE[i % PALETTE.length];
      add(group, "line", { x1: ax, y1: ay, x2: px, y2: py, stroke: colour, "stroke-dasharray": "3 3" });
      add(group, "circle", { cx: ax, cy: ay, r: 7, fill: colour });
      add(group, "rect", { x: px - 6, y: py - 6, width: 12, height: 12, fill: "white", stroke: colour, "stroke-width": 3 });
      add(group, "text", { x: ax + 9, y: ay - 8, class: "tick" }, String(i + 1));
    }
  };
  draw(points);
  return { node, draw };
}

export function lineChart(series, label, { xLabel = "", yLabel = "", upTo = Infinity } = {}) {
  const width = 360;
  const height = 200;
  const pad = { left: 44, right: 10, top: 10, bottom: 30 };
  const node = svg(width, height, label);
  const all = series.flatMap((s) => s.values);
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all) || 1;
  const n = Math.max(...series.map((s) => s.values.length));
  const x = (i) => pad.left + (i / Math.max(1, n - 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - ((v - lo) / (hi - lo || 1)) * (height - pad.top - pad.bottom);
  add(node, "line", { x1: pad.left, y1: y(lo), x2: width - pad.right, y2: y(lo), stroke: "#888" });
  add(node, "line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: y(lo), stroke: "#888" });
  add(node, "text", { x: pad.left - 4, y: y(hi) + 4, "text-anchor": "end", class: "tick" }, hi.toFixed(2));
  add(node, "text", { x: pad.left - 4, y: y(lo), "text-anchor": "end", class: "tick" }, lo.toFixed(2));
  add(node, "text", { x: width / 2, y: height - 6, "text-anchor": "middle", class: "tick" }, xLabel);
  add(node, "text", { x: 12, y: pad.top + 60, class: "tick", transform: `rotate(-90 12 ${pad.top + 60})` }, yLabel);
  series.forEach((s, k) => {
    const shown = s.values.slice(0, Math.min(s.values.length, upTo + 1));
    const path = shown.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    add(node, "path", { d: path, fill: "none", stroke: s.colour || PALETTE[k % PALETTE.length], "stroke-width": 2 });
  });
  return node;
}

export function histogram(edges, series, label) {
  const width = 360;
  const height = 180;
  const pad = { left: 10, right: 10, top: 10, bottom: 34 };
  const node = svg(width, height, label);
  const bins = edges.length - 1;
  const barWidth = (width - pad.left - pad.right) / bins;
  const shares = series.map((s) => {
    const total = s.counts.reduce((a, b) => a + b, 0) || 1;
    return s.counts.map((c) => c / total);
  });
  const top = Math.max(...shares.flat()) || 1;
  const base = height - pad.bottom;
  series.forEach((s, k) => {
    shares[k].forEach((share, i) => {
      const h = (share / top) * (base - pad.top);
      add(node, "rect", { x: pad.left + i * barWidth + 1, y: base - h, width: barWidth - 2, height: h, fill: s.colour,
        "fill-opacity": 0.55 });
    });
  });
  add(node, "line", { x1: pad.left, y1: base, x2: width - pad.right, y2: base, stroke: "#888" });
  [0, bins / 2, bins].forEach((i) => {
    add(node, "text", { x: pad.left + i * barWidth, y: base + 13, "text-anchor": "middle", class: "tick" }, edges[i].toFixed(0));
  });
  add(node, "text", { x: width / 2, y: height - 4, "text-anchor": "middle", class: "tick" }, "cosine");
  series.forEach((s, k) => {
    add(node, "rect", { x: pad.left + 4, y: pad.top + k * 14, width: 10, height: 10, fill: s.colour, "fill-opacity": 0.55 });
    add(node, "text", { x: pad.left + 18, y: pad.top + 9 + k * 14, class: "tick" }, s.name);
  });
  return node;
}

// Horizontal bars on a fixed [-1, 1] axis, so models with crowded and spread cosines compare at a glance.
export function cosineBars(labels, values, highlighted, label) {
  const width = 480;
  const rowHeight = 22;
  const left = 190;
  const node = svg(width, labels.length * rowHeight + 20, label);
  const span = width - left - 40;
  const x = (v) => left + ((v + 1) / 2) * span;
  add(node, "line", { x1: x(0), y1: 0, x2: x(0), y2: labels.length * rowHeight, stroke: "#888" });
  labels.forEach((name, i) => {
    const y = i * rowHeight;
    const colour = highlighted.has(i) ? "#d62728" : "#1f77b4";
    add(node, "text", { x: left - 6, y: y + 15, "text-anchor": "end", class: "tick" }, name);
    const v = values[i];
    add(node, "rect", { x: Math.min(x(0), x(v)), y: y + 4, width: Math.abs(x(v) - x(0)), height: rowHeight - 8, fill: colour });
    add(node, "text", { x: x(1) + 4, y: y + 15, class: "tick" }, v.toFixed(2));
  });
  add(node, "text", { x: x(-1), y: labels.length * rowHeight + 14, class: "tick" }, "-1");
  add(node, "text", { x: x(1), y: labels.length * rowHeight + 14, "text-anchor": "end", class: "tick" }, "1");
  return node;
}
