"""`bot fetch` against recorded X API v2 responses (no network here).

User lookup and timeline pages follow tweepy's recordings (cassettes/test_client_get_user.yaml,
test_client_get_users_tweets.yaml: {"data": …, "meta": {result_count, newest_id, oldest_id,
next_token}}); the `note_tweet` field, the 429 with x-rate-limit-reset, the 401 and the 503 are written
from the API v2 reference's shapes: tweepy's cassettes hold none of them.
"""

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from twitterbot.corpus.sources import read_texts
from twitterbot.errors import BotError
from twitterbot.social.fetch import fetch

USER = "https://api.twitter.com/2/users/by/username/someone"
TIMELINE = "https://api.twitter.com/2/users/783214/tweets"
LOOKUP = {
    "data": {
        "id": "783214",
        "name": "Someone",
        "username": "someone",
        "public_metrics": {"followers_count": 10, "following_count": 5, "tweet_count": 15000, "listed_count": 0},
    }
}
LONG = "a long post " * 40
PAGE_1 = {
    "data": [
        {
            "id": "1700000000000000003",
            "edit_history_tweet_ids": ["1700000000000000003"],
            "text": "newest tweet",
            "created_at": "2026-11-20T10:00:00.000Z",
            "lang": "en",
        },
        {
            "id": "1700000000000000002",
            "edit_history_tweet_ids": ["1700000000000000002"],
            "text": LONG[:270] + "…",
            "note_tweet": {"text": LONG.strip()},
            "created_at": "2026-11-19T10:00:00.000Z",
            "lang": "en",
        },
    ],
    "meta": {
        "result_count": 2,
        "newest_id": "1700000000000000003",
        "oldest_id": "1700000000000000002",
        "next_token": "7140dibdnow9c7btw3w29o1qjqsmmvn6rmqtwpelbaf3y",
    },
}
PAGE_2 = {
    "data": [
        {
            "id": "1700000000000000001",
            "edit_history_tweet_ids": ["1700000000000000001"],
            "text": "oldest tweet",
            "created_at": "2026-11-18T10:00:00.000Z",
        }
    ],
    "meta": {"result_count": 1, "newest_id": "1700000000000000001", "oldest_id": "1700000000000000001"},
}
NOTHING_NEW = {"meta": {"result_count": 0}}


def problem(status, title):
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def params(call) -> dict:
    return {key: values[0] for key, values in parse_qs(urlparse(call.request.url).query).items()}


def timeline_calls():
    return [call for call in responses.calls if call.request.url.startswith(TIMELINE)]


@responses.activate
def test_pages_long_posts_and_an_incremental_second_fetch(tmp_path):
    out = tmp_path / "someone.jsonl"
    responses.get(USER, json=LOOKUP)
    responses.get(TIMELINE, json=PAGE_1)
    responses.get(TIMELINE, json=PAGE_2)
    said = []
    result = fetch("@someone", out, "token", say=said.append)
    assert (result.fetched, result.total) == (3, 3)
    assert "15,000 posts" in said[0] and "3,200" in said[0] and "$16.00" in said[0]  # the cost, before fetching
    first, second = timeline_calls()
    assert params(first)["max_results"] == "100" and "note_tweet" in params(first)["tweet.fields"]
    assert params(second)["pagination_token"] == PAGE_1["meta"]["next_token"]
    assert read_texts(out) == ["newest tweet", LONG.strip(), "oldest tweet"]  # what bot prepare reads
    assert first.request.headers["Authorization"] == "Bearer token"
    responses.get(TIMELINE, json=NOTHING_NEW)
    again = fetch("someone", out, "token", say=said.append)
    assert (again.fetched, again.total) == (0, 3)
    assert params(timeline_calls()[-1])["since_id"] == "1700000000000000003"  # only what is newer


@responses.activate
def test_rate_limit_waits_for_the_reset_and_goes_on(tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    reset = int(time.time()) + 900
    responses.get(USER, json=LOOKUP)
    responses.get(
        TIMELINE, json=problem(429, "Too Many Requests"), status=429, headers={"x-rate-limit-reset": str(reset)}
    )
    responses.get(TIMELINE, json=PAGE_2)
    result = fetch("someone", tmp_path / "out.jsonl", "token", say=lambda _: None)
    assert result.fetched == 1 and len(slept) == 1 and 890 <= slept[0] <= 902


@responses.activate
def test_an_interrupted_fetch_keeps_what_it_wrote_and_goes_on(tmp_path):
    out = tmp_path / "someone.jsonl"
    responses.get(USER, json=LOOKUP)
    responses.get(TIMELINE, json=PAGE_1)
    responses.get(TIMELINE, json=problem(503, "Service Unavailable"), status=503)
    with pytest.raises(BotError, match=r"503 Service Unavailable.*run the same command again to go on"):
        fetch("someone", out, "token", say=lambda _: None)
    assert len(out.read_text().splitlines()) == 2
    state = tmp_path / ".someone.jsonl.fetch.json"  # and a kill in the middle of the next page
    state.write_text(json.dumps({**json.loads(state.read_text()), "writing_from": out.stat().st_size}))
    with open(out, "a") as stream:
        stream.write('{"id": "17000')
    responses.get(TIMELINE, json=PAGE_2)
    result = fetch("someone", out, "token", say=lambda _: None)
    assert params(timeline_calls()[-1])["pagination_token"] == PAGE_1["meta"]["next_token"]
    assert result.total == 3 and [json.loads(line)["id"][-1] for line in out.read_text().splitlines()] == list("321")
    assert not list(tmp_path.glob(".*fetch.json"))  # done: no state left


@responses.activate
@pytest.mark.parametrize(
    "status, body, message",
    [
        (401, problem(401, "Unauthorized"), "X refused the token (401 Unauthorized): check X_BEARER_TOKEN"),
        (200, {"errors": [{"detail": "Could not find user with username: [someone]."}]}, "@someone: no such X account"),
        (404, problem(404, "Not Found"), "@someone: no such X account"),
        (403, problem(403, "Forbidden"), "X refused the request (403 Forbidden: Forbidden)"),
    ],
)
def test_refusals_are_one_line(tmp_path, status, body, message):
    responses.get(USER, json=body, status=status)
    with pytest.raises(BotError) as raised:
        fetch("someone", tmp_path / "out.jsonl", "token", say=lambda _: None)
    assert str(raised.value) == message


@responses.activate
@pytest.mark.parametrize(
    "kept, message",
    [
        ('{"id": "1", "text": "my only tweet, kept by hand"}', "its last line does not end with a newline"),
        ('{"id": "1", "text": "one"}\n{"id": "2", "text": "two"}', "its last line does not end with a newline"),
        (b'{"id": "1", "text": "caf\xe9"}\n', "someone.jsonl:1: not UTF-8 text"),
    ],
)
def test_a_file_fetch_did_not_write_is_never_cut(tmp_path, kept, message):
    """Refused before any request (each costs money), the user's file as it was."""
    out = tmp_path / "someone.jsonl"
    out.write_bytes(kept if isinstance(kept, bytes) else kept.encode())
    before = out.read_bytes()
    with pytest.raises(BotError, match=message):
        fetch("someone", out, "token", say=lambda _: None)
    assert out.read_bytes() == before and len(responses.calls) == 0


@responses.activate
def test_lines_of_other_shapes_are_kept_and_ignored(tmp_path):
    out = tmp_path / "someone.jsonl"
    out.write_text('{"id": "my-own-1", "text": "mine"}\n[1, 2]\nnot json\n')
    responses.get(USER, json=LOOKUP)
    responses.get(TIMELINE, json=PAGE_2)
    assert fetch("someone", out, "token", say=lambda _: None).total == 1
    assert "since_id" not in params(timeline_calls()[-1]) and out.read_text().startswith('{"id": "my-own-1"')


@responses.activate
def test_limit_and_bad_flags(tmp_path):
    responses.get(USER, json=LOOKUP)
    responses.get(TIMELINE, json=PAGE_1)
    assert fetch("someone", tmp_path / "out.jsonl", "token", limit=1, say=lambda _: None).total == 1
    with pytest.raises(BotError, match="--exclude takes retweets, replies"):
        fetch("someone", tmp_path / "x.jsonl", "token", exclude=("likes",))


@responses.activate
def test_a_server_that_never_answers_is_given_up_on(tmp_path):
    import requests

    responses.get(USER, json=LOOKUP)
    responses.get(TIMELINE, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(BotError, match=r"^X did not answer \(ReadTimeout\); run the same command again to go on$"):
        fetch("someone", tmp_path / "out.jsonl", "token", say=lambda _: None)
    assert all(call.request.req_kwargs["timeout"] == (10, 60) for call in responses.calls)  # tweepy sets none


def test_a_special_file_as_out_is_refused(tmp_path):
    for special in ("/dev/full", "/dev/zero"):
        with pytest.raises(BotError, match=rf"^{special}: not a regular file"):
            fetch("someone", Path(special), "token", say=lambda _: None)
