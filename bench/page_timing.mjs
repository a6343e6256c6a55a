// Time the exported page's own sampler in headless Chromium: `runs` drafts of `count` full-length tweets
// (the page's TweetWriter.draft, yielding to the browser every 4 characters as Write does), then the
// reference: the tfjs layers API stepped with model.predict once per character, in the same page.
// Drafts, not the Write button: Write shows only tweets that pass the filters, and a benchmark model's
// random characters never do, so Write would redraw until its budget ran out and time that instead.
// usage: node bench/page_timing.mjs URL OUT.json [runs=7] [count=1] [chars=280] [temperature=0.8]
import fs from "node:fs";
import { chromium } from "playwright-core";

const [url, outPath, runs = "7", count = "1", chars = "280", temperature = "0.8"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(url);
  await page.waitForSelector("#write:not([disabled])", { timeout: 120000 });
  const options = { n: Number(count), maxLen: Number(chars), temperature: Number(temperature) };
  const timings = [];
  for (let run = 0; run < Number(runs); run++) {
    timings.push(
      await page.evaluate(async (options) => {
        const { writer, yieldWhileWriting } = window.twitterbot; // Write's own stepping
        const started = performance.now();
        const drafts = await writer.draft({ ...options, onStep: yieldWhileWriting });
        const seconds = (performance.now() - started) / 1000;
        return { seconds, chars: drafts.reduce((sum, d) => sum + Array.from(d.text).length, 0) };
      }, options),
    );
  }
  const referenceSeconds = await page.evaluate(async (chars) => {
    const { model } = window.twitterbot;
    model.layers.forEach((layer) => layer.stateful && layer.resetStates());
    const started = performance.now();
    let id = 0;
    for (let i = 0; i < chars; i++) {
      const out = model.predict(tf.tensor2d([[id]], [1, 1], "int32"));
      const p = await out.data();
      out.dispose();
      id = 2 + (i % (p.length - 2));
    }
    return (performance.now() - started) / 1000;
  }, Number(chars));
  const info = await page.evaluate(() => ({
    backend: window.twitterbot.backend,
    loadMs: window.twitterbot.loadMs,
    crossOriginIsolated: window.crossOriginIsolated,
  }));
  fs.writeFileSync(outPath, JSON.stringify({ ...info, timings, referenceSeconds, errors }));
} finally {
  await browser.close();
}
