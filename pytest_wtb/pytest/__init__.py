"""The only folder that imports pytest: hooks, the session object, items, settings, Hypothesis glue."""
