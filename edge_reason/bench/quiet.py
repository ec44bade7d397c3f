"""Third-party chatter off during a benchmark: torch, torchao, transformers and LiteRT
log deprecation notices and optional-kernel load failures that say nothing about the
measurement, and they drown the progress bar. Errors still show."""

from __future__ import annotations

import logging
import os
import warnings

_LOGGERS = ("torch", "torchao", "transformers", "optimum", "onnxruntime", "absl")
# read by the libraries' native code at import, so set before they load
_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TORCH_CPP_LOG_LEVEL": "ERROR",
    "TORCH_LOGS": "-all",  # "-" sets torch's own loggers to errors only
}


def quiet_third_party() -> None:
    """Silence the libraries' warnings in this process (a worker calls it too)."""
    for name, value in _ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
