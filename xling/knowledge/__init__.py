"""Cross-lingual knowledge barriers (Chua et al., COLM 2025): mixed-language multiple-choice variants, prompts, mitigations, answer parsing."""
