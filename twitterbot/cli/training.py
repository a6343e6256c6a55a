"""`bot train`, `bot finetune` and `bot evaluate`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twitterbot.backend import import_keras
from twitterbot.cli.options import (
    ForceOption,
    OutOption,
    PrecisionOption,
    console,
    err_console,
    typed,
)
from twitterbot.config import (
    FINETUNE_EPOCHS,
    Config,
    Optimizer,
)
from twitterbot.corpus.datafolder import Split
from twitterbot.errors import BotError


def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="data folder made by `bot prepare`")],
    out: OutOption = Path("checkpoints/base"),
    num_layers: Annotated[int, typer.Option(help="stacked LSTM layers")] = Config.num_layers,
    rnn_size: Annotated[int, typer.Option(help="LSTM units per layer")] = Config.rnn_size,
    embedding_size: Annotated[int, typer.Option(help="character embedding size")] = Config.embedding_size,
    batch_size: Annotated[int, typer.Option(help="parallel lanes per batch")] = Config.batch_size,
    seq_len: Annotated[int, typer.Option(help="characters per window (backprop through time)")] = Config.seq_len,
    drop_rate: Annotated[float, typer.Option(help="dropout after the embedding and each LSTM")] = Config.drop_rate,
    learning_rate: Annotated[
        float, typer.Option(help="initial rate (with --restore: the rate from now on)")
    ] = Config.learning_rate,
    clip_norm: Annotated[float, typer.Option(help="gradient norm clip")] = Config.clip_norm,
    optimizer: Annotated[Optimizer, typer.Option(help="the optimizer")] = Config.optimizer,
    precision: PrecisionOption = Config.precision,
    num_epochs: Annotated[int, typer.Option(help="epochs at most (early stopping may end sooner)")] = Config.num_epochs,
    patience: Annotated[int, typer.Option(help="epochs without improvement before stopping")] = Config.patience,
    min_delta: Annotated[
        float, typer.Option(help="smallest val_loss drop (nats/char) counted as progress")
    ] = Config.min_delta,
    seed: Annotated[int, typer.Option(help="seed for weights and dropout")] = Config.seed,
    restore: Annotated[
        bool,
        typer.Option(
            "--restore",
            help="continue the run saved in --out with its settings; --num-epochs, --learning-rate, --patience, "
            "--min-delta, --clip-norm and --precision may be changed",
        ),
    ] = False,
    distribute: Annotated[
        bool, typer.Option("--distribute", help="split each batch across all local GPUs/devices (JAX)")
    ] = False,
    save_every: Annotated[
        int, typer.Option(help="also save the resumable state every N batches (0: at the end of each epoch only)")
    ] = 0,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="settings from a config.json or a search's best.json; flags given override"),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Train a stateful character LSTM on a data folder; the checkpoint folder is resumable."""
    import_keras(tensorflow=True)
    from twitterbot.corpus.datafolder import open_data
    from twitterbot.training.train import batch_that_fits
    from twitterbot.training.train import train as run_train

    config = Config(
        num_layers=num_layers,
        rnn_size=rnn_size,
        embedding_size=embedding_size,
        batch_size=batch_size,
        seq_len=seq_len,
        drop_rate=drop_rate,
        learning_rate=learning_rate,
        clip_norm=clip_norm,
        optimizer=optimizer,
        precision=precision,
        num_epochs=num_epochs,
        patience=patience,
        min_delta=min_delta,
        seed=seed,
    )
    given = [name for name in dataclasses.asdict(config) if typed(ctx, name)]
    if config_file:  # its settings, with the flags typed on the command line on top
        config = Config.load(config_file).replace(**{name: getattr(config, name) for name in given})
        config = config.replace(vocab_size=0)  # the data's, set by training
    elif not restore and "batch_size" not in given:  # small data (one account): lanes its validation fills
        fitting = batch_that_fits(open_data(data), config)
        if fitting < config.batch_size:
            err_console.print(
                f"{data}: its validation split fills {fitting} lanes: training with --batch-size {fitting}"
            )
            config = config.replace(batch_size=fitting)
    history = run_train(
        data,
        out,
        config,
        restore=restore,
        force=force,
        console=err_console,
        distribute=distribute,
        save_every=save_every,
        changed=given,
    )
    if history:
        best = min(history, key=lambda row: row.get("val_loss", row["loss"]))
        console.print(
            f"best val_loss {best.get('val_loss', float('nan')):.4f} nats/char at epoch "
            f"{int(best['epoch']) + 1}; checkpoint in {out}"
        )


def finetune(
    folders: Annotated[
        list[Path],
        typer.Argument(
            metavar="[BASE] DATA",
            help="base checkpoint folder (default: the bundled model), then one account's data "
            "prepared with --vocab BASE",
        ),
    ],
    out: OutOption = Path("checkpoints/me"),
    learning_rate: Annotated[float | None, typer.Option(help="default: the base model's rate / 10")] = None,
    num_epochs: Annotated[int, typer.Option(help="epochs at most (early stopping may end sooner)")] = FINETUNE_EPOCHS,
    patience: Annotated[
        int | None, typer.Option(help="epochs without improvement before stopping; default: the base's")
    ] = None,
    min_delta: Annotated[
        float | None, typer.Option(help="smallest val_loss drop counted as progress; default: the base's")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="default: the base's, or fewer lanes for small data")] = None,
    seq_len: Annotated[int | None, typer.Option(help="default: the base model's")] = None,
    freeze_embedding: Annotated[
        bool, typer.Option("--freeze-embedding/--no-freeze-embedding", help="keep the base model's character embedding")
    ] = Config.freeze_embedding,
    freeze_layers: Annotated[int, typer.Option(help="keep this many of the lowest LSTM layers")] = Config.freeze_layers,
    precision: PrecisionOption = Config.precision,
    force: ForceOption = False,
) -> None:
    """Fine-tune a base model on one account's tweets; prints the account's test loss before and after."""
    if len(folders) > 2:
        raise BotError(f"finetune takes [BASE] DATA, got {len(folders)} folders")
    base, data = (None, folders[0]) if len(folders) == 1 else folders
    import_keras(tensorflow=True)
    from twitterbot.training.finetune import finetune as run_finetune

    result = run_finetune(
        base,
        data,
        out,
        learning_rate=learning_rate,
        num_epochs=num_epochs,
        patience=patience,
        min_delta=min_delta,
        batch_size=batch_size,
        seq_len=seq_len,
        freeze_embedding=freeze_embedding,
        freeze_layers=freeze_layers,
        precision=precision,
        force=force,
        console=err_console,
    )
    table = Table(title=f"test loss on {data} (nats/char)")
    for name in ("base model", "fine-tuned", "change"):
        table.add_column(name, justify="right")
    before, after = result.before.loss, result.after.loss
    table.add_row(f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}")
    console.print(table)
    console.print(f"fine-tuned checkpoint in {out}")


def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint folder")],
    data: Annotated[Path, typer.Argument(help="data folder prepared with the same vocabulary")],
    split: Annotated[Split, typer.Option(help="which split of the data")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Loss (nats/char), bits per character and perplexity of a checkpoint on a data split."""
    import_keras()
    from twitterbot.training.evaluate import evaluate as run_evaluate

    with err_console.status(f"evaluating {checkpoint} on the {split} split of {data}"):  # ~10 s on a CPU
        result = run_evaluate(checkpoint, data, split)
    if as_json:
        print(json.dumps(dataclasses.asdict(result)))
        return
    table = Table(title=f"{result.checkpoint} on {result.data} ({split}, {result.chars:,} chars)")
    for name in ("loss (nats/char)", "bits/char", "perplexity"):
        table.add_column(name, justify="right")
    table.add_row(f"{result.loss:.4f}", f"{result.bits_per_char:.4f}", f"{result.perplexity:.3f}")
    console.print(table)
