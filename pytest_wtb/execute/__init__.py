"""Running executions: the worker function, graph building, forking, the batch, backends/."""
