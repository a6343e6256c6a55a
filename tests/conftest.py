"""Shared fixtures (a learnable tiny corpus, a tiny model configuration, one tiny trained checkpoint),
the two-backend rule and the tiers.

Tests run in-process on JAX, the backend users get. A test marked `both_backends` runs on JAX and
on TensorFlow: its TensorFlow variants (Keras picks its backend once per process) all run together
in one child pytest, and each variant's outcome there is its outcome here.

Tiers: `python -m pytest` runs everything (CI, and the README's command, which installs Node.js, the
npm packages and Chromium first). `python -m pytest -m "not browser"` leaves out what needs Node.js or
Chromium.
"""

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "jax")
# Every tiny model's steps compile again in each test and each `bot` process (~6 s a process): XLA's
# persistent cache, shared by the child processes, turns the repeats into reads (the JAX tests' time: -28 %).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).parent / "artifacts" / "jax-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import keras  # noqa: E402
import pytest  # noqa: E402

from twitterbot.config import Config  # noqa: E402

PHRASES = ["the cat sat on the mat", "a dog ate my hat", "we love tiny tests", "hello world, hello bot"]
BACKENDS = ("jax", "tensorflow")
# TensorFlow is an extra (`pip install -e ".[tensorflow]"`, in `.[dev]`): without it the TensorFlow
# variants are skipped, and tests that run `bot` run it on JAX. CI installs it and skips nothing.
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
CLI_BACKEND = "tensorflow" if HAS_TENSORFLOW else "jax"  # `bot` in the CLI tests: the backend the rest tests less


def pytest_configure(config):
    config.addinivalue_line("markers", "both_backends: run on JAX and on TensorFlow (parameter keras_backend)")
    config.addinivalue_line(
        "markers", "browser: needs Node.js with the npm packages (real tfjs) or headless Chromium: the page's tests"
    )
    config.addinivalue_line("markers", "tensorflow: needs TensorFlow installed (skipped without it, outside CI)")
    if os.environ.get("CI") and not HAS_TENSORFLOW:
        raise pytest.UsageError("CI runs every test: install TensorFlow (pip install -e '.[dev]')")


def pytest_collection_modifyitems(config, items):
    """Without TensorFlow, skip what needs it: a variant run on it (parameter keras_backend or backend),
    or a test marked `tensorflow`."""
    if HAS_TENSORFLOW:
        return
    skip = pytest.mark.skip(reason="needs TensorFlow: pip install -e '.[tensorflow]'")
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params or {}
        if "tensorflow" in (params.get("keras_backend"), params.get("backend")) or item.get_closest_marker(
            "tensorflow"
        ):
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("keras_backend", BACKENDS)


def _foreign(item) -> str | None:
    """The backend this test variant needs when it is not this process's."""
    wanted = getattr(item, "callspec", None) and item.callspec.params.get("keras_backend")
    return wanted if wanted and wanted != keras.backend.backend() else None


def _run_foreign_variants(session, backend: str) -> dict[str, str | None]:
    """Run every variant that needs `backend` in one child pytest; nodeid → failure text (None: passed)."""
    items = [item for item in session.items if _foreign(item) == backend]
    report = Path(session.config.rootpath) / "tests" / "artifacts" / f"{backend}.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        + [item.nodeid for item in items],
        cwd=session.config.rootpath,
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
    )
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase") if report.exists() else ():
        module = case.get("classname").replace(".", "/") + ".py"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcomes[f"{module}::{case.get('name')}"] = None if problem is None else problem.get("message", "failed")
    output = child.stdout[-3000:] + child.stderr[-3000:]
    missing = {item.nodeid: f"did not run on {backend}:\n{output}" for item in items}
    return {**missing, **outcomes}


_RESULTS = pytest.StashKey[dict]()  # backend → the child run's outcomes


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    backend = _foreign(pyfuncitem)
    if backend is None:
        return None
    results = pyfuncitem.session.stash.setdefault(_RESULTS, {})
    if backend not in results:
        results[backend] = _run_foreign_variants(pyfuncitem.session, backend)
    problem = results[backend].get(pyfuncitem.nodeid, f"no result from the {backend} run")
    if problem is not None:
        pytest.fail(f"on {backend}: {problem}", pytrace=False)
    return True


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    """A few hundred tweets made of a handful of phrases: a pattern a tiny LSTM learns in two epochs."""
    path = tmp_path_factory.mktemp("corpus") / "tweets.txt"
    lines = [f"{PHRASES[i % 4]} {PHRASES[(i * 3 + 1) % 4]} #{i}" for i in range(400)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def data_folder(corpus_file, tmp_path_factory):
    from twitterbot.corpus.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "tiny"
    prepare([str(corpus_file)], out, coverage=1.0)
    return out


@pytest.fixture(scope="session")
def tiny_config():
    return Config(
        embedding_size=8, rnn_size=32, batch_size=4, seq_len=16, num_epochs=2, drop_rate=0.0, learning_rate=0.01, seed=3
    )


@pytest.fixture(scope="session")
def trained_checkpoint(data_folder, tiny_config, tmp_path_factory) -> Path:
    """One tiny model trained once (two epochs of the tiny corpus) for every test that reads a checkpoint;
    a test that changes one copies it first."""
    from twitterbot.training.train import train

    out = tmp_path_factory.mktemp("trained") / "tiny"
    train(data_folder, out, tiny_config)
    return out


@pytest.fixture(scope="session")
def two_layer_checkpoint(data_folder, tiny_config, tmp_path_factory) -> Path:
    """The same, with two LSTM layers: what carries state from layer to layer (export, the fused step)."""
    from twitterbot.training.train import train

    out = tmp_path_factory.mktemp("trained") / "two_layers"
    train(data_folder, out, tiny_config.replace(num_layers=2))
    return out
