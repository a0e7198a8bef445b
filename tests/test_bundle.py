"""The Databricks bundle, checked offline: it parses, the `databricks-bundles` models accept its job and
volume (they reject unknown keys), and the job is the one the pipeline needs."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from reels.cli import cli, databricks
from reels.config import secrets

yaml = pytest.importorskip("yaml", reason="needs pyyaml (the [test] extra)")

ROOT = Path(__file__).resolve().parents[1]
JOB_PARAMETER = re.compile(r"\{\{job\.parameters\.(\w+)\}\}")
VARIABLE = re.compile(r"\$\{var\.(\w+)\}")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    root = load(ROOT / "databricks.yml")
    resources: dict[str, dict[str, Any]] = {}
    for pattern in root["include"]:
        for path in sorted(ROOT.glob(pattern)):
            for kind, items in load(path)["resources"].items():
                resources.setdefault(kind, {}).update(items)
    return root | {"resources": resources}


@pytest.fixture(scope="module")
def job(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["resources"]["jobs"]["reels_weekly"]  # type: ignore[no-any-return]


def test_the_models_accept_the_job_and_the_volume(bundle: dict[str, Any]) -> None:
    models = pytest.importorskip("databricks.bundles.jobs", reason="needs databricks-bundles ([test] extra)")
    from databricks.bundles.volumes import Volume

    for definition in bundle["resources"]["jobs"].values():
        models.Job.from_dict(definition)
    for definition in bundle["resources"]["volumes"].values():
        Volume.from_dict(definition)
    with pytest.raises(ValueError, match="Unexpected field"):  # the check is a real one
        models.Job.from_dict({**bundle["resources"]["jobs"]["reels_weekly"], "max_concurrent_run": 1})


def test_every_variable_used_is_declared(bundle: dict[str, Any]) -> None:
    used = set(VARIABLE.findall((ROOT / "databricks.yml").read_text() + _resources_text()))
    assert used <= set(bundle["variables"])


def _resources_text() -> str:
    return "".join(p.read_text() for p in sorted((ROOT / "resources").glob("*.yml")))


def test_the_wheel_is_built_and_installed_on_serverless(bundle: dict[str, Any], job: dict[str, Any]) -> None:
    (artifact,) = bundle["artifacts"].values()
    assert artifact["type"] == "whl" and "dist" in artifact["build"]
    (environment,) = job["environments"]
    assert environment["spec"]["environment_version"]
    assert environment["spec"]["dependencies"] == ["../dist/*.whl"]
    for task in job["tasks"]:
        assert task["environment_key"] == environment["environment_key"]
        assert not {"new_cluster", "existing_cluster_id", "job_cluster_key"} & set(task)  # serverless


def test_weekly_on_mondays_at_midnight_utc_and_paused_outside_prod(
    bundle: dict[str, Any], job: dict[str, Any]
) -> None:
    assert job["schedule"] == {"quartz_cron_expression": "0 0 0 ? * MON", "timezone_id": "UTC"}
    assert bundle["targets"]["dev"]["mode"] == "development"
    for name in ("prod", "daily"):
        schedule = bundle["targets"][name]["resources"]["jobs"]["reels_weekly"]["schedule"]
        assert schedule["pause_status"] == "UNPAUSED"
    assert bundle["targets"]["daily"]["resources"]["jobs"]["reels_weekly"]["schedule"][
        "quartz_cron_expression"
    ] == ("0 0 0 * * ?")


def test_one_run_at_a_time_and_a_mail_on_failure(job: dict[str, Any]) -> None:
    assert job["max_concurrent_runs"] == 1
    assert job["email_notifications"]["on_failure"]


def test_the_stage_groups_run_in_order(job: dict[str, Any]) -> None:
    tasks = {t["task_key"]: t for t in job["tasks"]}
    after = {k: [d["task_key"] for d in t.get("depends_on", [])] for k, t in tasks.items()}
    assert after == {
        "accounts": [],
        "ingest_label": ["accounts"],
        "download": ["ingest_label"],
        "analyze": ["download"],
        "insights_report": ["analyze"],
    }
    groups = [t["python_wheel_task"]["named_parameters"]["group"] for t in job["tasks"]]
    assert groups == ["accounts", "ingest-label", "download", "analyze", "insights-report"]
    assert tasks["ingest_label"]["run_if"] == "ALL_DONE"  # a failed rotation never stops the scrape


def test_a_paused_job_collects_the_gemini_batches_then_refreshes_the_report(bundle: dict[str, Any]) -> None:
    job = bundle["resources"]["jobs"]["reels_batches"]
    assert job["schedule"]["pause_status"] == "PAUSED" and job["max_concurrent_runs"] == 1
    groups = [t["python_wheel_task"]["named_parameters"]["group"] for t in job["tasks"]]
    assert groups == ["batches", "insights-report"]
    assert job["tasks"][1]["depends_on"] == [{"task_key": "collect"}]
    _runs_existing_commands(job)


def test_tasks_pass_job_parameters_by_name(job: dict[str, Any]) -> None:
    declared = {p["name"] for p in job["parameters"]}
    assert {"accounts_file", "lookback_days", "analyzer", "results_limit", "catalog", "schema"} <= declared
    used: set[str] = set()
    for task in job["tasks"]:
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "reels-etl" and wheel["entry_point"] == "reels-databricks"
        assert "parameters" not in wheel  # named_parameters only, so job parameters are pushed down
        for name, value in wheel["named_parameters"].items():
            refs = JOB_PARAMETER.findall(str(value))
            assert refs in ([], [name]), f"{task['task_key']}: {name} = {value}"
            used.update(refs)
    assert used == declared


def test_each_task_runs_existing_reels_commands(job: dict[str, Any]) -> None:
    _runs_existing_commands(job)


def _runs_existing_commands(job: dict[str, Any]) -> None:
    defaults = {p["name"]: p["default"] for p in job["parameters"]}
    for task in job["tasks"]:
        named = task["python_wheel_task"]["named_parameters"]
        argv = [f"--{k}={JOB_PARAMETER.sub(lambda m: str(defaults[m[1]]), str(v))}" for k, v in named.items()]
        args = databricks.parse_task_args([*argv, "--run_date=2026-11-23"])  # a pushed-down extra
        for command in databricks.stage_commands(args.group, args.source, args.analyzer, args.config):
            group = cli.commands[command[0]]
            assert command[0] in cli.commands, shlex.join(command)
            if command[1:2] and not command[1].startswith("-"):
                assert command[1] in group.commands, shlex.join(command)  # type: ignore[attr-defined]
        env = databricks.settings_environ(vars(args))
        assert env["REELS_STORAGE__KIND"] == "spark"
        assert env["REELS_PATHS__MEDIA"].startswith("/Volumes/")


def test_the_entry_point_is_a_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("reels-databricks") == "reels.cli.databricks:main"
    assert scripts["reels-databricks"] == "reels.cli.databricks:main"


class FakeDbutils:
    """dbutils.secrets as the Databricks runtime has it: get(scope, key) or an error naming the key."""

    def __init__(self, scopes: dict[str, dict[str, str]]) -> None:
        self.secrets = self
        self.scopes = scopes

    def get(self, scope: str, key: str) -> str:
        if scope not in self.scopes:
            raise RuntimeError(f"Scope {scope} does not exist")
        if key not in self.scopes[scope]:
            raise RuntimeError(f"Secret does not exist with scope: {scope} and key: {key}")
        return self.scopes[scope][key]


def test_secrets_come_from_the_scope_on_databricks_else_the_environment() -> None:
    env = {"APIFY_TOKEN": "env-apify", "GEMINI_API_KEY": "env-gemini", "PATH": "/bin"}
    dbutils = FakeDbutils({"reels": {"GEMINI_API_KEY": "scope-gemini"}})
    got = secrets.secrets_environ("reels", environ=env, dbutils=dbutils)
    assert got == {"APIFY_TOKEN": "env-apify", "GEMINI_API_KEY": "scope-gemini"}
    assert secrets.secrets_environ("reels", environ=env) == {
        k: env[k] for k in ("APIFY_TOKEN", "GEMINI_API_KEY")
    }
    assert secrets.secrets_environ(None, environ={}, dbutils=dbutils) == {}


def test_an_unreadable_scope_is_a_config_error_without_the_cause() -> None:
    with pytest.raises(secrets.ConfigError, match="'nope'") as caught:
        secrets.secrets_environ("nope", environ={}, dbutils=FakeDbutils({}))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_runtime_detection() -> None:
    assert secrets.on_databricks({"DATABRICKS_RUNTIME_VERSION": "client.4.9"})
    assert not secrets.on_databricks({})


DASHBOARD = ROOT / "dashboards" / "reels.lvdash.json"


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def widget_fields(board: dict[str, Any]) -> dict[str, set[str]]:
    """dataset → the columns its widgets read (every query field and every encoding's fieldName)."""
    used: dict[str, set[str]] = {}
    for page in board["pages"]:
        for item in page["layout"]:
            widget = item["widget"]
            for query in widget.get("queries", []):
                q = query["query"]
                names = {f["name"] for f in q["fields"]}
                assert all(f["expression"] == f"`{f['name']}`" for f in q["fields"]), widget["name"]
                encodings = widget["spec"]["encodings"]
                encoded = {c["fieldName"] for c in encodings.get("columns", [])}
                encoded |= {e["fieldName"] for k, e in encodings.items() if k != "columns"}
                assert encoded <= names, widget["name"]
                used.setdefault(q["datasetName"], set()).update(names)
    return used


def test_the_dashboard_is_deployed_by_the_bundle_over_the_targets_catalog_and_schema(
    bundle: dict[str, Any],
) -> None:
    models = pytest.importorskip("databricks.bundles.dashboards", reason="needs databricks-bundles")
    (definition,) = bundle["resources"]["dashboards"].values()
    models.Dashboard.from_dict(definition)
    with pytest.raises(ValueError, match="Unexpected field"):
        models.Dashboard.from_dict({**definition, "dataset_catalogue": "x"})
    assert (definition["dataset_catalog"], definition["dataset_schema"]) == (
        "${var.catalog}",
        "${var.schema}",
    )
    assert (ROOT / "resources" / definition["file_path"]).resolve() == DASHBOARD
    board = dashboard()
    datasets = {d["name"] for d in board["datasets"]}
    assert set(widget_fields(board)) <= datasets
    assert {"viral_reels", "findings", "weekly", "analyses_health", "runs"} <= datasets
    for d in board["datasets"]:  # bare table names: the bundle's catalog and schema apply
        assert (
            "`" not in "".join(d["queryLines"]) and "." not in "".join(d["queryLines"]).split("FROM")[1][:40]
        )
