"""`bot export`, `bot import-web` and `bot serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twitterbot.backend import import_keras
from twitterbot.cli.options import ForceOption, OutOption, console, err_console, settings
from twitterbot.config import FilterOptions, SampleOptions
from twitterbot.web.exportfolder import Quantize
from twitterbot.web.serve import PORT


@settings(FilterOptions, "filtering")
@settings(SampleOptions, "sampling", skip=("seed_text", "seed"))
def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint folder")],
    sampling: SampleOptions,
    filtering: FilterOptions,
    out: OutOption = Path("webexport/bot"),
    quantize: Annotated[
        Quantize | None,
        typer.Option(help="weights' precision (default: the checkpoint's own; float16 for the bundled model)"),
    ] = None,
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

    ckpt = open_checkpoint(checkpoint)
    sizes = run_export(ckpt, out, quantize, sampling, force=force, filters=filtering, novelty=novelty)
    index = f", {sizes['novelty_bytes'] / 1e6:.2f} MB novelty index" if sizes["novelty_bytes"] else ""
    index += f", {sizes['words_bytes'] / 1e6:.2f} MB word list" if sizes["words_bytes"] else ""
    console.print(
        f"exported {checkpoint} to {out}: {sizes['weights_bytes'] / 1e6:.2f} MB of {sizes['quantize']} "
        f"weights in {sizes['shards']} shard(s){index}; view it with `bot serve {out}`"
    )


def import_web(
    source: Annotated[Path, typer.Argument(help="a model the page wrote (its .zip, or that unpacked) or an export")],
    out: OutOption = Path("checkpoints/web"),
    force: ForceOption = False,
) -> None:
    """Make a checkpoint of a model fine-tuned in the page, for `bot generate`, `bot post` or `bot export`."""
    from twitterbot.web.importweb import import_web as run_import

    with err_console.status(f"reading {source}"):  # several seconds: building the model and its weights
        run_import(source, out, force=force)
    console.print(f"imported {source} as the checkpoint {out}; try `bot generate {out}`")


def serve(
    folder: Annotated[Path, typer.Argument(help="export folder made by `bot export`")] = Path("webexport/bot"),
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (0: any free port)")] = PORT,
) -> None:
    """Serve an export folder on 127.0.0.1 so a browser can open the page; Ctrl-C stops it."""
    from twitterbot.web.serve import serve as run_serve

    def ready(url: str) -> None:
        console.print(f"serving {folder} at {url} (Ctrl-C to stop)", highlight=False)
        console.file.flush()  # the URL must reach a pipe (a test, a script) before the first request

    run_serve(folder, port, on_ready=ready)
    console.print("stopped")
