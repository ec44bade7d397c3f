"""Rule-based fallbacks: declarative rule packs that answer without a model."""
