"""`edge-reason recipe`: the training recipes that build bundled models."""

from __future__ import annotations

import click

from ..export.recipes.babi_arith.command import babi_arith


@click.group("recipe")
def recipe() -> None:
    """Train, distill, quantize and bundle a model with a built-in recipe."""


recipe.add_command(babi_arith)
