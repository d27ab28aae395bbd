"""Models: loading a base with LoRA, local bases, the tiny model, memory estimates."""
