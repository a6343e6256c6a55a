"""Importers on small files in every format, including the nasty cases real exports contain."""

import json
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twitterbot.corpus import sources
from twitterbot.corpus.sources import detect_format, expand_inputs
from twitterbot.corpus.sources import read_texts as texts
from twitterbot.errors import BotError


def archive_entry(text, **extra):
    return {"tweet": {"id_str": "1", "full_text": text, "retweeted": False, **extra}}


def write_archive(path, tweets, part="part0"):
    body = json.dumps([archive_entry(t) for t in tweets], indent=2, ensure_ascii=False)
    path.write_text(f"window.YTD.tweets.{part} = {body}", encoding="utf-8")
    return path


def test_archive_tweets_js_multiline_emoji_entities(tmp_path):
    tweets = ["first line\nsecond line", "fish &amp; chips 🐟", 'quote " and \\ backslash']
    path = write_archive(tmp_path / "tweets.js", tweets)
    assert detect_format(path) == "archive"
    assert texts(path) == tweets


def test_archive_zip_reads_every_part(tmp_path):
    zipped = tmp_path / "twitter-2024.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps([archive_entry("one")]))
        archive.writestr("data/tweets-part1.js", "window.YTD.tweets.part1 = " + json.dumps([archive_entry("two")]))
        archive.writestr("data/like.js", "window.YTD.like.part0 = []")
    assert texts(zipped) == ["one", "two"]


def test_zip_without_tweets_is_refused(tmp_path):
    zipped = tmp_path / "other.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(BotError, match="no data/tweets.js"):
        texts(zipped)


def test_truncated_archive_names_file_and_line(tmp_path):
    path = write_archive(tmp_path / "tweets.js", ["a", "b", "c"])
    path.write_text(path.read_text()[:-40])
    with pytest.raises(BotError, match=r"tweets\.js:\d+: malformed JSON"):
        texts(path)


def test_csv_text_column_quotes_newlines_bom_crlf(tmp_path):
    path = tmp_path / "tweets.csv"
    rows = 'id,text,likes\r\n1,"He said ""hi""",3\r\n2,"line one\r\nline two",4\r\n3,plain,5\r\n'
    path.write_bytes(b"\xef\xbb\xbf" + rows.encode())
    assert texts(path) == ['He said "hi"', "line one\r\nline two", "plain"]
    path.write_bytes(rows.replace("1,", "1", 1).encode() + b'4,"bad"x,6\r\n')
    with pytest.raises(BotError, match=r"tweets\.csv:6: malformed CSV"):  # the multi-line field counts its lines
        texts(path)


def test_csv_full_text_column_and_first_column_fallback(tmp_path):
    named = tmp_path / "a.csv"
    named.write_text("created_at,full_text\n2020,hello\n")
    assert texts(named) == ["hello"]
    headerless = tmp_path / "b.csv"
    headerless.write_text("just a tweet,extra\nanother one,x\n")
    assert texts(headerless) == ["just a tweet", "another one"]


def test_malformed_csv_names_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('text\nfine\n"unclosed quote\n')
    with pytest.raises(BotError, match=r"bad\.csv:3: malformed CSV"):
        texts(path)


def test_json_api_v2_pages_v1_objects_and_string_arrays(tmp_path):
    pages = tmp_path / "pages.json"
    pages.write_text(
        json.dumps(
            {
                "data": [
                    {"id": "1", "text": "v2 tweet"},
                    {"id": "2", "text": "short", "note_tweet": {"text": "long form"}},
                ],
                "meta": {"result_count": 2},
            }
        )
    )
    assert texts(pages) == ["v2 tweet", "long form"]
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps([{"full_text": "full"}, {"text": "trunc…", "extended_tweet": {"full_text": "ext"}}]))
    assert texts(v1) == ["full", "ext"]
    strings = tmp_path / "strings.json"
    strings.write_text('["a", "b"]')
    assert texts(strings) == ["a", "b"]


def test_jsonl_and_concatenated_pages(tmp_path):
    path = tmp_path / "tweets.jsonl"
    path.write_text('{"text": "one"}\n{"full_text": "two"}\n\n"three"\n')
    assert texts(path) == ["one", "two", "three"]
    pages = tmp_path / "dump.json"
    pages.write_text('{"data": [{"text": "p1"}]}\n{"data": [{"text": "p2"}]}')
    assert texts(pages) == ["p1", "p2"]


def test_json_record_without_text_names_record(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"text": "ok"}\n{"id": 5}\n')
    with pytest.raises(BotError, match=r"odd\.jsonl:2 \(record 2\): expected a tweet"):
        texts(path)


def test_truncated_json_is_an_error(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"text": "one"}, {"text": "tw')
    with pytest.raises(BotError, match=r"cut\.json:1: malformed JSON"):
        texts(path)


def test_text_lines_crlf_bom(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo \xf0\x9f\x98\x80\r\n")
    assert texts(path) == ["one", "two 😀"]


def test_text_lines_with_lone_cr_breaks(tmp_path):
    path = tmp_path / "mac.txt"
    path.write_bytes(b"one\rtwo\r\nthree\rfour\r")
    assert texts(path) == ["one", "two", "three", "four"]
    path.write_bytes(b"one\rtwo\r\xff\r")
    with pytest.raises(BotError, match=r"mac\.txt:3: not UTF-8 text"):
        texts(path)


def test_invalid_utf8_names_file(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"fine\n\xff\xfe\x00garbage\n")
    with pytest.raises(BotError, match=r"bin\.txt:2: not UTF-8 text"):
        texts(path)


def test_endless_line_is_refused_with_bounded_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_CHUNK_BYTES", 1000)
    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "huge.txt"
    path.write_bytes(b"ok\n" * 400 + b"x" * 2500 + b"\nlast\n")  # line 401 runs 1.5 blocks past a block's end
    with pytest.raises(BotError, match=r"huge\.txt:401: line longer than 1,000 bytes"):
        texts(path)
    path.write_bytes(b"ok\n" * 400 + b"x" * 900 + b"\nlast\n")
    assert texts(path)[-2:] == ["x" * 900, "last"]
    path.write_bytes(b"old mac line\r" * 300)  # one "line" to a reader that cuts blocks at "\n"
    with pytest.raises(BotError, match=r"huge\.txt:1: line longer .* lone \\r: save it with \\n line breaks"):
        texts(path)


def test_detect_format_by_content(tmp_path):
    for name, content, expected in [
        ("a", "window.YTD.tweets.part0 = []", "archive"),
        ("b", '{"text": 1}', "json"),
        ("c", "hello", "text"),
    ]:
        (tmp_path / name).write_text(content)
        assert detect_format(tmp_path / name) == expected


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("x")
    (tmp_path / "a.csv").write_text("text\nx")
    (tmp_path / "README.md").write_text("not tweets")
    assert expand_inputs([str(tmp_path)]) == [tmp_path / "a.csv", tmp_path / "sub" / "b.txt"]
    assert expand_inputs([str(tmp_path / "**" / "*.txt")]) == [tmp_path / "sub" / "b.txt"]
    with pytest.raises(BotError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.csv")])
    with pytest.raises(BotError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.jsonl")])


def fake_shared_data(root):
    """The shared corpora's layout with a few real-shaped records, so the fuzzer's seeds build in CI."""
    entries = [archive_entry(f"tweet {i} &amp; more 🐟\nline two https://t.co/x{i}") for i in range(12)]
    (root / "archive").mkdir()
    (root / "archive" / "tweets.js").write_text("window.YTD.tweets.part0 = " + json.dumps(entries, indent=2))
    (root / "realdonaldtrump.csv").write_text('text\n"quoted ""x"", y"\nplain one\n"multi\nline"\n')
    (root / "tweeteval").mkdir()
    (root / "tweeteval" / "train_text.txt").write_text("".join(f"@user tweet {i} #tag\n" for i in range(30)))
    return root


def test_fuzzed_files_import_or_fail_cleanly(tmp_path):
    """A few hundred cases of bench/fuzz_importers.py (the benchmark runs 10,000)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from fuzz_importers import run

    outcomes = run(300, seed=11, data=fake_shared_data(tmp_path))
    assert outcomes["FAILED"] == 0 and outcomes["ok"] > 0 and outcomes["error"] > 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "data", "tweet", "full_text", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values, suffix=st.sampled_from([".json", ".jsonl", ".js"]))
def test_any_json_value_imports_or_fails_cleanly(tmp_path_factory, value, suffix):
    path = tmp_path_factory.mktemp("json") / f"value{suffix}"
    prefix = "window.YTD.tweets.part0 = " if suffix == ".js" else ""
    path.write_text(prefix + json.dumps(value), encoding="utf-8")
    try:
        assert all(isinstance(text, str) for text in texts(path))
    except BotError as error:
        assert str(path) in str(error) and "\n" not in str(error)


def test_csv_with_blank_lines_before_the_header(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\ntext\nhello\n")
    assert texts(path) == ["hello"]
