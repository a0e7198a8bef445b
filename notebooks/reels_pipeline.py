# Databricks notebook source
# MAGIC %md
# MAGIC # reels-etl: interactive run
# MAGIC
# MAGIC Runs a stage group of the reels pipeline (or all of it) on this notebook's Spark session: tables
# MAGIC `<catalog>.<schema>.<table>` in Unity Catalog, merged on their keys; videos and the report in a
# MAGIC volume; secrets from a secret scope. The scheduled job (`resources/reels_job.yml`) runs the same
# MAGIC stage groups as wheel tasks through the same entry point.

# COMMAND ----------

# MAGIC %md
# MAGIC Install the wheel that `databricks bundle deploy` uploaded (the deploy prints its folder), e.g.
# MAGIC `%pip install /Workspace/Users/<you>/.bundle/reels-etl/dev/artifacts/.internal/reels_etl-0.1.0-py3-none-any.whl`
# MAGIC then `dbutils.library.restartPython()`.

# COMMAND ----------

# ruff: noqa: E402, E501, F821 - cells import where used; spark, dbutils, display are notebook globals
dbutils.widgets.text("catalog", "workspace")
dbutils.widgets.text("schema", "test")
dbutils.widgets.text("volume", "/Volumes/workspace/test/reels")
dbutils.widgets.text("secret_scope", "reels")
dbutils.widgets.dropdown("source", "sample", ["sample", "apify"])
dbutils.widgets.dropdown("analyzer", "local", ["auto", "gemini", "local"])
dbutils.widgets.dropdown("group", "run", ["run", "ingest-label", "download", "analyze", "insights-report"])
names = ("catalog", "schema", "volume", "secret_scope", "source", "analyzer", "group")
params = {name: dbutils.widgets.get(name) for name in names}
print(params)

# COMMAND ----------

from reels.cli import databricks as reels_databricks

args = [params["group"]] + [f"--{k}={v}" for k, v in params.items() if k != "group" and v]
try:
    reels_databricks.main(args)
except SystemExit as exit_:
    if exit_.code:
        raise

# COMMAND ----------

# MAGIC %md
# MAGIC ## Results

# COMMAND ----------

schema = f"{params['catalog']}.{params['schema']}"
display(spark.sql(f"SELECT virality_label, count(*) AS reels FROM {schema}.reels GROUP BY 1 ORDER BY 2 DESC"))

# COMMAND ----------

display(spark.table(f"{schema}.insights").orderBy("created_at", ascending=False).limit(20))

# COMMAND ----------

with open(f"{params['volume']}/reels_report.html", encoding="utf-8") as report:
    displayHTML(report.read())
