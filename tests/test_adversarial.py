"""What an adversarial user tried (reliability, round two): nothing of theirs is deleted, nothing
crashes with a traceback, nothing is left running or lying around. Each case failed before its fix."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from twitterbot import fsutil
from twitterbot.cli.app import app
from twitterbot.config import SampleOptions
from twitterbot.corpus.datafolder import open_data
from twitterbot.corpus.prepare import prepare
from twitterbot.corpus.sources import expand_inputs, read_texts
from twitterbot.errors import BotError
from twitterbot.training.checkpoint import open_checkpoint, read_history
from twitterbot.training.train import train
from twitterbot.web import serve
from twitterbot.web.export import export
from twitterbot.web.importweb import import_web
from twitterbot.writing import sample
from twitterbot.writing.filters import Blocklist

TINY = ["--rnn-size", "32", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16", "--drop-rate", "0"]


def bot(*args: object, cwd: Path, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "twitterbot.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert not check or result.returncode == 0, result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit 1 and the error on one line at the end (after training's progress lines, if any)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and lines[-1].startswith("error: ") and message in lines[-1], lines[-5:]
    assert sum("error" in line for line in lines) == 1, lines


def refused(args: list[str], message: str, cwd: Path) -> None:
    """In-process (typer's runner) so that many cases stay fast."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(old)
    assert isinstance(result.exception, BotError), (result.exception, result.output)
    assert message in str(result.exception) and "\n" not in str(result.exception), str(result.exception)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- --force never deletes what is not ours -------------------------------------------------------------------


def test_force_replaces_only_a_folder_of_its_own_kind(corpus_file, data_folder, trained_checkpoint, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(data_folder, work / "mydata")
    shutil.copytree(trained_checkpoint, work / "ck" / "base")
    (work / "raw").mkdir()
    shutil.copy(corpus_file, work / "raw" / "tweets.txt")
    (work / "notes.txt").write_text("mine")
    (work / "photos").mkdir()
    (work / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    before = snapshot(work)
    home = Path.home()
    cases = [
        (["train", "mydata", "--out", ".", "--force"], "over the current folder"),
        (["train", "mydata", "--out", "..", "--force"], "over the current folder"),
        (["train", "mydata", "--out", "/", "--force"], "over the current folder"),
        (["train", "mydata", "--out", str(home), "--force"], "over the current folder, a folder above it or home"),
        (["train", "mydata", "--out", "mydata", "--force"], "would replace the input"),
        (["train", "mydata", "--out", "photos", "--force"], "not one of twitterbot's checkpoint folders"),
        (["train", "mydata", "--out", "ck/base"], "already exists"),
        (["finetune", "ck/base", "mydata", "--out", "ck/base", "--force"], "would replace the input"),
        (["finetune", "ck/base", "mydata", "--out", "ck", "--force"], "would replace the input"),
        (["prepare", "raw", "--out", "raw", "--force"], "would replace the input"),
        (["prepare", "raw/tweets.txt", "--out", "raw", "--force"], "would replace the input"),
        (["prepare", "raw", "--out", ".", "--force"], "over the current folder"),
        (["prepare", "raw", "--out", "photos", "--force"], "not one of twitterbot's data folders"),
        (["prepare", "raw", "--out", "ck/base", "--force"], "not one of twitterbot's data folders"),
        (["export", "ck/base", "--out", ".", "--force"], "over the current folder"),
        (["export", "ck/base", "--out", "ck/base", "--force"], "would replace the input"),
        (["export", "ck/base", "--out", "mydata", "--force"], "not one of twitterbot's export folders"),
    ]
    for args, message in cases:
        refused(args, message, work)
    assert snapshot(work) == before
    # What --force is for still works: a data folder over a data folder, a checkpoint over a checkpoint.
    refused_not = CliRunner().invoke(app, ["prepare", str(work / "raw"), "--out", str(work / "mydata"), "--force"])
    assert refused_not.exit_code == 0, refused_not.output


def test_a_crashed_finetune_says_how_to_go_on(data_folder, trained_checkpoint, tmp_path):
    out = tmp_path / "me"
    shutil.copytree(trained_checkpoint, out)  # a checkpoint with a saved training state, as a crash leaves
    with pytest.raises(BotError, match=r"--restore` goes on from its saved run \(pass --force"):
        train(data_folder, out, open_checkpoint(trained_checkpoint).config)


# --- non-finite numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "{data}", "--learning-rate", "nan"], "--learning-rate must be a finite number"),
        (["train", "{data}", "--clip-norm", "inf"], "--clip-norm must be a finite number"),
        (["train", "{data}", "--min-delta", "nan"], "--min-delta must be a finite number"),
        (["train", "{data}", "--seed", "-1"], "--seed must be between 0 and"),
        (["train", "{data}", "--seed", str(2**63)], "--seed must be between 0 and"),
        (["finetune", "{data}", "--learning-rate", "inf"], "--learning-rate must be a finite number"),
        (["prepare", "{corpus}", "--validate", "nan"], "--validate must be a finite number"),
        (["prepare", "{corpus}", "--test", "inf"], "--test must be a finite number"),
        (["prepare", "{corpus}", "--seed", "-1"], "--seed must be between 0 and"),
        (["generate", "--temp", "inf"], "--temp must be a finite number"),
        (["generate", "--temp", "nan"], "--temp must be a finite number"),
        (["generate", "--top-p", "nan"], "--top-p must be a finite number"),
        (["generate", "--seed", "-1"], "--seed must be between 0 and"),
        (["generate", "--seed", str(2**64)], "--seed must be between 0 and"),
        (["generate", "--max-len", str(10**12)], "--max-len must be at most 25,000"),
        (["export", "{ckpt}", "--temp", "inf"], "--temp must be a finite number"),
        (["train", "{data}", "--out", "{tmp}/x", "--num-layers", "100"], "--num-layers must be at most 64"),
        (["train", "{data}", "--out", "{tmp}/x", "--rnn-size", str(10**6)], "--rnn-size must be at most 16,384"),
        (["train", "{data}", "--out", "{tmp}/x", "--learning-rate", "1" + "0" * 400], "--learning-rate must be a fin"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_one_clear_error(
    args, message, corpus_file, data_folder, trained_checkpoint, tmp_path
):
    args = [arg.format(corpus=corpus_file, data=data_folder, ckpt=trained_checkpoint, tmp=tmp_path) for arg in args]
    refused(args, message, tmp_path)


def test_training_that_ends_in_nan_fails_and_never_saves_a_nan_model(data_folder, tiny_config, tmp_path, monkeypatch):
    """Every flag that could make a NaN is refused now, so the loss is made NaN on purpose."""
    from twitterbot.training import train as train_module
    from twitterbot.training.callbacks import BestModel
    from twitterbot.training.model import LOSS

    def nan_loss(y_true, y_pred):
        return LOSS(y_true, y_pred) * float("nan")

    compile_model = train_module.compile_model

    def compile_with_nan_loss(model, config):
        compile_model(model, config)
        model.compile(optimizer=model.optimizer, loss=nan_loss)
        return model

    monkeypatch.setattr(train_module, "compile_model", compile_with_nan_loss)
    with pytest.raises(BotError, match=r"the loss became NaN or infinite in epoch 1 \(nothing was saved\)"):
        train(data_folder, tmp_path / "ck", tiny_config)
    assert not (tmp_path / "ck" / "model.weights.h5").exists() and not (tmp_path / "ck" / "state").exists()
    best = BestModel(tmp_path, tiny_config, np.zeros(10, np.int32))
    assert best.improved({"loss": 0.5, "val_loss": 0.4})
    assert not best.improved({"loss": 0.5, "val_loss": float("nan")})
    assert not best.improved({"loss": float("inf"), "val_loss": 0.5})


def test_a_nan_checkpoint_is_refused_by_generate_and_export(trained_checkpoint, tmp_path):
    ck = tmp_path / "nan"
    shutil.copytree(trained_checkpoint, ck)
    with h5py.File(ck / "model.weights.h5", "r+") as h5:
        weights = h5["layers/dense/vars/0"]
        weights[...] = np.full(weights.shape, np.nan)
    for args in (["generate", str(ck)], ["export", str(ck), "--out", str(tmp_path / "web"), "--quantize", "uint8"]):
        refused(args, "weights are not finite numbers", tmp_path)
    assert not (tmp_path / "web").exists()
    with pytest.raises(BotError, match="not a finite number"):
        fsutil.write_json(tmp_path / "x.json", {"temperature": float("inf")})  # the page's JSON.parse refuses it


# --- locks, stale temp files, killed processes -----------------------------------------------------------------


def test_the_lock_holds_for_every_spelling_of_a_folder_and_knows_a_reused_pid(tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "ck")
    with fsutil.lock(tmp_path / "ck", "checkpoint folder"):
        for spelling in (tmp_path / "link", tmp_path / "ck" / ".." / "ck"):
            with pytest.raises(BotError, match=f"in use by process {os.getpid()}"):
                with fsutil.lock(spelling, "checkpoint folder"):
                    pass
    # A stale lock whose PID now belongs to another program (here: init, PID 1, started long before).
    lock = tmp_path / ".ck.lock"
    lock.write_text("1 5\n")
    with fsutil.lock(tmp_path / "link", "checkpoint folder"):
        assert lock.read_text().split() == [str(os.getpid()), fsutil.process_start(os.getpid())]


def test_every_writer_of_a_folder_holds_its_lock(trained_checkpoint, data_folder, tmp_path):
    """Issue 28, finding 7: import-web --force into a checkpoint being trained, a second search into a
    running one's folder, two live bots on one post log: each refused while the other holds it."""
    from twitterbot.config import FilterOptions, SearchSettings
    from twitterbot.search.study import search
    from twitterbot.social import post
    from twitterbot.writing.filters import Filters

    web = tmp_path / "web"
    export(open_checkpoint(trained_checkpoint), web)
    busy = tmp_path / "ck"
    shutil.copytree(trained_checkpoint, busy)
    with fsutil.lock(busy, "checkpoint folder"):  # as `bot train` holds it
        with pytest.raises(BotError, match="in use by process"):
            import_web(web, busy, force=True)
    assert open_checkpoint(busy).config == open_checkpoint(trained_checkpoint).config  # untouched
    with fsutil.lock(tmp_path / "search", "search folder"):
        with pytest.raises(BotError, match="in use by process"):
            search(data_folder, tmp_path / "search", SearchSettings(trials=1), force=True)
    log = tmp_path / "posted.jsonl"
    with fsutil.lock(log, "post log"):
        with pytest.raises(BotError, match="in use by process"):
            post.run(
                open_checkpoint(trained_checkpoint), SampleOptions(seed=1), Filters(FilterOptions()), log,
                post.XDestination(dict.fromkeys(post.X_KEYS, "k")), 1, None, lambda _: None,
            )  # fmt: skip


def test_restore_sweeps_what_a_killed_run_left(data_folder, tiny_config, trained_checkpoint, tmp_path):
    out = tmp_path / "ck"
    shutil.copytree(trained_checkpoint, out)
    dead = 2**22 + 12345  # above Linux's largest PID
    leftovers = [out / f".state.{dead}-1.abc.tmp", out / f".model.weights.{dead}-1.tmp.weights.h5"]
    leftovers[0].mkdir()
    (leftovers[0] / "last.weights.h5").write_bytes(b"half")
    leftovers[1].write_bytes(b"half")
    live = out / f".history.csv.{os.getpid()}-{fsutil.process_start(os.getpid())}.x.tmp"  # in use: kept
    live.write_text("")
    train(data_folder, out, tiny_config.replace(num_epochs=3), restore=True, changed=["num_epochs"])
    assert not any(p.exists() for p in leftovers) and live.exists()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_prepare_leaves_no_process_and_its_next_run_sweeps_the_spool(tmp_path, how):
    big = tmp_path / "big.txt"  # ≥32 MB: prepare cleans on worker processes
    line = "".join(f"tweet number {i} about cats, dogs and tiny tests #{i}\n" for i in range(2000))
    with open(big, "w") as stream:
        while stream.tell() < 34 << 20:
            stream.write(line)
    process = subprocess.Popen(
        [sys.executable, "-m", "twitterbot.cli", "prepare", str(big), "--out", str(tmp_path / "d")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(children(process.pid)) < 3 and time.monotonic() < deadline:  # two workers, resource tracker
        time.sleep(0.2)
    started = children(process.pid)
    assert len(started) >= 3, started
    process.send_signal(how)
    process.wait(timeout=60)
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in started if alive(pid)]
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".d.")]
    if how == signal.SIGTERM:  # it cleans up after itself and says so
        assert process.returncode != 0 and not stale, (process.returncode, stale)
    else:
        assert stale  # SIGKILL runs no cleanup: the spool is there until the next run
        fsutil.sweep_stale(tmp_path, "d")  # what the next `bot prepare … --out d` does first
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".d.")]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@contextlib.contextmanager
def small_filesystem(path: Path, size: str):
    """A real filesystem of `size` at `path` (tmpfs), or skip where this machine cannot mount one."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """Fill a filesystem until `leave` bytes are free."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as stream:
        stream.write(b"\0" * max(free - leave, 0))
    return filler


def test_a_real_full_disk_is_one_line_and_leaves_nothing_half_written(corpus_file, data_folder, tmp_path):
    with small_filesystem(tmp_path / "small", "8m") as small:
        big = tmp_path / "tweets.txt"  # 2.4 MB: its cleaned copy fits, the data file (twice that) does not
        big.write_text("".join(f"tweet {i} on a disk that is nearly full\n" for i in range(60000)))
        filler = fill(small, 3_000_000)
        one_line_error(bot("prepare", big, "--out", small / "d", cwd=tmp_path), "not enough free space")
        assert sorted(p.name for p in small.iterdir()) == ["filler"]
        filler.unlink()
        bot("train", data_folder, "--out", small / "ck", *TINY, "--num-epochs", "1", cwd=tmp_path, check=True)
        before = snapshot(small / "ck")
        fill(small, 200_000)
        result = bot("train", data_folder, "--out", small / "ck", "--restore", "--num-epochs", "2", cwd=tmp_path)
        one_line_error(result, "not enough free space")
        after = snapshot(small / "ck")
        unchanged = [k for k in before if not k.startswith("logs") and k != "config.json"]  # config: --num-epochs
        assert {k: after.get(k) for k in unchanged} == {k: before[k] for k in unchanged}
        assert not [p for p in (small / "ck").rglob("*.tmp*")]


def test_a_full_disk_inside_an_hdf5_write_is_no_crash(tmp_path):
    """When the space check passes but the disk fills during the write (another program), HDF5 fails:
    one line, rc 1, never the segfault (rc 139) of HDF5's exit handler."""
    with small_filesystem(tmp_path / "small", "4m") as small:
        big = tmp_path / "tweets.txt"  # 2.9 MB: its cleaned copy fits, the data file does not
        big.write_text("".join(f"tweet {i} on a disk that fills during the write\n" for i in range(60000)))
        code = (
            "import sys; from twitterbot import fsutil; from twitterbot.cli import app; "
            "fsutil.require_free = lambda *a: None; "
            f"sys.argv = ['bot', 'prepare', {str(big)!r}, '--out', {str(small / 'd')!r}]; app.main()"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        one_line_error(result, "No space left on device")
        assert not list(small.iterdir())


# --- bad files and folders -------------------------------------------------------------------------------------


def test_empty_splits_are_one_line_and_leave_no_checkpoint(corpus_file, trained_checkpoint, tmp_path):
    prepare([str(corpus_file)], tmp_path / "noval", coverage=1.0, validate=0.0)
    prepare([str(corpus_file)], tmp_path / "notest", coverage=1.0, test=0.0)
    refused(["train", "noval", "--out", "ck", *TINY, "--num-epochs", "1"], "noval split 'validate' is empty", tmp_path)
    assert not (tmp_path / "ck").exists()
    refused(["evaluate", str(trained_checkpoint), "notest"], "notest split 'test' is empty", tmp_path)
    refused(["finetune", str(trained_checkpoint), "notest", "--out", "me"], "split 'test' is empty", tmp_path)
    assert not (tmp_path / "me").exists()


def test_damaged_checkpoint_files_are_named(trained_checkpoint, data_folder, tmp_path):
    def damaged(edit) -> Path:
        ck = tmp_path / f"ck{len(list(tmp_path.iterdir()))}"
        shutil.copytree(trained_checkpoint, ck)
        edit(ck)
        return ck

    def config_edit(**changes):
        def edit(ck):
            config = json.loads((ck / "config.json").read_text())
            huge = {name: value for name, value in changes.items() if isinstance(value, int) and value > 10**4000}
            text = json.dumps({**config, **changes, **dict.fromkeys(huge, "HUGE")})
            (ck / "config.json").write_text(text.replace('"HUGE"', "9" * 5000))  # json.dumps refuses to write it

        return edit

    def config_text(text):
        return lambda ck: (ck / "config.json").write_text(text)

    def vocab_edit(chars):
        def edit(ck):
            vocab = json.loads((ck / "vocab.json").read_text())
            vocab["chars"][-2:] = chars
            (ck / "vocab.json").write_text(json.dumps(vocab))

        return edit

    def external_link(ck):
        """A weights file whose kernel lives in another file (a decoy beside it): never read."""
        with h5py.File(ck / "model.weights.h5", "a") as h5:
            name = next(key for key in _datasets(h5) if key.endswith("vars/0"))
            with h5py.File(tmp_path / "elsewhere.h5", "w") as other:
                other[name] = h5[name][()]
            del h5[name]
            h5[name] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), name)

    cases = [
        (config_edit(rnn_size=32.5), "config.json: --rnn-size must be a whole number"),
        (config_edit(rnn_size=16), "the weights do not match config.json"),
        (config_edit(rnn_size=10**7), r"config.json: --rnn-size must be at most 16,384 \(got 10000000\)"),
        (config_edit(num_layers=10**5000), r"config.json: not valid JSON \(Exceeds the limit"),
        (config_text("[" * 200_000 + "]" * 200_000), r"config.json: not valid JSON"),
        (config_edit(num_layers=64, rnn_size=16384), "a model of more than 268,435,456 numbers"),
        (external_link, r"model.weights.h5: layers/.* is a link, not weights stored in the file"),
        (config_edit(learning_rate="fast"), "--learning-rate must be a finite number"),
        (vocab_edit(["\ud800", "a"]), "not half of a surrogate pair"),
        (vocab_edit(["a", "a"]), "characters listed twice: a"),
    ]
    for edit, message in cases:
        with pytest.raises(BotError, match=message) as raised:
            open_checkpoint(damaged(edit))
        assert "\n" not in str(raised.value) and len(str(raised.value)) < 400


def test_files_declaring_more_than_they_hold_are_refused_before_anything_is_allocated(
    trained_checkpoint, data_folder, tmp_path
):
    """Issue 28, found by bench/peak_rss.py: an .npz header of a few bytes declared 37 GiB (start state) or
    3.6 TiB (novelty index), and a split of 400 bytes 10^12 ids: MemoryError tracebacks, or evaluate
    reading fill values for ever; a blocklist of one 10 MB pattern took 2.9 GB to compile."""
    import io

    def declaring(shape: tuple[int, ...]) -> bytes:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
        return buffer.getvalue() + bytes(64)

    for file, keys in (("start_state.npz", ["arr_0", "arr_1"]), ("novelty.npz", ["tweets", "minima"])):
        ck = tmp_path / file
        shutil.copytree(trained_checkpoint, ck)
        with zipfile.ZipFile(ck / file, "w") as archive:
            for key in keys:
                archive.writestr(f"{key}.npy", declaring((10**6, 10**6)))
        with pytest.raises(BotError, match=rf"{file}: .*declares 4,000,000,000,000 bytes of float32 in 192"):
            checkpoint = open_checkpoint(ck)
            checkpoint.start_state() if file == "start_state.npz" else checkpoint.novelty()

    data = tmp_path / "data"
    shutil.copytree(data_folder, data)
    with h5py.File(data / "data.h5", "r+") as h5:
        del h5["train"]
        h5.create_dataset("train", shape=(10**12,), dtype=np.uint16, chunks=(1 << 20,))
    with pytest.raises(BotError, match=r"split 'train': declares 1,000,000,000,000 ids but stores 0 bytes"):
        open_data(data)

    blocklist = tmp_path / "block.txt"
    too_long = (f"/{'a' * 1001}/", r"block.txt:1: 1,003 characters; a blocked word or pattern may have 1,000")
    too_big = ("word\n" * 300_000, r"block.txt: 1,500,000 bytes, more than a blocklist holds \(1,048,576\)")
    for text, message in (too_long, too_big):
        blocklist.write_text(text)
        with pytest.raises(BotError, match=message):
            Blocklist(blocklist)


def test_special_files_given_as_settings_are_refused_unread():
    """/dev/zero as an env file or a search space: MemoryError after gigabytes were read."""
    from twitterbot.search.space import load_space
    from twitterbot.social.apikeys import read_secrets

    for read in (lambda: read_secrets(["X_API_KEY"], Path("/dev/zero")), lambda: load_space(Path("/dev/zero")),
                 lambda: Blocklist(Path("/dev/zero"))):  # fmt: skip
        with pytest.raises(BotError, match=r"^/dev/zero: not a regular file \((an env file|a TOML search|a blocklist)"):
            read()


def _datasets(h5: h5py.File) -> list[str]:
    names = []
    h5.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return names


def test_a_damaged_state_json_falls_back_and_a_cut_history_is_mended(data_folder, tiny_config, tmp_path):
    out = tmp_path / "ck"
    train(data_folder, out, tiny_config.replace(num_epochs=2))
    state = json.loads((out / "state" / "state.json").read_text())
    (out / "state" / "state.json").write_text(json.dumps({**state, "epoch": "2", "early_stopping": [1]}))
    train(data_folder, out, tiny_config.replace(num_epochs=3), restore=True, changed=["num_epochs"])
    assert [row["epoch"] for row in read_history(out)] == [0, 1, 2]  # epoch 2 redone from state.prev
    history = (out / "history.csv").read_text()
    (out / "history.csv").write_text(history[: history.rindex("\n", 0, -1) + 6])  # the last row cut short
    train(data_folder, out, tiny_config.replace(num_epochs=4), restore=True, changed=["num_epochs"])
    rows = read_history(out)  # the cut row is dropped (its figures are lost), every other row whole
    assert [row["epoch"] for row in rows] == [0, 1, 3] and all(np.isfinite(row["loss"]) for row in rows)


def test_ids_outside_the_vocabulary_are_refused(data_folder, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(data_folder, data)
    with h5py.File(data / "data.h5", "r+") as h5:
        h5["train"][5] = 60000
    with pytest.raises(BotError, match="id 60000 is outside the vocabulary"):
        open_data(data)


def test_a_csv_row_of_endless_commas_is_refused(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text("text\nhello\n" + "," * (2 << 20) + "\n")
    with pytest.raises(BotError, match=r"commas.csv:3: line longer than"):
        read_texts(path)


def test_a_bad_byte_is_named_by_its_line(tmp_path):
    rows = [f"tweet number {i}" for i in range(10_010)]
    for name, text in (("t.csv", "text\n" + "\n".join(rows)), ("t.jsonl", "\n".join(json.dumps(r) for r in rows))):
        data = bytearray(text.encode())
        cut = data.index(b"tweet number 10000")  # line 10,002 of the CSV (header first), 10,001 of the JSONL
        data[cut : cut + 1] = b"\xff"
        (tmp_path / name).write_bytes(bytes(data))
        line = 10_002 if name.endswith(".csv") else 10_001
        with pytest.raises(BotError, match=rf"{name}:{line}: not UTF-8 text"):
            read_texts(tmp_path / name)


def test_existing_names_are_files_not_globs_and_an_unzipped_archive_reads_like_the_zip(tmp_path):
    (tmp_path / "tweets [2023].txt").write_text("from the bracketed file\n")
    (tmp_path / "tweets 2.txt").write_text("from the other file\n")
    assert expand_inputs([str(tmp_path / "tweets [2023].txt")]) == [tmp_path / "tweets [2023].txt"]
    assert expand_inputs([str(tmp_path / "tweets [1-2].txt")]) == [tmp_path / "tweets 2.txt"]  # not there: a glob
    archive = tmp_path / "twitter-2024"
    tweets = 'window.YTD.tweets.part0 = [{"tweet": {"full_text": "a real tweet"}}]'
    for name, text in {
        "data/tweets.js": tweets,
        "data/account.js": 'window.YTD.account.part0 = [{"account": {"username": "me"}}]',
        "assets/js/main.js": "!function(){console.log('viewer')}()",
        "Your archive.html": "<html></html>",
    }.items():
        (archive / name).parent.mkdir(parents=True, exist_ok=True)
        (archive / name).write_text(text)
    assert expand_inputs([str(archive)]) == [archive / "data" / "tweets.js"]
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as zipped:
        zipped.writestr("data/tweets.js", tweets)
    assert read_texts(archive / "data" / "tweets.js") == read_texts(tmp_path / "archive.zip")


def test_a_file_name_that_is_not_utf8_is_read_and_reported(corpus_file, tmp_path):
    name = os.fsdecode(b"tw\xffeets.txt")
    shutil.copy(corpus_file, tmp_path / name)
    result = bot("prepare", name, "--out", "d", cwd=tmp_path, check=True)
    assert "tw\\xffeets.txt" in result.stdout
    assert json.loads((tmp_path / "d" / "prepare.json").read_text())["inputs"] == ["tw\\xffeets.txt"]


def test_many_tweets_are_drawn_in_groups_and_handed_out_as_they_come(trained_checkpoint, monkeypatch):
    counts = []
    original = sample.Sampler.sample

    def counted(self, count, options, guard=True, rng=None):
        counts.append(count)
        return original(self, count, options, guard, rng)

    monkeypatch.setattr(sample, "STREAMS", 4)
    monkeypatch.setattr(sample.Sampler, "sample", counted)
    tweets = iter(sample.generate(open_checkpoint(trained_checkpoint), 10, SampleOptions(seed=1, max_len=20)))
    first = next(tweets)
    assert counts == [4] and isinstance(first, str)  # the first group is out before the rest is drawn
    assert len([first, *tweets]) == 10 and counts == [4, 4, 2]


def test_export_of_an_export_input_is_refused_and_good_exports_replace_exports(trained_checkpoint, tmp_path):
    ckpt = open_checkpoint(trained_checkpoint)
    export(ckpt, tmp_path / "web")
    export(ckpt, tmp_path / "web", force=True)  # an export over an export: fine
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("my own site")
    with pytest.raises(BotError, match="not one of twitterbot's export folders"):
        export(ckpt, tmp_path / "site", force=True)
    assert (tmp_path / "site" / "index.html").read_text() == "my own site"


# --- bot serve -------------------------------------------------------------------------------------------------


@pytest.fixture()
def served(trained_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(serve, "MAX_CONNECTIONS", 2)
    export(open_checkpoint(trained_checkpoint), tmp_path / "web")
    (tmp_path / "secret.txt").write_text("private")
    (tmp_path / "web" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "web" / "sub").mkdir()
    (tmp_path / "web" / "sub" / "a.txt").write_text("inside")
    server = serve.make_server(tmp_path / "web", 0, idle_timeout=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def request(port: int, path: str, host: str | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(f"GET {path} HTTP/1.0\r\nHost: {host or f'127.0.0.1:{port}'}\r\n\r\n".encode())
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    return int(status.split()[1]), dict(line.split(": ", 1) for line in lines), body


def test_serve_gives_only_the_folders_files_to_this_machines_browser(served):
    status, headers, body = request(served, "/")
    assert status == 200 and b"<html" in body.lower()
    assert headers["Server"] == "twitterbot" and "Python" not in str(headers)
    assert (
        request(served, "/sub/a.txt")[0] == 200 and request(served, "/sub/a.txt", host=f"localhost:{served}")[0] == 200
    )
    assert request(served, "/leak.txt")[0] == 404  # a symlink out of the folder
    assert request(served, "/sub/")[0] == 404  # no listing
    assert request(served, "/../secret.txt")[0] == 404
    assert request(served, "/", host="evil.example:80")[0] == 421  # DNS rebinding: another name for 127.0.0.1
    assert request(served, "/", host="127.0.0.1")[0] == 421  # without the port: not this server's address
    assert request(served, "/%00")[0] == request(served, "/" + "a" * 5000)[0] == 404  # no traceback, an answer


def test_serve_closes_idle_connections_and_bounds_its_threads(served):
    idle = [socket.create_connection(("127.0.0.1", served)) for _ in range(2)]  # MAX_CONNECTIONS (2) silent ones
    try:
        started = time.monotonic()
        status, _, _ = request(served, "/model.json", timeout=30)  # waits for a slot: the idle ones time out
        assert status == 200 and time.monotonic() - started >= 0.5
        for connection in idle:
            connection.settimeout(5)
            assert connection.recv(1) == b""  # closed by the server after its idle timeout
    finally:
        for connection in idle:
            connection.close()


def test_slow_senders_hold_a_slot_no_longer_than_a_request_may_take(served, monkeypatch):
    """Issue 28: 32 connections sending their headers a byte at a time, each inside the idle timeout,
    left a normal GET unanswered for 70 s; a request must now arrive whole within REQUEST_SECONDS."""
    monkeypatch.setattr(serve, "REQUEST_SECONDS", 1.5)
    slow = [socket.create_connection(("127.0.0.1", served)) for _ in range(2)]  # MAX_CONNECTIONS (2)
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.5):  # a byte every half second: never idle for the 1 s idle timeout
            for connection in slow:
                with contextlib.suppress(OSError):
                    connection.send(b"X")

    for connection in slow:
        connection.sendall(b"GET / HTTP/1.1\r\nX-Slow: ")
    threading.Thread(target=trickle, daemon=True).start()
    try:
        started = time.monotonic()
        assert request(served, "/model.json", timeout=30)[0] == 200
        assert time.monotonic() - started < 6
    finally:
        stop.set()
        for connection in slow:
            connection.close()
