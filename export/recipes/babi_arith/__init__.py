"""The default reasoning model's recipe: bAbI 20 tasks and multi-digit addition.

``python -m edge_reason.export.recipes.babi_arith run --work DIR`` (or ``edge-reason recipe
babi-arith run``) prepares the data, trains a tokenizer and a teacher, distills a student,
quantizes it to INT4, evaluates everything on the held-out validation split and writes the
bundle. See README.md in this folder.
"""
