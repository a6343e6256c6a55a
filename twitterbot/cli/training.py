"""`bot train`, `bot finetune` and `bot evaluate`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twitterbot.backend import import_keras
from twitterbot.cli.options import ForceOption, OutOption, console, err_console, option, settings, typed
from twitterbot.config import FINETUNE_EPOCHS, Config, Precision
from twitterbot.corpus.datafolder import Split
from twitterbot.errors import BotError


@settings(Config, "config", skip=("freeze_embedding", "freeze_layers"))
def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="data folder made by `bot prepare`")],
    config: Config,
    out: OutOption = Path("checkpoints/base"),
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
    from twitterbot.training.train import settings_for_run
    from twitterbot.training.train import train as run_train

    given = [name for name in dataclasses.asdict(config) if typed(ctx, name)]
    config = settings_for_run(data, config, given, config_file, restore, say=err_console.print)
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
    freeze_embedding: Annotated[bool, option(Config, "freeze_embedding")] = Config.freeze_embedding,
    freeze_layers: Annotated[int, option(Config, "freeze_layers")] = Config.freeze_layers,
    precision: Annotated[Precision, option(Config, "precision")] = Config.precision,
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
