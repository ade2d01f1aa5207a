"""``python -m aequatio`` runs the command line."""

from aequatio.cli import app

app()
