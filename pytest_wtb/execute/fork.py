"""Copy a thread's checkpoints into another thread: the fork step of prefix sharing.

The SQLite and Postgres savers do not implement BaseCheckpointSaver.copy_thread, so this copies
through the public saver API: every checkpoint (all namespaces, oldest first, so parents exist
before children) and its pending writes. Copies carry their lineage in the checkpoint metadata,
which is how ``show`` can tell where a forked execution came from.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pytest_wtb.model import FORKED_FROM as FORKED_FROM  # re-exported: replay and show read it here


def copy_thread(saver: Any, source: str, target: str) -> str | None:
    """Copy ``source`` into ``target``; return the id of the last copied checkpoint (None if empty)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    if type(saver) is SqliteSaver:
        return _copy_sqlite(saver, source, target)
    return _copy_through_api(saver, source, target)


def last_step(saver: Any, thread_id: str) -> int | None:
    """The step of ``thread_id``'s newest checkpoint (None: it has none), read without deserializing it."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    if type(saver) is SqliteSaver:
        with saver.cursor() as cur:
            cur.execute(
                "SELECT json_extract(CAST(metadata AS TEXT), '$.step') FROM checkpoints WHERE thread_id = ? "
                "AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1",
                (thread_id,),
            )
            row = cur.fetchone()
        return None if row is None else int(row[0] if row[0] is not None else -1)
    last = saver.get_tuple({"configurable": {"thread_id": thread_id}})
    return None if last is None else int((last.metadata or {}).get("step", -1))


def _copy_sqlite(saver: Any, source: str, target: str) -> str | None:
    """The same copy as _copy_through_api, row for row inside SQLite: nothing is deserialized and
    written back, which made a fork cost more than the node it saved. Relies on the tables of
    langgraph-checkpoint-sqlite 3.x (pinned); a test holds both copies equal."""
    with saver.cursor() as cur:
        cur.execute(
            "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
            "type, checkpoint, metadata) SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, "
            "checkpoint, json_set(CAST(COALESCE(metadata, '{}') AS TEXT), '$.' || ?, ?) "
            "FROM checkpoints WHERE thread_id = ?",
            (target, FORKED_FROM, source, source),
        )
        cur.execute(
            "INSERT OR REPLACE INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, "
            "channel, type, value) SELECT ?, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, "
            "type, value FROM writes WHERE thread_id = ?",
            (target, source),
        )
        cur.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' "
            "ORDER BY checkpoint_id DESC LIMIT 1",
            (target,),
        )
        row = cur.fetchone()
    return str(row[0]) if row else None


def _copy_through_api(saver: Any, source: str, target: str) -> str | None:
    tuples = list(saver.list({"configurable": {"thread_id": source}}))
    if not tuples:
        return None
    tuples.sort(key=lambda t: t.checkpoint["id"])
    for tup in tuples:
        conf = tup.config["configurable"]
        ns = conf.get("checkpoint_ns", "")
        target_conf: dict[str, Any] = {"thread_id": target, "checkpoint_ns": ns}
        if tup.parent_config is not None:
            target_conf["checkpoint_id"] = tup.parent_config["configurable"]["checkpoint_id"]
        metadata = {**(tup.metadata or {}), FORKED_FROM: source}
        saver.put({"configurable": target_conf}, tup.checkpoint, metadata, tup.checkpoint["channel_versions"])
        by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for task_id, channel, value in tup.pending_writes or ():
            by_task[task_id].append((channel, value))
        writes_conf = {
            "configurable": {"thread_id": target, "checkpoint_ns": ns, "checkpoint_id": tup.checkpoint["id"]}
        }
        for task_id, writes in by_task.items():
            saver.put_writes(writes_conf, writes, task_id)
    root = [t for t in tuples if not t.config["configurable"].get("checkpoint_ns")]
    return str(root[-1].checkpoint["id"]) if root else None
