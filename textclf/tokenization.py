"""Turning texts into model inputs the same way in training (run_classification.py) and serving
(textclf.serving.predictor, also inside a Space, so this module needs nothing beyond a tokenizer)."""

from __future__ import annotations

from textclf import UserInputError


def tokenize(tokenizer, texts: list[str], max_length: int, tail_tokens: int = 0, padding: bool | str = False) -> dict:
    """Tokenize texts, cutting each to `max_length` tokens special tokens included.

    With `tail_tokens` 0 the end of a long text is cut off (upstream's truncation). Otherwise a
    long text keeps its first `max_length - tail_tokens` tokens and its last `tail_tokens` (head+tail
    truncation: reviews often say what they think in the last sentences; Sun et al., 2019, "How to
    Fine-Tune BERT for Text Classification?", found it the best cut on IMDb). The special tokens at
    both ends are always kept.
    """
    if tail_tokens <= 0:
        return tokenizer(texts, padding=padding, max_length=max_length, truncation=True)
    encoding = tokenizer(texts, truncation=False, return_special_tokens_mask=True, verbose=False)
    specials = encoding.pop("special_tokens_mask")
    for row, mask in enumerate(specials):
        if len(mask) <= max_length:
            continue
        leading = next((i for i, special in enumerate(mask) if not special), len(mask))
        trailing = next((i for i, special in enumerate(reversed(mask)) if not special), 0)
        room = max_length - leading - trailing
        if room <= 0:
            raise UserInputError(f"max length {max_length} leaves no room for text between the special tokens")
        tail = min(tail_tokens, room)
        head = room - tail
        keep = list(range(leading + head)) + list(range(len(mask) - trailing - tail, len(mask)))
        for key in encoding:
            encoding[key][row] = [encoding[key][row][i] for i in keep]
    if padding:
        encoding = tokenizer.pad(encoding, padding=padding, max_length=max_length)
    return encoding
