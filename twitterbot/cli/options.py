"""What the `bot` commands share: the consoles they print to, the options several of them take, and
`settings`, which makes a command's options from a settings dataclass (declared once, in `config`)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(soft_wrap=True)  # long paths and URLs stay on one line, for people and for scripts
err_console = Console(stderr=True, soft_wrap=True)


OutOption = Annotated[Path, typer.Option("--out", "-o", help="folder to write")]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="replace an existing output folder of the same kind made by twitterbot (never an input)"
    ),
]


def typed(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave this option on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"  # typer may vendor click's enum: compare names


def option(cls: type, name: str) -> typer.models.OptionInfo:
    """The command-line option of one setting, as `config.setting` declared it: for a command that takes
    that field alone (its default its own), not the whole dataclass."""
    field = next(field for field in dataclasses.fields(cls) if field.name == name)
    return typer.Option(*field.metadata["flags"], help=field.metadata["help"], metavar=field.metadata["metavar"])


def settings(cls: type, into: str, skip: Iterable[str] = ()) -> Callable[[Callable], Callable]:
    """Give a command an option for every field of the settings dataclass `cls` declared with
    `config.setting` (its default, help and flags written there, once), except `skip`; the command receives
    them as one `cls`, built (and so checked) before it runs, in its parameter `into`."""
    hints = typing.get_type_hints(cls)
    chosen = [field for field in dataclasses.fields(cls) if "help" in field.metadata and field.name not in skip]
    options = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=field.default,
            annotation=Annotated[hints[field.name], option(cls, field.name)],
        )
        for field in chosen
    ]

    def decorate(function: Callable) -> Callable:
        own = [p for p in inspect.signature(function, eval_str=True).parameters.values() if p.name != into]
        assert not {p.name for p in own} & {f.name for f in chosen}, f"{function.__name__}: a setting twice"

        @functools.wraps(function)
        def command(**values: object) -> object:
            made = cls(**{field.name: values.pop(field.name) for field in chosen})
            return function(**values, **{into: made})

        parameters = own + options
        command.__signature__ = inspect.Signature(parameters)
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command

    return decorate
