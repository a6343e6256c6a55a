"""Every setting a user gives, declared once: each field's default, help and flags (`setting`), which the
command line turns into options (`cli.options.settings`). `Config` (model and training, saved as
config.json with every checkpoint), `PrepareOptions`, `SampleOptions`, `FilterOptions`, `SearchSettings`;
the cleaning options are `corpus.clean.CleanOptions`."""

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


TWEET_LENGTH = 280  # X's limit, weighted as twitter-text counts (URLs 23, CJK and emoji 2)
MAX_LEN = 25_000  # characters: X's longest post (Premium)
MAX_SEED = 2**32 - 1  # NumPy's and Keras's random seeds are 32-bit


def setting(default: object, help: str, *flags: str, metavar: str | None = None) -> dataclasses.Field:
    """A settings field that is also a command-line option: its default, its help and (when not --field-name)
    its flags, written once here; `cli.options.settings` makes the options from them."""
    return dataclasses.field(default=default, metadata={"help": help, "flags": flags, "metavar": metavar})


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

    vocab_size: int = 0  # the data's, set by training
    embedding_size: int = setting(64, "character embedding size")
    rnn_size: int = setting(512, "LSTM units per layer")
    num_layers: int = setting(1, "stacked LSTM layers")
    drop_rate: float = setting(0.05, "dropout after the embedding and each LSTM")
    batch_size: int = setting(128, "parallel lanes per batch")
    seq_len: int = setting(32, "characters per window (backprop through time)")
    optimizer: Optimizer = setting("rmsprop", "the optimizer")
    learning_rate: float = setting(0.001, "initial rate (with --restore: another rate is the rate from now on)")
    clip_norm: float = setting(5.0, "gradient norm clip")
    num_epochs: int = setting(32, "epochs at most (early stopping may end sooner)")
    patience: int = setting(3, "epochs without improvement before stopping")
    min_delta: float = setting(0.01, "smallest val_loss drop (nats/char) counted as progress")
    seed: int = setting(0, "seed for weights and dropout")
    freeze_embedding: bool = setting(False, "keep the base model's character embedding (fine-tuning)")
    freeze_layers: int = setting(0, "keep this many of the lowest LSTM layers (fine-tuning)")
    precision: Precision = setting(  # training's matrix products; sampling and `bot evaluate` run float32
        "float32", "mixed_bfloat16: bfloat16 products, float32 weights and optimizer (fastest on TensorFlow, AMX CPUs)"
    )
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

    validate: float = setting(0.05, "fraction of tweets for validation")
    test: float = setting(0.05, "fraction of tweets for the test split")
    coverage: float = setting(0.999, "vocabulary covers this share of characters; the rest become <unk>")
    max_vocab: int | None = setting(None, "at most this many ids")
    seed: int = setting(0, "seed of the tweet-level split")

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
    overlap: float = setting(
        0.9, "reject a tweet sharing a run this long (share of its length) with a training tweet, or --max-run"
    )
    max_run: int = setting(
        80, "reject a tweet sharing a run of this many characters with a training tweet, or --overlap"
    )
    # Words the corpus never had that a tweet may hold: one (a name, slang), or this share of its words if that
    # is more (negative: any). "At most one" alone rejected long tweets more: at temp 1.0 what passed it ran
    # 13.5 % shorter than what was drawn, under this rule 2.1 % (at 0.1: 6.7 %, and with the other filters
    # 11 %). Real tweets of four held-out accounts pass 99.1 % (docs/filters.md).
    non_words: float = setting(
        0.15, "reject a tweet with more words its corpus never had than one or this share of its words (<0: any)"
    )
    allow_mentions: bool = setting(
        False, "let @handles the model wrote through (a bot should not tag people)", "--allow-mentions"
    )
    blocklist: str = setting("", "more blocked words or /regular expressions/, one a line", metavar="<path>")
    max_length: int = TWEET_LENGTH  # the destination's, weighted as it counts (X: URLs 23, CJK and emoji 2)

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

    temperature: float = setting(
        0.8,
        "sampling temperature (>0): lower sticks to the model's likeliest, commonest phrasing; higher is more "
        "varied, more often misspelt and shorter",
        "--temp",
        "-t",
    )
    top_k: int = setting(0, "draw only from the k likeliest characters (0: all)")
    top_p: float = setting(1.0, "draw only from the likeliest characters covering p (1: all)")
    max_len: int = setting(TWEET_LENGTH, "characters per tweet at most (one not ended by then is redrawn)")
    seed_text: str = setting("", "start every tweet with this text")
    seed: int | None = setting(None, "random seed for reproducible samples")
    link: str = setting("", "what the model's link placeholder becomes, e.g. your site (default: dropped)")
    mention: str = setting(  # never a handle the model wrote
        "", "what the model's @mention placeholder becomes, e.g. @yourbot (default: dropped)"
    )

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


Objective = Literal["both", "loss"]  # bot search's: loss and parameters (the Pareto front), or loss alone (TPE)


@dataclass(frozen=True)
class SearchSettings:
    """How `bot search` searches; the one owner of these defaults."""

    trials: int = setting(20, "trials in all (with --resume: including those done)")
    epochs: int = setting(3, "epochs each trial trains at most", "--epochs-per-trial")
    timeout: float | None = setting(None, "stop starting trials after this many seconds")
    subset: int | None = setting(None, "train on the first N characters of the data")
    seed: int = setting(0, "seed of the sampler and of every trial")
    objective: Objective = setting("both", "both: lowest loss and fewest parameters (Pareto front); loss: TPE")
    storage: str | None = setting(  # default: SQLite in the search folder
        None, "optuna storage URL, e.g. postgresql://… for several machines (default: SQLite)"
    )

    def __post_init__(self) -> None:
        if self.trials < 1 or self.epochs < 1:
            raise BotError(f"--trials and --epochs-per-trial must be at least 1 (got {self.trials}, {self.epochs})")
        if self.subset is not None and self.subset < 1000:
            raise BotError(f"--subset must be at least 1,000 characters (got {self.subset})")
        if self.timeout is not None and not self.timeout > 0:
            raise BotError(f"--timeout must be positive seconds (got {self.timeout})")
