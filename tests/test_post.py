"""`bot post` against recorded X API responses (no network here): dry run, posting, the log, retries,
the schedule, and that no secret ever leaves the process.

The 201 body is tweepy's own recording (cassettes/test_client_create_and_delete_tweet.yaml, 2021); the
401, 403 and 503 bodies are written from the API v2 reference's error shape ({"title", "detail",
"type", "status"}): tweepy's cassettes hold no errors.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import responses
from typer.testing import CliRunner

from twitterbot.cli.app import app
from twitterbot.config import FilterOptions, SampleOptions
from twitterbot.errors import BotError
from twitterbot.social import post
from twitterbot.social.apikeys import read_secrets
from twitterbot.training.checkpoint import open_checkpoint
from twitterbot.writing.filters import Filters

CREATE = "https://api.twitter.com/2/tweets"
CREATED = {"data": {"id": "1456012973835788293", "text": "Test Tweet"}}
SENTINELS = {name: f"SENTINEL-{name}-7f3a9c" for name in post.X_KEYS}


def problem(status: int, title: str, detail: str) -> dict:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


@pytest.fixture()
def ckpt(trained_checkpoint, tmp_path):
    shutil.copytree(trained_checkpoint, tmp_path / "ck")
    return open_checkpoint(tmp_path / "ck")


class FakeClock(post.Clock):
    def __init__(self):
        self.slept = []
        super().__init__(sleep=self.slept.append)


def destination():
    return post.XDestination(SENTINELS)


def run(ckpt, live=True, count=1, every=None, clock=None, seed=3, allow_mentions=True):
    """The novelty filter is left out: this tiny model writes its training tweets back, which is not what
    these tests are about (tests/test_filters.py is)."""
    filters = Filters(FilterOptions(allow_mentions=allow_mentions))
    lines = []
    outcomes = post.run(
        ckpt,
        SampleOptions(seed=seed, max_len=60),
        filters,
        ckpt.path / "posted.jsonl",
        destination() if live else None,
        count,
        every,
        lines.append,
        clock or FakeClock(),
    )
    return outcomes, lines


@responses.activate
def test_a_dry_run_sends_nothing_and_logs_nothing(ckpt):
    (outcome,), lines = run(ckpt, live=False)
    assert outcome.text and outcome.post_id is None and "dry run, not posted" in lines[-1]
    assert len(responses.calls) == 0 and not (ckpt.path / "posted.jsonl").exists()


@responses.activate
def test_posting_logs_and_never_posts_the_same_text_twice(ckpt):
    responses.post(CREATE, json=CREATED, status=201)
    (first,), _ = run(ckpt)
    assert first.post_id == "1456012973835788293"
    assert json.loads(responses.calls[0].request.body) == {"text": first.text}
    authorization = responses.calls[0].request.headers["Authorization"]
    assert authorization.startswith("OAuth ") and SENTINELS["X_API_KEY"] in authorization  # OAuth 1.0a, user
    (entry,) = [json.loads(line) for line in (ckpt.path / "posted.jsonl").read_text().splitlines()]
    assert entry["text"] == first.text and entry["id"] == first.post_id and entry["destination"] == "x"
    (second,), lines = run(ckpt)  # same seed: the same first candidate, now in the log
    assert second.text != first.text and second.rejected["posted before"] >= 1
    assert any("rejected (posted before)" in line for line in lines)


@responses.activate
def test_a_post_is_never_sent_unrecorded(ckpt, monkeypatch):
    """A log that cannot be written is refused before anything is sent; one that fails after the post says
    it was sent, with its id and the line to add."""
    responses.post(CREATE, json=CREATED, status=201)
    ckpt.path.chmod(0o555)  # the log's folder read-only (root ignores modes: then the probe is faked)
    try:
        probe = ckpt.path / "probe"
        try:
            probe.touch()
            probe.unlink()
            monkeypatch.setattr(post.tempfile, "NamedTemporaryFile", _read_only)
        except OSError:
            pass
        with pytest.raises(BotError, match=r"cannot write the post log .*posted.jsonl .*nothing was posted"):
            run(ckpt)
        assert len(responses.calls) == 0
    finally:
        ckpt.path.chmod(0o755)
    monkeypatch.undo()
    monkeypatch.setattr(post.fsutil, "write_text", _read_only)  # the disk fills between the check and the post
    with pytest.raises(BotError) as raised:
        run(ckpt)
    message = str(raised.value)
    assert message.startswith(f"posted as {CREATED['data']['id']}, but could not record it in") and "\n" not in message
    assert json.loads(message.split("or it may be posted again: ", 1)[1])["id"] == CREATED["data"]["id"]


def _read_only(*args, **kwargs):
    raise OSError(30, "Read-only file system")


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": null}\n', r"posted.jsonl:1: not a post log line \(no \"text\" string\)"),
        (b'{"text": "caf\xe9"}\n', r"posted.jsonl: cannot read the post log"),
        ("[" * 100_000 + "]" * 100_000 + "\n", r"posted.jsonl:1: not a post log line"),
        ("[1, 2]\n", r"posted.jsonl:1: not a post log line"),
    ],
)
def test_a_damaged_post_log_is_one_line(tmp_path, content, message):
    log = tmp_path / "posted.jsonl"
    log.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(BotError, match=message) as raised:
        post.PostLog(log)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300


def test_blank_lines_in_the_post_log_are_skipped(tmp_path):
    log = tmp_path / "posted.jsonl"
    log.write_text('{"text": "one"}\n\n{"text": "Two  "}\n')
    assert post.PostLog(log).has("one") and post.PostLog(log).has("two")


@pytest.mark.parametrize("every", ["infh", "1e300d", "nanm", "30s"])
def test_every_is_a_sane_interval(every):
    with pytest.raises(BotError, match="--every must be at least a minute and at most a year"):
        post.parse_every(every)


@responses.activate
def test_server_errors_are_retried_with_backoff_then_reported(ckpt):
    unavailable = problem(503, "Service Unavailable", "Service Unavailable")
    responses.post(CREATE, json=unavailable, status=503)
    responses.post(CREATE, json=unavailable, status=503)
    responses.post(CREATE, json=CREATED, status=201)
    clock = FakeClock()
    (outcome,), _ = run(ckpt, clock=clock)
    assert outcome.post_id and clock.slept == [2, 4]
    for _ in range(post.RETRIES):
        responses.post(CREATE, json=unavailable, status=503)
    with pytest.raises(BotError, match=r"^x: could not post: 503 Service Unavailable"):
        run(ckpt, seed=4)


@responses.activate
@pytest.mark.parametrize(
    "status, body, message",
    [
        (401, problem(401, "Unauthorized", "Unauthorized"), "X refused the keys (401 Unauthorized)"),
        (
            403,
            {**problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")},
            "X refused the post (403 Forbidden: You are not allowed to create a Tweet with duplicate content.)",
        ),
    ],
)
def test_refusals_are_one_line_and_not_retried(ckpt, status, body, message):
    responses.post(CREATE, json=body, status=status)
    clock = FakeClock()
    with pytest.raises(BotError) as raised:
        run(ckpt, clock=clock)
    assert message in str(raised.value) and "\n" not in str(raised.value) and clock.slept == []
    assert len(responses.calls) == 1 and not (ckpt.path / "posted.jsonl").exists()


@responses.activate
def test_the_schedule_waits_every_interval_with_jitter(ckpt):
    responses.post(CREATE, json=CREATED, status=201)
    clock = FakeClock()
    outcomes, _ = run(ckpt, count=3, every=3 * 3600, clock=clock)
    assert len(outcomes) == 3 and len({o.text for o in outcomes}) == 3
    assert len(clock.slept) == 2 and all(0.9 * 3 * 3600 <= wait <= 1.1 * 3 * 3600 for wait in clock.slept)
    assert post.parse_every("90m") == 5400 and post.parse_every("1d") == 86400
    for bad in ("3x", "h", "10s"):
        with pytest.raises(BotError, match="--every must be"):
            post.parse_every(bad)


def test_missing_keys_are_named_and_env_files_are_read(tmp_path, monkeypatch):
    for name in post.X_KEYS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BotError, match=r"set X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET in"):
        read_secrets(post.X_KEYS)
    env = tmp_path / ".env"
    env.write_text("# keys\nexport X_API_KEY='a'\nX_API_SECRET=b\nX_ACCESS_TOKEN=\"c\"\n")
    with pytest.raises(BotError, match=r"^set X_ACCESS_TOKEN_SECRET in the environment or in"):
        read_secrets(post.X_KEYS, env)
    monkeypatch.setenv("X_ACCESS_TOKEN_SECRET", "d")
    assert read_secrets(post.X_KEYS, env) == dict(zip(post.X_KEYS, "abcd", strict=True))
    # as a .env is read: a comment after a value is no part of it, a byte-order mark hides no key
    env.write_bytes("\ufeffX_API_KEY=a # my app\nX_API_SECRET='b # not a comment'\nX_ACCESS_TOKEN=c\n".encode())
    assert read_secrets(post.X_KEYS, env) == {
        **dict(zip(post.X_KEYS, "abcd", strict=True)),
        "X_API_SECRET": "b # not a comment",
    }


@responses.activate
def test_no_secret_is_printed_logged_or_written(ckpt, tmp_path, monkeypatch):
    """Every path of `bot post --live` with sentinel keys: success, a refusal, a server error; then grep."""
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    outputs = []
    responses.post(CREATE, json=CREATED, status=201)
    responses.post(CREATE, json=problem(401, "Unauthorized", "Unauthorized"), status=401)
    for _ in range(post.RETRIES):
        responses.post(CREATE, json=problem(503, "Service Unavailable", "Service Unavailable"), status=503)
    monkeypatch.setattr(post, "Clock", FakeClock)
    (ckpt.path / "novelty.npz").unlink()  # this tiny model writes its training tweets back (see run())
    for seed in ("1", "2", "3"):
        result = CliRunner().invoke(app, ["post", str(ckpt.path), "--live", "--seed", seed, "--allow-mentions"])
        outputs.append(result.output + repr(result.exception))
    assert "1456012973835788293" in outputs[0] and "401" in outputs[1] and "503" in outputs[2]
    written = [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    for value in SENTINELS.values():
        assert not any(value in text for text in outputs + written), value
    assert re.search(r"X_API_KEY", outputs[1])  # the variable is named, never its value


@responses.activate
def test_fetch_prepare_finetune_post_end_to_end(trained_checkpoint, tmp_path, monkeypatch):
    """The bot's whole loop, as a user types it, against recorded X endpoints."""
    monkeypatch.chdir(tmp_path)
    secrets = {**SENTINELS, "X_BEARER_TOKEN": "SENTINEL-bearer-7f3a9c"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    phrases = ["the cat sat on the mat", "a dog ate my hat", "we love tiny tests", "hello world, hello bot"]
    tweets = [
        {"id": str(1800000000000000000 + i), "edit_history_tweet_ids": [str(1800000000000000000 + i)],
         "text": f"{phrases[i % 4]} and {phrases[(i + 1) % 4]} no {i}"}
        for i in range(160, 0, -1)
    ]  # fmt: skip
    lookup = {"data": {"id": "42", "name": "Me", "username": "me", "public_metrics": {"tweet_count": 160}}}
    responses.get("https://api.twitter.com/2/users/by/username/me", json=lookup)
    for page, start in enumerate(range(0, 160, 100)):
        meta = {"result_count": len(tweets[start : start + 100])} | ({"next_token": "next"} if page == 0 else {})
        responses.get(
            "https://api.twitter.com/2/users/42/tweets", json={"data": tweets[start : start + 100], "meta": meta}
        )
    responses.post(CREATE, json=CREATED, status=201)
    runner = CliRunner()
    steps = [
        ["fetch", "me", "--out", "me.jsonl"],
        ["prepare", "me.jsonl", "--vocab", str(trained_checkpoint), "--out", "data/me"],
        ["finetune", str(trained_checkpoint), "data/me", "--out", "ck/me", "--num-epochs", "1"],
        ["post", "ck/me", "--live", "--seed", "1"],
    ]
    printed = []
    for args in steps:
        if args[0] == "post":  # four phrases learned: it writes the account's tweets back (see run())
            (tmp_path / "ck" / "me" / "novelty.npz").unlink()
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        printed.append(result.output)
    written = [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not [value for value in secrets.values() if any(value in text for text in printed + written)]
    assert len((tmp_path / "me.jsonl").read_text().splitlines()) == 160
    (entry,) = [json.loads(line) for line in (tmp_path / "ck" / "me" / "posted.jsonl").read_text().splitlines()]
    assert entry["id"] == CREATED["data"]["id"] and entry["destination"] == "x"
    assert json.loads(responses.calls[-1].request.body) == {"text": entry["text"]}


# --- Mastodon and Bluesky ---------------------------------------------------------------------------------------
# Mastodon's status body follows its API reference (POST /api/v1/statuses → Status); Bluesky's
# createSession and createRecord bodies follow the atproto lexicons (com.atproto.server.createSession,
# com.atproto.repo.createRecord). Bluesky's client speaks httpx, so a local server on 127.0.0.1 replays them.

MASTODON = {"MASTODON_API_BASE_URL": "https://mastodon.example", "MASTODON_ACCESS_TOKEN": "SENTINEL-mastodon-7f3a9c"}
STATUS = {
    "id": "109372843234390111",
    "created_at": "2026-11-24T10:00:00.000Z",
    "visibility": "public",
    "uri": "https://mastodon.example/users/me/statuses/109372843234390111",
    "url": "https://mastodon.example/@me/109372843234390111",
    "content": "<p>hello</p>",
}


def run_to(ckpt, destination, seed=3):
    filters = Filters(
        FilterOptions(allow_mentions=True, max_length=destination.max_length), None, "", destination.length
    )
    log = ckpt.path / "posted.jsonl"
    return post.run(ckpt, SampleOptions(seed=seed, max_len=60), filters, log, destination, 1, None, lambda _: None)


@responses.activate
def test_mastodon_posts_a_public_status_and_refusals_are_one_line(ckpt):
    responses.post("https://mastodon.example/api/v1/statuses", json=STATUS)
    (outcome,) = run_to(ckpt, post.MastodonDestination(MASTODON))
    assert outcome.post_id == STATUS["id"]
    sent = parse_qs_body(responses.calls[0].request)
    assert sent["status"] == outcome.text and sent["visibility"] == "public"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {MASTODON['MASTODON_ACCESS_TOKEN']}"
    assert len(responses.calls[0].request.headers["Idempotency-Key"]) == 32  # a retry after a lost reply: one post
    responses.post(
        "https://mastodon.example/api/v1/statuses", json={"error": "The access token is invalid"}, status=401
    )
    with pytest.raises(BotError, match=r"mastodon: could not post: the server refused the token \(401\)") as raised:
        run_to(ckpt, post.MastodonDestination(MASTODON), seed=5)
    assert MASTODON["MASTODON_ACCESS_TOKEN"] not in str(raised.value)
    assert post.MastodonDestination.length("x" * 10 + " https://example.com/" + "y" * 100) == 10 + 1 + 23


@responses.activate
def test_a_retried_mastodon_post_keeps_its_idempotency_key(ckpt):
    url = "https://mastodon.example/api/v1/statuses"
    responses.post(url, json={"error": "unavailable"}, status=503)
    responses.post(url, json=STATUS)
    (outcome,) = run_to(ckpt, post.MastodonDestination(MASTODON))
    first, second = (call.request.headers["Idempotency-Key"] for call in responses.calls)
    assert outcome.post_id == STATUS["id"] and first == second


def parse_qs_body(request) -> dict:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        from urllib.parse import parse_qs

        return {key: values[0] for key, values in parse_qs(body).items()}


@pytest.fixture()
def bluesky_server():
    """A local stand-in for a Bluesky PDS answering with recorded-shape bodies; records what it was sent."""
    import base64
    import http.server
    import threading
    import time

    def jwt(claims: dict) -> str:
        part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{part({'alg': 'ES256K', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"

    did, now = "did:plc:z72i7hdynmk6r22z27h6tvur", int(time.time())
    session = {
        "did": did,
        "handle": "me.bsky.social",
        "accessJwt": jwt({"scope": "com.atproto.appPass", "sub": did, "exp": now + 7200}),
        "refreshJwt": jwt({"scope": "com.atproto.refresh", "sub": did, "exp": now + 86400}),
        "active": True,
    }
    record = {
        "uri": "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lbq2fn7ut22k",
        "cid": "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm",
    }
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the base class's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, body, self.headers.get("Authorization")))
            if self.path.endswith("createSession"):
                refused = {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
                status, answer = (200, session) if body.get("password") == "right" else (401, refused)
            else:
                status, answer = 200, record
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received, record
    server.shutdown()


def test_bluesky_logs_in_once_posts_and_counts_graphemes(ckpt, bluesky_server):
    url, received, record = bluesky_server
    keys = {"BLUESKY_HANDLE": "me.bsky.social", "BLUESKY_APP_PASSWORD": "right"}
    (outcome,) = run_to(ckpt, post.BlueskyDestination(keys, base_url=url))
    assert outcome.post_id == record["uri"]
    (login, _, _), (create, body, authorization) = received
    assert login.endswith("com.atproto.server.createSession") and create.endswith("com.atproto.repo.createRecord")
    assert body["collection"] == "app.bsky.feed.post" and body["record"]["text"] == outcome.text
    assert body["repo"] == keys["BLUESKY_HANDLE"]
    assert authorization.startswith("Bearer ")
    with pytest.raises(BotError, match=r"bluesky: could not post: Bluesky refused the login: check BLUESKY_HANDLE"):
        run_to(ckpt, post.BlueskyDestination({**keys, "BLUESKY_APP_PASSWORD": "wrong"}, base_url=url), seed=5)
    assert post.BlueskyDestination.length("👩‍👩‍👧‍👦 é") == 3  # a family emoji is one grapheme, é (NFC) one


@responses.activate
def test_a_server_echoing_the_token_does_not_get_it_printed(ckpt):
    token = MASTODON["MASTODON_ACCESS_TOKEN"]
    responses.post("https://mastodon.example/api/v1/statuses", json={"error": f"bad: Bearer {token}"}, status=422)
    with pytest.raises(BotError) as raised:
        run_to(ckpt, post.MastodonDestination(MASTODON))
    assert "the server refused the post" in str(raised.value) and token not in str(raised.value)


@responses.activate
def test_an_x_post_without_a_reply_is_not_sent_again(ckpt):
    """A read timeout may come after X made the post: retrying could post it twice."""
    import requests

    responses.post(CREATE, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(BotError, match=r"^x: could not post: no reply within 60 s: it may have been posted"):
        run(ckpt)
    assert len(responses.calls) == 1 and responses.calls[0].request.req_kwargs["timeout"] == (10, 60)


def test_a_special_file_as_the_post_log_is_refused():
    with pytest.raises(BotError, match=r"^/dev/full: not a regular file"):
        post.PostLog(Path("/dev/full"))


def test_post_takes_the_sampling_options_generate_has(ckpt, monkeypatch):
    """--top-k, --top-p and --max-len reach the sampler, as for `bot generate` and `bot export`."""
    seen = []
    original = post.post_once

    def spy(sampler, options, *args):
        seen.append(options)
        return original(sampler, options, *args)

    monkeypatch.setattr(post, "post_once", spy)
    (ckpt.path / "novelty.npz").unlink()  # this tiny model writes its training tweets back (see run())
    args = ["post", str(ckpt.path), "--top-k", "3", "--top-p", "0.9", "--max-len", "200", "--seed", "1"]
    result = CliRunner().invoke(app, [*args, "--allow-mentions", "--non-words", "-1"])
    assert result.exit_code == 0, result.output
    (options,) = seen
    assert (options.top_k, options.top_p, options.max_len) == (3, 0.9, 200)
