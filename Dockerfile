# The pipeline's image: Airflow 3.3 with the project's locked environments and a prebuilt dbt manifest.
# The base is a build argument so the same file builds on any image shaped like the official one
# (the compose test builds it on a stand-in made from Debian's packages).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}
ARG UV_VERSION=0.13.8

ENV PROJECT=/opt/airflow/project
USER root
RUN mkdir -p ${PROJECT}/data && chown -R airflow:0 ${PROJECT} && chmod -R g+rwx ${PROJECT}
# Runs as the image's unprivileged `airflow` user (compose sets AIRFLOW_UID for bind mounts).
USER airflow
WORKDIR ${PROJECT}

# Both environments exactly as locked, the way `make setup` builds them: `uv pip sync` installs the
# lock's pins and nothing else (no resolution, so nothing the lock leaves out on purpose comes back).
# Airflow gets a virtualenv of its own: the base image's own packages are not part of it.
# dbt has its own (dbt-bigquery and the Google provider disagree on google-cloud-storage), where the
# settings expect it. uv itself comes from a throwaway virtualenv (the official image sets PIP_USER).
# Bytecode is compiled here, once: every container's processes (healthchecks included) start faster.
COPY --chown=airflow:0 requirements.lock requirements-dbt.lock ${PROJECT}/
ENV UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN python -m venv /tmp/uv \
 && PIP_USER=false /tmp/uv/bin/pip install --quiet --no-cache-dir uv==${UV_VERSION} \
 && /tmp/uv/bin/uv venv --quiet --python "$(command -v python)" .venv \
 && VIRTUAL_ENV=.venv /tmp/uv/bin/uv pip sync --quiet --compile-bytecode requirements.lock \
 && /tmp/uv/bin/uv venv --quiet --python "$(command -v python)" .venv-dbt \
 && VIRTUAL_ENV=.venv-dbt /tmp/uv/bin/uv pip sync --quiet --compile-bytecode requirements-dbt.lock \
 && rm -rf /tmp/uv
ENV VIRTUAL_ENV=${PROJECT}/.venv PATH=${PROJECT}/.venv/bin:${PATH}

COPY --chown=airflow:0 dags ${PROJECT}/dags
COPY --chown=airflow:0 include ${PROJECT}/include
COPY --chown=airflow:0 plugins ${PROJECT}/plugins
COPY --chown=airflow:0 dbt ${PROJECT}/dbt
ENV PYTHONPATH=${PROJECT}/include

# Cosmos renders the DAG from this manifest, and the Airflow UI serves these dbt docs.
RUN python -m attribution.dbt_cli parse --quiet \
 && python -m attribution.dbt_cli docs generate --no-compile --empty-catalog --quiet
