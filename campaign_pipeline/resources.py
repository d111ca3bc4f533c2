"""Resources: where customers come from, what a contact costs, where reports go."""

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field
from upath import UPath

from campaign_pipeline.economics import RunPrices, price_run
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import write_atomically
from campaign_pipeline.sources.synthetic import generate_customers
from campaign_pipeline.sources.reading import ReadStats, read_customers, type_customer_table


class CustomerSource(ConfigurableResource):
    """The customer file (``CAMPAIGN_RAW_CSV``), or the seeded synthetic sample when unset."""

    path: str = Field(default="", description="Customer CSV; empty means the built-in synthetic sample")
    synthetic_customers: int = Field(default=2240, ge=1, description="Size of the synthetic sample")
    synthetic_seed: int = Field(default=0, description="Seed of the synthetic sample")
    date_order: str = Field(
        default="auto",
        description="Day/month order of Dt_Customer: auto (established from the data), day_first or month_first",
    )

    @property
    def is_synthetic(self) -> bool:
        return not self.path

    @property
    def label(self) -> str:
        if self.is_synthetic:
            return f"synthetic sample ({self.synthetic_customers} customers, seed {self.synthetic_seed})"
        return self.path

    def load(self) -> tuple[pd.DataFrame, ReadStats]:
        """The typed customer table, indexed by file line number."""
        if self.date_order not in ("auto", "day_first", "month_first"):
            raise InputDataError(
                f"unknown date_order '{self.date_order}'",
                source="the customer_source resource configuration",
                expected="auto, day_first or month_first",
                fix="Set resources: customer_source: config: date_order to one of them in the run configuration.",
            )
        if self.is_synthetic:
            frame = generate_customers(self.synthetic_customers, self.synthetic_seed)
            frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
            return type_customer_table(frame, self.label, "day_first")
        if not Path(self.path).is_file():
            raise InputDataError(
                "the file does not exist",
                source=self.path,
                expected="a readable customer CSV",
                fix="Point CAMPAIGN_RAW_CSV at the file, or unset it to use the synthetic sample.",
            )
        return read_customers(self.path, self.date_order)  # type: ignore[arg-type]

    def fingerprint(self) -> str:
        """A content hash of the input: the file's bytes, or the synthetic settings."""
        if self.is_synthetic:
            return f"synthetic:{self.synthetic_customers}:{self.synthetic_seed}"
        digest = hashlib.sha256()
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


class CampaignEconomics(ConfigurableResource):
    """Money per contact and per acceptance. By default read from the data's
    ``Z_CostContact`` / ``Z_Revenue``; set either field to override."""

    cost_per_contact: float | None = Field(default=None, description="MU per contact (default: Z_CostContact)")
    revenue_per_response: float | None = Field(
        default=None, description="MU per acceptance (default: Z_Revenue)"
    )

    def price(self, received: pd.DataFrame) -> RunPrices:
        """The run's prices for the file as received (``economics.price_run`` with these overrides)."""
        return price_run(received, self.cost_per_contact, self.revenue_per_response)


class OutputFiles(ConfigurableResource):
    """Charts, reports and exports under ``<data dir>/reports`` and ``<data dir>/exports``."""

    base_dir: str = Field(description="The data directory")

    def path(self, folder: str, name: str) -> UPath:
        """``<base_dir>/<folder>/<name>``. A relative ``name`` may not climb out of the data
        directory; an absolute path (or URL) is taken as the user's deliberate choice."""
        if UPath(name).is_absolute() or "://" in name:
            target = UPath(name)
        elif ".." in Path(name).parts:
            raise InputDataError(
                f"the file name '{name}' climbs out of the data directory",
                source="the run configuration",
                expected="a name inside the data directory, or an absolute path on purpose",
            )
        else:
            target = UPath(self.base_dir) / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_bytes(self, folder: str, name: str, data: bytes) -> UPath:
        target = self.path(folder, name)
        write_atomically(target, lambda handle: handle.write(data))
        return target

    def write_json(self, name: str, payload: dict[str, Any]) -> UPath:
        return self.write_bytes("reports", name, json.dumps(payload, indent=2, sort_keys=True).encode())

    def write_text(self, name: str, text: str) -> UPath:
        return self.write_bytes("reports", name, text.encode())

