"""Resources: where customers come from, what a contact costs, where reports go."""

import hashlib
import json
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field
from upath import UPath

from campaign_pipeline.economics import Budget, RunPrices, price_run
from campaign_pipeline.errors import InputDataError
from campaign_pipeline.io_managers import write_atomically
from campaign_pipeline.settings import SYNTHETIC_CUSTOMERS, SYNTHETIC_SEED
from campaign_pipeline.sources.prospects import generate_prospects, read_prospects, type_prospect_table
from campaign_pipeline.sources.synthetic import generate_customers
from campaign_pipeline.sources.reading import ReadStats, Rejections, iter_customer_chunks, read_customers
from campaign_pipeline.sources.reading import type_customer_table


class _FileOrSynthetic(ConfigurableResource):
    """A CSV named by an environment variable, or seeded synthetic rows when it is empty."""

    @property
    def is_synthetic(self) -> bool:
        return not self.path

    @property
    def label(self) -> str:
        """Where the rows come from: the file, or the synthetic generator's settings."""
        return self._synthetic_label() if self.is_synthetic else self.path

    def _synthetic_label(self) -> str:
        raise NotImplementedError

    def _existing_file(self, what: str, variable: str, instead: str) -> str:
        if not Path(self.path).is_file():
            raise InputDataError(
                "the file does not exist",
                source=self.path,
                expected=f"a readable {what} CSV",
                fix=f"Point {variable} at the file, or unset it to use {instead}.",
            )
        return self.path


class CustomerSource(_FileOrSynthetic):
    """The customer file (``CAMPAIGN_RAW_CSV``), or the seeded synthetic sample when unset."""

    path: str = Field(default="", description="Customer CSV; empty means the built-in synthetic sample")
    synthetic_customers: int = Field(default=SYNTHETIC_CUSTOMERS, ge=1, description="Size of the synthetic sample")
    synthetic_seed: int = Field(default=SYNTHETIC_SEED, description="Seed of the synthetic sample")
    date_order: str = Field(
        default="auto",
        description="Day/month order of Dt_Customer: auto (established from the data), day_first or month_first",
    )
    bad_rows: Literal["refuse", "quarantine"] = Field(
        default="refuse",
        description="A line that breaks a reading or contract rule: refuse the file (naming the line), or "
        "quarantine it in rejected_customers and process the rest, up to max_bad_fraction",
    )
    max_bad_fraction: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="Under quarantine, refuse the file when more than this share of its lines is set aside",
    )

    def _synthetic_label(self) -> str:
        return f"synthetic sample ({self.synthetic_customers} customers, seed {self.synthetic_seed})"

    def rejections(self) -> Rejections:
        """A collector for this source's bad lines, by its ``bad_rows`` policy."""
        return Rejections(self.bad_rows)

    def _check_date_order(self) -> None:
        if self.date_order not in ("auto", "day_first", "month_first"):
            raise InputDataError(
                f"unknown date_order '{self.date_order}'",
                source="the customer_source resource configuration",
                expected="auto, day_first or month_first",
                fix="Set resources: customer_source: config: date_order to one of them in the run configuration.",
            )

    def load(self, rejections: Rejections | None = None) -> tuple[pd.DataFrame, ReadStats]:
        """The typed customer table, indexed by file line number; bad lines are refused,
        or set aside in ``rejections`` when it quarantines."""
        self._check_date_order()
        if self.is_synthetic:
            frame = generate_customers(self.synthetic_customers, self.synthetic_seed)
            frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
            return type_customer_table(frame, self.label, "day_first", rejections)
        path = self._existing_file("customer", "CAMPAIGN_RAW_CSV", "the synthetic sample")
        return read_customers(path, self.date_order, rejections)  # type: ignore[arg-type]

    def chunks(self, rejections: Rejections, chunk_lines: int = 100_000) -> tuple[Iterable[pd.DataFrame], Callable[[], ReadStats]]:
        """The typed table in chunks of at most ``chunk_lines`` lines (the synthetic sample in
        one), each indexed by file line, and a function that gives the whole input's
        ``ReadStats`` once they are all read. Nothing is read until the chunks are."""
        if self.is_synthetic:
            whole: list[ReadStats] = []

            def synthetic() -> Iterator[pd.DataFrame]:
                frame, stats = self.load(rejections)
                whole.append(stats)
                yield frame

            return synthetic(), lambda: whole[0]
        self._check_date_order()
        path = self._existing_file("customer", "CAMPAIGN_RAW_CSV", "the synthetic sample")
        chunks = iter_customer_chunks(path, chunk_lines=chunk_lines, date_order=self.date_order, rejections=rejections)
        return chunks, lambda: chunks.stats

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
    """Money per contact and per acceptance, and an optional budget. Prices are read from
    the data's ``Z_CostContact`` / ``Z_Revenue`` unless set here; without a budget every
    customer worth contacting is contacted."""

    cost_per_contact: float | None = Field(default=None, description="MU per contact (default: Z_CostContact)")
    revenue_per_response: float | None = Field(
        default=None, description="MU per acceptance (default: Z_Revenue)"
    )
    max_contacts: int | None = Field(default=None, ge=0, description="Contact at most this many customers")
    budget_mu: float | None = Field(default=None, ge=0, description="Spend at most this much on contacts, MU")

    def price(self, received: pd.DataFrame) -> RunPrices:
        """The run's prices and budget for the file as received (``economics.price_run``)."""
        return price_run(
            received,
            self.cost_per_contact,
            self.revenue_per_response,
            Budget(max_contacts=self.max_contacts, budget_mu=self.budget_mu),
        )


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

    def read_bytes(self, folder: str, name: str) -> bytes | None:
        """The file's bytes, or None when it is not there."""
        target = self.path(folder, name)
        return target.read_bytes() if target.exists() else None

    def write_json(self, name: str, payload: dict[str, Any]) -> UPath:
        return self.write_bytes("reports", name, json.dumps(payload, indent=2, sort_keys=True).encode())

    def write_text(self, name: str, text: str) -> UPath:
        return self.write_bytes("reports", name, text.encode())



class ProspectSource(_FileOrSynthetic):
    """The prospect file (``CAMPAIGN_PROSPECTS_CSV``): demographics only, read by the
    customer reader's rules. Empty means seeded synthetic prospects (``generate_prospects``)
    of the customer sample's seed and size."""

    path: str = Field(default="", description="Prospect CSV; empty means synthetic prospects")
    synthetic_prospects: int = Field(default=SYNTHETIC_CUSTOMERS, ge=1, description="Size of the synthetic prospects")
    synthetic_seed: int = Field(default=SYNTHETIC_SEED, description="Seed of the synthetic prospects (the customer sample's)")

    def _synthetic_label(self) -> str:
        return f"synthetic prospects ({self.synthetic_prospects}, seed {self.synthetic_seed})"

    def load(self) -> tuple[pd.DataFrame, ReadStats]:
        """The typed prospect table, indexed by file line number."""
        if self.is_synthetic:
            frame = generate_prospects(self.synthetic_prospects, self.synthetic_seed)
            frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
            return type_prospect_table(frame, self.label)
        return read_prospects(self._existing_file("prospect", "CAMPAIGN_PROSPECTS_CSV", "synthetic prospects"))
