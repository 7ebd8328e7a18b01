"""Token explanations: which words of a text pushed a run's prediction which way.

Occlusion: each word is replaced in turn by the tokenizer's mask token, and the original text and
every masked copy are scored in one batch by the Predictor's own predict_proba. A word's effect is
how much the probability of the predicted class falls without it; a negative effect means the
prediction is surer without the word, which pushed against it.

Occlusion needs nothing but predictions, so it explains whichever variant answered (the demo serves
ONNX Runtime; PyTorch fp32 and the int8 variants work the same) with the run's own tokenizer,
truncation and calibration. Gradient methods (integrated gradients, captum) need the PyTorch graph:
they would explain the fp32 model while ONNX answers, and take tens of forward and backward passes.
Cost: one batch of words + 1 texts. A text of more than MAX_SEGMENTS words is cut into MAX_SEGMENTS
groups of consecutive words, so a long review costs at most MAX_SEGMENTS + 1 texts;
bench/serve_latency.py measures a tweet's explanation against one prediction.

This module needs only the Predictor, so the demo ships it into a Space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from textclf.markdown import escape_markdown
from textclf.runs.calibration import Calibration
from textclf.serving.predictor import Predictor

MAX_SEGMENTS = 48
# In words, a word "pushed" the prediction when its effect is at least this share of the largest one.
NOTABLE_SHARE = 0.1
# A word, or a run of punctuation or symbols (emoji, "#", "!!!"); contractions stay one word.
WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+")


@dataclass
class Explanation:
    text: str
    label: str  # the class explained: the one predicted
    probability: float
    pieces: list[tuple[str, float | None]]  # the whole text in order: words (or groups) with their effect, None between
    variant: str

    def top(self, count: int, against: bool = False) -> list[tuple[str, float]]:
        """The `count` words that pushed most towards the prediction (or most against it)."""
        scored = [(piece, effect) for piece, effect in self.pieces if effect is not None]
        return sorted(scored, key=lambda item: item[1] if against else -item[1])[:count]

    def notable(self, count: int, against: bool = False) -> list[tuple[str, float]]:
        """Of the top words, those that pushed that way by at least NOTABLE_SHARE of the largest effect."""
        largest = max((abs(effect) for _, effect in self.pieces if effect is not None), default=0.0)
        sign = -1 if against else 1
        return [(piece, effect) for piece, effect in self.top(count, against)
                if sign * effect > 0 and sign * effect >= NOTABLE_SHARE * largest]

    def highlighted(self) -> list[tuple[str, float | None]]:
        """Pieces with effects scaled to [-1, 1] by the largest one, as gr.HighlightedText shows
        scores (red towards the prediction, purple against); words without effect are not coloured."""
        largest = max((abs(effect) for _, effect in self.pieces if effect is not None), default=0.0)
        return [(piece, round(effect / largest, 4) if effect and largest else None) for piece, effect in self.pieces]


def segments(text: str, max_segments: int = MAX_SEGMENTS) -> list[tuple[int, int]]:
    """(start, end) of each word, or of groups of consecutive words when there are too many."""
    words = [match.span() for match in WORD.finditer(text)]
    if len(words) <= max_segments:
        return words
    size = -(-len(words) // max_segments)
    return [(group[0][0], group[-1][1]) for group in (words[i:i + size] for i in range(0, len(words), size))]


def mask_of(predictor: Predictor) -> str:
    """What stands in for a hidden word: the mask token the model was pretrained with, else unknown."""
    tokenizer = predictor.tokenizer
    return getattr(tokenizer, "mask_token", None) or getattr(tokenizer, "unk_token", None) or ""


def explain(predictor: Predictor, text: str, max_segments: int = MAX_SEGMENTS) -> Explanation:
    """Each word's effect on the probability of the class `predictor` predicts for `text`."""
    spans = segments(text, max_segments)
    mask = mask_of(predictor)
    variants = [text] + [text[:start] + mask + text[end:] for start, end in spans]
    probabilities = predictor.predict_proba(variants)
    explained = int(predictor.predicted_ids(probabilities[:1])[0])
    effects = probabilities[0, explained] - probabilities[1:, explained]
    pieces: list[tuple[str, float | None]] = []
    position = 0
    for (start, end), effect in zip(spans, effects):
        if start > position:
            pieces.append((text[position:start], None))
        pieces.append((text[start:end], float(effect)))
        position = end
    if position < len(text):
        pieces.append((text[position:], None))
    return Explanation(text, predictor.labels[explained], float(probabilities[0, explained]), pieces, predictor.variant)


def explain_as_trained(run_dir: str | Path, texts: list[str]) -> list[Explanation]:
    """Explanations of several texts by a run's PyTorch model, without its calibration: what the
    report explains, next to the validation predictions it analyses (made by that model)."""
    if not texts:
        return []
    predictor = Predictor.from_run(run_dir, variant="fp32")
    predictor.calibration = Calibration()
    return [explain(predictor, text) for text in texts]


def markdown_highlight(explanation: Explanation, limit: int) -> str:
    """The text in markdown: the notable words towards the prediction in bold, against it in italics."""
    towards = {piece for piece, _ in explanation.notable(3)}
    against = {piece for piece, _ in explanation.notable(3, against=True)}
    out, length = [], 0
    for piece, effect in explanation.pieces:
        if length >= limit:
            out.append("…")
            break
        shown = " " if effect is None else escape_markdown(piece)  # between words: whitespace only
        if effect is not None and piece in towards:
            shown = f"**{shown}**"
        elif effect is not None and piece in against:
            shown = f"_{shown}_"
        out.append(shown)
        length += len(piece)
    return "".join(out).strip()


