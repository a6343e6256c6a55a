// The tweets in files the user drops on the page, read as `bot prepare` reads them (twitterbot.sources):
// an X archive (.zip, or its data/tweets.js), CSV/TSV (a text/full_text/tweet/content column, else the
// first), JSON/JSONL (API pages, tweet objects, strings), and plain text (a tweet a line). A file that
// cannot be read is named in the error, with the line where it can be told.
import { unzipSync } from "./vendor/fflate.min.js";

const TEXT_COLUMNS = ["text", "full_text", "tweet", "content"];
const ARCHIVE_MEMBER = /(^|\/)tweets(-part\d+)?\.js$/;
const MAX_UNZIPPED_BYTES = 1 << 30; // a browser tab holds about this much; tweets.js parts are far smaller

export class FileError extends Error {}

// name: the file's name; bytes: its contents (Uint8Array). Returns the tweets' raw texts.
export function readTweets(name, bytes) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".zip")) return readZip(name, bytes);
  const text = decode(name, bytes);
  if (lower.endsWith(".js")) return readArchive(name, text);
  if (lower.endsWith(".csv") || lower.endsWith(".tsv")) return readCsv(name, text, lower.endsWith(".tsv") ? "\t" : ",");
  if (/\.(json|jsonl|ndjson)$/.test(lower)) return readJson(name, text);
  return text.split(/\r\n|\r|\n/).filter((line, i, lines) => i < lines.length - 1 || line !== "");
}

function decode(name, bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const bad = firstBadByte(bytes);
    const line = bytes.subarray(0, bad).reduce((count, byte) => count + (byte === 10), 1);
    throw new FileError(`${name}:${line}: not UTF-8 text`);
  }
}

function firstBadByte(bytes) {
  let low = 0;
  let high = bytes.length;
  while (high - low > 1) {
    const middle = (low + high) >>> 1;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, middle), { stream: true });
      low = middle;
    } catch {
      high = middle;
    }
  }
  return low;
}

function readZip(name, bytes) {
  let members;
  try {
    members = unzipSync(bytes, {
      filter: (file) => {
        if (!ARCHIVE_MEMBER.test(file.name)) return false;
        if (file.originalSize > MAX_UNZIPPED_BYTES) throw new FileError(`${name}!${file.name}: refusing to unpack ${file.originalSize.toLocaleString("en")} bytes`);
        return true;
      },
    });
  } catch (error) {
    if (error instanceof FileError) throw error;
    throw new FileError(`${name}: not a readable zip file (${error.message})`);
  }
  const names = Object.keys(members).sort();
  if (!names.length) throw new FileError(`${name}: no data/tweets.js (or tweets-partN.js) inside this zip`);
  return names.flatMap((member) => readArchive(`${name}!${member}`, decode(`${name}!${member}`, members[member])));
}

function readArchive(name, text) {
  const prefix = /^\s*window\.YTD\.[\w.]+\s*=/.exec(text);
  if (!prefix) throw new FileError(`${name}:1: expected an X archive file starting 'window.YTD.<name>.part0 ='`);
  return readJson(name, text.slice(prefix[0].length), lineOf(text, prefix[0].length) - 1);
}

function lineOf(text, index) {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < index; i = text.indexOf("\n", i + 1)) line += 1;
  return line;
}

// One JSON value (an array, an API page, a tweet), or JSON lines.
function readJson(name, text, linesBefore = 0) {
  let values;
  try {
    values = [JSON.parse(text)];
  } catch (whole) {
    values = [];
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      try {
        values.push(JSON.parse(lines[i]));
      } catch {
        const at = /position (\d+)/.exec(whole.message);
        const line = lines.length === 1 || !values.length ? lineOf(text, at ? Number(at[1]) : 0) : i + 1;
        throw new FileError(`${name}:${line + linesBefore}: malformed JSON`);
      }
    }
  }
  const texts = [];
  for (const value of values) {
    const items = Array.isArray(value) ? value : value && Array.isArray(value.data) ? value.data : [value];
    for (const item of items) {
      const text = tweetText(item);
      if (text !== null) texts.push(text);
    }
  }
  return texts;
}

// The text of one tweet in the shapes the X API and archive use (twitterbot.jsontweets._tweet_text).
function tweetText(value) {
  if (typeof value === "string") return value;
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  const tweet = "tweet" in value ? value.tweet : value;
  if (!tweet || typeof tweet !== "object") return null;
  for (const [outer, inner] of [["note_tweet", "text"], ["extended_tweet", "full_text"]]) {
    if (tweet[outer] && typeof tweet[outer][inner] === "string") return tweet[outer][inner];
  }
  for (const key of ["full_text", "text"]) if (typeof tweet[key] === "string") return tweet[key];
  return null;
}

// RFC 4180 rows (quotes, doubled quotes, line breaks inside quotes), as Python's csv module reads them.
function readCsv(name, text, delimiter) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  const endRow = () => {
    row.push(field);
    if (row.length > 1 || row[0] !== "") rows.push([rowLine, row]);
    row = [];
    field = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') field += text[++i];
      else if (ch === '"') {
        quoted = false;
        if (i + 1 < text.length && !`${delimiter}\r\n`.includes(text[i + 1])) throw new FileError(`${name}:${line}: malformed CSV ('${delimiter}' expected after '"')`);
      } else {
        if (ch === "\n") line += 1;
        field += ch;
      }
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === delimiter) {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i += 1;
      endRow();
      line += 1;
      rowLine = line;
    } else field += ch;
  }
  if (quoted) throw new FileError(`${name}:${rowLine}: malformed CSV (unexpected end of data)`);
  if (field !== "" || row.length) endRow();
  if (!rows.length) return [];
  const [, header] = rows[0];
  const names = header.map((column) => column.trim().toLowerCase());
  const known = TEXT_COLUMNS.find((column) => names.includes(column));
  const column = known === undefined ? 0 : names.indexOf(known);
  const texts = known === undefined ? [header[0]] : [];
  for (const [at, cells] of rows.slice(1)) {
    if (cells.length <= column)
      throw new FileError(`${name}:${at}: expected a value in column ${column + 1} ('${header[column]}'), the row has ${cells.length}`);
    texts.push(cells[column]);
  }
  return texts;
}
