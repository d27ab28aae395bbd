"""Data: Spider-format loading, schema text, prompts, and the embedded sample dataset.

No model code lives here, and nothing here imports torch.
"""
