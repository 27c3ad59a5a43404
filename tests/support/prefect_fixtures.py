"""Session fixtures (filled in by the part that needs them)."""
