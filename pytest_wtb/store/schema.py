"""Result tables (SQLAlchemy Core). LangGraph's savers own their own checkpoint tables beside these.

Bump SCHEMA_VERSION with every change here and add the step that upgrades the previous version in
``migrations.py``: stores written by older versions are migrated on open, newer ones are refused.
"""

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

SCHEMA_VERSION: Final = 6

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
    Column("heartbeat_at", Float),  # v2: refreshed while the run is alive; stale = abandoned
    # v4: the process (host:pid:worker@invocation) that started or last rejoined the run: one on this
    # host whose pid is gone is dead at once, without waiting for the heartbeat to go stale
    Column("owner", String(255)),
    Column("parent_run", String(64)),  # v4: a --wtb-compare-backends second leg: the run it belongs to
    Column("wtb_version", String(32)),  # v5: the pytest-wtb that ran it (a named baseline from another warns)
    Index("ix_wtb_runs_started_at", "started_at"),
    Index("ix_wtb_runs_status", "status", "heartbeat_at"),
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
    Column("module_path", Text),  # v3: the test module's file, so `replay` can import it again
    # v4: what the result depends on (plan/fingerprint.py): a rerun under the same run id re-runs an
    # execution whose code or input changed instead of reporting the stored result
    Column("code_hash", String(64)),
    # v5: what the end of an execution says beyond its state (interrupts waited on, output view keys,
    # resumes used, lineage, a shared prefix's store items), through the same strict serializer
    Column("extra_type", String(32)),
    Column("extra_blob", LargeBinary),
    PrimaryKeyConstraint("run_id", "exec_key"),
    Index("ix_wtb_executions_thread_id", "thread_id", unique=True),
    Index("ix_wtb_executions_variant_case", "variant", "case_id"),
    # v2: match an execution across runs by (scope, variant, case_id): --wtb-against, diff
    Index("ix_wtb_executions_run_match", "run_id", "scope", "variant", "case_id"),
    Index("ix_wtb_executions_status", "status", "run_id"),
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
    Column("against_run", String(64)),  # v2: set when compared with a stored run (--wtb-against)
)

# v5: `python -m pytest_wtb bless RUN_ID --name NAME`: named runs, baselines that never move by themselves
# (prune keeps them); --wtb-against=NAME and `diff` take a name wherever they take a run id
run_names = Table(
    "wtb_run_names",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("blessed_at", Float, nullable=False),
)

# v6: --wtb-record: model and tool calls, keyed by what their answer depends on (execute/tape.py);
# written by the driver in the transaction of the result that made them
recordings = Table(
    "wtb_recordings",
    metadata,
    Column("rec_key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # chat, llm, tool
    Column("name", String(255), nullable=False),
    Column("node", String(255), nullable=False),
    Column("identity", Text, nullable=False),  # secrets masked (execute/secrets.py)
    Column("input_text", Text, nullable=False),
    Column("output_type", String(32), nullable=False),
    Column("output_blob", LargeBinary, nullable=False),
    Column("cassette", String(64), nullable=False),  # the execution that recorded it
    Column("scope", String(255), nullable=False),
    Column("variant", String(255), nullable=False),
    Column("case_id", String(255), nullable=False),
    Column("repetition", Integer, nullable=False),
    Column("occurrence", Integer, nullable=False),
    Column("created_run", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_run", String(64), nullable=False),  # the last run that recorded or replayed it
    Column("hits", Integer, nullable=False),
)

# v6: the executions that recorded (vcrpy's cassettes): under --wtb-record=once one of them records nothing new
cassettes = Table(
    "wtb_cassettes",
    metadata,
    Column("cassette", String(64), primary_key=True),
    Column("scope", String(255), nullable=False),
    Column("created_run", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
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

# v2: one row per execution event, written in the same transaction as the row it describes, so a
# consumer that reads events in id order never sees an event for a change that was rolled back.
outbox = Table(
    "wtb_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("exec_key", String(32)),
    Column("thread_id", String(255)),
    Column("event_type", String(64), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("processed_at", Float),
    Index("ix_wtb_outbox_pending", "processed_at", "id"),
)
