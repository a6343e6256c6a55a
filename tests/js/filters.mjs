// The page's filters (with the export's novelty index and words) on given texts, for the Python test to
// compare with twitterbot.filters and .clean:
// each candidate's rejection, X's weighted length, the debris rule, and generator.js's render and mustRedraw.
// usage: node filters.mjs EXPORT_DIR CASES.json OUT.json
//   cases (each optional): {candidates: [[raw, rendered, ended]], lengths, debris, training, render: [[raw, link, mention]]}
import fs from "node:fs";
import path from "node:path";
import { PageFilters, buildNovelty, readNovelty, readWords, xLength } from "../../twitterbot/web/page/filters.js";
import { dropDebris } from "../../twitterbot/web/page/clean.js";
import { mustRedraw, render } from "../../twitterbot/web/page/generator.js";

const [dir, casesPath, outPath] = process.argv.slice(2);
const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
const rules = read("filters.json");
const settings = read("generation.json");
const vocab = read("vocab.json");
const bytes = rules.novelty ? fs.readFileSync(path.join(dir, rules.novelty.file)) : null;
const novelty = bytes && readNovelty(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), rules.novelty);
const words = rules.words ? readWords(fs.readFileSync(path.join(dir, rules.words.file))) : null;
const filters = new PageFilters(rules, novelty, { mention: settings.mention, placeholders: vocab.placeholders, words });
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
fs.writeFileSync(
  outPath,
  JSON.stringify({
    rejections: (cases.candidates ?? []).map(([raw, rendered, ended]) => filters.rejection(raw, rendered, ended)),
    lengths: (cases.lengths ?? []).map(xLength),
    debris: (cases.debris ?? []).map(dropDebris),
    rendered: (cases.render ?? []).map(([raw, link, mention]) => {
      const rendered = render(raw, vocab.placeholders, { link, mention });
      return [rendered, mustRedraw(raw, rendered, vocab.placeholders, rules.loop_span)];
    }),
    built: cases.training && (({ tweets, minima }) => ({ tweets: Array.from(tweets, String), minima: Array.from(minima) }))(buildNovelty(cases.training, rules.index)),
  }),
);
