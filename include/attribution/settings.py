"""The one settings object: every knob of the pipeline, read from ``ATTRIBUTION_*`` variables.

Nothing reads the environment at import time; call :func:`load_settings` where settings are
needed, so DAG files parse with an empty environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The repository root; relative paths in settings are resolved against it."""

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DBT_MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_EXECUTABLE = PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt"
# What each run's build leaves to the data-quality DAG (README: data tests): the tests of the views over
# every event, and the column checks (not_null, accepted_values: 121 of the 150 tests, each a query
# whose start-up costs more than its check). Each run keeps the keys, relationships and
# reconciliations, on the rows it wrote.
PER_RUN_TEST_EXCLUDE = ("tag:whole_table", "test_name:not_null", "test_name:accepted_values")
"""dbt lives in its own environment (see requirements-dbt.txt)."""

Target = Literal["duckdb", "bigquery"]
_TARGETS: tuple[str, ...] = ("duckdb", "bigquery")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,1023}$")
_GA4_SOURCE = re.compile(r"^(?P<project>[a-z][a-z0-9.:-]{4,}[a-z0-9])\.(?P<dataset>[A-Za-z0-9_]{1,1024})$")
_GA4_TABLE = re.compile(r"^[A-Za-z0-9_]{1,1023}\*?$")
_GA4_INTRADAY = ("auto", "true", "false")
_REPORTING_IDENTITIES = ("device", "blended")
_DBT_PROCESSES = ("worker", "subprocess")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
GA4_HISTORY_TABLE = "ga4_events"
"""The embedded warehouse's GA4-shaped history table, in the raw schema."""


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _env(name: str) -> str:
    return f"ATTRIBUTION_{name.upper()}"


def _setting(default, doc: str, secret: bool = False):
    """A settings field with its default and a one-line description (shown in the README table)."""
    return field(default=default, repr=not secret, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Typed configuration; each field maps to ``ATTRIBUTION_<FIELD>``."""

    target: Target = _setting("duckdb", "`duckdb` (embedded) or `bigquery`")
    duckdb_path: Path = _setting(Path("data/warehouse.duckdb"), "the embedded warehouse file")
    duckdb_memory_limit: str = _setting(
        "2GB", "memory DuckDB may use while loading a batch; a bigger batch spills to disk (any file size loads)"
    )
    landing_dir: str = _setting(
        "data/landing", "CSV batches waiting to be loaded: a directory or a `gs://bucket/prefix` (Cloud Storage)"
    )
    synthetic_events: int = _setting(300, "events the DAG's generator writes per run; 0 turns it off")
    history_days: int = _setting(30, "days of GA4-shaped history seeded into an empty embedded warehouse")
    task_retries: int = _setting(3, "retries of every task, with exponential backoff")
    retry_delay_seconds: int = _setting(
        20, "first retry delay of every task; doubles with each retry (capped at 5 min)"
    )
    quarantine_alert_rate: float = _setting(
        0.05, "alert when a run quarantines more than this share of the rows it reads (or rejects a file)"
    )
    schedule: str = _setting(
        "*/5 * * * *",
        "the DAG's cron schedule: the safety net beside the runs each landing starts, and the demo's synthetic traffic",
    )
    landing_poll_seconds: float = _setting(
        1.0, "how often the triggerer looks for landed batches, each starting a run; 0 = runs on the schedule only"
    )
    quality_schedule: str = _setting(
        "@hourly", "when the data-quality DAG runs every data test on every row (each run tests only its own rows)"
    )
    run_timeout_minutes: int = _setting(
        30, "a run still going after this long fails and alerts (the deadline); its unfinished tasks stop"
    )
    bq_project: str | None = _setting(None, "GCP project that holds the datasets and runs the jobs")
    bq_dataset: str = _setting("attribution", "dataset for raw tables and models")
    bq_location: str = _setting("US", "BigQuery location")
    bq_api_endpoint: str | None = _setting(None, "BigQuery API endpoint override")
    bq_token: str | None = _setting(
        None, "OAuth access token for dbt on BigQuery; unset = Application Default Credentials", secret=True
    )
    bq_maximum_bytes_billed: int = _setting(
        10_000_000_000, "per-query cap on bytes billed (loader and dbt): a query over it fails instead of costing"
    )
    ga4_source: str = _setting(
        "bigquery-public-data.ga4_obfuscated_sample_ecommerce",
        "`project.dataset` with GA4 `events_*` tables; empty = no GA4 history (BigQuery target)",
    )
    ga4_table: str = _setting(
        "events_*",
        "table in ATTRIBUTION_GA4_SOURCE to read: the `events_*` wildcard (pruned by `_TABLE_SUFFIX`)"
        " or one table / view with the export's columns (pruned by `event_date`)",
    )
    ga4_intraday: str = _setting(
        "auto",
        "read GA4's streaming export (`events_intraday_YYYYMMDD` beside the daily tables) so today is"
        " attributed within minutes: `auto` where the export has intraday tables, `true` (a build fails"
        " without one), `false` (daily tables only)",
    )
    ga4_intraday_interval_seconds: int = _setting(
        300,
        "how often GA4's export is watched (table metadata, free API calls) and the shortest time between"
        " two builds that read its intraday tables: each read scans them whole, so this bounds the cost",
    )
    reporting_currency: str = _setting(
        "USD",
        "ISO 4217 code of revenue and spend: a cost file's row in another currency is quarantined (GA4 revenue"
        " is read in USD unless the dbt var `ga4_revenue_field` says otherwise)",
    )
    reporting_identity: str = _setting(
        "device",
        "whose journeys attribution follows: `device` (a browser or app instance, GA4's user_pseudo_id) or"
        " `blended` (every device seen with the site's user_id is that user's, before and after the login)",
    )
    google_ads_dataset: str | None = _setting(
        None,
        "`project.dataset` the Google Ads Data Transfer writes to: its daily campaign cost is read as spend"
        " of google / cpc (BigQuery target); unset = off",
    )
    google_ads_customer_ids: str = _setting(
        "", "comma-separated Google Ads customer ids (digits) whose transferred tables are read"
    )
    unwanted_referrals: str = _setting(
        "",
        "comma-separated hosts whose referrals carry no source (subdomains included), e.g. a payment"
        " provider's; referrals from the session's own site never do",
    )
    ga4_parquet: Path | None = _setting(
        None,
        "a GA4 export Parquet file (raw.ga4_events' columns) that seeds an empty embedded warehouse"
        " instead of synthetic history",
    )
    dbt_process: str = _setting(
        "worker",
        "how builds reach dbt: `worker` (a long-lived dbt process keeps dbt imported and the project parsed,"
        " started with the stack and again when it dies) or `subprocess` (a dbt process per build)",
    )
    dashboard_url: str = _setting(
        "http://127.0.0.1:8501",
        "where the dashboard is reached: `make dashboard` serves on its host and port, the Airflow UI links to it",
    )

    def __post_init__(self) -> None:
        if self.target not in _TARGETS:
            raise SettingsError(f"{_env('target')} must be one of {', '.join(_TARGETS)}, got {self.target!r}")
        if self.run_timeout_minutes < 1:
            raise SettingsError(f"{_env('run_timeout_minutes')} must be >= 1, got {self.run_timeout_minutes}")
        for name in ("synthetic_events", "history_days", "task_retries", "retry_delay_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{_env(name)} must be >= 0, got {getattr(self, name)}")
        for host in self.unwanted_referral_hosts:
            if not _HOST.match(host):
                raise SettingsError(f"{_env('unwanted_referrals')} must list host names, got {host!r}")
        if self.landing_is_remote and not re.match(
            r"^gs://[a-z0-9][a-z0-9._-]{1,220}/[^*?\[\]#]*[^/*?\[\]#]/?$", self.landing_dir
        ):
            raise SettingsError(
                f"{_env('landing_dir')} must be a local directory or gs://bucket/prefix, got {self.landing_dir!r}"
            )
        if not re.match(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", self.duckdb_memory_limit):
            limit = self.duckdb_memory_limit
            raise SettingsError(f"{_env('duckdb_memory_limit')} must look like 2GB or 512MiB, got {limit!r}")
        if self.ga4_intraday.lower() not in _GA4_INTRADAY:
            raise SettingsError(
                f"{_env('ga4_intraday')} must be one of {', '.join(_GA4_INTRADAY)}, got {self.ga4_intraday!r}"
            )
        if self.ga4_intraday_interval_seconds < 1:
            raise SettingsError(
                f"{_env('ga4_intraday_interval_seconds')} must be >= 1, got {self.ga4_intraday_interval_seconds}"
            )
        if not re.fullmatch(r"[A-Z]{3}", self.reporting_currency):
            raise SettingsError(
                f"{_env('reporting_currency')} must be an ISO 4217 code of three capital letters, got"
                f" {self.reporting_currency!r}"
            )
        for name, allowed in (("reporting_identity", _REPORTING_IDENTITIES), ("dbt_process", _DBT_PROCESSES)):
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{_env(name)} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.google_ads_dataset and not re.fullmatch(
            r"[a-z][a-z0-9-]{4,61}[a-z0-9]\.\w{1,1024}", self.google_ads_dataset
        ):
            raise SettingsError(
                f"{_env('google_ads_dataset')} must be `project.dataset`, got {self.google_ads_dataset!r}"
            )
        if any(not re.fullmatch(r"\d{1,20}", cid) for cid in self.google_ads_customers):
            raise SettingsError(
                f"{_env('google_ads_customer_ids')} must be customer ids of digits only (no dashes), comma-separated,"
                f" got {self.google_ads_customer_ids!r}"
            )
        if self.google_ads_dataset and self.target != "bigquery":
            raise SettingsError(
                f"{_env('google_ads_dataset')} is read by the BigQuery target only ({_env('target')}=bigquery);"
                " on DuckDB land the spend as cost files"
            )
        if self.google_ads_dataset and not self.google_ads_customers:
            raise SettingsError(
                f"{_env('google_ads_dataset')} is set: {_env('google_ads_customer_ids')} must name the customer"
                " ids whose tables to read"
            )
        if self.landing_poll_seconds < 0:
            raise SettingsError(f"{_env('landing_poll_seconds')} must be >= 0, got {self.landing_poll_seconds}")
        if not 0 <= self.quarantine_alert_rate <= 1:
            raise SettingsError(
                f"{_env('quarantine_alert_rate')} must be between 0 and 1, got {self.quarantine_alert_rate}"
            )
        if not re.match(r"^https?://[A-Za-z0-9.-]+:\d{1,5}/?$", self.dashboard_url):
            raise SettingsError(f"{_env('dashboard_url')} must be http(s)://host:port, got {self.dashboard_url!r}")
        if self.target == "bigquery":
            if not self.bq_project:
                raise SettingsError(f"{_env('bq_project')} is required when {_env('target')}=bigquery")
            for name in ("bq_project", "bq_dataset"):
                if not _IDENTIFIER.match(getattr(self, name)):
                    raise SettingsError(f"{_env(name)} is not a valid identifier: {getattr(self, name)!r}")
            if self.ga4_source and not _GA4_SOURCE.match(self.ga4_source):
                raise SettingsError(f"{_env('ga4_source')} must be `project.dataset`, got {self.ga4_source!r}")
            if not _GA4_TABLE.match(self.ga4_table):
                raise SettingsError(
                    f"{_env('ga4_table')} must be a table name, optionally ending in `*`, got {self.ga4_table!r}"
                )

    # --- derived locations -------------------------------------------------------------------
    @property
    def google_ads_customers(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.google_ads_customer_ids.split(",") if c.strip())

    @property
    def landing_is_remote(self) -> bool:
        return "://" in self.landing_dir

    @property
    def landing_path(self) -> Path:
        """The local landing directory (absolute); with a ``gs://`` landing, see ``landing.GCSLanding``."""
        return _resolve(self.landing_dir)

    @property
    def archive_path(self) -> Path:
        """Loaded files are moved here, beside the landing directory."""
        return self.landing_path.parent / "archive"

    @property
    def rejected_path(self) -> Path:
        """Files that cannot be read as the contract at all are moved here, beside the landing directory."""
        return self.landing_path.parent / "rejected"

    @property
    def unwanted_referral_hosts(self) -> tuple[str, ...]:
        return tuple(host.strip().lower() for host in self.unwanted_referrals.split(",") if host.strip())

    @property
    def warehouse_path(self) -> Path:
        return _resolve(self.duckdb_path)

    @property
    def snapshot_path(self) -> Path:
        """The serving snapshot the publish task writes and the dashboard reads (never the warehouse)."""
        return self.warehouse_path.with_name("serving.duckdb")

    @property
    def raw_schema(self) -> str:
        """Where the loader writes raw tables: schema ``raw`` on DuckDB, the model dataset on BigQuery."""
        return "raw" if self.target == "duckdb" else self.bq_dataset

    @property
    def pool(self) -> str:
        """DuckDB has one writer: its writing tasks share a one-slot pool."""
        return "duckdb_writer" if self.target == "duckdb" else "default_pool"

    @property
    def ga4_relation(self) -> tuple[str, str, str]:
        """(project or catalog, dataset or schema, table) that ``stg_ga4_events`` reads.

        BigQuery reads the configured export. Otherwise the loader's own ``ga4_events`` table in the raw
        schema: the embedded warehouse's seeded history, or (BigQuery without an export) an empty table.
        On DuckDB the catalog is the database file's name, as dbt-duckdb names it.
        """
        if self.target == "bigquery" and self.ga4_source:
            project, dataset = self.ga4_source.rsplit(".", 1)
            return (project, dataset, self.ga4_table)
        catalog = self.bq_project if self.target == "bigquery" else self.warehouse_path.stem
        return (catalog, self.raw_schema, GA4_HISTORY_TABLE)

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt (profiles.yml and sources read these), with absolute paths."""
        ga4_database, ga4_schema, ga4_identifier = self.ga4_relation
        env = {
            _env("target"): self.target,
            _env("raw_schema"): self.raw_schema,
            _env("duckdb_path"): str(self.warehouse_path),
            "ATTRIBUTION_GA4_DATABASE": ga4_database,
            "ATTRIBUTION_GA4_SCHEMA": ga4_schema,
            "ATTRIBUTION_GA4_IDENTIFIER": ga4_identifier,
            _env("unwanted_referrals"): self.unwanted_referrals,
            _env("ga4_intraday"): self.ga4_intraday.lower(),
            _env("reporting_identity"): self.reporting_identity,
            # Unit tests prove the logic in CI; scheduled runs skip them.
            "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test",
        }
        if self.target == "bigquery":
            env |= {
                _env("bq_project"): self.bq_project or "",
                _env("bq_dataset"): self.bq_dataset,
                _env("bq_location"): self.bq_location,
            }
            env[_env("bq_maximum_bytes_billed")] = str(self.bq_maximum_bytes_billed)
            env[_env("google_ads_dataset")] = self.google_ads_dataset or ""
            env[_env("google_ads_customer_ids")] = ",".join(self.google_ads_customers)
            if self.bq_api_endpoint:
                env[_env("bq_api_endpoint")] = self.bq_api_endpoint
            if self.bq_token:
                env[_env("bq_token")] = self.bq_token
        return env


def _resolve(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _convert(name: str, raw: str, annotation) -> object:
    annotation = str(annotation)
    if "float" in annotation:
        try:
            return float(raw.strip())
        except ValueError:
            raise SettingsError(f"{_env(name)} must be a number, got {raw!r}") from None
    if "int" in annotation:
        try:
            return int(raw.strip())
        except ValueError:
            raise SettingsError(f"{_env(name)} must be an integer, got {raw!r}") from None
    if "Path" in annotation:
        return Path(raw)
    return raw.strip() or None if "None" in annotation else raw.strip()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment); unset or empty means default."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in dataclasses.fields(Settings):
        raw = environ.get(_env(f.name))
        if raw is None or (raw.strip() == "" and f.name != "ga4_source"):
            continue
        values[f.name] = _convert(f.name, raw, f.type)
    return Settings(**values)


def settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README's configuration table."""
    return [
        (_env(f.name), "unset" if f.default is None else str(f.default), f.metadata["doc"])
        for f in dataclasses.fields(Settings)
    ]
