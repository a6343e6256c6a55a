"""`python -m twitterbot.cli`: the `bot` command."""

from twitterbot.cli import main

main()
