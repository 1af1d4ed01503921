"""Pure judgements over results: comparison, checkpoint histories, where executions part."""
