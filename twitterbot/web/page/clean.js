// `bot prepare`'s cleaning rules with its default options (twitterbot.clean), for tweets the page reads
// from the user's files: HTML entities, line breaks, NFC, control characters, links and @handles made
// placeholders, a reply's leading @handles stripped, emoji debris; empty tweets and retweets dropped,
// duplicates kept once.
import { decodeHTML } from "./vendor/entities.min.js";

// Python's \s and \w on str, which `bot prepare`'s regular expressions use.
const SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WORD = "[\\p{L}\\p{N}_]";
const LINK = new RegExp(`https?://[^${SPACE}]+`, "gu");
const MENTION = new RegExp(`(?<![\\p{L}\\p{N}_@])@${WORD}{1,15}(?!${WORD})`, "gu");
// Category Cc but tab and newline, and lone surrogates (JSON escapes make them).
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const TAKES_EMOJI_PART = /^(?:[#*0-9\u203c\u2049\u3030\u303d\ufe0f\u20e3]|\p{So}|\p{Sk}|\p{Sm})$/u;

// Without invisible characters and emoji parts left without their emoji: for training text, and for
// what the model writes (a variation selector after a letter: invisible, yet X counts it 2).
export function dropDebris(text) {
  return text.replace(/[\u200b\u2060\ufeff\u180e]/gu, "").replace(/[\ufe0e\ufe0f\u200d\u20e3]/gu, (part, offset, whole) => {
    const before = Array.from(whole.slice(Math.max(0, offset - 2), offset)).at(-1) ?? "";
    const after = Array.from(whole.slice(offset + 1, offset + 3))[0] ?? "";
    const takes = (ch) => TAKES_EMOJI_PART.test(ch);
    if (part !== "\u200d") return takes(before) ? part : "";
    const inWord = /[\p{L}\p{M}]/u.test(before + after);
    return inWord || (takes(before) && takes(after)) ? part : "";
  });
}

const TRIM = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, "gu");
const MENTION_RULES = new Map();

// The rules that read the mention placeholder, compiled once per placeholder, not once per tweet: a reply's
// leading @handles (placeholders by now; `bot prepare --replies strip`: X shows them apart) and a retweet.
function mentionRules(mention) {
  if (!MENTION_RULES.has(mention)) {
    MENTION_RULES.set(mention, {
      reply: new RegExp(`^(?:(?:@${WORD}{1,15}|${mention})(?:[${SPACE}]+|$))+`, "u"),
      retweet: new RegExp(`^RT (?:@${WORD}|${mention}|:)`, "u"),
    });
  }
  return MENTION_RULES.get(mention);
}

// One tweet cleaned, and why it is dropped (null, "empty" or "retweet"). placeholders: vocab.json's.
export function cleanTweet(text, placeholders) {
  const { reply, retweet } = mentionRules(placeholders.mention);
  text = decodeHTML(text.replace(/\r\n?/g, "\n")).normalize("NFC");
  text = text.replace(/\t/g, " ").replace(CONTROL, "");
  text = text.replace(LINK, placeholders.link).replace(MENTION, placeholders.mention);
  text = dropDebris(text).replace(TRIM, "").replace(reply, "");
  if (!text) return [text, "empty"];
  return [text, retweet.test(text) ? "retweet" : null];
}

// The kept tweets, in order, each once; and how many were dropped for each reason.
export function cleanTweets(texts, placeholders) {
  const kept = [];
  const seen = new Set();
  const dropped = { empty: 0, retweet: 0, duplicate: 0 };
  for (const text of texts) {
    const [cleaned, reason] = cleanTweet(text, placeholders);
    if (reason) dropped[reason] += 1;
    else if (seen.has(cleaned)) dropped.duplicate += 1;
    else {
      seen.add(cleaned);
      kept.push(cleaned);
    }
  }
  return { kept, dropped };
}
