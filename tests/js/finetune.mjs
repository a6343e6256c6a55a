// The page's fine-tuning on given id streams, for the Python test to compare with `bot finetune`: one
// epoch of FineTuner, or with "epochs" the whole of fineTune (rate halved on a plateau, early stopping).
// usage: node finetune.mjs EXPORT_DIR RUN.json OUT.json [backend=cpu|wasm]
//   RUN.json: {config: the run's Config, train: [ids], validate: [ids], epochs?}
//   OUT.json: {loss, val_loss, seconds}, or with epochs {history: [{epoch, learning_rate, loss, val_loss}], after}
import fs from "node:fs";
import "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs";
import { loadExport } from "./load.mjs";
import { FineTuner, fineTune } from "../../twitterbot/web/page/finetune.js";
import { layerWeights } from "../../twitterbot/web/page/generator.js";

const [dir, runPath, outPath, backend = "cpu"] = process.argv.slice(2);
if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
const { model } = await loadExport(dir);
const run = JSON.parse(fs.readFileSync(runPath, "utf8"));
const { optimizer, schedule } = JSON.parse(fs.readFileSync(`${dir}/generation.json`, "utf8")); // the export's rules
const [train, validate] = [Int32Array.from(run.train), Int32Array.from(run.validate)];
if (run.epochs) {
  const result = await fineTune(tf, layerWeights(model), run.config, { optimizer, schedule }, { train, validate }, { epochs: run.epochs });
  fs.writeFileSync(outPath, JSON.stringify({ history: result.history, after: result.after }));
} else {
  const tuner = new FineTuner(tf, layerWeights(model), run.config, optimizer);
  const started = performance.now();
  const loss = await tuner.trainEpoch(train);
  const seconds = (performance.now() - started) / 1000;
  const valLoss = tuner.evaluate(validate);
  fs.writeFileSync(outPath, JSON.stringify({ loss, val_loss: valLoss, seconds, backend: tf.getBackend() }));
}
