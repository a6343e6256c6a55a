// "Make it yours": the user's tweets, read and cleaned in the page, fine-tune the writer's model here
// (nothing leaves this computer); the new voice writes at once, downloads as a .zip that `bot import-web`
// and this page read back.
import { cleanTweets } from "./clean.js";
import { encodeTweets, fittingBatchSize, fromArrays, laneLength, splitTweets, toArrays } from "./finetune.js";
import { PageFilters, buildNovelty, noveltyBytes, readNovelty, readWords, wordsBytes, wordsIn } from "./filters.js";
import { layerWeights } from "./generator.js";
import { FileError, readTweets } from "./tweets.js";
import { unzipSync, zipSync } from "./vendor/fflate.min.js";

const $ = (id) => document.getElementById(id);
const VALIDATE_SHARE = 0.1; // of the user's tweets, held out to measure the new voice
const DOWNLOAD_FOLDER = "my-voice";

function minutes(seconds) {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  return `${Math.round(seconds / 60)} min`;
}

export function setUpYours(app) {
  const { tf, vocab, settings, rules } = app;
  const filtersFor = (opened, novelty, words) =>
    new PageFilters(opened, novelty, { mention: settings.mention, placeholders: vocab.placeholders, words });
  let tweets = [];
  let stop = null; // while learning: tells the worker to stop after its batch
  let tuned = null; // {config, novelty, words, history, before, after} of the last fine-tune (its weights: app.weights)

  const status = (text) => ($("learn-status").textContent = text);
  const fileError = (text) => {
    $("files-error").textContent = text;
    $("tweet-files").setAttribute("aria-invalid", text ? "true" : "false");
  };

  async function readFiles(files) {
    fileError("");
    $("learn").disabled = true;
    try {
      const texts = [];
      for (const file of files) texts.push(...readTweets(file.name, new Uint8Array(await file.arrayBuffer())));
      const { kept, dropped } = cleanTweets(texts, vocab.placeholders);
      tweets = kept;
      const chars = kept.reduce((sum, t) => sum + Array.from(t).length, 0);
      const left = Object.entries(dropped).filter(([, n]) => n).map(([why, n]) => `${n.toLocaleString("en")} ${why === "empty" ? "empty" : `${why}${n === 1 ? "" : "s"}`}`);
      $("files-summary").textContent =
        `${kept.length.toLocaleString("en")} tweets, ${chars.toLocaleString("en")} characters` + (left.length ? ` (left out: ${left.join(", ")}).` : ".");
      const { validate } = splitTweets(kept, VALIDATE_SHARE);
      const seq = settings.config.seq_len;
      if (encodeTweets(validate, vocab).length < seq + 1 || laneLength(encodeTweets(kept, vocab).length, 1, seq) < 2 * seq) {
        fileError(`Only ${kept.length} tweets after cleaning: it needs a few hundred to learn from. Add more files.`);
        return;
      }
      $("learn").disabled = false;
    } catch (error) {
      tweets = [];
      $("files-summary").textContent = "";
      fileError(error instanceof FileError ? `Could not read ${error.message}` : `Could not read the files: ${error.message}`);
    }
  }

  // Learning runs in a worker (train-worker.js): the page stays responsive, and Stop is heard at once.
  async function learn() {
    const { train, validate } = splitTweets(tweets, VALIDATE_SHARE);
    const streams = { train: encodeTweets(train, vocab), validate: encodeTweets(validate, vocab) };
    const base = settings.config;
    const config = {
      ...base,
      learning_rate: settings.finetune_learning_rate, // `bot finetune`'s default for this base
      batch_size: fittingBatchSize(base.batch_size, streams.validate.length, base.seq_len),
    };
    const epochs = Number($("passes").value);
    const inputs = ["learn", "tweet-files", "model-file", "passes"];
    inputs.forEach((id) => ($(id).disabled = true)); // one learning at a time, on the tweets it started with
    $("stop").disabled = false;
    $("download").disabled = true;
    $("learn-progress").hidden = false;
    $("learn-progress").value = 0;
    status("Getting ready…");
    const worker = new Worker("train-worker.js");
    stop = () => worker.postMessage({ type: "stop" });
    const wasmPaths = new URL("vendor/", location.href).href;
    const training = { optimizer: settings.optimizer, schedule: settings.schedule }; // the base's, from generation.json
    worker.postMessage({ type: "train", weights: toArrays(app.weights), config, training, streams, epochs, wasmPaths });
    const result = await new Promise((resolve) => {
      worker.onmessage = ({ data }) => {
        if (data.type !== "progress") return resolve(data);
        const { pass, done, total, loss, left } = data;
        $("learn-progress").value = ((pass - 1) * total + done) / (epochs * total);
        status(`Pass ${pass} of ${epochs}: batch ${done} of ${total}, loss ${loss.toFixed(2)} (lower is better), about ${minutes(left)} left.`);
      };
      worker.onerror = (event) => resolve({ type: "error", message: event.message });
    });
    worker.terminate();
    stop = null;
    $("learn-progress").hidden = true;
    $("stop").disabled = true;
    inputs.forEach((id) => ($(id).disabled = false));
    if (result.type === "error") {
      status(`Could not learn: ${result.message}`);
      return;
    }
    const { weights, history, before, after, seconds } = result;
    window.twitterbot.tuning = { ...result, weights: undefined, config };
    if (!weights) {
      status("Stopped before a whole pass: the writer is as it was.");
      return;
    }
    const novelty = buildNovelty(tweets, rules.index);
    // It knows the base's words and the user's as the model reads them (a character it lacks splits a
    // word), as `bot finetune` does; none if the export carried none.
    const known = new Set(vocab.chars);
    const asRead = (tweet) => Array.from(tweet, (ch) => (known.has(ch) ? ch : "\ufffd")).join("");
    const words = app.words && new Set([...app.words, ...tweets.flatMap((tweet) => wordsIn(asRead(tweet)))]);
    tuned = { config, novelty, words, history, before, after };
    app.use(fromArrays(tf, weights), filtersFor(rules, novelty, words));
    $("download").disabled = false;
    status(
      `Done: it writes in your voice now. Its loss on tweets of yours it did not learn from fell from ${before.toFixed(2)} ` +
        `to ${after.toFixed(2)} (${history.length} pass${history.length === 1 ? "" : "es"}, ${minutes(seconds)}).`,
    );
  }

  // The fine-tuned model as a .zip: model.json + one float32 shard (the export's topology and weight
  // names), vocab.json, generation.json with the run's settings, filters.json + novelty.bin of the tweets,
  // words.txt.gz of the words it knows.
  async function download() {
    const specs = app.modelJson.weightsManifest.flatMap((group) => group.weights);
    const { embedding, lstms, dense } = app.weights; // in the export's order: embedding, each LSTM, dense
    const tensors = [embedding, ...lstms.flatMap((l) => [l.kernel, l.recurrent, l.bias]), dense.kernel, dense.bias];
    const arrays = await Promise.all(tensors.map((w) => w.data()));
    const bytes = new Uint8Array(arrays.reduce((sum, a) => sum + a.byteLength, 0));
    let offset = 0;
    for (const array of arrays) {
      bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
      offset += array.byteLength;
    }
    const shard = "group1-shard1of1.bin";
    const modelJson = {
      ...app.modelJson,
      weightsManifest: [{ paths: [shard], weights: specs.map(({ name, shape }) => ({ name, shape, dtype: "float32" })) }],
    };
    const json = (value) => new TextEncoder().encode(JSON.stringify(value));
    const novelty = noveltyBytes(tuned.novelty);
    const files = {
      "model.json": json(modelJson),
      [shard]: bytes,
      "vocab.json": json(vocab),
      "generation.json": json({ ...settings, config: tuned.config, tuned: { history: tuned.history, before: tuned.before, after: tuned.after, tweets: tweets.length } }),
      "filters.json": json({
        ...rules,
        novelty: {
          file: "novelty.bin",
          tweets: tuned.novelty.tweets.length,
          minima: tuned.novelty.minima.length,
          gram: tuned.novelty.gram,
          window: tuned.novelty.window,
        },
        ...(tuned.words && { words: { file: "words.txt.gz", count: tuned.words.size } }),
      }),
      "novelty.bin": novelty,
      ...(tuned.words && { "words.txt.gz": wordsBytes(tuned.words) }),
    };
    const zipped = zipSync(Object.fromEntries(Object.entries(files).map(([name, data]) => [`${DOWNLOAD_FOLDER}/${name}`, data])));
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([zipped], { type: "application/zip" }));
    link.download = `${DOWNLOAD_FOLDER}.zip`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    status(`Saved ${DOWNLOAD_FOLDER}.zip: open it here again, or make it a checkpoint with \`bot import-web ${DOWNLOAD_FOLDER}.zip\`.`);
  }

  async function open(file) {
    fileError("");
    try {
      const files = {};
      for (const [path, data] of Object.entries(unzipSync(new Uint8Array(await file.arrayBuffer())))) files[path.split("/").pop()] = data;
      const read = (name) => {
        if (!files[name]) throw new FileError(`${file.name}: no ${name} (not a model this page saved)`);
        return JSON.parse(new TextDecoder().decode(files[name]));
      };
      const modelJson = read("model.json");
      const specs = modelJson.weightsManifest.flatMap((group) => group.weights);
      const shards = modelJson.weightsManifest.flatMap((group) => group.paths).map((p) => files[p]);
      if (shards.some((s) => !s)) throw new FileError(`${file.name}: a weight shard is missing`);
      const joined = new Uint8Array(shards.reduce((sum, s) => sum + s.length, 0));
      shards.reduce((at, s) => (joined.set(s, at), at + s.length), 0);
      if (JSON.stringify(read("vocab.json").chars) !== JSON.stringify(vocab.chars)) throw new FileError(`${file.name}: made from another model (its characters differ)`);
      const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: specs, weightData: joined.buffer }));
      const opened = read("filters.json");
      const novelty = opened.novelty && files["novelty.bin"] ? readNovelty(files["novelty.bin"].slice().buffer, opened.novelty) : null;
      const words = opened.words && files[opened.words.file] ? readWords(files[opened.words.file]) : null;
      app.use(layerWeights(model), filtersFor(opened, novelty, words));
      status(`Opened ${file.name}: it writes in that voice now.`);
    } catch (error) {
      fileError(error instanceof FileError ? `Could not open ${error.message}` : `Could not open ${file.name}: ${error.message}`);
    }
  }

  $("tweet-files").addEventListener("change", () => readFiles([...$("tweet-files").files]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    readFiles([...event.dataTransfer.files]);
  });
  $("learn").addEventListener("click", learn);
  $("stop").addEventListener("click", () => {
    if (stop) stop();
    $("stop").disabled = true;
    status("Stopping after this batch…");
  });
  $("download").addEventListener("click", download);
  $("model-file").addEventListener("change", () => $("model-file").files[0] && open($("model-file").files[0]));
}
