// Fine-tuning in the page, as `bot finetune` does it in Keras (twitterbot.finetune, .batches, .model):
// the tweets as one id stream (each tweet's characters, then <eot>), cut into `batch_size` stateful
// lanes of `seq_len` windows; the LSTM state carried from batch to batch and reset each epoch and
// around validation; next-character cross-entropy from logits; each gradient clipped to `clip_norm`;
// Keras 3's update rule for the checkpoint's optimizer; early stopping on validation loss, keeping the
// best weights. The forward pass is written with tf ops (the Keras LSTM's own equations, gates i, f, c, o)
// so it runs on any tfjs backend and its gradients come from tf.variableGrads.

// Keras 3's update rules. Their constants (rho, betas, epsilon, the initial accumulator) come from the
// export (generation.json's "optimizer", read from Keras's own optimizer: training.model.optimizer_rule);
// momentum, centered RMSprop, AMSGrad and Nesterov are not written here, so a rule using them is refused.
const RULES = {
  sgd: () => ({ slots: 0, update: (tf, w, g, lr) => [tf.sub(w, tf.mul(g, lr)), []] }),
  rmsprop: ({ rho, epsilon }) => ({
    slots: 1,
    update: (tf, w, g, lr, [v]) => {
      const velocity = tf.add(tf.mul(v, rho), tf.mul(tf.square(g), 1 - rho));
      return [tf.sub(w, tf.div(tf.mul(g, lr), tf.sqrt(tf.add(velocity, epsilon)))), [velocity]];
    },
  }),
  adam: ({ beta_1, beta_2, epsilon }) => ({
    slots: 2,
    update: (tf, w, g, lr, [m, v], step) => {
      const m1 = tf.add(m, tf.mul(tf.sub(g, m), 1 - beta_1));
      const v1 = tf.add(v, tf.mul(tf.sub(tf.square(g), v), 1 - beta_2));
      const alpha = (lr * Math.sqrt(1 - beta_2 ** step)) / (1 - beta_1 ** step);
      return [tf.sub(w, tf.div(tf.mul(m1, alpha), tf.add(tf.sqrt(v1), epsilon))), [m1, v1]];
    },
  }),
  adagrad: ({ initial_accumulator_value, epsilon }) => ({
    slots: 1,
    initial: initial_accumulator_value,
    update: (tf, w, g, lr, [a]) => {
      const accumulator = tf.add(a, tf.square(g));
      return [tf.sub(w, tf.div(tf.mul(g, lr), tf.sqrt(tf.add(accumulator, epsilon)))), [accumulator]];
    },
  }),
  adadelta: ({ rho, epsilon }) => ({
    slots: 2,
    update: (tf, w, g, lr, [accGrad, accDelta]) => {
      const grads = tf.add(tf.mul(accGrad, rho), tf.mul(tf.square(g), 1 - rho));
      const delta = tf.neg(tf.mul(tf.div(tf.sqrt(tf.add(accDelta, epsilon)), tf.sqrt(tf.add(grads, epsilon))), g));
      const deltas = tf.add(tf.mul(accDelta, rho), tf.mul(tf.square(delta), 1 - rho));
      return [tf.add(w, tf.mul(delta, lr)), [grads, deltas]];
    },
  }),
};
const NOT_WRITTEN = { momentum: 0, centered: false, amsgrad: false, nesterov: false }; // what the rules above assume

// The update rule an export's generation.json describes ({name, ...Keras's constants}).
export function optimizerFor(rule) {
  const make = RULES[rule?.name];
  if (!make) throw new Error(`the optimizer ${rule?.name} cannot train in the page`);
  for (const [key, assumed] of Object.entries(NOT_WRITTEN)) {
    if (key in rule && rule[key] !== assumed) throw new Error(`the page cannot train with ${rule.name}'s ${key} ${rule[key]}`);
  }
  return make(rule);
}

// The tweets as `bot prepare` writes a split: each tweet's ids, then <eot>. Unknown characters are <unk>.
export function encodeTweets(tweets, vocab) {
  const offset = vocab.specials.length;
  const index = new Map(vocab.chars.map((ch, i) => [ch, i + offset]));
  const ids = [];
  for (const tweet of tweets) {
    for (const ch of tweet) ids.push(index.get(ch) ?? vocab.unk);
    ids.push(vocab.eot);
  }
  return Int32Array.from(ids);
}

// A seeded shuffle's split of the tweets: `share` of them (at least one) to validate on.
export function splitTweets(tweets, share = 0.1, seed = 0) {
  let state = seed + 1;
  const random = () => ((state = (state * 16807) % 2147483647) / 2147483647);
  const order = tweets.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = new Set(order.slice(0, Math.max(1, Math.round(tweets.length * share))));
  return { train: tweets.filter((_, i) => !held.has(i)), validate: tweets.filter((_, i) => held.has(i)) };
}

// Characters per lane: a whole number of windows, one more id needed for the last target (batches.lane_length).
export function laneLength(streamLength, batchSize, seqLen) {
  return Math.floor(Math.floor((streamLength - 1) / batchSize) / seqLen) * seqLen;
}

const EOT = 0; // the end-of-tweet id (twitterbot.vocab.EOT; vocab.json's "eot")

// Lanes for a loss figure that start at tweets (twitterbot.batches.tweet_lanes): the first at the stream's
// first tweet, the others at an <eot> near where the tiling would cut them, all as long as the shortest
// has room for; null where that keeps less than half the characters (the stream then tiles as for training).
export function tweetLanes(stream, batchSize, seqLen) {
  const plain = laneLength(stream.length, batchSize, seqLen);
  const tweets = [0];
  for (let i = 1; i < stream.length - 1; i++) if (stream[i] === EOT) tweets.push(i);
  if (tweets.length < batchSize) return null;
  const nominal = Math.floor((stream.length - 1) / batchSize);
  const starts = [];
  for (let b = 0, k = 0; b < batchSize; b++) {
    while (k < tweets.length - 1 && tweets[k] < b * nominal) k++;
    starts.push(tweets[k]);
  }
  let room = Infinity;
  starts.forEach((start, b) => (room = Math.min(room, (b + 1 < batchSize ? starts[b + 1] : stream.length - 1) - start)));
  const length = Math.floor(room / seqLen) * seqLen;
  return length >= Math.max(seqLen, Math.floor(plain / 2)) ? { starts, length } : null;
}

// The lane count `bot finetune` picks for a small account: as many as the validation stream can fill.
export function fittingBatchSize(baseBatchSize, validateLength, seqLen) {
  return Math.min(baseBatchSize, Math.max(1, Math.floor((validateLength - 1) / seqLen)));
}

// a · b whose gradients are plain products of explicitly transposed operands: tfjs's wasm backend runs
// a product with transposeA or transposeB (what matMul's own gradient asks for) 13-40x slower than
// a transpose followed by a plain product (measured 0.5 and 1.7 against 22 GFLOP/s, 128x512 · 512x2048).
function product(tf) {
  return tf.customGrad((a, b, save) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy, [a0, b0]) => [tf.matMul(dy, tf.transpose(b0)), tf.matMul(tf.transpose(a0), dy)],
    };
  });
}

export class FineTuner {
  // weights: {embedding, lstms: [{kernel, recurrent, bias}], dense: {kernel, bias}} (tensors, copied);
  // config: the checkpoint's Config (batch_size, seq_len, optimizer, learning_rate, clip_norm, drop_rate,
  // freeze_embedding, freeze_layers), with the fine-tuning learning rate; rule: its optimizer's update
  // rule (generation.json's "optimizer").
  constructor(tf, weights, config, rule) {
    this.tf = tf;
    this.config = config;
    this.matMul = product(tf);
    const variable = (tensor, trainable) => tf.variable(tensor, trainable); // names: tfjs's, unique per page
    this.embedding = variable(weights.embedding, !config.freeze_embedding);
    this.lstms = weights.lstms.map((layer, i) => {
      const trainable = i >= config.freeze_layers;
      return {
        units: layer.recurrent.shape[0],
        kernel: variable(layer.kernel, trainable),
        recurrent: variable(layer.recurrent, trainable),
        bias: variable(layer.bias, trainable),
      };
    });
    this.dense = { kernel: variable(weights.dense.kernel, true), bias: variable(weights.dense.bias, true) };
    this.trainable = this.variables().filter((v) => v.trainable);
    if (rule?.name !== config.optimizer) throw new Error(`the export's optimizer rule is ${rule?.name}'s, not ${config.optimizer}'s`);
    this.optimizer = optimizerFor(rule);
    this.learningRate = config.learning_rate; // fineTune halves it on a plateau, as Keras's ReduceLROnPlateau
    this.slots = this.trainable.map((v) =>
      Array.from({ length: this.optimizer.slots }, () => tf.variable(tf.fill(v.shape, this.optimizer.initial ?? 0), false)),
    );
    this.step = 0;
    this.state = null;
  }

  variables() {
    return [this.embedding, ...this.lstms.flatMap((l) => [l.kernel, l.recurrent, l.bias]), this.dense.kernel, this.dense.bias];
  }

  // The weights by layer, as the writer and a next fine-tune take them: {embedding, lstms, dense}.
  weights() {
    return { embedding: this.embedding, lstms: this.lstms, dense: this.dense };
  }

  resetState() {
    if (this.state) this.state.flat().forEach((t) => t.dispose());
    const batch = this.config.batch_size;
    this.state = this.lstms.map((l) => [this.tf.zeros([batch, l.units]), this.tf.zeros([batch, l.units])]);
  }

  // Mean cross-entropy of one batch (x, y: int32 [batch, seq]); the carried state moves on.
  forward(x, y, training) {
    const tf = this.tf;
    const [batch, steps] = x.shape;
    const rate = training ? this.config.drop_rate : 0;
    // The embedding lookup as one-hot · table: gather's gradient needs UnsortedSegmentSum, which tfjs's
    // wasm backend lacks; a product's gradient is a product, on every backend.
    const vocabSize = this.embedding.shape[0];
    const flatIds = tf.reshape(x, [-1]);
    let sequence = tf.reshape(this.matMul(tf.oneHot(flatIds, vocabSize), this.embedding), [batch, steps, -1]);
    if (rate > 0) sequence = tf.dropout(sequence, rate);
    const next = [];
    this.lstms.forEach((layer, index) => {
      let [h, c] = this.state[index];
      const units = layer.units;
      // Every step's input projection in one matrix product; each step then only adds h · recurrent.
      const projected = tf.reshape(
        tf.add(this.matMul(tf.reshape(sequence, [batch * steps, -1]), layer.kernel), layer.bias),
        [batch, steps, 4 * units],
      );
      const inputs = tf.unstack(projected, 1);
      const outputs = [];
      for (let t = 0; t < steps; t++) {
        const z = tf.add(inputs[t], this.matMul(h, layer.recurrent));
        const [i, f, g, o] = tf.split(z, 4, 1);
        c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
        h = tf.mul(tf.sigmoid(o), tf.tanh(c));
        outputs.push(h);
      }
      next.push([h, c]);
      sequence = tf.stack(outputs, 1);
      if (rate > 0) sequence = tf.dropout(sequence, rate);
    });
    const flat = tf.reshape(sequence, [batch * steps, -1]);
    const logits = tf.add(this.matMul(flat, this.dense.kernel), this.dense.bias);
    const targets = tf.oneHot(tf.reshape(y, [-1]), vocabSize);
    const loss = tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(targets, logits), 1)));
    return { loss, next };
  }

  // One batch of training: loss before the update, as Keras reports it.
  trainBatch(x, y) {
    const tf = this.tf;
    let next;
    const { value, grads } = tf.variableGrads(() => {
      const out = this.forward(x, y, true);
      next = out.next.map(([h, c]) => [tf.keep(h), tf.keep(c)]);
      return out.loss;
    }, this.trainable);
    this.step += 1;
    const lr = this.learningRate;
    const clip = this.config.clip_norm;
    tf.tidy(() => {
      this.trainable.forEach((variable, k) => {
        let g = grads[variable.name];
        if (clip) g = tf.mul(g, tf.div(clip, tf.maximum(tf.norm(g), clip)));
        const [updated, slots] = this.optimizer.update(tf, variable, g, lr, this.slots[k], this.step);
        variable.assign(updated);
        slots.forEach((slot, s) => this.slots[k][s].assign(slot));
      });
    });
    Object.values(grads).forEach((g) => g.dispose());
    this.state.flat().forEach((t) => t.dispose());
    this.state = next;
    const loss = value.dataSync()[0];
    value.dispose();
    return loss;
  }

  // Lane batches of a stream: batch i holds window i of every lane; y is x shifted by one. atTweets: lanes
  // start at tweets where the stream has enough of them (tweetLanes), as validation's do in `bot finetune`.
  *batches(stream, atTweets = false) {
    const { batch_size: batch, seq_len: seq } = this.config;
    const lane = laneLength(stream.length, batch, seq);
    const { starts, length } = (atTweets && tweetLanes(stream, batch, seq)) || {
      starts: Array.from({ length: batch }, (_, b) => b * lane),
      length: lane,
    };
    for (let start = 0; start + seq <= length; start += seq) {
      const x = new Int32Array(batch * seq);
      const y = new Int32Array(batch * seq);
      starts.forEach((first, b) => {
        x.set(stream.subarray(first + start, first + start + seq), b * seq);
        y.set(stream.subarray(first + start + 1, first + start + seq + 1), b * seq);
      });
      yield [x, y];
    }
  }

  batchCount(stream) {
    return laneLength(stream.length, this.config.batch_size, this.config.seq_len) / this.config.seq_len;
  }

  // One epoch over `stream`: the mean batch loss. onBatch(done, total, meanLoss) may return a promise
  // (the page yields to the browser there); shouldStop() ends the epoch early (returns null then).
  async trainEpoch(stream, { onBatch, shouldStop } = {}) {
    const tf = this.tf;
    this.resetState();
    const total = this.batchCount(stream);
    let sum = 0;
    let done = 0;
    for (const [x, y] of this.batches(stream)) {
      if (shouldStop && shouldStop()) return null;
      const shape = [this.config.batch_size, this.config.seq_len];
      const [xs, ys] = [tf.tensor2d(x, shape, "int32"), tf.tensor2d(y, shape, "int32")];
      sum += this.trainBatch(xs, ys);
      xs.dispose();
      ys.dispose();
      done += 1;
      if (onBatch) await onBatch(done, total, sum / done);
    }
    return sum / done;
  }

  // Mean loss over a stream read as lanes that start at tweets, state reset before and after (as the
  // training callbacks do).
  evaluate(stream) {
    const tf = this.tf;
    this.resetState();
    let sum = 0;
    let count = 0;
    for (const [x, y] of this.batches(stream, true)) {
      const shape = [this.config.batch_size, this.config.seq_len];
      const loss = tf.tidy(() => {
        const out = this.forward(tf.tensor2d(x, shape, "int32"), tf.tensor2d(y, shape, "int32"), false);
        const next = out.next.map(([h, c]) => [tf.keep(h), tf.keep(c)]);
        this.state.flat().forEach((t) => t.dispose());
        this.state = next;
        return out.loss.dataSync()[0];
      });
      sum += loss;
      count += 1;
    }
    this.resetState();
    return sum / count;
  }

  dispose() {
    this.variables().forEach((v) => v.dispose());
    this.slots.flat().forEach((v) => v.dispose());
    if (this.state) this.state.flat().forEach((t) => t.dispose());
  }
}

// Weights as plain arrays ({values: Float32Array, shape} per tensor), to cross into or out of a worker.
export function toArrays(weights) {
  const plain = (t) => ({ values: t.dataSync().slice(), shape: t.shape });
  return {
    embedding: plain(weights.embedding),
    lstms: weights.lstms.map((l) => ({ kernel: plain(l.kernel), recurrent: plain(l.recurrent), bias: plain(l.bias) })),
    dense: { kernel: plain(weights.dense.kernel), bias: plain(weights.dense.bias) },
  };
}

export function fromArrays(tf, arrays) {
  const tensor = ({ values, shape }) => tf.tensor(values, shape, "float32");
  return {
    embedding: tensor(arrays.embedding),
    lstms: arrays.lstms.map((l) => ({ kernel: tensor(l.kernel), recurrent: tensor(l.recurrent), bias: tensor(l.bias) })),
    dense: { kernel: tensor(arrays.dense.kernel), bias: tensor(arrays.dense.bias) },
  };
}

// The buffers of toArrays' result, to transfer instead of copy.
export function buffersOf(arrays) {
  const all = [arrays.embedding, ...arrays.lstms.flatMap((l) => [l.kernel, l.recurrent, l.bias]), arrays.dense.kernel, arrays.dense.bias];
  return all.map((a) => a.values.buffer);
}

function macrotask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// Seconds per batch of a short trial on `backend` (TRIAL_BATCH lanes), or Infinity if it does not start.
const TRIAL_BATCH = 8;
async function timeBackend(tf, backend, weights, config, rule, sample) {
  try {
    if (!(await tf.setBackend(backend))) return Infinity;
  } catch {
    return Infinity;
  }
  const trial = new FineTuner(tf, weights, { ...config, batch_size: TRIAL_BATCH }, rule);
  const batches = trial.batches(sample);
  try {
    trial.resetState();
    const shape = [TRIAL_BATCH, config.seq_len];
    const run = ([x, y]) => trial.trainBatch(tf.tensor2d(x, shape, "int32"), tf.tensor2d(y, shape, "int32"));
    run(batches.next().value); // the first batch compiles shaders or warms the wasm module
    const started = performance.now();
    run(batches.next().value);
    return (performance.now() - started) / 1000;
  } catch (error) {
    console.warn(`training on ${backend} failed`, error);
    return Infinity;
  } finally {
    trial.dispose();
  }
}

// The faster of `backends` for training this model here (webgl wins with a real GPU, wasm without one).
async function fastestBackend(tf, weights, config, rule, sample, backends) {
  const fallback = tf.getBackend();
  if (backends.length < 2 || laneLength(sample.length, TRIAL_BATCH, config.seq_len) < 2 * config.seq_len) {
    return { backend: fallback, times: {} };
  }
  const times = {};
  for (const backend of backends) times[backend] = await timeBackend(tf, backend, weights, config, rule, sample);
  const best = Object.keys(times).reduce((a, b) => (times[a] <= times[b] ? a : b));
  await tf.setBackend(Number.isFinite(times[best]) ? best : fallback);
  return { backend: tf.getBackend(), times };
}

// A whole fine-tune, as `bot finetune` runs it: up to `epochs` passes over `train` (id streams), the
// validation loss after each, the rate halved on a plateau and early stopping as `rules.schedule` says
// (generation.json's, Keras's ReduceLROnPlateau and EarlyStopping), the best pass's weights kept; the
// update rule is `rules.optimizer`. onProgress({pass, epochs, done, total, loss, left}) after every
// batch; shouldStop() ends it after the current batch. Returns the best weights as arrays (null when no
// pass finished), the history, the loss before and after, timings and the backend it trained on.
export async function fineTune(tf, weights, config, rules, { train, validate }, { epochs, onProgress, shouldStop, backends = [] }) {
  const started = performance.now();
  const backend = await fastestBackend(tf, weights, config, rules.optimizer, train, backends);
  const tuner = new FineTuner(tf, weights, config, rules.optimizer);
  const { early_stopping: stopping, reduce_lr: plateau } = rules.schedule;
  const history = [];
  let best = { loss: Infinity, weights: null }; // the checkpoint's best model: any lower validation loss
  let [monitored, waited] = [Infinity, 0]; // EarlyStopping: must improve by its min_delta within its patience
  let [lowest, flat] = [Infinity, 0]; // ReduceLROnPlateau: the same, with its own min_delta and patience
  try {
    const before = tuner.evaluate(validate);
    const trainStarted = performance.now();
    for (let pass = 1; pass <= epochs; pass++) {
      const loss = await tuner.trainEpoch(train, {
        shouldStop,
        onBatch: (done, total, mean) => {
          const batches = (pass - 1) * total + done;
          const elapsed = (performance.now() - trainStarted) / 1000;
          onProgress?.({ pass, epochs, done, total, loss: mean, left: (elapsed / batches) * (epochs * total - batches) });
          return macrotask(); // a stop message gets its turn
        },
      });
      if (loss === null) break; // stopped inside a pass: its weights are half-way, the best pass's stay
      const valLoss = tuner.evaluate(validate);
      history.push({ epoch: pass - 1, learning_rate: tuner.learningRate, loss, val_loss: valLoss });
      if (valLoss < best.loss) best = { loss: valLoss, weights: toArrays(tuner.weights()) };
      if (valLoss < monitored - stopping.min_delta) [monitored, waited] = [valLoss, 0];
      else if (++waited >= stopping.patience) break;
      if (valLoss < lowest - plateau.min_delta) [lowest, flat] = [valLoss, 0];
      else if (++flat >= plateau.patience) [tuner.learningRate, flat] = [tuner.learningRate * plateau.factor, 0];
    }
    const trainSeconds = (performance.now() - trainStarted) / 1000;
    const trainedChars = history.length * tuner.batchCount(train) * config.batch_size * config.seq_len;
    const seconds = (performance.now() - started) / 1000;
    return { weights: best.weights, history, before, after: best.loss, seconds, trainSeconds, trainedChars, backend };
  } finally {
    tuner.dispose();
  }
}
