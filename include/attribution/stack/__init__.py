"""The local Airflow stack behind ``make demo``, ``make stop`` and ``make run-once``, one module per job:
``environment`` (the Airflow home and its configuration), ``supervisor`` (the long-running services),
``api`` (the client of Airflow's REST API that the command line, bench, soak and tests drive it with)."""
