// The playground's router: one module per page under pages/, chosen by the URL's #hash.

import { get, setKey, getKey } from "./api.js";
import { el } from "./ui.js";

const PAGES = ["similarity", "pooling", "contrastive", "quality", "asymmetric", "matryoshka", "search", "late"];
const main = document.getElementById("page");
let info = null;

async function loadInfo() {
  const line = document.getElementById("model-line");
  try {
    info = await get("/playground/info");
    const shape = info.representation === "sparse" ? `sparse, ${info.dimensions} terms` : `${info.dimensions}-d`;
    line.textContent = `model ${info.model} · ${shape} · index ${info.index ? "loaded" : "none"}` +
      ` · reranker ${info.reranker ? "loaded" : "none"}`;
  } catch (err) {
    line.textContent = `Cannot read the server's model: ${err.message}`;
    if (err.status === 401) document.getElementById("key-box").open = true;
    info = null;
  }
}

async function show() {
  const name = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : PAGES[0];
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (info === null) await loadInfo();
  main.replaceChildren();
  if (info === null) {
    main.append(el("p", { class: "error", role: "alert", text: "The server's /playground/info did not answer; see above." }));
    return;
  }
  const page = await import(`./pages/${name}.js`);
  const root = el("div", { id: `page-${name}` });
  main.append(root);
  await page.render(root, info);
  main.dataset.page = name;
}

const keyInput = document.getElementById("api-key");
document.getElementById("key-form").addEventListener("submit", (event) => { event.preventDefault(); keyInput.blur(); });
keyInput.value = getKey();
keyInput.addEventListener("change", async () => {
  setKey(keyInput.value.trim());
  info = null;
  await show();
});
window.addEventListener("hashchange", async () => {
  await show();
  main.focus();
});
show();
