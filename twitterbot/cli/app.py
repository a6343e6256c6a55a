"""The `bot` application: its commands in the order `bot --help` lists them, help that reads like a Unix
tool's, and the entry point that turns every user mistake into one line."""

from __future__ import annotations

import os
import signal
import sys

import typer
from rich.text import Text

from twitterbot import errors
from twitterbot.cli import corpus, search, social, training, web, writing
from twitterbot.cli.options import err_console
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

    def format_options(self, ctx: typer.Context, formatter) -> None:  # formatter: click's HelpFormatter
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
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Turn a pile of tweets into a bot that writes like them.",
)
COMMANDS = [  # (name, function, the line `bot --help` shows): the pipeline's order
    ("prepare", corpus.prepare, "Read tweets and write a data folder to train on."),
    ("train", training.train, "Train a character LSTM on a data folder (resumable)."),
    ("finetune", training.finetune, "Fine-tune a base model on one account's tweets."),
    ("generate", writing.generate, "Write tweets with a trained model or the bundled one."),
    ("evaluate", training.evaluate, "A checkpoint's loss, bits per character and perplexity."),
    ("export", web.export, "Export a checkpoint as a web page that writes tweets."),
    ("import-web", web.import_web, "Make a checkpoint of a model fine-tuned in the page."),
    ("serve", web.serve, "Serve an export folder to this machine's browser."),
    ("fetch", social.fetch, "Fetch an account's latest tweets through the X API (paid)."),
    ("post", social.post, "Post what the model writes (a dry run unless --live)."),
    ("search", search.search, "Search hyperparameters with optuna."),
]
for name, function, line in COMMANDS:
    app.command(name, cls=BotCommand, short_help=line)(function)


@app.callback(invoke_without_command=True)
def _help_without_a_command(ctx: typer.Context) -> None:
    """`bot` alone prints the help (and exits 0) rather than a usage error."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def main() -> None:
    """Entry point: user mistakes become one red line and exit status 1 (2 for a bad command line), never a
    traceback or a box."""
    signal.signal(signal.SIGTERM, errors.terminate)
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        status = app(prog_name="bot", standalone_mode=False)
    except typer.Exit as done:
        status = done.exit_code
    except typer.TyperException as error:  # click's usage errors: an unknown option, a bad value, a missing argument
        where = f" (see `{error.ctx.command_path} --help`)" if getattr(error, "ctx", None) else ""
        _error_line(f"{error.format_message()}{where}".replace("\n", " "))
        errors.leave(getattr(error, "exit_code", 2))
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
