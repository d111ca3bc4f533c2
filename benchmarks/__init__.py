"""Benchmarks of the campaign pipeline: Dagster materialisation against a plain reference."""
