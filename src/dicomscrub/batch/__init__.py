"""Batch processing: discovery, grouping, per-file work and executors."""
