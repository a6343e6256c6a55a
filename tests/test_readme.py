"""The README's own-account path, run as written (issue 29): its commands are read from the README, so
a recipe there that fails fails here."""

import itertools
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"
SUBJECTS = ["the new release", "my garden", "this podcast", "our team", "the morning train", "a good book", "my code"]
VERBS = ["made my day", "is running late again", "needs more coffee", "finally works", "looks great today"]
ENDINGS = ["", " honestly", " and I love it", ", who knew?", " #mondays", " again!"]


def readme_block(heading: str) -> list[str]:
    """The commands of the first bash block after `heading`, one a line."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def x_archive(path: Path, tweets: list[str]) -> Path:
    """A zip laid out as X's archive download: data/tweets.js, a JavaScript assignment of tweet objects."""
    entries = [{"tweet": {"id_str": str(i), "full_text": text, "retweeted": False}} for i, text in enumerate(tweets)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + json.dumps(entries, indent=2))
        archive.writestr("data/account.js", 'window.YTD.account.part0 = [{"account": {"username": "me"}}]')
    return path


def test_the_readme_quick_start_makes_a_bot_of_an_archive(tmp_path):
    commands = readme_block("## Quick start: a bot that writes like your account")
    assert [line.split()[1] for line in commands] == ["prepare", "finetune", "generate"]
    archive = re.search(r"~/Downloads/(\S+\.zip)", commands[0]).group(1)
    (tmp_path / "Downloads").mkdir()
    sentences = [f"{s} {v}{e}" for s, v, e in itertools.product(SUBJECTS, VERBS, ENDINGS)]
    x_archive(tmp_path / "Downloads" / archive, sentences)
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    said = []
    for line in commands:  # as a user types them: ~ is their home, paths relative to where they stand
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        said.append(done.stdout + done.stderr)
    before, after = map(float, re.search(r"│\s+([\d.]+) │\s+([\d.]+) │", said[1]).groups())
    assert after < before - 0.1, said[1]  # the account's voice was learned
    count = int(re.search(r"-n (\d+)", commands[2]).group(1))
    assert re.search(rf"^{count} of \d+ candidates passed", said[2], re.M), said[2]
