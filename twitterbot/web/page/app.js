// The page: loads the exported model with the vendored tfjs (wasm backend when it starts, else cpu),
// writes tweets in parallel streams, and yields to the event loop between steps so the page stays live.
import { PageFilters, readNovelty, readWords, xLength } from "./filters.js";
import { TweetWriter, layerWeights } from "./generator.js";
import { setUpYours } from "./yours.js";

const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);
const COPIED_FOR_MS = 2000;

// A macrotask without setTimeout's 4 ms clamp: lets the page paint and take clicks between steps.
function yieldToBrowser() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

// Write's onStep: a yield every fourth character lets the page paint and take clicks while it writes.
const yieldWhileWriting = (step) => (step % 4 === 0 ? yieldToBrowser() : null);

async function chooseBackend() {
  try {
    tf.wasm.setWasmPaths(new URL("vendor/", location.href).href);
    if (await tf.setBackend("wasm")) return "wasm";
  } catch (error) {
    console.warn("wasm backend unavailable, using cpu", error);
  }
  await tf.setBackend("cpu");
  return "cpu";
}

function showTweet(text, limit) {
  const item = document.createElement("li");
  item.className = "tweet";
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = text;
  const footer = document.createElement("footer");
  const count = document.createElement("span");
  const length = xLength(text); // as X counts it: links 23, emoji and CJK 2
  count.className = length > limit ? "count over" : "count";
  count.textContent = `${length} / ${limit}`;
  const copy = document.createElement("button");
  copy.className = "copy";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy: ${text.slice(0, 40)}`);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Copy failed: select the text instead";
    }
    setTimeout(() => (copy.textContent = "Copy"), COPIED_FOR_MS);
  });
  footer.append(count, copy);
  item.append(body, footer);
  $("tweets").prepend(item);
  $("clear").disabled = false;
}

function writeLabel() {
  const n = Number($("count").value);
  $("write").textContent = n === 1 ? "Write a tweet" : `Write ${n} tweets`;
}

// The first words must be made of characters the model knows: say which one it does not, beside the field.
function checkSeedText(writer) {
  const unknown = Array.from($("seed-text").value).filter((ch) => !writer.index.has(ch));
  $("seed-error").textContent = unknown.length
    ? `The writer has never seen ${[...new Set(unknown)].map((ch) => JSON.stringify(ch)).join(", ")}: ` +
      "leave it out to go on."
    : "";
  $("seed-text").setAttribute("aria-invalid", unknown.length ? "true" : "false");
  return unknown.length === 0;
}

async function main() {
  const loadStart = performance.now();
  const backend = await chooseBackend();
  const [model, modelJson, vocab, settings, rules] = await Promise.all([
    tf.loadLayersModel("model.json"),
    fetch("model.json").then((r) => r.json()),
    fetch("vocab.json").then((r) => r.json()),
    fetch("generation.json").then((r) => r.json()),
    fetch("filters.json").then((r) => r.json()),
  ]);
  const novelty = rules.novelty ? readNovelty(await fetch(rules.novelty.file).then((r) => r.arrayBuffer()), rules.novelty) : null;
  const words = rules.words ? readWords(new Uint8Array(await fetch(rules.words.file).then((r) => r.arrayBuffer()))) : null;
  // What writes now: the export's model, until the user's own voice replaces it (yours.js).
  const app = {
    tf, vocab, settings, rules, modelJson, words,
    use(weights, filters) {
      if (this.writer) this.writer.dispose();
      Object.assign(this, { weights, filters, writer: new TweetWriter(tf, weights, vocab, settings.startState) });
      Object.assign(window.twitterbot, { writer: this.writer, filters });
    },
  };
  const loadMs = performance.now() - loadStart;
  window.twitterbot = { backend, loadMs, timings: [], model, yieldWhileWriting }; // for tests and benchmarks
  app.use(layerWeights(model), new PageFilters(rules, novelty, { mention: settings.mention, placeholders: vocab.placeholders, words }));
  setUpYours(app);
  $("temperature").value = settings.temperature;
  $("temperature-value").textContent = settings.temperature;
  $("temperature").addEventListener("input", () => ($("temperature-value").textContent = $("temperature").value));
  status("Ready.");
  $("write").disabled = false;
  writeLabel();
  $("count").addEventListener("change", writeLabel);
  $("seed-text").addEventListener("input", () => ($("write").disabled = !checkSeedText(app.writer)));
  $("clear").addEventListener("click", () => {
    $("tweets").replaceChildren();
    $("clear").disabled = true;
    status("Cleared.");
    $("write").focus();
  });
  $("write").addEventListener("click", async () => {
    if (!checkSeedText(app.writer)) return;
    $("write").disabled = true;
    const started = performance.now();
    try {
      const n = Number($("count").value);
      status(n === 1 ? "Writing a tweet…" : `Writing ${n} tweets…`);
      const { tweets, drawn, rejected } = await app.writer.write({
        n,
        filters: app.filters,
        redraws: settings.redraws,
        mentionChain: settings.mention_chain,
        loopSpan: rules.loop_span,
        temperature: Number($("temperature").value),
        topK: settings.top_k,
        topP: settings.top_p,
        seedText: $("seed-text").value,
        maxLen: settings.max_len,
        link: settings.link,
        mention: settings.mention,
        onStep: yieldWhileWriting,
      });
      const seconds = (performance.now() - started) / 1000;
      window.twitterbot.timings.push({ n, seconds, drawn, rejected, chars: tweets.reduce((sum, t) => sum + t.length, 0) });
      tweets.forEach((tweet) => showTweet(tweet, rules.max_length));
      const wrote = tweets.length === 1 ? "a tweet" : `${tweets.length} tweets`;
      const held = drawn - tweets.length; // copies, @handles, blocked words, loops: never shown
      status(`Wrote ${wrote} in ${seconds.toFixed(1)} s.` + (held ? ` ${held} more ${held === 1 ? "was" : "were"} held back by the filters.` : ""));
    } catch (error) {
      status(`Could not write: ${error.message}`);
    } finally {
      $("write").disabled = false;
    }
  });
}

main().catch((error) => status(`Could not load the model: ${error.message}`));
