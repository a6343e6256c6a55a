// Writes tweets with an exported twitterbot model: one fused LSTM step per character for n parallel
// streams, then temperature / top-k sampling in plain JS. Shared by the page and the Node parity test,
// so `tf` is passed in (the page's vendored tf.min.js, or @tensorflow/tfjs in Node).

export class TweetWriter {
  // model: a tf.LayersModel loaded from model.json; vocab: the export's vocab.json.
  constructor(tf, model, vocab) {
    this.tf = tf;
    this.vocab = vocab;
    this.chars = vocab.chars;
    this.offset = vocab.specials.length; // ids below this are <eot>, <unk>
    this.size = this.offset + this.chars.length;
    this.embedding = model.getLayer("embedding").getWeights()[0];
    // One matmul per layer and step: [x, h] · [kernel; recurrent_kernel] + bias.
    this.lstms = model.layers
      .filter((layer) => layer.getClassName() === "LSTM")
      .map((layer) => {
        const [kernel, recurrent, bias] = layer.getWeights();
        return { weights: tf.concat([kernel, recurrent], 0), bias, units: recurrent.shape[0] };
      });
    const [kernel, bias] = model.getLayer("next_char").getWeights();
    this.dense = { kernel, bias };
    this.index = new Map(this.chars.map((ch, i) => [ch, i + this.offset]));
  }

  // Zero state for n streams: [h, c] per layer.
  initialState(n) {
    return this.lstms.map((lstm) => [this.tf.zeros([n, lstm.units]), this.tf.zeros([n, lstm.units])]);
  }

  disposeState(state) {
    state.forEach(([h, c]) => {
      h.dispose();
      c.dispose();
    });
  }

  // One character for each stream: ids (Int32Array of n) → [probabilities tensor (n, vocab), new state].
  step(ids, state) {
    const tf = this.tf;
    return tf.tidy(() => {
      let x = tf.gather(this.embedding, tf.tensor1d(ids, "int32"));
      const next = [];
      this.lstms.forEach((lstm, layer) => {
        const [h, c] = state[layer];
        const z = tf.add(tf.matMul(tf.concat([x, h], 1), lstm.weights), lstm.bias);
        const [i, f, g, o] = tf.split(z, 4, 1);
        const cNew = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
        const hNew = tf.mul(tf.sigmoid(o), tf.tanh(cNew));
        next.push([tf.keep(hNew), tf.keep(cNew)]);
        x = hNew;
      });
      const probabilities = tf.softmax(tf.add(tf.matMul(x, this.dense.kernel), this.dense.bias));
      return [probabilities, next];
    });
  }

  encode(text) {
    return Array.from(text).map((ch) => {
      if (!this.index.has(ch)) throw new Error(`the model does not know the character ${JSON.stringify(ch)}`);
      return this.index.get(ch);
    });
  }

  // Draw one id from probabilities p (Float32Array of one stream) with the page's rules.
  draw(p, { temperature, topK, allowEnd, random }) {
    const logits = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) logits[i] = Math.log(Math.max(p[i], 1e-30)) / temperature;
    logits[this.vocab.unk] = -Infinity;
    if (!allowEnd) logits[this.vocab.eot] = -Infinity;
    if (topK > 0 && topK < p.length) {
      const kth = Array.from(logits).sort((a, b) => b - a)[topK - 1];
      for (let i = 0; i < p.length; i++) if (logits[i] < kth) logits[i] = -Infinity;
    }
    let max = -Infinity;
    for (const value of logits) max = Math.max(max, value);
    let total = 0;
    const weights = logits.map((value) => {
      const w = Math.exp(value - max);
      total += w;
      return w;
    });
    let target = random() * total;
    for (let i = 0; i < weights.length; i++) {
      target -= weights[i];
      if (target < 0 && weights[i] > 0) return i;
    }
    return weights.findLastIndex((w) => w > 0);
  }

  // n tweets in parallel. Each starts from the end-of-tweet state, is primed with seedText, stops at
  // <eot> or maxLen characters. onStep(step) may return a promise: the page yields to the UI there.
  async write({ n = 1, temperature = 0.8, topK = 0, seedText = "", maxLen = 280, random = Math.random, onStep }) {
    const seed = this.encode(seedText);
    if (seed.length >= maxLen) throw new Error("the seed text is as long as the tweet may be");
    let state = this.initialState(n);
    let probabilities = null;
    for (const id of [this.vocab.eot, ...seed]) {
      if (probabilities) probabilities.dispose();
      const [p, next] = this.step(new Int32Array(n).fill(id), state);
      this.disposeState(state);
      probabilities = p;
      state = next;
    }
    const texts = Array.from({ length: n }, () => []);
    const active = new Array(n).fill(true);
    for (let position = seed.length; position < maxLen && active.some(Boolean); position++) {
      const rows = await probabilities.data();
      probabilities.dispose();
      const ids = new Int32Array(n);
      for (let s = 0; s < n; s++) {
        const row = rows.subarray(s * this.size, (s + 1) * this.size);
        ids[s] = this.draw(row, { temperature, topK, allowEnd: texts[s].length + seed.length > 0, random });
        if (!active[s]) continue;
        if (ids[s] === this.vocab.eot) active[s] = false;
        else texts[s].push(this.chars[ids[s] - this.offset]);
      }
      const [p, next] = this.step(ids, state);
      this.disposeState(state);
      probabilities = p;
      state = next;
      if (onStep) await onStep(position);
    }
    probabilities.dispose();
    this.disposeState(state);
    return texts.map((chars) => seedText + chars.join(""));
  }
}
