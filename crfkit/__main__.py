"""``python -m crfkit`` runs the command line."""

from .cli import run

run()
