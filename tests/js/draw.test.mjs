// The page sampler's rules, checked without a model: <unk> never drawn, no empty tweet, top-k, top-p;
// placeholders rendered and loops caught as twitterbot.vocab.render and twitterbot.filters do.
import assert from "node:assert/strict";
import test from "node:test";
import { TweetWriter, mustRedraw, render } from "../../twitterbot/web/page/generator.js";

const LOOP_SPAN = 30; // filters.json's loop_span for these cases (twitterbot.writing.filters.LOOP_SPAN)

const writer = Object.create(TweetWriter.prototype);
writer.vocab = { eot: 0, unk: 1 };

function counts(row, options, draws = 4000) {
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const seen = new Array(row.length).fill(0);
  for (let i = 0; i < draws; i++) seen[writer.draw(Float32Array.from(row), { temperature: 1, allowEnd: true, random, ...options })] += 1;
  return seen;
}

test("<unk> is never drawn and <eot> only when allowed", () => {
  const row = [5, 9, 1, 1];
  assert.equal(counts(row, {})[1], 0);
  assert.equal(counts(row, { allowEnd: false })[0], 0);
});

test("top-k keeps the k likeliest", () => {
  const seen = counts([0, 0, 3, 2, 1, 0.5], { topK: 2 });
  assert.deepEqual(seen.map((c) => c > 0), [false, false, true, true, false, false]);
});

test("top-p keeps the smallest set reaching p", () => {
  const row = [Math.log(0.05), -Infinity, Math.log(0.6), Math.log(0.3), Math.log(0.05)];
  assert.deepEqual(counts(row, { topP: 0.8 }).map((c) => c > 0), [false, false, true, true, false]);
  assert.deepEqual(counts(row, { topP: 0.5 }).map((c) => c > 0), [false, false, true, false, false]);
});

test("temperature changes the words, not when the tweet ends", () => {
  const row = [Math.log(0.2), Math.log(0.1), Math.log(0.4), Math.log(0.2), Math.log(0.1)];
  for (const temperature of [0.2, 1.5]) {
    const seen = counts(row, { temperature }, 20000);
    assert.ok(Math.abs(seen[0] / 20000 - 0.2 / 0.9) < 0.015, `${temperature}: ${seen}`);
  }
});

test("low temperature concentrates on the likeliest character", () => {
  const seen = counts([0, 0, 2, 1.5], { temperature: 0.05 });
  assert.ok(seen[3] < 10 && seen[2] > 3500, `${seen}`); // <eot> keeps its own ~8 %
});

const placeholders = { link: "\ue000", mention: "\ue002" };

test("placeholders are never shown: dropped, or what the user gave", () => {
  const [m, u] = [placeholders.mention, placeholders.link];
  assert.equal(render(`${m} ${m} so true ${u}`, placeholders), "so true");
  assert.equal(render(`${m}: quoted ${m}, ok`, placeholders), "quoted, ok");
  assert.equal(render(`thanks ${m}! see ${u} and ${m}`, placeholders), "thanks! see and");
  assert.equal(render(`line one\n${m} line two`, placeholders), "line one\nline two");
  assert.equal(render(`${m} hi ${u}`, placeholders, { link: "https://x.org", mention: "@me" }), "@me hi https://x.org");
});

test("loops, mention chains and empty tweets are redrawn; ordinary tweets are not", () => {
  const m = placeholders.mention;
  assert.ok(mustRedraw("ha".repeat(15), "ha".repeat(15), placeholders, LOOP_SPAN));
  assert.ok(mustRedraw(`${m} ${m} ${m} hi`, "hi", placeholders, LOOP_SPAN));
  assert.ok(mustRedraw("@bob @bob @bob hi", "@bob @bob @bob hi", placeholders, LOOP_SPAN));
  assert.ok(mustRedraw(m, "", placeholders, LOOP_SPAN));
  assert.ok(!mustRedraw("soooooo good, haha", "soooooo good, haha", placeholders, LOOP_SPAN));
  assert.ok(!mustRedraw(`${m} ${m} thanks!`, "thanks!", placeholders, LOOP_SPAN));
});

test("a banned id is never drawn, and the rest share its mass", () => {
  const seen = counts([0, 0, 1, 5, 1], { banned: 3 });
  assert.equal(seen[3], 0);
  assert.ok(seen[2] > 0 && seen[4] > 0);
});

// A TweetWriter without a model for draft(): ids <eot> 0, <unk> 1, then `chars`; `rowAfter(id)` gives the
// logits that follow feeding id.
function modelFree(chars, rowAfter) {
  const writer = Object.create(TweetWriter.prototype);
  Object.assign(writer, { vocab: { eot: 0, unk: 1 }, chars, offset: 2, size: chars.length + 2 });
  writer.index = new Map(chars.map((ch, i) => [ch, i + 2]));
  writer.initialState = () => null;
  writer.disposeState = () => {};
  writer.step = (ids) => {
    const rows = new Float32Array(ids.length * writer.size);
    ids.forEach((id, s) => rows.set(rowAfter(id), s * writer.size));
    return [{ data: async () => rows, dispose: () => {} }, null];
  };
  return writer;
}

test("draft never draws a third mention placeholder in a row (generation.json's mention_chain)", async () => {
  // ids: <eot> 0, <unk> 1, "a" 2, " " 3, mention 4; the model always favours the mention, then a space.
  const draftWriter = modelFree(["a", " ", "\ue002"], (id) => (id === 4 ? [-9, 0, 0, 6, 0] : [-9, 0, 0, 0, 6]));
  let seed = 3;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const mentionChain = { run: 2, mention: 4, spaces: [3] };
  const drafts = await draftWriter.draft({ n: 8, temperature: 0.5, maxLen: 30, random, mentionChain });
  for (const { text } of drafts) {
    assert.ok(text.startsWith("\ue002 \ue002 "), text); // two are drawn
    assert.ok(!/\ue002\s*\ue002\s*\ue002/u.test(text), text); // never a third
  }
  const unbounded = await draftWriter.draft({ n: 2, temperature: 0.5, maxLen: 30, random });
  assert.ok(unbounded.every(({ text }) => /\ue002\s*\ue002\s*\ue002/u.test(text))); // the rule is what stops it
});

test("draft draws a tweet's opening at the model's probabilities, the rest tempered", async () => {
  // ids: <eot> 0, <unk> 1, "a" 2, "b" 3, mention 4; the model always gives "a" 0.6, "b" 0.3, the mention 0.1.
  const draftWriter = modelFree(["a", "b", "\ue002"], () => [-20, 0, Math.log(0.6), Math.log(0.3), Math.log(0.1)]);
  let seed = 5;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const n = 4000;
  const share = (drafts, at, ch) => drafts.filter(({ text }) => text[at] === ch).length / n;
  const drafts = await draftWriter.draft({ n, temperature: 0.1, maxLen: 2, random });
  assert.ok(Math.abs(share(drafts, 0, "a") - 0.6) < 0.03 && Math.abs(share(drafts, 0, "\ue002") - 0.1) < 0.02);
  assert.ok(share(drafts, 1, "a") > 0.99); // the second character is tempered: 0.6^10 against 0.3^10
  const seeded = await draftWriter.draft({ n, temperature: 0.1, maxLen: 2, random, seedText: "b" });
  assert.ok(share(seeded, 1, "a") > 0.99); // after seed text the first drawn character is no opening
});
