"""``python -m edge_reason.export.recipes.babi_arith run --work DIR [--smoke] ...``"""

from .command import babi_arith

babi_arith(prog_name="python -m edge_reason.export.recipes.babi_arith")
