"""What every benchmark family shares: generated projects, running commands, store queries, medians, tables."""
