"""What users write in test modules: variants, cases, parity. No pytest import."""
