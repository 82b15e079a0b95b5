"""Benchmarks: how close litwatch runs to the network's speed limit (`python -m benchmarks.backfill`)."""
