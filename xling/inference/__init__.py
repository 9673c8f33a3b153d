"""Inference shared by every experiment: generation, chat templates and scoring."""
