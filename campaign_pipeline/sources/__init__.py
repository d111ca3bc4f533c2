"""Where customers come from: the file reader and the seeded synthetic generator (no Dagster)."""
