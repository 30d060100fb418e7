"""Burned-in text: find it in image margins, decide what is PHI, redact every frame."""
