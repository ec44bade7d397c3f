"""The `edge-reason` command line: a thin layer over the Python API.

Each command group lives in its own module and is registered here.
"""

from __future__ import annotations

import importlib

import click

# module name -> names of the click commands it defines
_COMMANDS = {
    "run": ["generate", "info"],
    "chat": ["chat"],
    "models": ["make_model"],
    "rules": ["rules"],
    "deploy": ["deploy"],
    "doctor": ["doctor"],
    "export": ["export", "keygen"],
    "reason": ["ask", "verify", "evaluate", "index"],
    "agent": ["agent"],
    "distill": ["distill"],
    "bench": ["bench"],
    "recipe": ["recipe"],
    "serve": ["serve"],
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-reason")
def main() -> None:
    """Run and check small reasoning models on edge devices."""


for _module, _names in _COMMANDS.items():
    _mod = importlib.import_module(f"{__name__}.{_module}")
    for _name in _names:
        main.add_command(getattr(_mod, _name))
