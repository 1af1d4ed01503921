"""Result tables (SQLAlchemy Core). LangGraph's savers own their own checkpoint tables beside these."""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

SCHEMA_VERSION: Final = 1

metadata = MetaData()

meta = Table(
    "wtb_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "wtb_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("status", String(16), nullable=False),
    Column("backend", String(32), nullable=False),
    Column("host", String(255)),
    Column("git_commit", String(64)),
    Column("git_branch", String(255)),
    Column("args", Text),
)

executions = Table(
    "wtb_executions",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("exec_key", String(32), nullable=False),
    Column("thread_id", String(255), nullable=False),
    Column("scope", String(255), nullable=False),
    Column("variant", String(255), nullable=False),
    Column("case_id", String(255), nullable=False),
    Column("input_hash", String(64)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("owner", String(255)),
    Column("backend", String(32)),
    Column("worker", String(255)),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("duration_s", Float),
    Column("error_type", String(255)),
    Column("error_message", Text),
    Column("error_node", String(255)),
    Column("error_traceback", Text),
    Column("checkpoint_id", String(64)),
    Column("state_type", String(32)),
    Column("state_blob", LargeBinary),
    Column("nodes_json", Text),
    PrimaryKeyConstraint("run_id", "exec_key"),
    Index("ix_wtb_executions_thread_id", "thread_id", unique=True),
    Index("ix_wtb_executions_variant_case", "variant", "case_id"),
)

parity_outcomes = Table(
    "wtb_parity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("nodeid", Text, nullable=False),
    Column("variant", String(255), nullable=False),
    Column("baseline", String(255), nullable=False),
    Column("case_id", String(255), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("thread_id", String(255)),
    Column("baseline_thread_id", String(255)),
    Column("diff_json", Text),
)

dead_letters = Table(
    "wtb_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("exec_key", String(32), nullable=False),
    Column("thread_id", String(255), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("errors_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
