"""The search space: settings and their ranges, read from `space.toml` or the user's TOML, checked as
it is read, and a trial's draw from it."""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from pathlib import Path

import optuna

from twitterbot import fsutil
from twitterbot.config import Config
from twitterbot.errors import BotError

DEFAULT_SPACE = Path(__file__).parent / "space.toml"
MAX_SPACE_BYTES = 1 << 20  # a space names a dozen settings


def load_space(path: Path) -> dict[str, dict]:
    """A search space: Config field → {low, high[, log]} or {choices}, checked."""
    text = fsutil.read_text(Path(path), MAX_SPACE_BYTES, "a TOML search space")
    try:
        space = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise BotError(f"{path}: not a readable TOML search space ({error})") from error
    known = {field.name for field in fields(Config)} - {"vocab_size", "format_version", "num_epochs", "patience"}
    for name, spec in space.items():
        if name not in known:
            raise BotError(f"{path}: {name!r} is not a setting to search (one of {', '.join(sorted(known))})")
        if not isinstance(spec, dict) or not ({"low", "high"} <= set(spec) or "choices" in spec):
            raise BotError(f"{path}: {name} needs low and high, or choices")
        problem = _range_problem(spec)
        if problem:
            raise BotError(f"{path}: {name}: {problem}")
    return space


def _range_problem(spec: dict) -> str | None:
    """Why a setting's range cannot be drawn from (optuna would fail mid-search), or None."""
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            return "choices must be a non-empty list"
        return None
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
        return "low and high must be finite numbers"
    if low > high:
        return f"low {low} is above high {high}"
    if not isinstance(spec.get("log", False), bool):
        return "log must be true or false"
    if spec.get("log") and low <= 0:
        return f"a log range needs low above 0 (got {low})"
    return None


def suggest(trial: optuna.Trial, space: dict[str, dict], base: Config) -> Config:
    """The trial's settings: the space's draws over `base`."""
    values = {}
    for name, spec in space.items():
        if "choices" in spec:
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
    return base.replace(**values)
