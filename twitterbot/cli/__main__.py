"""`python -m twitterbot.cli`: the `bot` command."""

from twitterbot.cli.app import main

main()
