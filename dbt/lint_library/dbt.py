"""Stand-ins for dbt's cross-database macros (``dbt.concat`` …) so sqlfluff's jinja templater can render
models that call them: same SQL shape, DuckDB spelling. Used only by ``make lint``."""


def concat(fields):
    return "concat(" + ", ".join(fields) + ")"


def hash(field):  # noqa: A001 - the dbt macro's name
    return f"md5({field})"


def type_string():
    return "varchar"


def type_bigint():
    return "bigint"


def type_numeric():
    return "decimal(28, 6)"


def current_timestamp():
    return "now()"


def type_timestamp():
    return "timestamp"


def listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
    return f"string_agg({measure}, {delimiter_text} {order_by_clause or ''})"
