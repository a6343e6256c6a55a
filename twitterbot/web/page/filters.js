// What the page shows passes the rules `bot generate` applies (twitterbot.filters.Filters), read from the
// export's filters.json (and novelty.bin, words.txt.gz): no loop or mention chain, whole, no placeholder,
// no @handle of a person, within X's weighted length, words the corpus had, not a copy of a training
// tweet, nothing on the blocklist.
import { gunzipSync, gzipSync } from "./vendor/fflate.min.js";
import { parseTweet } from "./vendor/twitter-text.min.js";

const WORD = "[\\p{L}\\p{N}_]"; // Python's \w on str: letters, numbers, underscore
const HANDLE = new RegExp(`(?<![\\p{L}\\p{N}_@])@${WORD}{1,15}`, "gu");
// A word the non-word rule judges (twitterbot.words): 3+ letters (Python's [^\W\d_]), links, @handles, #tags left out.
const LETTERS = /[\p{L}\p{Nl}\p{No}]{3,}/gu;
const NOT_WORDS = /(?:https?:\/\/|www\.|[@#])\S*/gu;
// Novelty (twitterbot.novelty): n-grams hashed mod 2^64, winnowed; the sizes and the hash base come from
// filters.json's `index` (how the page indexes tweets), an export's index says its own (LEGACY if it
// predates that).
const LEGACY = { gram: 10, window: 6 };
const MASK = (1n << 64n) - 1n;

// A post's length as X counts it: twitter-text's weighted length (URLs 23, CJK and emoji 2).
export function xLength(text) {
  return parseTweet(text.normalize("NFC")).weightedLength;
}

// A pattern of 1-4 characters repeated over `loopSpan` characters or more (filters.json's loop_span), or
// the same mention 3+ times in a row.
export function degenerate(raw, placeholders, loopSpan) {
  for (const match of raw.matchAll(/(.{1,4}?)\1+/gsu)) if (Array.from(match[0]).length >= loopSpan) return "loop";
  const mention = `(@${WORD}+|${placeholders.mention || `@${WORD}+`})`;
  if (new RegExp(`${mention}(?:\\s*\\1){2,}`, "u").test(raw)) return "mention chain";
  return null;
}

// The words of a text as the non-word rule judges them, in order (lower case), as twitterbot.words.words_in.
export function wordsIn(text) {
  return text.replace(NOT_WORDS, " ").toLowerCase().match(LETTERS) ?? [];
}

// words.txt.gz (one word a line) as a Set, and a Set back as those bytes.
export function readWords(bytes) {
  return new Set(new TextDecoder().decode(gunzipSync(bytes)).split("\n").filter(Boolean));
}

export function wordsBytes(words) {
  return gzipSync(new TextEncoder().encode([...words].sort().join("\n")), { level: 9, mtime: 0 });
}

export class PageFilters {
  // rules: filters.json; novelty: the training tweets' index (readNovelty, buildNovelty) or null;
  // mention: what the mention placeholder becomes (may appear); placeholders: vocab.json's;
  // words: the words the corpus had (readWords), or null: words not checked.
  constructor(rules, novelty, { mention = "", placeholders = {}, words = null } = {}) {
    this.rules = rules;
    this.words = words;
    this.mention = mention.toLowerCase();
    this.placeholders = placeholders;
    this.leet = new Map(Object.entries(rules.leet));
    this.base = BigInt(rules.index.hash_base);
    const escape = (word) => word.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    const alternatives = [...rules.blocked_words.map(escape), ...rules.blocked_patterns].sort((a, b) => b.length - a.length);
    this.blocked = new RegExp(`(?<!${WORD})(?:${alternatives.join("|")})(?!${WORD})`, "iu");
    if (novelty) ({ tweets: this.tweets, minima: this.minima, gram: this.gram, window: this.window } = novelty);
  }

  // Why a candidate (raw: placeholders in; rendered: as shown; ended: the model ended it before maxLen)
  // fails, or null: the order of Filters.rejection.
  rejection(raw, rendered, ended = true) {
    if (!rendered.trim()) return "empty";
    const degeneracy = degenerate(raw, this.placeholders, this.rules.loop_span);
    if (degeneracy) return degeneracy;
    if (!ended) return "unfinished";
    if (Object.values(this.placeholders).some((token) => rendered.includes(token))) return "placeholder";
    if (!this.rules.allow_mentions && [...rendered.matchAll(HANDLE)].some(([handle]) => handle.toLowerCase() !== this.mention))
      return "mention";
    if (xLength(rendered) > this.rules.max_length) return "too long";
    if (this.tweets) {
      if (this.isCopy(raw)) return "copy";
      const shared = this.longestShared(raw);
      if (shared && shared >= Math.min(this.rules.max_run, this.rules.overlap * Array.from(raw).length)) return "copied run";
    }
    if (this.blocked.test(this.unleet(rendered))) return "blocklist";
    if (this.words && this.rules.non_words >= 0) {
      const words = wordsIn(rendered);
      if (words.filter((word) => !this.words.has(word)).length > Math.max(1, this.rules.non_words * words.length)) return "non-word";
    }
    return null;
  }

  unleet(text) {
    return Array.from(text.toLowerCase(), (ch) => this.leet.get(ch) ?? ch).join("");
  }

  isCopy(text) {
    return contains(this.tweets, tweetHash(codePoints(text), this.base));
  }

  // About the longest run of `text` found in the training tweets (0: none), as NoveltyIndex.longest_shared.
  longestShared(text) {
    const points = codePoints(text);
    if (points.length < this.gram + this.window - 1) return 0;
    const grams = gramHashes(points, this.gram, this.base);
    const hits = new Set();
    for (let start = 0; start + this.window <= grams.length; start++) {
      let chosen = start;
      for (let i = start + 1; i < start + this.window; i++) if (grams[i] < grams[chosen]) chosen = i;
      if (contains(this.minima, grams[chosen])) hits.add(chosen);
    }
    const sorted = [...hits].sort((a, b) => a - b);
    let longest = 0;
    let first = 0;
    for (let i = 1; i <= sorted.length; i++) {
      if (i === sorted.length || sorted[i] - sorted[i - 1] > this.window) {
        if (i - first >= 2) longest = Math.max(longest, sorted[i - 1] - sorted[first] + this.gram);
        first = i;
      }
    }
    return longest;
  }
}

// novelty.bin as `bot export` writes it (rules.novelty gives the counts and n-gram sizes): tweet hashes,
// then n-gram minima.
export function readNovelty(buffer, { tweets, minima, gram = LEGACY.gram, window = LEGACY.window }) {
  return { tweets: new BigUint64Array(buffer, 0, tweets), minima: new Uint32Array(buffer, tweets * 8, minima), gram, window };
}

// The same bytes, for a download that `bot import-web` and the page read back.
export function noveltyBytes({ tweets, minima }) {
  const bytes = new Uint8Array(tweets.length * 8 + minima.length * 4);
  bytes.set(new Uint8Array(tweets.buffer, tweets.byteOffset, tweets.byteLength), 0);
  bytes.set(new Uint8Array(minima.buffer, minima.byteOffset, minima.byteLength), tweets.length * 8);
  return bytes;
}

// The index of the tweets the page trained on, as NoveltyIndex.build makes it from one chunk: each
// tweet's hash, and the winnowed n-grams of the tweets joined by a separator (U+0000); `index` is
// filters.json's (n-gram size, window, hash base).
export function buildNovelty(tweets, { gram, window, hash_base }) {
  const base = BigInt(hash_base);
  const hashes = new BigUint64Array(tweets.map((tweet) => tweetHash(codePoints(tweet), base)));
  const points = tweets.flatMap((tweet, i) => (i ? [0, ...codePoints(tweet)] : codePoints(tweet)));
  const minima = new Set();
  if (points.length >= gram) {
    const grams = gramHashes(points, gram, base);
    for (let start = 0; start + window <= grams.length; start++) {
      let smallest = grams[start];
      for (let i = start + 1; i < start + window; i++) if (grams[i] < smallest) smallest = grams[i];
      minima.add(smallest);
    }
  }
  return { tweets: BigUint64Array.from(new Set(hashes.sort())), minima: Uint32Array.from(minima).sort(), gram, window };
}

// A 64-bit hash of a whole tweet: a polynomial over its code points, mixed, xor its length.
function tweetHash(points, base) {
  let sum = 0n;
  let power = 1n;
  for (const point of points) {
    sum = (sum + (BigInt(point) + 1n) * power) & MASK;
    power = (power * base) & MASK;
  }
  return ((sum * 0x9e3779b97f4a7c15n) & MASK) ^ BigInt(points.length);
}

function codePoints(text) {
  return Array.from(text, (ch) => ch.codePointAt(0));
}

// Each gram-character window's polynomial hash mod 2^64, mixed, its high 32 bits.
function gramHashes(points, gram, base) {
  const hashes = new Uint32Array(points.length - gram + 1);
  for (let start = 0; start < hashes.length; start++) {
    let hash = 0n;
    for (let offset = 0; offset < gram; offset++) hash = (hash * base + BigInt(points[start + offset]) + 1n) & MASK;
    hash ^= hash >> 29n;
    hash = (hash * 0xbf58476d1ce4e5b9n) & MASK;
    hashes[start] = Number(hash >> 32n);
  }
  return hashes;
}

function contains(sorted, value) {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low < sorted.length && sorted[low] === value;
}
