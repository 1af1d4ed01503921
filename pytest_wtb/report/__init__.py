"""What users read: failure texts, the terminal summary, HTML/JSON reports, metrics, progress."""
