"""Private audit artefacts: per-file sidecars (and, later, the crosswalk)."""
