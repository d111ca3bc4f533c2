"""Asset definitions, one module per group; thin wiring around ``campaign_pipeline.transforms``."""
