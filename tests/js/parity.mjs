// Feed ids one at a time through (a) the tfjs layers model and (b) the page's fused step from zeros, and
// (c) the fused step from the export's tweet-start state (generation.json), as the page writes; print the
// probability sequences as JSON for the Python test to compare with Keras and `bot generate`'s step.
// usage: node parity.mjs EXPORT_DIR '[ids...]' OUT.json [backend=cpu|wasm]
import fs from "node:fs";
import path from "node:path";
import "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs";
import { loadExport } from "./load.mjs";
import { TweetWriter, layerWeights } from "../../twitterbot/web/page/generator.js";

const [dir, idsJson, outPath, backend = "cpu"] = process.argv.slice(2);
const ids = JSON.parse(idsJson);
if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
const { model, vocab } = await loadExport(dir);

const layers = [];
model.layers.forEach((layer) => layer.resetStates && layer.stateful && layer.resetStates());
for (const id of ids) {
  const out = model.predict(tf.tensor2d([[id]], [1, 1], "int32"));
  layers.push(Array.from(await out.data()));
  out.dispose();
}

async function stepped(writer) {
  const probabilities = [];
  let state = writer.initialState(1);
  for (const id of ids) {
    const [logits, next] = writer.step(new Int32Array([id]), state);
    writer.disposeState(state);
    state = next;
    const p = tf.softmax(logits);
    probabilities.push(Array.from(await p.data()));
    p.dispose();
    logits.dispose();
  }
  writer.disposeState(state);
  return probabilities;
}

const { startState = null } = JSON.parse(fs.readFileSync(path.join(dir, "generation.json"), "utf8"));
const fused = await stepped(new TweetWriter(tf, layerWeights(model), vocab));
const fromStart = startState ? await stepped(new TweetWriter(tf, layerWeights(model), vocab, startState)) : null;
fs.writeFileSync(outPath, JSON.stringify({ backend: tf.getBackend(), version: tf.version.tfjs, layers, fused, fromStart }));
