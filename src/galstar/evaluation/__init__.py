"""Evaluation: predictions, metrics, MC-dropout uncertainty, baselines, tables, figures."""
