"""The page's "Make it yours" reads and cleans tweet files in JavaScript as `bot prepare` does in Python."""

import csv
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.prepare import prepare
from twitterbot.corpus.vocab import EOT, PLACEHOLDERS

pytestmark = pytest.mark.browser  # Node.js with real tfjs

ROOT = Path(__file__).resolve().parents[1]

# What cleaning must get right: entities (named, numeric, without ';'), CR and CRLF, tabs and control
# characters, NFD accents, links, @handles (and one too long to be one), a reply's leading handles,
# retweets, emoji debris and emoji kept whole, duplicates after cleaning, empty ones, lone surrogates, and
# what is only whitespace.
TRICKY = [
    "fish &amp; chips &lt;3 &gt;_&gt; &copy; &#x1F600; &#8364; &notit; &amp",
    "line one\r\nline two\rline three",
    "tab\there\x07bell\x0bvt",
    "cafe\u0301 na\u0308ive",
    "read https://t.co/abc123 and http://example.com/a?b=c#d now",
    "hi @someone_1, @x and @abcdefghijklmnopq are here; mail me@home",
    "RT @someone: this is a retweet",
    "RT: also one",
    "not RT @a retweet",
    "a\ufe0f b \u2764\ufe0f \U0001f468\u200d\U0001f469 zero\u200bwidth \ufeffbom",
    "fish & chips <3 >_> © 😀 € &notit; &",
    "   ",
    "\u3000 wide spaces \u3000",
    "emoji only \U0001f389\U0001f389",
    "lone \ud83d surrogate",
    "hi @someone_1, @x and @abcdefghijklmnopq are here; mail me@home",
    "@alice @bob_2\n@carol thanks, all of you!",  # a reply: its leading handles go
    "@alice's cat and .@bob too",  # not a reply's handles: they stay (as placeholders)
    "@alice @bob",  # nothing but handles: empty
]


def archive_js(texts: list[str]) -> str:
    tweets = [{"tweet": {"id_str": str(i), "full_text": text}} for i, text in enumerate(texts)]
    tweets.append({"tweet": {"full_text": "short", "note_tweet": {"text": "the long note tweet"}}})
    return "window.YTD.tweets.part0 = " + json.dumps(tweets, indent=2)


def write_inputs(folder: Path) -> list[Path]:
    folder.mkdir()
    js = folder / "tweets.js"
    js.write_text(archive_js(TRICKY), encoding="utf-8", errors="surrogatepass")
    zipped = folder / "archive.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/account.js", "window.YTD.account.part0 = []")
        archive.writestr("data/tweets-part1.js", archive_js(["from the zip, part 1", *TRICKY[:3]]).encode())
    with open(folder / "tweets.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "Text"])
        for i, text in enumerate(TRICKY[:9]):
            writer.writerow([i, text.replace("\r", "")])
        writer.writerow([99, 'quoted "words", and a\nline break'])
    (folder / "plain.txt").write_bytes("\ufeffone a line\r\nsecond &amp; last\rthird\n\nfourth\n".encode())
    (folder / "more.jsonl").write_text(
        '{"data": [{"text": "api page one"}, {"text": "api page two"}]}\n"a plain string"\n', encoding="utf-8"
    )
    return [js, zipped, folder / "tweets.csv", folder / "plain.txt", folder / "more.jsonl"]


def page_reads(tmp_path: Path, files: list[Path]) -> dict:
    out = tmp_path / "page.json"
    args = ["node", "tests/js/tweets.mjs", out, json.dumps(PLACEHOLDERS), *files]
    result = subprocess.run(list(map(str, args)), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def bot_prepares(tmp_path: Path, files: list[Path]) -> list[str]:
    """The kept tweets in order: everything in the train split, whose ids are the tweets back to back."""
    out = tmp_path / "data"
    prepare([str(f) for f in files], out, validate=0, test=0, coverage=1.0)
    data = open_data(out)
    ids = np.asarray(data.split("train")[:])
    ends = np.flatnonzero(ids == EOT)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [data.vocab.decode(ids[s:e]) for s, e in zip(starts, ends, strict=True)]


def test_page_cleans_as_bot_prepare(tmp_path):
    files = write_inputs(tmp_path / "in")
    page = page_reads(tmp_path, files)
    assert "error" not in page, page
    assert page["kept"] == bot_prepares(tmp_path, files)
    assert page["dropped"]["retweet"] == 2 and page["dropped"]["duplicate"] > 0  # "RT:" is not one


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", b'text\n"unclosed\n', "bad.csv:2: malformed CSV"),
        ("rows.csv", b"id,text\n1,fine\n2\n", "rows.csv:3: expected a value in column 2"),
        ("tweets.js", b"[1, 2]", "tweets.js:1: expected an X archive file"),
        ("broken.jsonl", b'"one"\n{"text": \n', "broken.jsonl:2: malformed JSON"),
        ("latin1.txt", b"ok\ncaf\xe9\n", "latin1.txt:2: not UTF-8 text"),
        ("empty.zip", b"PK\x05\x06" + bytes(18), "empty.zip: no data/tweets.js"),
        ("junk.zip", b"not a zip at all", "junk.zip: not a readable zip file"),
    ],
)
def test_page_names_the_file_and_line_it_cannot_read(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    assert page_reads(tmp_path, [path])["error"].startswith(message)
