// Trains off the page's main thread, so the page stays responsive (Stop, scrolling) while a batch of a
// 512-unit model takes seconds: the page posts the weights, settings, training rules and id streams, gets progress back,
// may post "stop", and receives the best pass's weights (finetune.js's fineTune).
importScripts("vendor/tf.min.js", "vendor/tf-backend-wasm.min.js");

let stopRequested = false;

self.onmessage = async ({ data }) => {
  if (data.type === "stop") {
    stopRequested = true;
    return;
  }
  try {
    const { fineTune, fromArrays, buffersOf } = await import("./finetune.js");
    tf.wasm.setWasmPaths(data.wasmPaths);
    const backends = ["wasm", "webgl"].filter((name) => tf.findBackendFactory(name));
    await tf.setBackend("wasm");
    const result = await fineTune(tf, fromArrays(tf, data.weights), data.config, data.training, data.streams, {
      epochs: data.epochs,
      backends,
      shouldStop: () => stopRequested,
      onProgress: (progress) => self.postMessage({ type: "progress", ...progress }),
    });
    self.postMessage({ type: "done", ...result }, result.weights ? buffersOf(result.weights) : []);
  } catch (error) {
    self.postMessage({ type: "error", message: error.message || String(error) });
  }
};
