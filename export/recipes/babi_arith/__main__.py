"""``python -m edge_reason.export.recipes.babi_arith run --work DIR [--smoke] ...``: the
same command as ``edge-reason recipe babi-arith``, defined with the others in edge_reason/cli."""

from edge_reason.cli.recipe import babi_arith

babi_arith(prog_name="python -m edge_reason.export.recipes.babi_arith")
