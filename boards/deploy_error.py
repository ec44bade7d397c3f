"""The error deploy and rollback raise when they refuse or fail."""

from __future__ import annotations

from ..errors import EdgeReasonError


class DeployError(EdgeReasonError, RuntimeError):
    """A deployment or rollback that was refused or failed; the previous version stays active."""
