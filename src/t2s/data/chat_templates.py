"""Chat templates t2s ships, for tokenizers that have none (``data.prompt.chat_template``).

The Llama-2 SentencePiece tokenizer (TinyLlama's vocabulary) carries no chat
template; ``data.prompt_format: chat_template`` then needs one of these:

- ``llama2``: ``<s>[INST] <<SYS>>...<</SYS>> user [/INST] answer</s>`` — the
  inst layout as a template; the answer follows ``[/INST]`` after one space, so
  the rendered prompt is a token prefix of prompt+answer (see
  :class:`t2s.config.PromptConfig`).
- ``chatml``: ``<|im_start|>role\\ncontent<|im_end|>`` turns (Qwen's layout);
  only for vocabularies that have ``<|im_start|>``/``<|im_end|>`` tokens.
"""

from __future__ import annotations

from typing import Any

from t2s.config import PromptConfig
from t2s.errors import ConfigError

LLAMA2 = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set messages = messages[1:] -%}"
    "{%- else -%}{%- set system = '' -%}{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ bos_token + '[INST] ' }}"
    "{%- if system and loop.first -%}{{ '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}{%- endif -%}"
    "{{ message['content'] + ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' + message['content'] + eos_token }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

CHATML = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

TEMPLATES = {"llama2": LLAMA2, "chatml": CHATML}
END_OF_TURN = "<|im_end|>"


def setup_chat_template(tokenizer: Any, prompt_format: str, prompt: PromptConfig,
                        source: str) -> None:
    """Give ``tokenizer`` the chat template ``data.prompt.chat_template`` names.

    Does nothing for the ``inst`` format. ``tokenizer`` keeps its own template;
    ``llama2``/``chatml`` replace it (saved with the trained model's tokenizer).

    Raises:
        ConfigError: if the tokenizer has no template and none is chosen, or
            ``chatml`` is chosen for a vocabulary without its turn tokens.
    """
    if prompt_format != "chat_template":
        return
    choice = prompt.chat_template
    if choice == "tokenizer":
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "1 configuration problem:\n  config: data.prompt_format: chat_template, but the "
                f"tokenizer of {source} has no chat template; set data.prompt.chat_template to "
                "one t2s ships (llama2, or chatml for vocabularies with <|im_start|>), "
                "or use data.prompt_format: inst")
        return
    if choice == "chatml" and END_OF_TURN not in tokenizer.get_vocab():
        raise ConfigError(
            "1 configuration problem:\n  config: data.prompt.chat_template: chatml needs the "
            f"{END_OF_TURN} token, which the tokenizer of {source} lacks; use llama2")
    tokenizer.chat_template = TEMPLATES[choice]
