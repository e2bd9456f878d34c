// Page 3: InfoNCE steps on a 2-D projection, run on the server; positives pulled together, negatives pushed apart.

import { post } from "../api.js";
import { lineChart, unitCircle } from "../charts.js";
import { busy, el, errorBox, field, fmt, pairs, section } from "../ui.js";

const PAIRS = [
  "A cat sleeps on the sofa. | A kitten naps on the couch.",
  "The stock market fell sharply. | Share prices dropped today.",
  "He plays the guitar. | A man performs music on guitar.",
  "It is raining heavily. | A storm brings lots of rain.",
  "I write code in Python. | Programming in Python is fun.",
  "The moon orbits the Earth. | Earth's satellite circles the planet.",
];
const FRAME_MS = 40;

export async function render(root) {
  const text = el("textarea", { rows: 7 });
  text.value = PAIRS.join("\n");
  const temperature = el("input", { type: "number", value: "0.1", min: "0.01", max: "2", step: "0.01" });
  const batch = el("input", { type: "number", value: "4", min: "2", max: "8", step: "1" });
  const steps = el("input", { type: "number", value: "60", min: "1", max: "300", step: "1" });
  const button = el("button", { type: "submit", id: "con-train", text: "Train" });
  const error = errorBox();
  const scrub = el("input", { type: "range", min: "0", max: "0", value: "0", step: "1", disabled: true });
  const stepLabel = el("output", { id: "con-step", for: "con-scrub", text: "step 0" });
  const lossLabel = el("output", { id: "con-loss", text: "" });
  const circleBox = el("div", {});
  const curveBox = el("div", {});
  let run = null;
  let circle = null;
  let timer = null;

  const showFrame = (i) => {
    circle.draw(run.frames[i]);
    scrub.value = String(i);
    stepLabel.textContent = `step ${i} of ${run.frames.length - 1}`;
    lossLabel.textContent = `InfoNCE loss ${fmt(run.losses[i])}`;
    curveBox.replaceChildren(lineChart([{ values: run.losses }], "loss curve", { xLabel: "step", yLabel: "loss", upTo: i }));
  };
  const animate = () => {
    clearInterval(timer);
    const last = run.frames.length - 1;
    if (matchMedia("(prefers-reduced-motion: reduce)").matches) { showFrame(last); finish(); return; }
    let i = 0;
    timer = setInterval(() => {
      showFrame(i);
      if (i++ >= last) { clearInterval(timer); finish(); }
    }, FRAME_MS);
  };
  const finish = () => {
    root.querySelector("#con-final").textContent =
      `loss ${fmt(run.losses[0])} → ${fmt(run.losses[run.losses.length - 1])} after ${run.losses.length - 1} steps`;
  };
  const train = () => busy(button, error, async () => {
    const list = pairs(text.value);
    run = await post("/playground/contrastive", {
      pairs: list, temperature: Number(temperature.value), batch_size: Number(batch.value), steps: Number(steps.value),
    });
    root.querySelector("#con-final").textContent = "";
    circle = unitCircle(run.frames[0], list.length, "pairs on the unit circle: circles are anchors, squares positives");
    circleBox.replaceChildren(circle.node);
    scrub.max = String(run.frames.length - 1);
    scrub.disabled = false;
    animate();
  });
  scrub.id = "con-scrub";
  scrub.addEventListener("input", () => { clearInterval(timer); showFrame(Number(scrub.value)); });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); train(); } },
    field("con-pairs", "Pairs, one \"anchor | positive\" per line (2–8)", text),
    el("div", { class: "row" },
      field("con-temperature", "Temperature", temperature),
      field("con-batch", "Batch size (pairs)", batch),
      field("con-steps", "Steps", steps), button), error);
  root.append(
    el("h2", { text: "Contrastive learning dynamics" }),
    el("p", { class: "lead", text: "The frozen embeddings of each pair go through a 2-d linear head trained with InfoNCE on the " +
      "server: each anchor must pick its own positive among the batch. Same colour = a pair (circle anchor, square positive). " +
      "A low temperature sharpens the softmax; a bigger batch gives each anchor more negatives." }),
    section("Pairs and settings", form),
    el("div", { class: "grid" },
      section("Points (unit circle, what the loss sees)", circleBox,
        el("div", { class: "row" }, el("label", { for: "con-scrub", text: "Step" }), scrub, stepLabel)),
      section("Loss curve", curveBox, el("p", {}, lossLabel), el("p", { id: "con-final", "aria-live": "polite" }))));
}
