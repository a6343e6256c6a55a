// The page's reading and cleaning of tweet files, for the Python test to compare with `bot prepare`.
// usage: node tweets.mjs OUT.json PLACEHOLDERS_JSON FILE...   (out: {kept, dropped} or {error})
import fs from "node:fs";
import path from "node:path";
import { cleanTweets } from "../../twitterbot/web/page/clean.js";
import { readTweets } from "../../twitterbot/web/page/tweets.js";

const [outPath, placeholders, ...files] = process.argv.slice(2);
let result;
try {
  const texts = files.flatMap((file) => readTweets(path.basename(file), new Uint8Array(fs.readFileSync(file))));
  result = cleanTweets(texts, JSON.parse(placeholders));
} catch (error) {
  result = { error: error.message };
}
fs.writeFileSync(outPath, JSON.stringify(result));
