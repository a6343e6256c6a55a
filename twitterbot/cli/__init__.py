"""The `bot` command: parses arguments and calls one function per command, nothing more."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from twitterbot.backend import import_keras  # sets the default backend, before anything imports Keras
from twitterbot.config import (
    FINETUNE_EPOCHS,
    Config,
    FilterOptions,
    Optimizer,
    Precision,
    PrepareOptions,
    SampleOptions,
)
from twitterbot.corpus.clean import CleanOptions, Links, Mentions, Replies, Retweets
from twitterbot.corpus.datafolder import Split
from twitterbot.web.export import Quantize

try:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer ≥ 0.25 vendors click
except ImportError:  # pragma: no cover - typer with click as a dependency
    from click.exceptions import ClickException, NoArgsIsHelpError
from twitterbot import errors
from twitterbot.errors import BotError


class BotCommand(typer.core.TyperCommand):
    """A command whose help reads like a Unix tool's at any width: `bot prepare [OPTIONS] INPUT...`, arguments
    by name without typer's `{…}` and `<list[str]>`, options as `-o, --out <path>` in plain text (typer's
    boxes take a third of an 80-column terminal and mark every flag `<bool>`)."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                name = _argument_name(param)
                pieces.append(name if param.required or param.metavar else f"[{name}]")
        return pieces

    def format_options(self, ctx: typer.Context, formatter: typer.core._click.HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, typer.core.TyperArgument):
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: typer.core.TyperArgument) -> str:
    """INPUT..., CHECKPOINT, or the metavar a command gave (`[BASE] DATA`) as written."""
    if param.metavar:
        return param.metavar
    return param.name.upper() + ("..." if param.nargs != 1 else "")


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Turn a pile of tweets into a bot that writes like them.",
)


def command(name: str | None = None, **settings: object) -> Callable:
    """Register a `bot` command with BotCommand's help."""
    return app.command(name, cls=BotCommand, **settings)


console = Console(soft_wrap=True)  # long paths and URLs stay on one line, for people and for scripts
err_console = Console(stderr=True, soft_wrap=True)


OutOption = Annotated[Path, typer.Option("--out", "-o", help="folder to write")]
PrecisionOption = Annotated[
    Precision,
    typer.Option(
        help="mixed_bfloat16: bfloat16 products, float32 weights and optimizer (fastest on TensorFlow, AMX CPUs)"
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="replace an existing output folder of the same kind made by twitterbot (never an input)"
    ),
]
LinkOption = Annotated[
    str, typer.Option(help="what the model's link placeholder becomes, e.g. your site (default: dropped)")
]
TopKOption = Annotated[int, typer.Option(help="draw only from the k likeliest characters (0: all)")]
TopPOption = Annotated[float, typer.Option(help="draw only from the likeliest characters covering p (1: all)")]
MaxLenOption = Annotated[int, typer.Option(help="characters per tweet at most (one not ended by then is redrawn)")]
MentionOption = Annotated[
    str, typer.Option(help="what the model's @mention placeholder becomes, e.g. @yourbot (default: dropped)")
]
OverlapOption = Annotated[
    float,
    typer.Option(
        help="reject a tweet sharing a run this long (share of its length) with a training tweet, or --max-run"
    ),
]
MaxRunOption = Annotated[
    int, typer.Option(help="reject a tweet sharing a run of this many characters with a training tweet, or --overlap")
]
NonWordsOption = Annotated[
    float,
    typer.Option(
        help="reject a tweet with more words its corpus never had than one or this share of its words (<0: any)"
    ),
]
AllowMentionsOption = Annotated[
    bool, typer.Option("--allow-mentions", help="let @handles the model wrote through (a bot should not tag people)")
]
BlocklistOption = Annotated[Path | None, typer.Option(help="more blocked words or /regular expressions/, one a line")]


@command(short_help="Read tweets and write a data folder to train on.")
def prepare(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT...", help="tweets.js / archive .zip / CSV / JSON(L) / text files, folders or globs"
        ),
    ],
    out: OutOption = Path("data/tweets"),
    retweets: Annotated[Retweets, typer.Option(help="drop or keep retweets (RT @…)")] = CleanOptions.retweets,
    links: Annotated[Links, typer.Option(help="token: one placeholder per link; drop; keep")] = CleanOptions.links,
    mentions: Annotated[
        Mentions, typer.Option(help="token: each @handle becomes a placeholder, never shown (no tagging); drop; keep")
    ] = CleanOptions.mentions,
    replies: Annotated[
        Replies, typer.Option(help="strip: drop a reply's leading @handles (X shows them apart); keep")
    ] = CleanOptions.replies,
    debris: Annotated[
        bool, typer.Option("--debris/--keep-debris", help="drop zero-width characters and emoji parts without emoji")
    ] = CleanOptions.debris,
    html: Annotated[
        bool, typer.Option("--html/--no-html", help="unescape HTML entities (&amp; → &)")
    ] = CleanOptions.unescape_html,
    nfc: Annotated[bool, typer.Option("--nfc/--no-nfc", help="normalise Unicode to NFC")] = CleanOptions.normalize,
    control: Annotated[
        bool, typer.Option("--strip-control/--keep-control", help="strip control characters")
    ] = CleanOptions.strip_control,
    dedupe: Annotated[
        bool, typer.Option("--dedupe/--keep-duplicates", help="drop exact duplicate tweets")
    ] = CleanOptions.dedupe,
    validate: Annotated[float, typer.Option(help="fraction of tweets for validation")] = PrepareOptions.validate,
    test: Annotated[float, typer.Option(help="fraction of tweets for the test split")] = PrepareOptions.test,
    coverage: Annotated[
        float, typer.Option(help="vocabulary covers this share of characters; the rest become <unk>")
    ] = PrepareOptions.coverage,
    max_vocab: Annotated[int | None, typer.Option(help="at most this many ids")] = PrepareOptions.max_vocab,
    seed: Annotated[int, typer.Option(help="seed of the tweet-level split")] = PrepareOptions.seed,
    vocab: Annotated[
        Path | None,
        typer.Option(
            help="encode with this checkpoint's (or data folder's) vocabulary instead of building one, for "
            "finetune; 'bundled' is the bundled base model's"
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Read tweets, clean them, and write a data folder (data.h5, vocab.json, prepare.json)."""
    from twitterbot.config import BUNDLED
    from twitterbot.corpus.prepare import prepare as run_prepare
    from twitterbot.corpus.vocab import Vocab

    options = CleanOptions(
        unescape_html=html,
        retweets=retweets,
        links=links,
        mentions=mentions,
        replies=replies,
        debris=debris,
        normalize=nfc,
        strip_control=control,
        dedupe=dedupe,
    )
    with Progress(
        *Progress.get_default_columns()[:2],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        if vocab == Path("bundled") and not vocab.exists():
            vocab = BUNDLED
        task = bar.add_task("reading", total=None)
        summary = run_prepare(
            inputs,
            out,
            options,
            validate=validate,
            test=test,
            seed=seed,
            coverage=coverage,
            max_vocab=max_vocab,
            vocab=Vocab.of(vocab) if vocab else None,
            force=force,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = Table(title=f"prepared {out}")
    table.add_column("file")
    table.add_column("tweets read", justify="right")
    for name, count in summary.files.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    dropped = ", ".join(f"{n:,} {reason}" for reason, n in summary.dropped.items()) or "none"
    console.print(f"kept {summary.kept:,} tweets; dropped {dropped}")
    console.print(
        "split: "
        + ", ".join(f"{name} {summary.tweets[name]:,} tweets / {summary.ids[name]:,} ids" for name in summary.tweets)
    )
    console.print(
        f"vocabulary: {summary.vocab_size} ids, covering {summary.coverage:.4%} of characters "
        f"({summary.unknown_chars:,} characters became <unk>)"
    )


@command(short_help="Train a character LSTM on a data folder (resumable).")
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
    given = [name for name in dataclasses.asdict(config) if _typed(ctx, name)]
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


@command(short_help="Fine-tune a base model on one account's tweets.")
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


@command(short_help="Write tweets with a trained model or the bundled one.")
def generate(
    checkpoint: Annotated[Path | None, typer.Argument(help="checkpoint folder (default: the bundled model)")] = None,
    temp: Annotated[
        float,
        typer.Option(
            "--temp",
            "-t",
            help="sampling temperature (>0): lower sticks to the model's likeliest, commonest phrasing; "
            "higher is more varied, more often misspelt and shorter",
        ),
    ] = SampleOptions.temperature,
    top_k: TopKOption = SampleOptions.top_k,
    top_p: TopPOption = SampleOptions.top_p,
    seed_text: Annotated[str, typer.Option(help="start every tweet with this text")] = SampleOptions.seed_text,
    count: Annotated[int, typer.Option("--count", "-n", help="how many tweets")] = 1,
    max_len: MaxLenOption = SampleOptions.max_len,
    seed: Annotated[int | None, typer.Option(help="random seed for reproducible samples")] = None,
    link: LinkOption = SampleOptions.link,
    mention: MentionOption = SampleOptions.mention,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="also write the tweets here (JSON lines)")] = None,
    filtered: Annotated[
        bool,
        typer.Option("--filter/--no-filter", help="show only tweets that pass every filter (--no-filter: raw samples)"),
    ] = True,
    overlap: OverlapOption = FilterOptions.overlap,
    max_run: MaxRunOption = FilterOptions.max_run,
    non_words: NonWordsOption = FilterOptions.non_words,
    allow_mentions: AllowMentionsOption = FilterOptions.allow_mentions,
    blocklist: BlocklistOption = None,
) -> None:
    """Write tweets with a trained model, several in parallel. Links and @mentions the model learned
    where to put are dropped unless --link / --mention say what they become. Shown are only tweets that
    pass the filters: whole, not a copy of a training tweet, no @mention of people, within X's 280, words
    the corpus had, nothing on the blocklist, no loop; it says how many candidates that took."""
    from twitterbot import fsutil
    from twitterbot.training.checkpoint import open_checkpoint
    from twitterbot.writing.filters import Filters
    from twitterbot.writing.sample import STREAMS
    from twitterbot.writing.sample import generate as run_generate

    options = SampleOptions(
        temperature=temp,
        top_k=top_k,
        top_p=top_p,
        max_len=max_len,
        seed_text=seed_text,
        seed=seed,
        link=link,
        mention=mention,
    )
    filter_options = FilterOptions(
        overlap=overlap,
        max_run=max_run,
        non_words=non_words,
        allow_mentions=allow_mentions,
        blocklist=str(blocklist or ""),
    )
    ckpt = open_checkpoint(checkpoint)
    filters = Filters(filter_options, ckpt.novelty(), options.mention, words=ckpt.words()) if filtered else None
    tweets = run_generate(ckpt, count, options, filters)
    with contextlib.ExitStack() as stack:
        lines = None
        if out:
            lines = stack.enter_context(open(stack.enter_context(fsutil.atomic_path(out)), "w", encoding="utf-8"))
        progress = stack.enter_context(  # tweets come a group of STREAMS at a time: show the wait for the next
            Progress(*Progress.get_default_columns(), console=err_console, transient=True, disable=count <= STREAMS)
        )
        written = progress.add_task("writing tweets", total=count)
        for tweet in tweets:  # each as soon as its group is drawn
            console.print(tweet, markup=False, highlight=False)
            console.rule(style="dim")
            if lines:
                lines.write(json.dumps({"text": tweet}, ensure_ascii=False) + "\n")
            progress.advance(written)
    if filters:
        rejected = ", ".join(f"{n} {reason}" for reason, n in tweets.rejected.most_common()) or "none"
        missing = [what for what, index in (("copies", filters.novelty), ("words", filters.words)) if index is None]
        unchecked = f" ({' and '.join(missing)} not checked: the checkpoint has no index of them)" if missing else ""
        cost = f" ({tweets.drawn / tweets.passed:.1f} candidates a tweet)" if tweets.passed else ""
        err_console.print(
            f"{tweets.passed} of {tweets.drawn} candidates passed the filters{cost}{unchecked}; rejected: {rejected}",
            highlight=False,
        )
        if tweets.passed < count:
            raise BotError(f"only {tweets.passed} of {count} tweets passed the filters in {tweets.drawn} candidates")


@command(short_help="A checkpoint's loss, bits per character and perplexity.")
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


@command(short_help="Export a checkpoint as a web page that writes tweets.")
def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint folder")],
    out: OutOption = Path("webexport/bot"),
    quantize: Annotated[
        Quantize | None,
        typer.Option(help="weights' precision (default: the checkpoint's own; float16 for the bundled model)"),
    ] = None,
    temp: Annotated[float, typer.Option("--temp", help="the page's default temperature")] = SampleOptions.temperature,
    top_k: TopKOption = SampleOptions.top_k,
    top_p: TopPOption = SampleOptions.top_p,
    max_len: MaxLenOption = SampleOptions.max_len,
    link: LinkOption = SampleOptions.link,
    mention: MentionOption = SampleOptions.mention,
    overlap: OverlapOption = FilterOptions.overlap,
    max_run: MaxRunOption = FilterOptions.max_run,
    non_words: NonWordsOption = FilterOptions.non_words,
    allow_mentions: AllowMentionsOption = FilterOptions.allow_mentions,
    blocklist: BlocklistOption = None,
    novelty: Annotated[
        bool,
        typer.Option("--novelty/--no-novelty", help="carry the training tweets' index, so the page refuses copies too"),
    ] = True,
    force: ForceOption = False,
) -> None:
    """Export a checkpoint as a TF.js model and a web page that writes tweets in the browser. The page
    shows only what passes `bot generate`'s filters, with the same options."""
    import_keras()
    from twitterbot.training.checkpoint import open_checkpoint
    from twitterbot.web.export import export as run_export

    options = SampleOptions(temperature=temp, top_k=top_k, top_p=top_p, max_len=max_len, link=link, mention=mention)
    filter_options = FilterOptions(
        overlap=overlap,
        max_run=max_run,
        non_words=non_words,
        allow_mentions=allow_mentions,
        blocklist=str(blocklist or ""),
    )
    ckpt = open_checkpoint(checkpoint)
    sizes = run_export(ckpt, out, quantize, options, force=force, filters=filter_options, novelty=novelty)
    index = f", {sizes['novelty_bytes'] / 1e6:.2f} MB novelty index" if sizes["novelty_bytes"] else ""
    index += f", {sizes['words_bytes'] / 1e6:.2f} MB word list" if sizes["words_bytes"] else ""
    console.print(
        f"exported {checkpoint} to {out}: {sizes['weights_bytes'] / 1e6:.2f} MB of {sizes['quantize']} "
        f"weights in {sizes['shards']} shard(s){index}; view it with `bot serve {out}`"
    )


@command("import-web", short_help="Make a checkpoint of a model fine-tuned in the page.")
def import_web(
    source: Annotated[Path, typer.Argument(help="a model the page wrote (its .zip, or that unpacked) or an export")],
    out: OutOption = Path("checkpoints/web"),
    force: ForceOption = False,
) -> None:
    """Make a checkpoint of a model fine-tuned in the page, for `bot generate`, `bot post` or `bot export`."""
    from twitterbot.web.export import import_web as run_import

    with err_console.status(f"reading {source}"):  # several seconds: building the model and its weights
        run_import(source, out, force=force)
    console.print(f"imported {source} as the checkpoint {out}; try `bot generate {out}`")


@command(short_help="Serve an export folder to this machine's browser.")
def serve(
    folder: Annotated[Path, typer.Argument(help="export folder made by `bot export`")] = Path("webexport/bot"),
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = 8000,
) -> None:
    """Serve an export folder on 127.0.0.1 so a browser can open the page; Ctrl-C stops it."""
    from twitterbot.web.serve import serve as run_serve

    def ready(url: str) -> None:
        console.print(f"serving {folder} at {url} (Ctrl-C to stop)", highlight=False)
        console.file.flush()  # the URL must reach a pipe (a test, a script) before the first request

    run_serve(folder, port, on_ready=ready)
    console.print("stopped")


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave this option on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"  # typer may vendor click's enum: compare names


def main() -> None:
    """Entry point: user mistakes become one red line and exit status 1 (2 for a bad command line), never a
    traceback or a box."""
    signal.signal(signal.SIGTERM, errors.terminate)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        status = app(standalone_mode=False)
    except NoArgsIsHelpError as help_:
        help_.show()
        status = 0
    except ClickException as error:  # an unknown option, a value of the wrong kind, a missing argument
        where = f" (see `{error.ctx.command_path} --help`)" if getattr(error, "ctx", None) else ""
        _error_line(f"{error.format_message()}{where}".replace("\n", " "))
        errors.leave(error.exit_code)
    except BotError as error:
        _error_line(str(error))
        errors.leave(1)
    except BrokenPipeError:  # `bot generate -n 100 | head -3`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        errors.leave(1)
    except OSError as error:  # disk full, permissions: name the file, keep the traceback out
        _error_line(errors.os_error_line(error))
        errors.leave(1)
    if status == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into a silent 130
        err_console.print("interrupted")
    sys.exit(status or 0)


def _error_line(text: str) -> None:
    err_console.print(Text.assemble(("error: ", "bold red"), text), highlight=False, soft_wrap=True)


from twitterbot.cli import bot  # noqa: E402, F401 - registers fetch, post and search on `app`

if __name__ == "__main__":  # `python -m twitterbot.cli`: run the imported module, the one cli_bot registers on
    from twitterbot.cli import main as registered_main

    registered_main()
