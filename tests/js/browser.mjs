// Drive the exported page in headless Chromium: wait for the model, click Write `runs` times, read the
// tweets back, take a screenshot, try what a person would (an unknown first character, Copy, Clear).
// With TWEETS (a file of tweets), also "Make it yours": a bad file first, then learn from TWEETS for a
// pass, write in the new voice, download the model into SAVE_DIR and open it again.
// usage: node browser.mjs URL OUT.json SCREENSHOT.png [runs=1] [count=1] [TWEETS SAVE_DIR [stop=1]]
import fs from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const [url, outPath, screenshot, runs = "1", count = "1", tweetsFile, saveDir, tryStop = "1"] =
  process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({
    viewport: { width: 1200, height: 900 },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(url);
  await page.waitForSelector("#write:not([disabled])", { timeout: 120000 });
  await page.selectOption("#count", count);
  for (let run = 1; run <= Number(runs); run++) {
    await page.click("#write");
    await page.waitForFunction((n) => window.twitterbot.timings.length >= n, run, { timeout: 120000 });
  }
  const texts = await page.$$eval(".tweet .text", (nodes) => nodes.map((node) => node.textContent));
  const counts = await page.$$eval(".tweet .count", (nodes) => nodes.map((node) => node.textContent));
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 }); // a phone
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-390.png"), fullPage: true });
  const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await page.setViewportSize({ width: 1200, height: 900 });
  // An accessibility audit of the page with its tweets (axe-core, WCAG 2 A and AA rules).
  await page.addScriptTag({ path: createRequire(import.meta.url).resolve("axe-core/axe.min.js") });
  const audit = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "best-practice"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const writeLabel = await page.textContent("#write");
  await page.fill("#seed-text", "\u2603 hello");
  const unknown = {
    error: await page.textContent("#seed-error"),
    writeDisabled: await page.isDisabled("#write"),
    invalid: await page.getAttribute("#seed-text", "aria-invalid"),
  };
  await page.fill("#seed-text", "");
  unknown.writeDisabledAfter = await page.isDisabled("#write");
  await page.click(".tweet .copy");
  await page.waitForFunction(() => document.querySelector(".tweet .copy").textContent !== "Copy");
  const copy = {
    label: await page.textContent(".tweet .copy"),
    clipboard: await page.evaluate(() => navigator.clipboard.readText()),
    first: await page.textContent(".tweet .text"),
  };
  await page.waitForTimeout(2300);
  copy.labelLater = await page.textContent(".tweet .copy");
  await page.click("#clear");
  const cleared = { tweets: await page.$$eval(".tweet", (nodes) => nodes.length), status: await page.textContent("#status") };
  const yours = tweetsFile ? await makeItYours(page) : null;
  const info = await page.evaluate(() => ({
    backend: window.twitterbot.backend,
    loadMs: window.twitterbot.loadMs,
    timings: window.twitterbot.timings,
    crossOriginIsolated: window.crossOriginIsolated,
    status: document.getElementById("status").textContent,
  }));
  fs.writeFileSync(
    outPath,
    JSON.stringify({ ...info, texts, counts, errors, writeLabel, unknown, copy, cleared, audit, phoneOverflow, yours }),
  );
} finally {
  await browser.close();
}

async function makeItYours(page) {
  const text = (selector) => page.textContent(selector);
  await page.setInputFiles("#tweet-files", { name: "tweets.csv", mimeType: "text/csv", buffer: Buffer.from('text\n"unclosed\n') });
  await page.waitForFunction(() => document.getElementById("files-error").textContent !== "");
  const badFile = { error: await text("#files-error"), learnDisabled: await page.isDisabled("#learn") };
  await page.setInputFiles("#tweet-files", tweetsFile);
  await page.waitForSelector("#learn:not([disabled])", { timeout: 60000 });
  const summary = await text("#files-summary");
  await page.selectOption("#passes", "1");
  await page.click("#learn");
  const progress = [];
  while (!(await page.evaluate(() => Boolean(window.twitterbot.tuning)))) {
    progress.push(await text("#learn-status"));
    await page.waitForTimeout(100);
  }
  const tuning = await page.evaluate(() => window.twitterbot.tuning);
  const learned = await text("#learn-status");
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-yours.png"), fullPage: true });
  const before = await page.evaluate(() => window.twitterbot.timings.length);
  await page.click("#write");
  await page.waitForFunction((n) => window.twitterbot.timings.length > n, before, { timeout: 120000 });
  const newVoice = await page.$$eval(".tweet .text", (nodes) => nodes.map((node) => node.textContent));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const saved = `${saveDir}/${download.suggestedFilename()}`;
  await download.saveAs(saved);
  await page.setInputFiles("#model-file", saved);
  await page.waitForFunction(() => /^Opened|^Could not/.test(document.getElementById("learn-status").textContent + document.getElementById("files-error").textContent), null, { timeout: 60000 });
  const reopened = (await text("#learn-status")) || (await text("#files-error"));
  if (tryStop !== "1") return { badFile, summary, progress: progress.filter(Boolean), tuning, learned, newVoice, saved, reopened };
  // Stop, pressed during the first pass: the writer stays as it was.
  await page.selectOption("#passes", "10");
  await page.click("#learn");
  await page.waitForFunction(() => document.getElementById("learn-status").textContent.startsWith("Pass 1 of 10"));
  await page.click("#stop");
  await page.waitForSelector("#learn:not([disabled])", { timeout: 60000 });
  const stopped = await text("#learn-status");
  return { badFile, summary, progress: progress.filter(Boolean), tuning, learned, newVoice, saved, reopened, stopped };
}
