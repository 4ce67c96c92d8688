"""GoogleSQL analysis of recorded BigQuery statements with ZetaSQL, the analyzer BigQuery is built on.

The emulator accepts SQL that BigQuery rejects (it runs DuckDB); ZetaSQL resolves names, types and
function signatures as BigQuery does. Statements are analysed in the order they were sent, against a
catalog that grows the way BigQuery's would: a CREATE adds its table or view with the columns the
analyzer resolved for it, an ALTER adds columns, a DROP removes, load jobs and ``tables.insert``
add their schemas. The GA4 export is seeded with Google's documented schema
(``ga4_export_schema.sql``): every field, not only those the models read today.

Analysis runs in BigQuery's mode: ``PRODUCT_EXTERNAL`` with ZetaSQL's released language features.
One normalisation comes first: the integer type aliases BigQuery accepts and ZetaSQL does not know
(``bigint`` …) are spelled ``INT64``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime
from google.protobuf import empty_pb2
from tiers import require
from zetasql.core import wasm_client
from zetasql.core.exceptions import ServerError
from zetasql.core.local_service import ZetaSqlLocalService
from zetasql.types import (
    AnalyzerOptions,
    ErrorMessageMode,
    LanguageOptions,
    ProductMode,
    ResolvedCreateStatementEnums,
    ZetaSQLBuiltinFunctionOptions,
    parse_proto,
)
from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2
from zetasql.wasi._pb2.zetasql.proto import simple_catalog_pb2
from zetasql.wasi._pb2.zetasql.public import parse_resume_location_pb2, simple_table_pb2, type_pb2

GA4_EXPORT_SCHEMA = Path(__file__).with_name("ga4_export_schema.sql")
# BigQuery's aliases of INT64 (its docs: "integer types"); DECIMAL and BIGDECIMAL ZetaSQL knows itself.
_INT64_ALIASES = re.compile(r"(?i)(\bas\s+)(?:int|smallint|integer|bigint|tinyint|byteint)\b(?=\s*[),>])")
_DBT_HEADER = re.compile(r"^\s*/\*\s*(\{.*?\})\s*\*/", re.DOTALL)
_IF_NOT_EXISTS = ResolvedCreateStatementEnums.CreateMode.CREATE_IF_NOT_EXISTS
_BQ_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def _compiled_once(engine: wasmtime.Engine, wasm_path: str) -> wasmtime.Module:
    """ZetaSQL's WebAssembly module, compiled by wasmtime once per version of both (about 16 s on two
    cores), then deserialised from the user's cache (0.1 s)."""
    version = importlib.metadata.version
    key = f"{version('zetasql')}-{Path(wasm_path).stat().st_size}-wasmtime-{version('wasmtime')}"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attribution-tests"
    cached = cache / f"zetasql-{key}.cwasm"
    if cached.exists():
        try:
            return wasmtime.Module.deserialize_file(engine, str(cached))
        except wasmtime.WasmtimeError:  # compiled for another engine configuration: compile again
            pass
    module = wasmtime.Module.from_file(engine, wasm_path)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{cached.name}.{os.getpid()}")
    partial.write_bytes(module.serialize())
    partial.replace(cached)  # atomic: a parallel worker reads a whole file or none
    return module


class _CachedModule:
    """What ZetaSQL's client calls as ``Module``: ``from_file`` goes through the cache."""

    from_file = staticmethod(_compiled_once)


wasm_client.Module = _CachedModule


def normalise(sql: str) -> str:
    """The statement as ZetaSQL can read it: INT64 for BigQuery's integer aliases in casts."""
    return _INT64_ALIASES.sub(r"\1INT64", sql)


def origin(sql: str, phase: str) -> str:
    """Who sent a statement: the dbt node in dbt's query comment, else the phase that sent it."""
    if header := _DBT_HEADER.match(sql):
        try:
            return json.loads(header.group(1)).get("node_id") or phase
        except ValueError:
            return phase
    return phase


def distinct_text(sql: str) -> str:
    """A statement without dbt's per-invocation query comment, to count distinct statements."""
    return _DBT_HEADER.sub("", sql).strip()


def _schema_ddl(fields: list[dict]) -> str:
    """A BigQuery API schema as a column list: ``name TYPE, rec STRUCT<…>, arr ARRAY<…>``."""

    def column_type(f: dict) -> str:
        kind = _BQ_TYPES.get(f["type"].upper(), f["type"].upper())
        if kind == "STRUCT":
            kind = f"STRUCT<{_schema_ddl(f['fields'])}>"
        return f"ARRAY<{kind}>" if f.get("mode", "").upper() == "REPEATED" else kind

    return ", ".join(f"`{f['name']}` {column_type(f)}" for f in fields)


@dataclass(frozen=True)
class Rejection:
    origin: str
    phase: str
    message: str
    sql: str

    def __str__(self) -> str:
        return f"{self.origin} ({self.phase}): {self.message}\n{self.sql.strip()}"


@dataclass
class Analysis:
    analysed: int = 0
    distinct: set[str] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)
    # Statements rejected only because they read a relation whose own DDL was rejected: counted, not
    # listed, so a failure names its cause once.
    consequences: int = 0

    def report(self) -> str:
        listed = "\n\n".join(str(r) for r in self.rejections)
        if self.consequences:
            listed += f"\n\n… and {self.consequences} statement(s) reading what those failed to create"
        return f"BigQuery would reject {len(self.rejections)} statement(s):\n\n{listed}"


class GoogleSqlCatalog:
    """Tables by (project, dataset, table). ZetaSQL's catalog matches names case-insensitively, so it
    is more lenient than BigQuery, whose dataset and table names are case-sensitive.

    The catalog is registered with the analyzer once per change and statements are analysed against
    the registered id, in ZetaSQL's own protobuf messages: converting a catalog with the GA4 schema
    to them on every call would cost seconds a statement.
    """

    def __init__(self, project: str) -> None:
        require("bigquery", "ZetaSQL's analyzer")  # WebAssembly, compiled on first use then cached
        self.project = project
        language = LanguageOptions.maximum_features()  # released features; none in development
        language.product_mode = ProductMode.PRODUCT_EXTERNAL
        self._functions = ZetaSQLBuiltinFunctionOptions(language_options=language).to_proto()
        self._options = AnalyzerOptions(
            language_options=language, error_message_mode=ErrorMessageMode.ERROR_MESSAGE_MULTI_LINE_WITH_CARET
        ).to_proto()
        self._service = ZetaSqlLocalService.get_instance().wasm_client
        self.tables: dict[tuple[str, str, str], list] = {}
        self._registered: dict[str | None, int] = {}

    # --- the catalog --------------------------------------------------------------------------
    def key(self, path: list[str]) -> tuple[str, str, str] | None:
        parts = [p for name in path for p in name.split(".")]
        if len(parts) == 2:
            parts = [self.project, *parts]
        return tuple(p.lower() for p in parts) if len(parts) == 3 else None

    def put(self, path: list[str], columns: list) -> None:
        """Add or replace a table; ``columns`` are ZetaSQL ``SimpleColumnProto`` messages."""
        if key := self.key(path):
            self.tables[key] = columns
            self._forget()

    def drop(self, path: list[str]) -> None:
        if (key := self.key(path)) in self.tables:
            del self.tables[key]
            self._forget()

    def _forget(self) -> None:
        for registered in self._registered.values():
            self._call("UnregisterCatalog", local_service_pb2.UnregisterRequest(registered_id=registered))
        self._registered.clear()

    def put_schema(self, reference: dict, fields: list[dict]) -> None:
        """A table created by a load job or ``tables.insert``: its API schema, typed by the analyzer."""
        path = [reference["projectId"], reference["datasetId"], reference["tableId"]]
        [statement] = self._analyse_script(f"create temp table t ({_schema_ddl(fields)})", None)
        self.put(path, _columns(statement.column_definition_list))

    def seed_ga4_export(self, project: str, dataset: str, tables: Iterable[str]) -> None:
        """The GA4 export's tables with Google's documented schema; ``*`` tables get ``_TABLE_SUFFIX``."""
        [statement] = self._analyse_script(GA4_EXPORT_SCHEMA.read_text(), None)
        documented = _columns(statement.column_definition_list)
        suffix = simple_table_pb2.SimpleColumnProto(
            name="_TABLE_SUFFIX", type=type_pb2.TypeProto(type_kind=type_pb2.TYPE_STRING), is_pseudo_column=True
        )
        for table in tables:
            self.put([project, dataset, table], [*documented, suffix] if table.endswith("*") else documented)

    def _catalog_id(self, default_dataset: str | None) -> int:
        """The registered catalog: every table under each name a query may use, `p.d.t`, `p`.`d`.`t`,
        `d.t` and `d`.`t` in the job's project and, with a default dataset, `t`."""
        if default_dataset in self._registered:
            return self._registered[default_dataset]
        root = simple_catalog_pb2.SimpleCatalogProto(name="bigquery", builtin_function_options=self._functions)
        children: dict[tuple[str, ...], simple_catalog_pb2.SimpleCatalogProto] = {}

        def child(*names: str):
            if names not in children:
                parent = child(*names[:-1]) if len(names) > 1 else root
                children[names] = parent.catalog.add(name=names[-1])
            return children[names]

        for (project, dataset, table), columns in self.tables.items():
            names = [(root, f"{project}.{dataset}.{table}"), (child(project, dataset), table)]
            if project == self.project.lower():
                names += [(root, f"{dataset}.{table}"), (child(dataset), table)]
                if dataset == (default_dataset or "").lower():
                    names.append((root, table))
            for catalog, name in names:
                catalog.table.add(name=name, column=columns)
        response = self._call(
            "RegisterCatalog", local_service_pb2.RegisterCatalogRequest(simple_catalog=root),
            local_service_pb2.RegisterResponse,
        )  # fmt: skip
        self._registered[default_dataset] = response.registered_id
        return response.registered_id

    def _call(self, method: str, request, response_type=empty_pb2.Empty):
        return self._service.call_grpc_func(f"ZetaSqlLocalService_{method}", request, response_type)

    # --- statements ---------------------------------------------------------------------------
    def _analyse_script(self, text: str, default_dataset: str | None) -> list:
        """The resolved statements of ``text`` (a script: several statements), applied to the catalog
        in turn. Raises ZetaSQL's ``ServerError`` for the first statement the analyzer rejects."""
        location = parse_resume_location_pb2.ParseResumeLocationProto(input=text, byte_position=0, allow_resume=True)
        encoded = text.encode()  # the analyzer's positions are UTF-8 byte offsets
        statements = []
        while encoded[location.byte_position :].strip(b" \t\r\n;"):
            request = local_service_pb2.AnalyzeRequest(
                options=self._options, registered_catalog_id=self._catalog_id(default_dataset),
                parse_resume_location=location,
            )  # fmt: skip
            response = self._call("Analyze", request, local_service_pb2.AnalyzeResponse)
            if response.resume_byte_position <= location.byte_position:
                stuck = f"the analyzer made no progress at byte {location.byte_position}"
                raise ServerError(3, stuck, f"Code: 3, Message: {stuck}")
            location.byte_position = response.resume_byte_position
            node = response.resolved_statement.WhichOneof("node")
            if node in ("resolved_create_statement_node", "resolved_alter_object_stmt_node", "resolved_drop_stmt_node"):
                statements.append(self.apply(parse_proto(response.resolved_statement)))
            else:
                statements.append(node)
        return statements

    def apply(self, statement):
        """What a DDL statement BigQuery accepted does to the catalog; returns the statement."""
        kind = type(statement).__name__
        if kind in ("ResolvedCreateTableStmt", "ResolvedCreateTableAsSelectStmt"):
            if not (statement.create_mode == _IF_NOT_EXISTS and self.key(statement.name_path) in self.tables):
                self.put(statement.name_path, _columns(statement.column_definition_list))
        elif kind in ("ResolvedCreateViewStmt", "ResolvedCreateMaterializedViewStmt"):
            self.put(statement.name_path, _output_columns(statement.output_column_list))
        elif kind == "ResolvedAlterTableStmt" and (key := self.key(statement.name_path)) in self.tables:
            known = {c.name.lower() for c in self.tables[key]}
            added = [a.column_definition for a in statement.alter_action_list if hasattr(a, "column_definition")]
            new = [c for c in _columns(added) if c.name.lower() not in known]
            self.put(statement.name_path, [*self.tables[key], *new])
        elif kind == "ResolvedDropStmt" and statement.object_type in ("TABLE", "VIEW"):
            self.drop(statement.name_path)
        return statement

    def analyse(self, sql: str, default_dataset: str | None) -> list[str]:
        """Analyse every statement of a script; returns the analyzer's messages (empty: all valid)."""
        try:
            self._analyse_script(normalise(sql), default_dataset)
        except ServerError as error:  # the rest of a script cannot be located after an error
            return [error.raw_error.removeprefix(f"Code: {int(error.code)}, Message: ")]
        return []


def _columns(definitions) -> list:
    return [simple_table_pb2.SimpleColumnProto(name=d.name, type=d.type.to_proto(), is_writable_column=True)
            for d in definitions]  # fmt: skip


def _output_columns(outputs) -> list:
    return [simple_table_pb2.SimpleColumnProto(name=o.name, type=o.column.type.to_proto()) for o in outputs]


def analyse_records(records: list[dict], catalog: GoogleSqlCatalog, skip_phases: Iterable[str] = ()) -> Analysis:
    """Replay recorded traffic into ``catalog``, analysing every query statement in order."""
    skip = set(skip_phases)
    result = Analysis()
    refused: set = set()  # relations whose DDL the analyzer rejected
    for record in records:
        if record["phase"] in skip:
            continue
        if record["kind"] in ("load", "table"):
            catalog.put_schema(record["table"], record["schema"])
            continue
        sql = record["sql"]
        text = distinct_text(sql)
        result.analysed += 1
        result.distinct.add(text)
        created = _CREATED.match(text)
        creates = created and catalog.key(_path(created.group(1)))
        for message in catalog.analyse(sql, record.get("default_dataset")):
            if creates:  # missing now: what reads it follows from this statement
                refused.add(creates)
            missing = _NOT_FOUND.match(message)
            if missing and catalog.key(_path(missing.group(1))) in refused:
                result.consequences += 1
            else:
                result.rejections.append(Rejection(origin(sql, record["phase"]), record["phase"], message, sql))
    return result


_NAME = r"((?:`[^`]+`|[\w-]+)(?:\.(?:`[^`]+`|[\w*-]+))*)"
_CREATED = re.compile(  # a statement that is one CREATE, as dbt's DDL is
    rf"\s*(?:--[^\n]*\n\s*)*create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(?:table|view)\s+(?:if\s+not\s+exists\s+)?{_NAME}",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(rf"Table not found: {_NAME}")


def _path(name: str) -> list[str]:
    return [part for part in re.split(r"`|\.", name) if part]
