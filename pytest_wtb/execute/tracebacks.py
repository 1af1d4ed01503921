"""What a user sees of an exception raised in their graph: the traceback without LangGraph's frames
and ours, and the ErrorInfo that carries it."""

from __future__ import annotations

import os
import sys
import traceback

from pytest_wtb.model import ErrorInfo

_INTERNAL_PARTS = (
    f"{os.sep}langgraph{os.sep}",
    f"{os.sep}langchain_core{os.sep}",
    f"{os.sep}pytest_wtb{os.sep}",
    f"{os.sep}concurrent{os.sep}futures{os.sep}",
)


def user_traceback(exc: BaseException, limit: int = 12) -> str:
    """The traceback without LangGraph's and our own frames: what the user can act on."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_internal(f.filename)]
    lines = traceback.format_list(frames[-limit:])
    lines.extend(traceback.format_exception_only(type(exc), exc))
    # LangGraph adds a note with a random task id; it would make failure texts differ run to run
    return "".join(lines).rstrip().split("\nDuring task with name")[0]


def _is_internal(filename: str) -> bool:
    stdlib = filename.startswith(sys.base_prefix + os.sep + "lib")
    return stdlib or any(part in filename for part in _INTERNAL_PARTS)


def error_info(exc: BaseException, node: str | None) -> ErrorInfo:
    return ErrorInfo(type=type(exc).__name__, message=str(exc), node=node, traceback=user_traceback(exc))
