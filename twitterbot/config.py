"""The one Config shared by model, training and sampling, saved as config.json with every checkpoint."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from twitterbot import fsutil
from twitterbot.errors import BotError

FORMAT_VERSION = 1
BUNDLED = Path(__file__).parent / "models" / "base"  # the base model shipped inside the package
# --optimizer names and their keras.optimizers classes (model.make_optimizer builds them)
OPTIMIZERS = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta", "adam": "Adam"}
Optimizer = Literal[tuple(OPTIMIZERS)]  # type: ignore[valid-type]  # the --optimizer choices, from the table
# --precision choices: Keras dtype policies training may run under (weights, optimizer and what is saved stay
# float32 either way; model.build_model applies it)
PRECISIONS = ("float32", "mixed_bfloat16")
Precision = Literal[PRECISIONS]  # type: ignore[valid-type]
FINETUNE_EPOCHS = 10  # epochs at most of `bot finetune` (early stopping may end sooner)
SCHEDULE = ("num_epochs", "learning_rate", "patience", "min_delta", "clip_norm", "precision")  # may change on --restore


MAX_LEN = 25_000  # characters: X's longest post (Premium); a tweet is 280
MAX_SEED = 2**32 - 1  # NumPy's and Keras's random seeds are 32-bit


def check_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise BotError(f"--seed must be between 0 and {MAX_SEED:,} (got {_short(seed)})")


def check_types(settings: object) -> None:
    """Each field of a settings dataclass holds its declared kind, a float a finite one: a NaN learning rate
    trained a model of NaNs and exited 0, and config.json's rnn_size 32.5 crashed deep in Keras."""
    for field in dataclasses.fields(settings):
        value, kind = getattr(settings, field.name), field.type
        flag = "--temp" if field.name == "temperature" else f"--{field.name.replace('_', '-')}"
        if value is None and "None" in kind:
            continue
        if kind.startswith("int") and (not isinstance(value, int) or isinstance(value, bool)):
            raise BotError(f"{flag} must be a whole number (got {_short(value)})")
        if kind.startswith("float") and (
            not isinstance(value, (int, float)) or isinstance(value, bool) or not _finite(value)
        ):
            raise BotError(f"{flag} must be a finite number (got {_short(value)})")
        if kind.startswith("bool") and not isinstance(value, bool):
            raise BotError(f"{flag} must be true or false (got {_short(value)})")
        if kind.startswith("str") and not isinstance(value, str):
            raise BotError(f"{flag} must be text (got {_short(value)})")


# What a model's settings may be: beyond these a config.json is damaged or hostile, not a model to build
# (ids are uint16; 2^28 numbers are 1 GiB of float32 weights, 100× the largest model a laptop trains here).
LIMITS = {
    "vocab_size": 1 << 16,
    "embedding_size": 1 << 14,
    "rnn_size": 1 << 14,
    "num_layers": 64,
    "batch_size": 1 << 16,
    "seq_len": 1 << 16,
    "num_epochs": 1 << 20,
}
MAX_PARAMETERS = 1 << 28


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


def _short(value: object) -> str:
    """A value from a file as a one-line message shows it: a 5,000-digit number or a long text is cut."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a number of {value.bit_length():,} bits"
    text = " ".join(repr(value).split())
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass(frozen=True)
class Config:
    """Model and training hyperparameters; defaults are the reference char-rnn configuration."""

    vocab_size: int = 0
    embedding_size: int = 64
    rnn_size: int = 512
    num_layers: int = 1
    drop_rate: float = 0.05
    batch_size: int = 128
    seq_len: int = 32
    optimizer: Optimizer = "rmsprop"
    learning_rate: float = 0.001
    clip_norm: float = 5.0
    num_epochs: int = 32
    patience: int = 3
    min_delta: float = 0.01
    seed: int = 0
    freeze_embedding: bool = False  # fine-tuning: keep the base model's character embedding
    freeze_layers: int = 0  # fine-tuning: keep this many of the lowest LSTM layers
    precision: Precision = "float32"  # training's matrix products; sampling and `bot evaluate` run float32
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        check_types(self)
        check_seed(self.seed)
        positive = ("embedding_size", "rnn_size", "num_layers", "batch_size", "seq_len", "num_epochs")
        for name in positive:
            if getattr(self, name) < 1:
                raise BotError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        for name, most in LIMITS.items():  # before anything is sized by them: a damaged config.json is refused
            value = getattr(self, name)
            if value > most:
                raise BotError(f"--{name.replace('_', '-')} must be at most {most:,} (got {_short(value)})")
        lstms = (self.embedding_size + self.rnn_size + 1) * 4 * self.rnn_size * self.num_layers  # an upper bound
        if lstms + (self.rnn_size + 1 + self.embedding_size) * self.vocab_size > MAX_PARAMETERS:
            raise BotError(f"a model of more than {MAX_PARAMETERS:,} numbers is beyond what twitterbot builds")
        if self.min_delta < 0:
            raise BotError(f"--min-delta must be 0 or more (got {self.min_delta})")
        if self.patience < 0:
            raise BotError(f"--patience must be 0 or more epochs (got {self.patience})")
        if not 0 <= self.drop_rate < 1:
            raise BotError(f"--drop-rate must be in [0, 1) (got {self.drop_rate})")
        if self.learning_rate <= 0:
            raise BotError(f"--learning-rate must be positive (got {self.learning_rate})")
        if self.clip_norm <= 0:
            raise BotError(f"--clip-norm must be positive (got {self.clip_norm})")
        if not 0 <= self.freeze_layers <= self.num_layers:
            raise BotError(f"--freeze-layers must be between 0 and {self.num_layers} (got {self.freeze_layers})")
        if self.optimizer not in OPTIMIZERS:
            raise BotError(f"--optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})")
        if self.precision not in PRECISIONS:
            raise BotError(f"--precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")

    def replace(self, **changes: object) -> Config:
        return dataclasses.replace(self, **changes)

    def resumed_with(self, requested: Config, changed: Iterable[str]) -> Config:
        """This saved run's settings, with the schedule settings named in `changed` taken from `requested`.

        The learning rate stays the run's initial one: a new rate applies from the resumed epoch on and
        lives in the training state. Any other setting named must equal the saved one: the weights,
        optimizer and lanes depend on it.
        """
        updates = {}
        for name in changed:
            if name == "learning_rate":
                continue
            new, old = getattr(requested, name), getattr(self, name)
            if name in SCHEDULE:
                updates[name] = new
            elif new != old:
                raise BotError(
                    f"--{name.replace('_', '-')} cannot change when resuming (the run was saved with {old}); "
                    "start a new run instead"
                )
        return self.replace(**updates)

    def save(self, path: Path) -> None:
        fsutil.write_json(path, dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> Config:
        return cls.from_dict(fsutil.read_json(path), path)

    @classmethod
    def from_dict(cls, values: dict, path: Path | str) -> Config:
        """Settings as config.json holds them (`path`: where they were read, for the error)."""
        if values.get("format_version") != FORMAT_VERSION:
            raise BotError(f"{path}: format version {values.get('format_version')} is not {FORMAT_VERSION}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BotError(f"{path}: unknown settings {', '.join(unknown)}")
        try:
            return cls(**values)
        except (TypeError, BotError) as error:
            raise BotError(f"{path}: {error}") from error


@dataclass(frozen=True)
class PrepareOptions:
    """How `bot prepare` splits the tweets and builds the vocabulary; the one owner of these defaults."""

    validate: float = 0.05  # share of tweets for the validation split
    test: float = 0.05  # share of tweets for the test split
    coverage: float = 0.999  # the vocabulary covers this share of characters; the rest become <unk>
    max_vocab: int | None = None  # at most this many ids
    seed: int = 0  # of the tweet-level split

    def __post_init__(self) -> None:
        check_types(self)
        check_seed(self.seed)
        if self.validate < 0 or self.test < 0 or self.validate + self.test >= 1:
            raise BotError(
                f"--validate and --test must be ≥0 and leave some training data (got {self.validate}, {self.test})"
            )
        if not 0 < self.coverage <= 1:
            raise BotError(f"--coverage must be in (0, 1] (got {self.coverage})")
        if self.max_vocab is not None and self.max_vocab < 3:
            raise BotError(
                f"--max-vocab must leave room for <eot>, <unk> and one character: at least 3 (got {self.max_vocab})"
            )

    @property
    def fractions(self) -> tuple[float, float, float]:
        """Shares of train, validate and test."""
        return 1 - self.validate - self.test, self.validate, self.test


@dataclass(frozen=True)
class FilterOptions:
    """What a written tweet must pass before it is shown or posted; the one owner of these defaults."""

    # A copied run: one shared with a training tweet of at least min(max_run, overlap × the tweet's length)
    # characters, after markovify's min(15 words, 70 %): a short tweet is not a copy for one common phrase,
    # a long one is for a long passage. 0.9, not 0.7: at 0.7, 6.6 % of real held-out tweets were "copies"
    # (docs/filters.md measures these against the old 0.4 alone).
    overlap: float = 0.9
    max_run: int = 80
    # Words the corpus never had that a tweet may hold: one (a name, slang), or this share of its words if that
    # is more (negative: any). "At most one" alone rejected long tweets more: at temp 1.0 what passed it ran
    # 13.5 % shorter than what was drawn, under this rule 2.1 % (at 0.1: 6.7 %, and with the other filters
    # 11 %). Real tweets of four held-out accounts pass 99.1 % (docs/filters.md).
    non_words: float = 0.15
    allow_mentions: bool = False  # a bot must not tag people
    blocklist: str = ""  # a file of the user's own words or /regular expressions/, one a line
    max_length: int = 280  # X's weighted length (URLs 23, CJK and emoji 2)

    def __post_init__(self) -> None:
        check_types(self)
        if not 0 < self.overlap <= 1:
            raise BotError(f"--overlap must be in (0, 1] (got {self.overlap})")
        if self.max_run < 1:
            raise BotError(f"--max-run must be at least 1 character (got {self.max_run})")
        if not math.isfinite(self.non_words):
            raise BotError(
                f"--non-words must be a share of a tweet's words, or negative for any (got {self.non_words})"
            )
        if self.max_length < 1:
            raise BotError(f"--max-length must be at least 1 (got {self.max_length})")


@dataclass(frozen=True)
class SampleOptions:
    """How tweets are drawn and shown; the one owner of these defaults (CLI, export and page read them)."""

    temperature: float = 0.8
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0
    max_len: int = 280
    seed_text: str = ""
    seed: int | None = None
    link: str = ""  # what the link placeholder becomes ("": dropped)
    mention: str = ""  # what the mention placeholder becomes ("": dropped; never a handle the model wrote)

    def __post_init__(self) -> None:
        check_types(self)
        if self.seed is not None:
            check_seed(self.seed)
        if not self.temperature > 0:
            raise BotError(f"--temp must be greater than 0 (got {self.temperature})")
        if self.max_len > MAX_LEN:
            raise BotError(f"--max-len must be at most {MAX_LEN:,}, X's longest post (got {self.max_len:,})")
        if self.top_k < 0:
            raise BotError(f"--top-k must be 0 (off) or positive (got {self.top_k})")
        if not 0 < self.top_p <= 1:
            raise BotError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if self.max_len < 1:
            raise BotError(f"--max-len must be at least 1 (got {self.max_len})")
        if self.link and not re.fullmatch(r"https?://\S+", self.link):
            raise BotError(f"--link must be a web address starting with http:// or https:// (got {self.link!r})")
        if self.mention and not re.fullmatch(r"@\w{1,15}", self.mention):
            raise BotError(f"--mention must be one @handle of 1-15 letters, digits or _ (got {self.mention!r})")
        if len(self.seed_text) >= self.max_len:
            raise BotError(
                f"--seed-text is {len(self.seed_text)} characters, it must be shorter than --max-len ({self.max_len})"
            )
