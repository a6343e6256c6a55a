// Bundles the page's helper libraries from npm into twitterbot/web/page/vendor/ (committed, so the page and
// `pip install` need no network): twitter-text's parseTweet (X's weighted length, as `bot` counts it
// with twitter-text-parser), fflate's zip and unzip (an X archive arrives as a .zip; the fine-tuned model leaves as one) and gzip (the word list) and entities' decodeHTML
// (HTML5's character references, as Python's html.unescape reads them for `bot prepare`). twitter-text's old
// core-js polyfills are left out: every browser tfjs runs in has what they patch.
// usage: node scripts/vendor-web.mjs [OUT_DIR]
import * as esbuild from "esbuild";

const out = process.argv[2] || new URL("../twitterbot/web/page/vendor/", import.meta.url).pathname;
const noPolyfills = {
  name: "no-polyfills",
  setup(build) {
    build.onResolve({ filter: /^core-js\// }, (args) => ({ path: args.path, namespace: "empty" }));
    build.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "" }));
  },
};
const bundles = {
  "twitter-text.min.js": 'import twttr from "twitter-text"; export const parseTweet = twttr.parseTweet;',
  "fflate.min.js": 'export { gunzipSync, gzipSync, unzipSync, zipSync } from "fflate";',
  "entities.min.js": 'export { decodeHTML } from "entities";',
};
for (const [name, contents] of Object.entries(bundles)) {
  await esbuild.build({
    stdin: { contents, resolveDir: process.cwd(), loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    legalComments: "none",
    plugins: [noPolyfills],
    outfile: `${out}/${name}`,
    logLevel: "warning",
  });
}
