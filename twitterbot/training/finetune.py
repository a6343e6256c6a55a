"""`bot finetune`: transfer learning, a base model continued on one account's tweets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from twitterbot.config import FINETUNE_EPOCHS, Config
from twitterbot.corpus.datafolder import open_data, require_vocab
from twitterbot.training import checkpoint
from twitterbot.training.evaluate import Evaluation, evaluate
from twitterbot.training.train import batch_that_fits, train


@dataclass(frozen=True)
class FinetuneResult:
    """The account's test loss under the base model and under the fine-tuned one, and the run."""

    before: Evaluation
    after: Evaluation
    history: list[dict]
    config: Config


def default_learning_rate(base: Config) -> float:
    """Fine-tuning's rate when none is given: a tenth of the base's, so one account's tweets adjust the
    model rather than overwrite it (the page fine-tunes at it too: generation.json)."""
    return base.learning_rate / 10


def finetune(
    base_path: Path | None,
    data_path: Path,
    out: Path,
    learning_rate: float | None = None,
    num_epochs: int = FINETUNE_EPOCHS,
    patience: int | None = None,
    min_delta: float | None = None,
    batch_size: int | None = None,
    seq_len: int | None = None,
    freeze_embedding: bool = False,
    freeze_layers: int = 0,
    precision: str = Config.precision,
    force: bool = False,
    console: Console | None = None,
) -> FinetuneResult:
    """Transfer learning: continue a base model on one account's tweets with a lower learning rate.

    The data must be encoded with the base model's vocabulary (`bot prepare --vocab BASE`). Returns
    the account's test loss under the base model and under the fine-tuned one, and the history.
    `precision` is this machine's choice, not the base's (the bundled base trained in bfloat16 on TensorFlow).
    """
    base = checkpoint.open_checkpoint(base_path)
    defaults_to_base = {"patience": patience, "min_delta": min_delta, "batch_size": batch_size, "seq_len": seq_len}
    config = base.config.replace(  # flags are checked before any data is read
        learning_rate=default_learning_rate(base.config) if learning_rate is None else learning_rate,
        num_epochs=num_epochs,
        freeze_embedding=freeze_embedding,
        freeze_layers=freeze_layers,
        precision=precision,
        **{name: value for name, value in defaults_to_base.items() if value is not None},
    )
    data = open_data(data_path)
    require_vocab(data, base.vocab, base.path)
    if batch_size is None:  # small accounts: as many lanes as the validation split can fill
        config = config.replace(batch_size=batch_that_fits(data, config))
    before = evaluate(base.path, data.path)
    history = train(
        data.path, out, config, force=force, console=console, initial_weights=base.weights, known_words=base.words()
    )
    after = evaluate(out, data.path)
    return FinetuneResult(before, after, history, config)
