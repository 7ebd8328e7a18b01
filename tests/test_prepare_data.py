"""Tests for prepare_data.py. Every input is a small file written into tmp_path."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from prepare_data import main
from textclf.data.corpora import unescape_ag_news
from textclf.data.preparation import looks_categorical, stratified_split, word_length_percentiles

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers


def write_csv(path: Path, header: list[str] | None, rows: list[list[object]]) -> Path:
    """Write rows with the csv module (QUOTE_MINIMAL: newlines inside fields get quoted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def read_out(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def tweets_rows(n: int = 60) -> list[list[object]]:
    rows = []
    for i in range(n):
        target = 1 if i % 3 == 0 else 0  # a third are positive
        keyword = "" if i % 4 == 0 else f"fire%20{i % 5}"
        location = "" if i % 2 == 0 else f"Town {i}"
        rows.append([i * 2 + 1, keyword, location, f"tweet number {i} about things", target])
    rows[5][3] = "first line\nsecond line, with a comma"
    return rows


def write_tweets(raw: Path, gz: bool = False, train_rows: list[list[object]] | None = None,
                 test_rows: list[list[object]] | None = None) -> Path:
    suffix = ".csv.gz" if gz else ".csv"
    header = ["id", "keyword", "location", "text"]
    write_csv(raw / f"train{suffix}", header + ["target"], train_rows or tweets_rows())
    if test_rows is None:
        test_rows = [[900 - 7 * i, "" if i % 2 else "flood", "" if i % 3 else "Here",
                      f"test tweet {i}"] for i in range(12)]
        test_rows[3][3] = ""                 # empty text: must still be kept
        test_rows[4][3] = test_rows[5][3]    # duplicate text: must still be kept
    write_csv(raw / f"test{suffix}", header, test_rows)
    return raw


def imdb_rows(n: int = 40, offset: int = 0) -> list[list[object]]:
    return [[i, 2 if i % 2 else 9, 0 if i % 2 else 1, f"review {offset + i} <br /><br />great or not"]
            for i in range(n)]


def ag_rows(n: int = 40, offset: int = 0) -> list[list[object]]:
    rows = []
    for i in range(n):
        cls = i % 4 + 1
        rows.append([str(cls), f"Title {offset + i} #39;s",
                     f"Line one\\line two costs \\$5  #36;6 AT amp;T said  quot;hi quot; &lt;b&gt;{i}"])
    return rows


def run_main(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- tweets


@pytest.mark.parametrize("gz", [False, True])
def test_tweets_format(tmp_path: Path, capsys: pytest.CaptureFixture[str], gz: bool) -> None:
    raw = write_tweets(tmp_path / "raw", gz=gz)
    out = tmp_path / "out"
    code, stdout, _ = run_main(capsys, "--task", "tweets", "--raw_dir", raw, "--output_dir", out)
    assert code == 0
    train, val, test = (read_out(out / f"{s}.csv") for s in ("train", "validation", "test"))
    assert list(train.columns) == ["id", "keyword", "location", "text", "target"]
    assert list(test.columns) == ["id", "keyword", "location", "text"]
    assert len(train) + len(val) == 60 and len(val) == 6
    assert set(train["target"]) | set(val["target"]) == {"0", "1"}
    # test: every row, original order, Kaggle ids, empty text and duplicates kept
    assert test["id"].tolist() == [str(900 - 7 * i) for i in range(12)]
    assert test.at[3, "text"] == "" and test.at[4, "text"] == test.at[5, "text"]
    # embedded newline survives a CSV round trip; empty cells are empty, never 'nan'
    assert "first line\nsecond line, with a comma" in set(train["text"]) | set(val["text"])
    for name in ("train.csv", "validation.csv", "test.csv"):
        assert "nan" not in (out / name).read_text(encoding="utf-8").lower()
    both = pd.concat([train, val])
    assert (both["keyword"] == "").sum() == 15 and (both["location"] == "").sum() == 30
    assert "fire%201" in set(both["keyword"]) and "Town 1" in set(both["location"])
    assert "rows | labels" in stdout and "p50=" in stdout and "p99=" in stdout


def test_tweets_plain_and_gz_give_identical_outputs(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for gz in (False, True):
        raw = write_tweets(tmp_path / f"raw{gz}", gz=gz)
        assert run_main(capsys, "--task", "tweets", "--raw_dir", raw,
                        "--output_dir", tmp_path / f"out{gz}")[0] == 0
    for name in ("train.csv", "validation.csv", "test.csv"):
        assert (tmp_path / "outFalse" / name).read_bytes() == (tmp_path / "outTrue" / name).read_bytes()


def test_tweets_target_ints_in_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_tweets(tmp_path / "raw")
    run_main(capsys, "--task", "tweets", "--raw_dir", raw, "--output_dir", tmp_path / "out")
    train = pd.read_csv(tmp_path / "out" / "train.csv")
    assert train["target"].dtype.kind == "i" and set(train["target"]) == {0, 1}


# --------------------------------------------------------------------------- splitting


def test_stratified_and_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [[i, f"text {i}", "pos" if i % 5 == 0 else "neg"] for i in range(200)]
    data = write_csv(tmp_path / "data.csv", ["id", "text", "label"], rows)
    outputs = {}
    for run_name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out = tmp_path / run_name
        assert run_main(capsys, "--task", "csv", "--input", data, "--output_dir", out,
                        "--seed", seed, "--val_size", 0.2, "--test_size", 0.1)[0] == 0
        outputs[run_name] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert outputs["a"] == outputs["b"]
    assert outputs["a"]["train.csv"] != outputs["c"]["train.csv"]
    splits = {s: read_out(tmp_path / "a" / f"{s}.csv") for s in ("train", "validation", "test")}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [140, 40, 20]
    for df in splits.values():
        assert (df["label"] == "pos").mean() == pytest.approx(0.2)
    assert set(pd.concat(splits.values())["id"]) == {str(i) for i in range(200)}


def test_duplicates_kept_together_and_conflicts_removed(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    rows = tweets_rows()
    rows += [[1000 + i, "", "", "same text same label", 1] for i in range(4)]
    rows += [[2000, "", "", "conflicting text", 1], [2001, "", "", "conflicting text", 0],
             [2002, "", "", "conflicting text", 0]]
    raw = write_tweets(tmp_path / "raw", train_rows=rows)
    out = tmp_path / "out"
    code, stdout, _ = run_main(capsys, "--task", "tweets", "--raw_dir", raw, "--output_dir", out)
    assert code == 0
    train, val = read_out(out / "train.csv"), read_out(out / "validation.csv")
    assert "conflicting text" not in set(train["text"]) | set(val["text"])
    copies = [(df["text"] == "same text same label").sum() for df in (train, val)]
    assert sorted(copies) == [0, 4]
    assert not set(train["text"]) & set(val["text"])
    assert "removed 3 row(s): duplicate text with conflicting labels" in stdout
    assert "(1 distinct texts)" in stdout
    assert "kept 4 rows that are exact duplicates with the same label" in stdout
    assert "train/validation: 0" in (out / "PROTOCOL.txt").read_text(encoding="utf-8")


def test_removal_reporting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tweets_rows()
    rows += [[3000, "", "", "", 1], [3001, "", "", "   ", 0], [3002, "", "", "no label here", ""]]
    raw = write_tweets(tmp_path / "raw", train_rows=rows)
    out = tmp_path / "out"
    code, stdout, _ = run_main(capsys, "--task", "tweets", "--raw_dir", raw, "--output_dir", out)
    assert code == 0
    assert "removed 2 row(s): empty or missing text" in stdout
    assert "removed 1 row(s): missing label" in stdout
    assert "63 rows read, 3 removed, 60 kept" in stdout
    protocol = (out / "PROTOCOL.txt").read_text(encoding="utf-8")
    assert "2 empty or missing text" in protocol and "1 missing label" in protocol


def test_stratified_split_groups_by_text() -> None:
    df = pd.DataFrame({"text": [f"t{i // 3}" for i in range(90)], "label": [str(i // 3 % 2) for i in range(90)]})
    rest, held = stratified_split(df, "label", seed=1, test_size=0.2, group_column="text")
    assert len(rest) + len(held) == 90
    assert not set(rest["text"]) & set(held["text"])
    assert len(held) == 18 and (held["label"] == "1").sum() == 9


def test_word_length_percentiles() -> None:
    texts = pd.Series([" ".join(["w"] * n) for n in range(1, 101)])
    assert word_length_percentiles(texts) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}


# --------------------------------------------------------------------------- imdb


def test_imdb_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    write_csv(raw / "train.csv.gz", ["id", "rating", "label", "text"], imdb_rows(40))
    write_csv(raw / "test.csv", ["id", "rating", "label", "text"], imdb_rows(10, offset=100))
    out = tmp_path / "out"
    assert run_main(capsys, "--task", "imdb", "--raw_dir", raw, "--output_dir", out)[0] == 0
    train, val, test = (read_out(out / f"{s}.csv") for s in ("train", "validation", "test"))
    assert list(train.columns) == ["id", "rating", "label", "text"]
    assert len(train) == 36 and len(val) == 4 and len(test) == 10
    assert (val["label"] == "positive").sum() == 2
    assert set(train["label"]) == {"negative", "positive"}
    # <br /> tags are line breaks, in both splits
    assert test["text"].tolist() == [f"review {100 + i}\n\ngreat or not" for i in range(10)]
    assert not train["text"].str.contains("<br").any()
    assert "test: 10 of 10 reviews had <br /> line breaks" in (out / "PROTOCOL.txt").read_text()
    assert test["label"].tolist() == ["negative" if i % 2 else "positive" for i in range(10)]


def write_aclimdb(root: Path) -> None:
    for split, n in (("train", 10), ("test", 3)):
        for folder, rating in (("neg", 2), ("pos", 8)):
            directory = root / split / folder
            directory.mkdir(parents=True)
            for i in range(n):
                (directory / f"{i}_{rating}.txt").write_text(f"{split} {folder} review {i}", encoding="utf-8")


@pytest.mark.parametrize("give_parent", [True, False])
def test_imdb_aclimdb_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str], give_parent: bool) -> None:
    write_aclimdb(tmp_path / "aclImdb")
    raw = tmp_path if give_parent else tmp_path / "aclImdb"
    out = tmp_path / "out"
    assert run_main(capsys, "--task", "imdb", "--raw_dir", raw, "--output_dir", out)[0] == 0
    train, val, test = (read_out(out / f"{s}.csv") for s in ("train", "validation", "test"))
    assert len(train) == 18 and len(val) == 2 and len(test) == 6
    assert sorted(val["label"]) == ["negative", "positive"]
    assert test["text"].tolist() == [f"test {f} review {i}" for f in ("neg", "pos") for i in range(3)]
    assert set(test["rating"]) == {"2", "8"}


# --------------------------------------------------------------------------- ag_news


@pytest.mark.parametrize("raw_text, expected", [
    ("Johnson  amp; Johnson", "Johnson & Johnson"),
    ("AT amp;T", "AT&T"),
    ("it #39;s", "it's"),
    ("the  #36;10 million", "the $10 million"),
    ("costs \\$5", "costs $5"),
    ("quot;Hi quot; he said", '"Hi" he said'),
    ("Dell &lt;DELL.O&gt; &amp; co", "Dell <DELL.O> & co"),
    ("a second\\team", "a second\nteam"),
    ("social\\network", "social\nnetwork"),
    ("end.\\\\Next", "end.\n\nNext"),
    ("news  #151; more", "news — more"),
    ("tower; #1; &foo;", "tower; #1; &foo;"),
])
def test_unescape_ag_news(raw_text: str, expected: str) -> None:
    assert unescape_ag_news(raw_text) == expected


def test_ag_news_with_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    write_csv(raw / "train.csv", None, ag_rows(40))
    write_csv(raw / "test.csv.gz", None, ag_rows(8, offset=100))
    out = tmp_path / "out"
    assert run_main(capsys, "--task", "ag_news", "--raw_dir", raw, "--output_dir", out)[0] == 0
    train, val, test = (read_out(out / f"{s}.csv") for s in ("train", "validation", "test"))
    assert list(train.columns) == ["label", "title", "description", "text"]
    assert len(train) == 36 and len(val) == 4 and len(test) == 8
    assert sorted(val["label"]) == ["Business", "Sci/Tech", "Sports", "World"]
    assert test["label"].tolist() == ["World", "Sports", "Business", "Sci/Tech"] * 2
    row = test.iloc[0]
    assert row["title"] == "Title 100's"
    assert row["description"] == 'Line one\nline two costs $5 $6 AT&T said "hi" <b>0'
    assert row["text"] == row["title"] + " " + row["description"]
    assert "NOT comparable" not in (out / "PROTOCOL.txt").read_text(encoding="utf-8")


def test_ag_news_refuses_without_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    write_csv(raw / "test.csv", None, ag_rows(40))
    code, _, err = run_main(capsys, "--task", "ag_news", "--raw_dir", raw, "--output_dir", tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert str(raw) in err and "train.csv" in err and "--carve_from_test" in err
    assert not (tmp_path / "out").exists()


def test_ag_news_carve_from_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    write_csv(raw / "test.csv", None, ag_rows(80))
    out = tmp_path / "out"
    code, stdout, _ = run_main(capsys, "--task", "ag_news", "--raw_dir", raw, "--output_dir", out,
                               "--carve_from_test")
    assert code == 0
    sizes = [len(read_out(out / f"{s}.csv")) for s in ("train", "validation", "test")]
    assert sizes == [64, 8, 8]
    for split in ("validation", "test"):
        assert sorted(read_out(out / f"{split}.csv")["label"].value_counts()) == [2, 2, 2, 2]
    assert "WARNING: " in stdout and "NOT comparable to published AG News results" in stdout
    protocol = (out / "PROTOCOL.txt").read_text(encoding="utf-8")
    assert "CARVED FROM THE OFFICIAL TEST SET" in protocol and "NOT comparable" in protocol
    texts = [set(read_out(out / f"{s}.csv")["text"]) for s in ("train", "validation", "test")]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


# --------------------------------------------------------------------------- csv task


def test_csv_task_json_and_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [{"sentence": f"s {i}", "y": i % 2} for i in range(30)]
    (tmp_path / "a.json").write_text(json.dumps(records[:10]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in records[10:]), encoding="utf-8")
    out = tmp_path / "out"
    code, _, _ = run_main(capsys, "--task", "csv", "--input", tmp_path / "a.json", tmp_path / "b.jsonl",
                          "--text_column", "sentence", "--label_column", "y", "--output_dir", out)
    assert code == 0
    splits = [read_out(out / f"{s}.csv") for s in ("train", "validation", "test")]
    assert [len(s) for s in splits] == [24, 3, 3]
    assert list(splits[0].columns) == ["sentence", "y"]
    assert sorted(pd.concat(splits)["sentence"]) == sorted(r["sentence"] for r in records)


def test_csv_task_regression_labels_not_stratified(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = write_csv(tmp_path / "r.csv", ["text", "label"], [[f"t {i}", i / 7] for i in range(50)])
    code, stdout, _ = run_main(capsys, "--task", "csv", "--input", data, "--output_dir", tmp_path / "o")
    assert code == 0 and "do not look categorical" in stdout
    assert looks_categorical(pd.Series(["a", "b"] * 10))
    assert not looks_categorical(pd.Series(["0.5", "1.25", "2"]))


# --------------------------------------------------------------------------- bad inputs


def _bad_missing_dir(raw: Path) -> Path:
    return raw / "does_not_exist"


def _bad_missing_test_file(raw: Path) -> Path:
    write_tweets(raw)
    (raw / "test.csv").unlink()
    return raw / "test.csv"


def _bad_missing_column(raw: Path) -> Path:
    write_tweets(raw)
    return write_csv(raw / "train.csv", ["id", "keyword", "text", "target"], [[1, "", "hi", 1]])


def _bad_empty_file(raw: Path) -> Path:
    write_tweets(raw)
    (raw / "train.csv").write_text("", encoding="utf-8")
    return raw / "train.csv"


def _bad_header_only(raw: Path) -> Path:
    write_tweets(raw)
    (raw / "test.csv").write_text("id,keyword,location,text\n", encoding="utf-8")
    return raw / "test.csv"


def _bad_encoding(raw: Path) -> Path:
    write_tweets(raw)
    (raw / "train.csv").write_bytes(b"id,keyword,location,text,target\n1,,,caf\xe9 \xff,1\n")
    return raw / "train.csv"


def _bad_gzip(raw: Path) -> Path:
    write_tweets(raw)
    (raw / "train.csv").unlink()
    (raw / "train.csv.gz").write_bytes(b"this is not gzip data")
    return raw / "train.csv.gz"


def _bad_target(raw: Path) -> Path:
    rows = tweets_rows()
    rows[3][4] = "yes"
    write_tweets(raw, train_rows=rows)
    return raw / "train.csv"


@pytest.mark.parametrize("make_bad, needle", [
    (_bad_missing_dir, "raw directory not found"),
    (_bad_missing_test_file, "neither test.csv nor test.csv.gz found"),
    (_bad_missing_column, "missing required column(s) location"),
    (_bad_empty_file, "file is empty"),
    (_bad_header_only, "no data rows"),
    (_bad_encoding, "not valid UTF-8"),
    (_bad_gzip, "cannot read file"),
    (_bad_target, "target must be 0 or 1"),
])
def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], make_bad, needle: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    named = make_bad(raw)
    raw_dir = named if make_bad is _bad_missing_dir else raw
    code, _, err = run_main(capsys, "--task", "tweets", "--raw_dir", raw_dir, "--output_dir", tmp_path / "out")
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
    name = str(named.parent) if make_bad is _bad_missing_test_file else str(named)
    assert name in err and "Traceback" not in err


def test_bad_imdb_labels_and_csv_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    write_csv(raw / "train.csv", ["text", "label"], [["good", "maybe"], ["bad", 0]])
    write_csv(raw / "test.csv", ["text", "label"], [["ok", 1]])
    code, _, err = run_main(capsys, "--task", "imdb", "--raw_dir", raw, "--output_dir", tmp_path / "o")
    assert code == 2 and str(raw / "train.csv") in err and "'maybe'" in err
    data = write_csv(tmp_path / "d.csv", ["txt", "label"], [["a", 1]])
    code, _, err = run_main(capsys, "--task", "csv", "--input", data, "--output_dir", tmp_path / "o")
    assert code == 2 and str(data) in err and "missing required column(s) text" in err


def test_subprocess_exit_code_and_stderr(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [sys.executable, str(ROOT / "prepare_data.py"), "--task", "imdb", "--raw_dir", str(missing),
         "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: {missing}: raw directory not found\n"
    assert "Traceback" not in result.stdout


def test_help_lists_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--task", "--raw_dir", "--output_dir", "--val_size", "--seed",
                   "--carve_from_test", "--from_hub", "--input"):
        assert option in text
