"""The review page: the audit's suspects one at a time, for a person to keep, relabel, drop or skip.

`python app.py --review DATA_DIR` adds it to the demo as its first tab (off by default: a public demo must not
let visitors edit labels, and a Space carries no data: build_space.LEFT_OUT_OF_SPACE). It shows each suspect
of DATA_DIR/audit/suspects.csv in the audit's order: the text, its given label, the label the audit suggests
with its confidence, why it is suspect, and the token explanation of the served run. Each decision is
appended to DATA_DIR/review_log.jsonl before the next suspect is shown (textclf.audit.review), so a restart,
or another tab, goes on from the first undecided suspect; skipped ones come back once all others are decided.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pandas as pd

from textclf import UserInputError
from textclf.audit.review import (
    CHANGE,
    DROP,
    KEEP,
    SKIP,
    ReviewLog,
    append_decision,
    check_log_matches,
    count_decisions,
    decided_now,
    load_review_data,
    load_suspects,
    read_log,
)
from textclf.serving.explain import explain
from textclf.serving.predictor import Predictor

BUTTONS = {KEEP: ("Keep", "k"), CHANGE: ("Change", "c"), DROP: ("Drop", "d"), SKIP: ("Skip", "s")}
# One listener for the whole page: a key clicks its button while the review is on screen and no text box has the
# focus (typing "d" into the Text tab must not drop a row). Installed once however often the tab is rendered.
SHORTCUTS_JS = """
if (!window.textclfReviewShortcuts) {
  window.textclfReviewShortcuts = true;
  const buttons = BUTTON_IDS;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    const typing = target.isContentEditable || ((target.tagName === "TEXTAREA" || (target.tagName === "INPUT"
      && !["radio", "checkbox", "button", "submit"].includes(target.type))) && !target.readOnly && !target.disabled);
    const button = !typing && buttons[event.key] && document.getElementById(buttons[event.key]);
    if (!button || button.offsetParent === null || button.disabled) return;
    event.preventDefault();
    button.click();
  });
}
""".replace("BUTTON_IDS", json.dumps({key: f"review-{decision}" for decision, (_, key) in BUTTONS.items()}))


def next_suspect(suspects: pd.DataFrame, log: ReviewLog) -> int | None:
    """The position of the first suspect without a decision; once there is none, the first skipped one."""
    latest = log.latest()
    undecided = [position for position, row_id in enumerate(suspects["row_id"]) if row_id not in latest]
    skipped = [position for position, row_id in enumerate(suspects["row_id"]) if row_id in latest and latest[row_id].decision == SKIP]
    return (undecided or skipped or [None])[0]


def number(cell: str) -> float | None:
    """A probability cell of suspects.csv; empty where the row was not ranked (a validation copy of a conflict)."""
    return float(cell) if cell not in ("", None) and not math.isnan(float(cell)) else None


class ReviewPage:
    """The review of one data folder: its suspects, read once, and its log, read again on every step."""

    def __init__(self, data_dir: Path):
        self.review = load_review_data(Path(data_dir))
        self.suspects = load_suspects(self.review)
        check_log_matches(self.review, read_log(self.review.log_path))  # at start-up: a wrong log stops the app

    def current_log(self) -> ReviewLog:
        log = read_log(self.review.log_path)
        check_log_matches(self.review, log)  # the file may have been replaced since start-up
        return log

    def label_choices(self) -> list[tuple[str, str]]:
        return [(self.review.class_name(value), value) for value in self.review.label_values()]

    def counts(self, log: ReviewLog) -> str:
        suspects = set(self.suspects["row_id"])
        return count_decisions([decision.decision for row_id, decision in log.latest().items() if row_id in suspects])

    def labels_line(self, suspect: pd.Series) -> str:
        name = self.review.class_name
        line = f"Given label: **{name(suspect['given_label'])}**"
        suggested = suspect["suggested_label"]
        if not suggested:
            return line + " · suggested: none (the copies of its text are split evenly between labels)"
        line += f" · suggested: **{name(suggested)}**"
        confidence = number(suspect.get("mislabel_confidence", ""))
        return line + (f" (mislabel confidence {confidence:.2f})" if confidence is not None else "")

    def reasons(self, suspect: pd.Series) -> str:
        """Why the audit suspects the row, in words, one line per reason."""
        name = self.review.class_name
        lines = []
        for reason in suspect["reason"].split("; "):
            if reason.startswith("conflicting duplicate"):
                group = reason[reason.index("("):]
                copies = self.suspects[self.suspects["reason"].str.contains(group, regex=False)
                                       & (self.suspects.index != suspect.name)]
                described = "; ".join(
                    f"**{name(copy['given_label'])}** in {copy['split']} row {copy['row']}"
                    + (" (the same text)" if copy["text"] == suspect["text"] else f" (near duplicate: “{copy['text']}”)")
                    for _, copy in copies.iterrows()
                )
                lines.append(f"- **Conflicting duplicate**: the same words (ignoring case, links, @mentions and "
                             f"punctuation) are labelled {described or 'otherwise elsewhere'}.")
            elif reason == "label issue":
                probability = number(suspect.get("given_label_probability", ""))
                lines.append(f"- **Model disagreement**: a model trained without this row (the audit's out-of-fold "
                             f"predictions) gives its label a probability of {probability:.2f} and predicts "
                             f"**{name(suspect['suggested_label'])}**; cleanlab flags it as a likely label error.")
            else:
                lines.append(f"- {reason}")
        return "\n".join(lines)

    def view(self, position: int | None, log: ReviewLog) -> list:
        """The values of the page's components (see build_review_tab) for the suspect at `position`."""
        total = len(self.suspects)
        if position is None:
            done = (f"**All {total} suspects of `{self.review.data_dir}` are decided** ({self.counts(log)}). "
                    "Train on the corrections: `REVIEW=1 bash scripts/train_<task>.sh` (docs/review.md).")
            if not total:
                done = f"The audit of `{self.review.data_dir}` suspects no row: nothing to review."
            return [None, done, "", "", "", gr.Radio(value=None), *[gr.Button(interactive=False)] * len(BUTTONS)]
        suspect = self.suspects.iloc[position]
        where = f"{suspect['split']} row {suspect['row']}" + (f", id {suspect['id']}" if suspect["id"] else "")
        progress = f"**Suspect {position + 1} of {total}** ({where}) · decided so far: {self.counts(log)}"
        others = [value for value in self.review.label_values() if value != suspect["given_label"]]
        chosen = suspect["suggested_label"] if suspect["suggested_label"] in others else (others or [None])[0]
        return [position, progress, suspect["text"], self.labels_line(suspect), self.reasons(suspect),
                gr.Radio(value=chosen), *[gr.Button(interactive=True)] * len(BUTTONS)]

    def first_view(self) -> list:
        log = self.current_log()
        if log.broken_tail:
            gr.Warning(f"{log.path}: {log.broken_tail}. The {len(log.decisions)} decisions before it are kept.")
        return self.view(next_suspect(self.suspects, log), log)

    def decide(self, position: int | None, decision: str, new_label: str | None) -> list:
        """Append the decision about the suspect at `position` (the one this tab shows), then show the next one."""
        log = self.current_log()
        if position is None:
            return self.view(next_suspect(self.suspects, log), log)
        suspect = self.suspects.iloc[position]
        if decision == CHANGE and new_label == suspect["given_label"]:
            gr.Warning("The chosen label is the given one: recorded as kept.")
            decision = KEEP
        if decision == CHANGE and new_label not in self.review.label_values():
            raise gr.Error("Choose the new label first.")
        append_decision(log.path, decided_now(suspect["row_id"], suspect["split"], suspect["given_label"], decision,
                                              new_label if decision == CHANGE else None))
        log = self.current_log()  # with the other tabs' decisions too
        return self.view(next_suspect(self.suspects, log), log)

    def explanation(self, position: int | None, predictor_of: Callable[[str], Predictor], run: str) -> gr.HighlightedText:
        if position is None:
            return gr.HighlightedText(value=None, label="Explanation")
        explained = explain(predictor_of(run), self.suspects.iloc[position]["text"])
        return gr.HighlightedText(
            value=explained.highlighted(),
            label=(f"The served run {run} predicts {explained.label} ({explained.probability:.2f}): words that pushed "
                   "towards it in red, against it in purple"),
        )


def page_errors(function: Callable) -> Callable:
    """A problem with the data, the log or the disk becomes the page's error message; nothing is half-saved."""

    def wrapped(*args):
        try:
            return function(*args)
        except UserInputError as error:
            raise gr.Error(str(error)) from error
        except OSError as error:
            raise gr.Error(f"The decision was not saved: {error}") from error

    return wrapped


def build_review_tab(demo: gr.Blocks, data_dir: Path, predictor_of: Callable[[str], Predictor],
                     run_choice: gr.Dropdown) -> ReviewPage:
    """The review tab, inside `demo`'s Blocks; explanations by the run chosen in `run_choice`.

    Raises UserInputError before anything is drawn when the folder has no audit or the log is another data set's.
    """
    page = ReviewPage(Path(data_dir))
    with gr.Tab("Review suspects"):
        gr.Markdown(f"Suspected label errors of `{page.review.data_dir}` in the audit's order; every decision is saved "
                    f"at once to `{page.review.log_path}`.")
        position = gr.State(None)
        progress = gr.Markdown(elem_id="review-progress")
        text = gr.Textbox(label="Text", lines=3, interactive=False, elem_id="review-text")
        labels = gr.Markdown(elem_id="review-labels")
        # The decision next to the text, the reasons and the explanation below it: no scrolling to decide.
        new_label = gr.Radio(page.label_choices(), label="Change to", elem_id="review-new-label")
        with gr.Row():
            buttons = {decision: gr.Button(f"{title} ({key})", elem_id=f"review-{decision}", interactive=False,
                                           variant="primary" if decision == CHANGE else "secondary")
                       for decision, (title, key) in BUTTONS.items()}
        gr.HTML("Keyboard: <kbd>k</kbd> keep · <kbd>c</kbd> change to the chosen label · <kbd>d</kbd> drop the row · "
                "<kbd>s</kbd> skip", js_on_load=SHORTCUTS_JS)
        reasons = gr.Markdown(elem_id="review-why")
        explanation = gr.HighlightedText(label="Explanation", elem_id="review-explanation")
    shown = [position, progress, text, labels, reasons, new_label, *buttons.values()]

    def explain_suspect(suspect: int | None, run: str) -> gr.HighlightedText:
        return page_errors(page.explanation)(suspect, predictor_of, run)

    for decision, button in buttons.items():
        button.click(page_errors(lambda suspect, label, decision=decision: page.decide(suspect, decision, label)),
                     inputs=[position, new_label], outputs=shown, api_visibility="private").then(
            explain_suspect, inputs=[position, run_choice], outputs=explanation, api_visibility="private")
    demo.load(page_errors(page.first_view), outputs=shown, api_visibility="private").then(
        explain_suspect, inputs=[position, run_choice], outputs=explanation, api_visibility="private")
    run_choice.change(explain_suspect, inputs=[position, run_choice], outputs=explanation, api_visibility="private")
    return page
