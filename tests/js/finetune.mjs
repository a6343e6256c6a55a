// One epoch of the page's fine-tuning on given id streams, for the Python test to compare with `bot finetune`.
// usage: node finetune.mjs EXPORT_DIR RUN.json OUT.json [backend=cpu|wasm]
//   RUN.json: {config: the run's Config, train: [ids], validate: [ids]}; OUT.json: {loss, val_loss, seconds}
import fs from "node:fs";
import "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs";
import { loadExport } from "./load.mjs";
import { FineTuner } from "../../twitterbot/web/page/finetune.js";
import { layerWeights } from "../../twitterbot/web/page/generator.js";

const [dir, runPath, outPath, backend = "cpu"] = process.argv.slice(2);
if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
const { model } = await loadExport(dir);
const run = JSON.parse(fs.readFileSync(runPath, "utf8"));
const tuner = new FineTuner(tf, layerWeights(model), run.config);
const started = performance.now();
const loss = await tuner.trainEpoch(Int32Array.from(run.train));
const seconds = (performance.now() - started) / 1000;
const valLoss = tuner.evaluate(Int32Array.from(run.validate));
fs.writeFileSync(outPath, JSON.stringify({ loss, val_loss: valLoss, seconds, backend: tf.getBackend() }));
