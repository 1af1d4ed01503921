"""Example LangGraph workflows and the pytest-wtb tests that compare their variants.

A package, so the workflow modules import as ``examples.rag_workflow`` in the pytest process and in
any worker process started from the repository root.
"""
