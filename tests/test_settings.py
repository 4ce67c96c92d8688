from pathlib import Path

import pytest

from attribution.settings import PROJECT_ROOT, SettingsError, load_settings, settings_table


def test_defaults_follow_the_configuration_contract():
    s = load_settings({})
    assert s.target == "duckdb"
    assert s.warehouse_path == PROJECT_ROOT / "data" / "warehouse.duckdb"
    assert s.landing_path == PROJECT_ROOT / "data" / "landing"
    assert s.archive_path == PROJECT_ROOT / "data" / "archive"
    assert s.synthetic_events > 0
    assert (s.history_days, s.task_retries, s.bq_dataset, s.bq_location) == (30, 3, "attribution", "US")
    assert s.schedule == "*/5 * * * *"
    assert s.ga4_source == "bigquery-public-data.ga4_obfuscated_sample_ecommerce"
    assert s.pool == "duckdb_writer"


def test_environment_overrides_and_empty_means_default(tmp_path: Path):
    s = load_settings(
        {
            "ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
            "ATTRIBUTION_SYNTHETIC_EVENTS": "0",
            "ATTRIBUTION_TASK_RETRIES": "",
            "ATTRIBUTION_SCHEDULE": "@hourly",
            "ATTRIBUTION_GA4_SOURCE": "",
        }
    )
    assert s.warehouse_path == tmp_path / "w.duckdb"
    assert s.snapshot_path == tmp_path / "serving.duckdb"
    assert s.synthetic_events == 0
    assert s.task_retries == 3
    assert s.schedule == "@hourly"
    assert s.ga4_source == ""


def test_dbt_environment_has_absolute_paths_and_skips_unit_tests():
    env = load_settings({"ATTRIBUTION_DUCKDB_PATH": "rel/w.duckdb"}).dbt_env()
    assert env["ATTRIBUTION_DUCKDB_PATH"] == str(PROJECT_ROOT / "rel" / "w.duckdb")
    assert env["ATTRIBUTION_RAW_SCHEMA"] == "raw"
    assert env["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test"


def test_ga4_history_relation_per_target():
    duck = load_settings({"ATTRIBUTION_DUCKDB_PATH": "data/w.duckdb"}).dbt_env()
    assert (duck["ATTRIBUTION_GA4_DATABASE"], duck["ATTRIBUTION_GA4_SCHEMA"], duck["ATTRIBUTION_GA4_IDENTIFIER"]) == (
        "w", "raw", "ga4_events"
    )  # fmt: skip
    bigquery = {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_BQ_PROJECT": "my-project"}
    export = load_settings(bigquery).dbt_env()
    assert (export["ATTRIBUTION_GA4_DATABASE"], export["ATTRIBUTION_GA4_SCHEMA"]) == (
        "bigquery-public-data", "ga4_obfuscated_sample_ecommerce"
    )  # fmt: skip
    assert export["ATTRIBUTION_GA4_IDENTIFIER"] == "events_*"
    none = load_settings(bigquery | {"ATTRIBUTION_GA4_SOURCE": ""}).ga4_relation
    assert none == ("my-project", "attribution", "ga4_events"), "the loader's empty table: the models stay the same"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ATTRIBUTION_TARGET": "snowflake"}, "ATTRIBUTION_TARGET must be one of"),
        ({"ATTRIBUTION_SYNTHETIC_EVENTS": "lots"}, "ATTRIBUTION_SYNTHETIC_EVENTS must be an integer"),
        ({"ATTRIBUTION_TASK_RETRIES": "-1"}, "ATTRIBUTION_TASK_RETRIES must be >= 0"),
        ({"ATTRIBUTION_TARGET": "bigquery"}, "ATTRIBUTION_BQ_PROJECT is required"),
        (
            {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_BQ_PROJECT": "p", "ATTRIBUTION_BQ_DATASET": "x; drop"},
            "ATTRIBUTION_BQ_DATASET is not a valid identifier",
        ),
        (
            {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_BQ_PROJECT": "p", "ATTRIBUTION_GA4_SOURCE": "a.b.c` x"},
            "ATTRIBUTION_GA4_SOURCE must be `project.dataset`",
        ),
        (
            {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_BQ_PROJECT": "p", "ATTRIBUTION_GA4_TABLE": "events_*x"},
            "ATTRIBUTION_GA4_TABLE must be a table name",
        ),
        ({"ATTRIBUTION_DASHBOARD_URL": "javascript:alert(1)"}, "ATTRIBUTION_DASHBOARD_URL must be http"),
        ({"ATTRIBUTION_GA4_INTRADAY": "yes"}, "ATTRIBUTION_GA4_INTRADAY must be one of auto, true, false, got 'yes'"),
        ({"ATTRIBUTION_GA4_INTRADAY_INTERVAL_SECONDS": "0"}, "ATTRIBUTION_GA4_INTRADAY_INTERVAL_SECONDS must be >= 1"),
        ({"ATTRIBUTION_DUCKDB_MEMORY_LIMIT": "lots"}, "ATTRIBUTION_DUCKDB_MEMORY_LIMIT must look like 2GB"),
        ({"ATTRIBUTION_QUARANTINE_ALERT_RATE": "5%"}, "ATTRIBUTION_QUARANTINE_ALERT_RATE must be a number"),
        ({"ATTRIBUTION_QUARANTINE_ALERT_RATE": "1.5"}, "ATTRIBUTION_QUARANTINE_ALERT_RATE must be between 0 and 1"),
        ({"ATTRIBUTION_REPORTING_CURRENCY": "usd"}, "ATTRIBUTION_REPORTING_CURRENCY must be an ISO 4217 code"),
        (
            {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_GOOGLE_ADS_DATASET": "ads"},
            "ATTRIBUTION_GOOGLE_ADS_DATASET must be `project.dataset`",
        ),
        (
            {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_GOOGLE_ADS_DATASET": "my-project.ads"},
            "ATTRIBUTION_GOOGLE_ADS_CUSTOMER_IDS must name the customer ids",
        ),
        (
            {"ATTRIBUTION_GOOGLE_ADS_DATASET": "my-project.ads", "ATTRIBUTION_GOOGLE_ADS_CUSTOMER_IDS": "1234567890"},
            "ATTRIBUTION_GOOGLE_ADS_DATASET is read by the BigQuery target only",
        ),
        ({"ATTRIBUTION_GOOGLE_ADS_CUSTOMER_IDS": "123-456-7890"}, "digits only"),
    ],
)
def test_bad_values_fail_with_the_variable_named(environ, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


def test_every_setting_is_documented_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    for variable, _, doc in settings_table():
        assert variable in readme, f"{variable} missing from the README's configuration table"
        assert doc


def test_dbt_profile_per_target():
    from attribution.cosmos_config import profile_config

    assert profile_config(load_settings({})).profiles_yml_filepath.name == "profiles.yml"
    bigquery = {"ATTRIBUTION_TARGET": "bigquery", "ATTRIBUTION_BQ_PROJECT": "acme-analytics"}
    with_token = profile_config(load_settings({**bigquery, "ATTRIBUTION_BQ_TOKEN": "t"}))
    assert with_token.profiles_yml_filepath.name == "profiles.yml" and with_token.target_name == "bigquery"
    mapping = profile_config(load_settings(bigquery)).profile_mapping
    assert mapping.conn_id == "google_cloud_default"
    assert mapping.profile_args["project"] == "acme-analytics"
    assert mapping.profile_args["maximum_bytes_billed"] == 10_000_000_000


def test_the_token_is_a_secret():
    settings = load_settings({"ATTRIBUTION_BQ_TOKEN": "ya29.secret-value"})
    assert "secret-value" not in repr(settings)
