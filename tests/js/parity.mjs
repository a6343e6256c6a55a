// Feed ids one at a time through (a) the tfjs layers model and (b) the page's fused step; print both
// probability sequences as JSON for the Python test to compare with Keras.
// usage: node parity.mjs EXPORT_DIR '[ids...]' OUT.json
import fs from "node:fs";
import { loadExport } from "./load.mjs";
import { TweetWriter } from "../../twitterbot/web/generator.js";

const [dir, idsJson, outPath] = process.argv.slice(2);
const ids = JSON.parse(idsJson);
const { tf, model, vocab } = await loadExport(dir);
await tf.setBackend("cpu");

const layers = [];
model.layers.forEach((layer) => layer.resetStates && layer.stateful && layer.resetStates());
for (const id of ids) {
  const out = model.predict(tf.tensor2d([[id]], [1, 1], "int32"));
  layers.push(Array.from(await out.data()));
  out.dispose();
}

const writer = new TweetWriter(tf, model, vocab);
const fused = [];
let state = writer.initialState(1);
for (const id of ids) {
  const [p, next] = writer.step(new Int32Array([id]), state);
  writer.disposeState(state);
  state = next;
  fused.push(Array.from(await p.data()));
  p.dispose();
}
fs.writeFileSync(outPath, JSON.stringify({ backend: tf.getBackend(), version: tf.version.tfjs, layers, fused }));
