"""From the executions items need to unique ExecutionSpecs, thread_ids and prefix groups."""
