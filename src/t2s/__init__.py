"""t2s: a text-to-SQL fine-tuning job suite.

Package ``__init__`` modules stay free of heavy imports (torch, transformers) so
``t2s --help`` starts fast; heavy work is imported inside the stage that needs it.
"""

__version__ = "0.1.0"
