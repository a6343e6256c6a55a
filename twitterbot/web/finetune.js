// Fine-tuning in the page, as `bot finetune` does it in Keras (twitterbot.finetune, .batches, .model):
// the tweets as one id stream (each tweet's characters, then <eot>), cut into `batch_size` stateful
// lanes of `seq_len` windows; the LSTM state carried from batch to batch and reset each epoch and
// around validation; next-character cross-entropy from logits; each gradient clipped to `clip_norm`;
// Keras 3's update rule for the checkpoint's optimizer; early stopping on validation loss, keeping the
// best weights. The forward pass is written with tf ops (the Keras LSTM's own equations, gates i, f, c, o)
// so it runs on any tfjs backend and its gradients come from tf.variableGrads.

// Keras 3's optimizers with their default settings (rho, betas, epsilon) and no momentum.
const EPSILON = 1e-7;
const OPTIMIZERS = {
  sgd: () => ({ slots: 0, update: (tf, w, g, lr) => [tf.sub(w, tf.mul(g, lr)), []] }),
  rmsprop: () => ({
    slots: 1,
    update: (tf, w, g, lr, [v]) => {
      const velocity = tf.add(tf.mul(v, 0.9), tf.mul(tf.square(g), 0.1));
      return [tf.sub(w, tf.div(tf.mul(g, lr), tf.sqrt(tf.add(velocity, EPSILON)))), [velocity]];
    },
  }),
  adam: () => ({
    slots: 2,
    update: (tf, w, g, lr, [m, v], step) => {
      const m1 = tf.add(m, tf.mul(tf.sub(g, m), 0.1));
      const v1 = tf.add(v, tf.mul(tf.sub(tf.square(g), v), 0.001));
      const alpha = (lr * Math.sqrt(1 - 0.999 ** step)) / (1 - 0.9 ** step);
      return [tf.sub(w, tf.div(tf.mul(m1, alpha), tf.add(tf.sqrt(v1), EPSILON))), [m1, v1]];
    },
  }),
  adagrad: () => ({
    slots: 1,
    initial: 0.1,
    update: (tf, w, g, lr, [a]) => {
      const accumulator = tf.add(a, tf.square(g));
      return [tf.sub(w, tf.div(tf.mul(g, lr), tf.sqrt(tf.add(accumulator, EPSILON)))), [accumulator]];
    },
  }),
  adadelta: () => ({
    slots: 2,
    update: (tf, w, g, lr, [accGrad, accDelta]) => {
      const grads = tf.add(tf.mul(accGrad, 0.95), tf.mul(tf.square(g), 0.05));
      const delta = tf.neg(tf.mul(tf.div(tf.sqrt(tf.add(accDelta, EPSILON)), tf.sqrt(tf.add(grads, EPSILON))), g));
      const deltas = tf.add(tf.mul(accDelta, 0.95), tf.mul(tf.square(delta), 0.05));
      return [tf.add(w, tf.mul(delta, lr)), [grads, deltas]];
    },
  }),
};

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

// The lane count `bot finetune` picks for a small account: as many as the validation stream can fill.
export function fittingBatchSize(baseBatchSize, validateLength, seqLen) {
  return Math.min(baseBatchSize, Math.max(1, Math.floor((validateLength - 1) / seqLen)));
}

export class FineTuner {
  // weights: {embedding, lstms: [{kernel, recurrent, bias}], dense: {kernel, bias}} (tensors, copied);
  // config: the checkpoint's Config (batch_size, seq_len, optimizer, learning_rate, clip_norm, drop_rate,
  // freeze_embedding, freeze_layers), with the fine-tuning learning rate.
  constructor(tf, weights, config) {
    this.tf = tf;
    this.config = config;
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
    const optimizer = OPTIMIZERS[config.optimizer];
    if (!optimizer) throw new Error(`the optimizer ${config.optimizer} cannot train in the page`);
    this.optimizer = optimizer();
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

  // A copy of weights(), which outlives this tuner.
  copyWeights() {
    const tf = this.tf;
    const lstms = this.lstms.map(({ kernel, recurrent, bias }) => ({ kernel: tf.clone(kernel), recurrent: tf.clone(recurrent), bias: tf.clone(bias) }));
    return { embedding: tf.clone(this.embedding), lstms, dense: { kernel: tf.clone(this.dense.kernel), bias: tf.clone(this.dense.bias) } };
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
    let sequence = tf.gather(this.embedding, x); // [batch, steps, embedding]
    if (rate > 0) sequence = tf.dropout(sequence, rate);
    const next = [];
    this.lstms.forEach((layer, index) => {
      let [h, c] = this.state[index];
      const inputs = tf.unstack(sequence, 1);
      const outputs = [];
      const units = layer.units;
      for (let t = 0; t < steps; t++) {
        const z = tf.add(tf.add(tf.matMul(inputs[t], layer.kernel), tf.matMul(h, layer.recurrent)), layer.bias);
        const [i, f, g, o] = tf.split(z, [units, units, units, units], 1);
        c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
        h = tf.mul(tf.sigmoid(o), tf.tanh(c));
        outputs.push(h);
      }
      next.push([h, c]);
      sequence = tf.stack(outputs, 1);
      if (rate > 0) sequence = tf.dropout(sequence, rate);
    });
    const flat = tf.reshape(sequence, [batch * steps, -1]);
    const logits = tf.add(tf.matMul(flat, this.dense.kernel), this.dense.bias);
    const targets = tf.oneHot(tf.reshape(y, [-1]), logits.shape[1]);
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
    const lr = this.config.learning_rate;
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

  // Lane batches of a stream: batch i holds window i of every lane; y is x shifted by one.
  *batches(stream) {
    const { batch_size: batch, seq_len: seq } = this.config;
    const lane = laneLength(stream.length, batch, seq);
    for (let start = 0; start + seq <= lane; start += seq) {
      const x = new Int32Array(batch * seq);
      const y = new Int32Array(batch * seq);
      for (let b = 0; b < batch; b++) {
        x.set(stream.subarray(b * lane + start, b * lane + start + seq), b * seq);
        y.set(stream.subarray(b * lane + start + 1, b * lane + start + seq + 1), b * seq);
      }
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

  // Mean loss over a stream, state reset before and after (as the training callbacks do).
  evaluate(stream) {
    const tf = this.tf;
    this.resetState();
    let sum = 0;
    let count = 0;
    for (const [x, y] of this.batches(stream)) {
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

  // A copy of the weights' values, to go back to the best epoch's.
  snapshot() {
    return this.variables().map((v) => v.clone());
  }

  restore(snapshot) {
    this.variables().forEach((v, i) => v.assign(snapshot[i]));
  }

  dispose() {
    this.variables().forEach((v) => v.dispose());
    this.slots.flat().forEach((v) => v.dispose());
    if (this.state) this.state.flat().forEach((t) => t.dispose());
  }
}
