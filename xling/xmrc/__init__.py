"""Cross-lingual reading comprehension (xMRC): settings, prompts, scoring runs and reports."""
