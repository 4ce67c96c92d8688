# The pipeline's image: Airflow 3.3 with the project's locked environments and a prebuilt dbt manifest.
FROM apache/airflow:3.3.2-python3.11

ENV PROJECT=/opt/airflow/project
USER root
RUN mkdir -p ${PROJECT} && chown airflow:0 ${PROJECT}
# Runs as the image's unprivileged `airflow` user (compose sets AIRFLOW_UID for bind mounts).
USER airflow
WORKDIR ${PROJECT}

# The Airflow environment from its lock (Airflow itself is pinned there at the image's version).
COPY --chown=airflow:0 requirements.lock ${PROJECT}/
RUN pip install --no-cache-dir -r requirements.lock

# dbt in its own environment, from its lock (dbt-bigquery and the Google provider disagree on
# google-cloud-storage), where the settings expect it.
COPY --chown=airflow:0 requirements-dbt.lock ${PROJECT}/
RUN python -m venv ${PROJECT}/.venv-dbt \
 && ${PROJECT}/.venv-dbt/bin/pip install --no-cache-dir -r requirements-dbt.lock

COPY --chown=airflow:0 dags ${PROJECT}/dags
COPY --chown=airflow:0 include ${PROJECT}/include
COPY --chown=airflow:0 plugins ${PROJECT}/plugins
COPY --chown=airflow:0 dbt ${PROJECT}/dbt
ENV PYTHONPATH=${PROJECT}/include

# Cosmos renders the DAG from this manifest, and the Airflow UI serves these dbt docs.
RUN python -m attribution.dbt_cli parse --quiet \
 && python -m attribution.dbt_cli docs generate --no-compile --empty-catalog --quiet \
 && mkdir -p ${PROJECT}/data

# Runs as the image's unprivileged `airflow` user (compose sets AIRFLOW_UID for bind mounts).
USER airflow
