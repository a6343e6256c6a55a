// Load an export folder's model.json + shards from disk in Node (tfjs fetches URLs; this reads files).
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";

export async function loadExport(dir) {
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const handler = {
    load: async () => {
      const buffers = modelJson.weightsManifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
      const joined = Buffer.concat(buffers);
      return {
        modelTopology: modelJson.modelTopology,
        format: modelJson.format,
        weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
        weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
      };
    },
  };
  const model = await tf.loadLayersModel(handler);
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, "vocab.json"), "utf8"));
  return { model, vocab };
}
