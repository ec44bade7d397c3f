"""Ed25519 signing of bundle manifests (verification: edge_reason/bundle.py).

Keys are PEM files: KEY holds the private key (PKCS#8, written mode 0600),
KEY.pub the public key that devices list in Engine.load(trusted_keys=[...]).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..bundle import signing_bytes
from ..errors import EdgeReasonError


class SigningKeyError(EdgeReasonError, ValueError):
    """A signing key file that cannot be used."""


def generate_key(path: Path) -> Path:
    """Write a new private key to `path` and its public key to `path`.pub; return the latter."""
    public_path = path.with_name(path.name + ".pub")
    for p in (path, public_path):
        if p.exists():
            raise SigningKeyError(f"{p}: exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise SigningKeyError(f"{path}: not a readable unencrypted PEM private key ({e})") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 private key")
    return key


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, str]:
    """The manifest's "signature" entry."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "algorithm": "ed25519",
        "public_key": public.hex(),
        "value": key.sign(signing_bytes(manifest)).hex(),
    }
