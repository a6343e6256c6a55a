// Writes tweets with an exported twitterbot model: one fused LSTM step per character for n parallel
// streams, then temperature / top-k sampling in plain JS. Shared by the page and the Node parity test,
// so `tf` is passed in (the page's vendored tf.min.js, or @tensorflow/tfjs in Node).

import { dropDebris } from "./clean.js";
import { degenerate } from "./filters.js";

// Text as it may be posted: each placeholder becomes its replacement, or is dropped with the space
// before it (and, opening a line, the colon or comma and space after it). The same rules as
// twitterbot.vocab.render.
export function render(text, placeholders, { link = "", mention = "" } = {}) {
  for (const [token, replacement] of [[placeholders.link, link], [placeholders.mention, mention]]) {
    if (!token || !text.includes(token)) continue;
    if (replacement) text = text.split(token).join(replacement);
    else text = text.replace(new RegExp(`^(?:[ \\t]*${token}[:,]?)+[ \\t]*`, "gmu"), "").replace(new RegExp(`[ \\t]*${token}`, "gu"), "");
  }
  return text.trim();
}

// What is never handed out even unfiltered (twitterbot.filters.must_redraw): nothing left once
// placeholders are dropped, a loop (`loopSpan`: filters.json's loop_span), a mention chain.
export function mustRedraw(raw, rendered, placeholders, loopSpan) {
  return !rendered || degenerate(raw, placeholders, loopSpan) !== null;
}

// The weights of an exported model, by layer: {embedding, lstms: [{kernel, recurrent, bias}], dense: {kernel, bias}}.
export function layerWeights(model) {
  const lstms = model.layers
    .filter((layer) => layer.getClassName() === "LSTM")
    .map((layer) => {
      const [kernel, recurrent, bias] = layer.getWeights();
      return { kernel, recurrent, bias };
    });
  const [kernel, bias] = model.getLayer("next_char").getWeights();
  return { embedding: model.getLayer("embedding").getWeights()[0], lstms, dense: { kernel, bias } };
}

export class TweetWriter {
  // weights: layerWeights(model) of an export, or a FineTuner's; vocab: the export's vocab.json;
  // startState: generation.json's startState ([h, c] per layer as arrays of numbers, the state
  // `bot generate` starts a tweet from), or none for zeros.
  constructor(tf, weights, vocab, startState = null) {
    this.tf = tf;
    this.vocab = vocab;
    this.startState = startState;
    this.chars = vocab.chars;
    this.offset = vocab.specials.length; // ids below this are <eot>, <unk>
    this.size = this.offset + this.chars.length;
    // Per layer, one fused op gives all four gates: sigmoid([x, h] · [W_x; W_h] + b). Keras orders the
    // gate columns i, f, g, o; g wants tanh, and tanh(z) = 2·sigmoid(2z) − 1, so g's columns are
    // doubled here and mapped back in step(). The writer holds copies: training may go on meanwhile.
    this.embedding = tf.clone(weights.embedding);
    this.lstms = tf.tidy(() =>
      weights.lstms.map(({ kernel, recurrent, bias }) => {
        const units = recurrent.shape[0];
        const scale = tf.concat([tf.ones([2 * units]), tf.fill([units], 2), tf.ones([units])]);
        return { units, weights: tf.keep(tf.mul(tf.concat([kernel, recurrent], 0), scale)), bias: tf.keep(tf.mul(bias, scale)) };
      }),
    );
    this.dense = { kernel: tf.clone(weights.dense.kernel), bias: tf.clone(weights.dense.bias) };
    this.index = new Map(this.chars.map((ch, i) => [ch, i + this.offset]));
  }

  dispose() {
    [this.embedding, this.dense.kernel, this.dense.bias, ...this.lstms.flatMap((l) => [l.weights, l.bias])].forEach((t) => t.dispose());
  }

  // The state n streams start a tweet from: [h, c] per layer, the model's tweet-start state (zeros
  // without one). A zeroed state is one training almost never saw: tweets begun there opened with gibberish.
  initialState(n) {
    const tf = this.tf;
    return this.lstms.map((lstm, layer) =>
      [0, 1].map((part) => {
        const row = this.startState ? this.startState[2 * layer + part] : null;
        return row ? tf.tidy(() => tf.tile(tf.tensor2d([row], [1, lstm.units]), [n, 1])) : tf.zeros([n, lstm.units]);
      }),
    );
  }

  disposeState(state) {
    state.forEach(([h, c]) => {
      h.dispose();
      c.dispose();
    });
  }

  // One character for each stream: ids (Int32Array of n) → [logits tensor (n, vocab), new state].
  step(ids, state) {
    const tf = this.tf;
    return tf.tidy(() => {
      let x = tf.gather(this.embedding, tf.tensor1d(ids, "int32"));
      const next = [];
      this.lstms.forEach((lstm, layer) => {
        const [h, c] = state[layer];
        const gates = tf.fused.matMul({ a: tf.concat([x, h], 1), b: lstm.weights, bias: lstm.bias, activation: "sigmoid" });
        const [i, f, g2, o] = tf.split(gates, 4, 1);
        const g = tf.sub(tf.mul(g2, 2), 1);
        const cNew = tf.add(tf.mul(f, c), tf.mul(i, g));
        const hNew = tf.mul(o, tf.tanh(cNew));
        next.push([tf.keep(hNew), tf.keep(cNew)]);
        x = hNew;
      });
      return [tf.fused.matMul({ a: x, b: this.dense.kernel, bias: this.dense.bias }), next];
    });
  }

  encode(text) {
    return Array.from(text).map((ch) => {
      if (!this.index.has(ch)) throw new Error(`the model does not know the character ${JSON.stringify(ch)}`);
      return this.index.get(ch);
    });
  }

  // Draw one id from one stream's logits (Float32Array) with the page's rules.
  // `banned`: an id this stream may not draw now (a third mention placeholder in a row), or -1.
  draw(row, { temperature, topK = 0, topP = 1, allowEnd, random, banned = -1 }) {
    // Temperature reshapes how a tweet is written, not when it ends (as the Python sampler): <eot> keeps
    // the model's probability without <unk>, the characters share the rest. (Nor what kind of tweet it
    // is: draft draws each tweet's opening character at temperature 1.)
    const { eot, unk } = this.vocab;
    const never = (i) => i === unk || i === banned;
    const logits = new Float64Array(row.length);
    let top = -Infinity;
    for (let i = 0; i < row.length; i++) if (!never(i)) top = Math.max(top, row[i]);
    let modelMass = 0;
    for (let i = 0; i < row.length; i++) if (!never(i)) modelMass += Math.exp(row[i] - top);
    const pEnd = Math.min(Math.exp(row[eot] - top) / modelMass, 1 - 1e-7);
    let topTempered = -Infinity;
    for (let i = 0; i < row.length; i++) {
      logits[i] = never(i) || i === eot ? -Infinity : row[i] / temperature;
      topTempered = Math.max(topTempered, logits[i]);
    }
    let temperedMass = 0;
    for (const value of logits) temperedMass += Math.exp(value - topTempered);
    const shift = topTempered + Math.log(temperedMass) - (allowEnd ? Math.log1p(-pEnd) : 0);
    for (let i = 0; i < row.length; i++) logits[i] -= shift;
    logits[eot] = allowEnd ? Math.log(pEnd) : -Infinity;
    let max = -Infinity;
    for (const value of logits) max = Math.max(max, value);
    const weights = logits.map((value) => Math.exp(value - max));
    const order = Array.from(weights.keys()).sort((a, b) => weights[b] - weights[a]);
    const total = weights.reduce((sum, w) => sum + w, 0);
    // Keep the top-k, and of those the smallest set whose mass reaches top-p.
    let kept = 0;
    let mass = 0;
    for (const i of order) {
      if ((topK > 0 && kept >= topK) || mass >= topP * total || weights[i] === 0) weights[i] = 0;
      else {
        kept += 1;
        mass += weights[i];
      }
    }
    let target = random() * mass;
    for (const i of order) {
      target -= weights[i];
      if (target < 0 && weights[i] > 0) return i;
    }
    return order[0];
  }

  // Up to n tweets as they may be posted: debris dropped, placeholders rendered (`link`, `mention`, or
  // dropped), each passing `filters` (a PageFilters; without one, only those `mustRedraw` names, with
  // `loopSpan`, are redrawn). Groups of a quarter more than still missing, plus one, until n passed or
  // (1 + redraws) × n were drawn (generation.json's redraws), as `bot generate`. Returns
  // { tweets, drawn, rejected: {reason: count} }. Options as for draft().
  async write({ n = 1, link = "", mention = "", filters = null, redraws, loopSpan, ...options }) {
    const placeholders = this.vocab.placeholders || {};
    const why = (raw, rendered, ended) =>
      filters ? filters.rejection(raw, rendered, ended) : mustRedraw(raw, rendered, placeholders, loopSpan) ? "degenerate" : null;
    const result = { tweets: [], drawn: 0, rejected: {} };
    const budget = (1 + redraws) * n;
    while (result.tweets.length < n && result.drawn < budget) {
      const missing = n - result.tweets.length;
      const group = Math.min(missing + Math.floor(missing / 4) + 1, budget - result.drawn);
      for (const { text, ended } of await this.draft({ n: group, ...options })) {
        if (result.tweets.length === n) break;
        const raw = dropDebris(text);
        const rendered = render(raw, placeholders, { link, mention });
        result.drawn += 1;
        const reason = why(raw, rendered, ended);
        if (reason) result.rejected[reason] = (result.rejected[reason] || 0) + 1;
        else result.tweets.push(rendered);
      }
    }
    return result;
  }

  // n raw tweets in parallel, placeholders still in, as { text, ended }. Each starts from the tweet-start
  // state, is primed with seedText, stops at <eot> (ended) or maxLen characters (not ended: cut).
  // onStep(step) may return a promise: the page yields to the UI there.
  // mentionChain (generation.json's mention_chain: {run, mention, spaces}): after `run` mention placeholders
  // in a row (the ids in `spaces` go on with a run) a stream may not draw another, as `bot generate`.
  async draft({ n = 1, temperature, topK = 0, topP = 1, seedText = "", maxLen, random = Math.random, onStep, mentionChain = null }) {
    const seed = this.encode(seedText);
    const { run: mentionRun = Infinity, mention: mentionId = -1, spaces = [] } = mentionChain || {};
    const continues = new Set(spaces);
    const chainAfter = (run, id) => (id === mentionId ? run + 1 : continues.has(id) ? run : 0);
    const chains = new Array(n).fill(seed.reduce(chainAfter, 0));
    if (seed.length >= maxLen) throw new Error("the seed text is as long as the tweet may be");
    let state = this.initialState(n);
    let logits = null;
    for (const id of [this.vocab.eot, ...seed]) {
      if (logits) logits.dispose();
      const [l, next] = this.step(new Int32Array(n).fill(id), state);
      this.disposeState(state);
      logits = l;
      state = next;
    }
    const texts = Array.from({ length: n }, () => []);
    const active = new Array(n).fill(true);
    for (let position = seed.length; position < maxLen && active.some(Boolean); position++) {
      const rows = await logits.data();
      logits.dispose();
      const ids = new Int32Array(n);
      for (let s = 0; s < n; s++) {
        const row = rows.subarray(s * this.size, (s + 1) * this.size);
        const banned = chains[s] >= mentionRun ? mentionId : -1;
        // The opening (no seed text before it) keeps the model's probabilities, as `bot generate`'s.
        const opening = texts[s].length + seed.length === 0;
        ids[s] = this.draw(row, { temperature: opening ? 1 : temperature, topK, topP, allowEnd: !opening, random, banned });
        chains[s] = chainAfter(chains[s], ids[s]);
        if (!active[s]) continue;
        if (ids[s] === this.vocab.eot) active[s] = false;
        else texts[s].push(this.chars[ids[s] - this.offset]);
      }
      const [l, next] = this.step(ids, state);
      this.disposeState(state);
      logits = l;
      state = next;
      if (onStep) await onStep(position);
    }
    logits.dispose();
    this.disposeState(state);
    return texts.map((chars, s) => ({ text: seedText + chars.join(""), ended: !active[s] }));
  }
}
