"""`python -m cityfabric` is the `cityfabric` command."""

from cityfabric.cli import app

app()
