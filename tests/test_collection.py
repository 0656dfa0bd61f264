"""longbert predict INPUT --output OUT: collections in, parquet parts out, resumable, bad rows reported."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from longbert.cli import main
from longbert.collection import Job, local_parts, score_collection
from longbert.data import SAMPLE


def documents(n: int = 30) -> pd.DataFrame:
    frame = pd.read_parquet(SAMPLE).head(n)
    return pd.DataFrame({"doc": [f"d{i:03d}" for i in range(n)], "body": frame["text"].tolist()})


def read_output(out) -> pd.DataFrame:
    return pq.read_table(sorted(str(p) for p in out.glob("part-*.parquet"))).to_pandas()


def run(capsys, *argv) -> tuple[int, str]:
    code = main(["predict", *argv])
    return code, capsys.readouterr().err


def test_a_collection_is_scored_into_parts_equal_to_predict(tmp_path, capsys, model_dir, classifier):
    frame = documents()
    frame.to_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out"
    code, err = run(capsys, str(tmp_path / "in.parquet"), "--output", str(out), "--model", str(model_dir), "--chunks",
                    "--text-column", "body", "--id-column", "doc", "--part-rows", "7", "--quiet",
                    "--precision", "fp32")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [f"part-{i:05d}.parquet" for i in range(5)]
    result = read_output(out)
    assert result["id"].tolist() == frame["doc"].tolist(), "every id once, in input order"
    direct = classifier.predict(frame["body"].tolist())
    assert result["label"].tolist() == [p.label for p in direct]
    assert np.allclose(np.stack(result["probabilities"]), [p.probabilities for p in direct], atol=1e-5)
    assert result["num_chunks"].tolist() == [len(p.chunks) for p in direct]
    assert [len(c) for c in result["chunk_outputs"]] == result["num_chunks"].tolist()
    assert list(map(list, result["chunk_spans"][0])) == [list(c.span) for c in direct[0].chunks]
    assert result["error"].isna().all()
    engine = json.loads(pq.read_schema(out / "part-00000.parquet").metadata[b"longbert"])["engine"]
    assert engine == classifier.engine == "torch float32", "each part says which engine answered"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["rows"] == 30 and len(manifest["parts"]) == 5 and manifest["settings"]["id_column"] == "doc"


@pytest.mark.parametrize("kind", ["jsonl", "csv", "directory"])
def test_json_lines_csv_and_directories(tmp_path, capsys, model_dir, kind):
    frame = documents(12).rename(columns={"body": "text"})
    source = tmp_path / "in"
    if kind == "jsonl":
        source = tmp_path / "in.jsonl"
        frame.to_json(source, orient="records", lines=True)
    elif kind == "csv":
        source = tmp_path / "in.csv"
        frame.to_csv(source, index=False)
    else:
        source.mkdir()
        frame.iloc[:5].to_parquet(source / "a.parquet")
        frame.iloc[5:].to_parquet(source / "b.parquet")
    out = tmp_path / "out"
    code, err = run(capsys, str(source), "--output", str(out), "--model", str(model_dir), "--quiet")
    assert code == 0, err
    result = read_output(out)
    assert result["id"].tolist() == list(range(12)), "without --id-column the id is the row number"
    assert result["num_tokens"].min() > 0


def write_input(frame: pd.DataFrame, kind: str, tmp_path):
    """frame's texts in one format: a directory of .txt files (one text each), .jsonl, .csv or .parquet."""
    if kind == "txt":
        folder = tmp_path / "texts"
        folder.mkdir()
        for i, text in enumerate(frame["text"]):
            (folder / f"{i:03d}.txt").write_text(text, encoding="utf-8")
        return folder
    source = tmp_path / f"in.{kind}"
    {"jsonl": lambda: frame.to_json(source, orient="records", lines=True),
     "csv": lambda: frame.to_csv(source, index=False), "parquet": lambda: frame.to_parquet(source)}[kind]()  # fmt: skip
    return source


@pytest.mark.parametrize("kind", ["txt", "jsonl", "csv", "parquet"])
def test_predict_reads_every_format_with_and_without_output(tmp_path, capsys, model_dir, classifier, kind):
    frame = documents(6).rename(columns={"body": "text"})
    source = write_input(frame, kind, tmp_path)
    expected = [p.label for p in classifier.predict(frame["text"].tolist())]
    code = main(["predict", str(source), "--model", str(model_dir), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [json.loads(line)["label"] for line in out.splitlines()] == expected
    code, err = run(capsys, str(source), "--output", str(tmp_path / "out"), "--model", str(model_dir), "--quiet")
    assert code == 0, err
    assert read_output(tmp_path / "out")["label"].tolist() == expected


def test_a_line_that_is_not_json_is_named_and_a_missing_id_field_refused(tmp_path, capsys, model_dir):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n')
    code, err = run(capsys, str(source), "--output", str(tmp_path / "out"), "--model", str(model_dir),
                    "--id-column", "id", "--quiet")  # fmt: skip
    assert code == 0, err
    assert (
        read_output(tmp_path / "out")["error"].tolist()[1].endswith("in.jsonl line 2: not valid JSON (Expecting value)")
    )
    code, err = run(capsys, str(source), "--model", str(model_dir), "--quiet")
    assert code == 2 and "in.jsonl line 2: not valid JSON" in err and len(err.strip().splitlines()) == 1
    source.write_text('{"text": "fine"}\n')
    code, err = run(capsys, str(source), "--output", str(tmp_path / "out2"), "--model", str(model_dir),
                    "--id-column", "id", "--quiet")  # fmt: skip
    assert code == 2 and "line 1 has no 'id' field (--id-column)" in err


def test_bad_rows_are_reported_with_their_ids_and_do_not_stop_the_others(tmp_path, capsys, model_dir):
    lines = [{"id": "a", "text": "fine"}, {"id": "b", "text": None}, {"id": "c", "text": 42},
             {"id": "d", "text": "good \ud800 film"}, {"id": "e", "text": ""}]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines[:3] + lines[4:]) + "\n")
    with source.open("a") as f:
        f.write('{"id": "d", "text": "good \\ud800 film"}\n')
    code, err = run(capsys, str(source), "--output", str(tmp_path / "out"), "--model", str(model_dir),
                    "--id-column", "id", "--quiet")  # fmt: skip
    assert code == 0, err
    result = read_output(tmp_path / "out").set_index("id")
    assert result.loc["b", "error"] == "no text" and pd.isna(result.loc["b", "label"])
    assert "not a string" in result.loc["c", "error"] and "lone surrogate" in result.loc["d", "error"]
    assert pd.isna(result.loc["a", "error"]) and result.loc["a", "label"] in ("NEGATIVE", "POSITIVE")
    assert pd.isna(result.loc["e", "error"]) and result.loc["e", "num_chunks"] == 0, "an empty text has no chunks"
    assert "id 'b' skipped: no text" in err and json.loads(err.strip().splitlines()[-1])["errors"] == 3


def test_a_stopped_run_resumes_without_losing_or_repeating_a_row(tmp_path, classifier):
    frame = documents()
    frame.to_parquet(tmp_path / "in.parquet")
    job = Job("tiny", "510/510/1", "mean", "body", "doc", part_rows=4)
    whole = tmp_path / "whole"
    score_collection(tmp_path / "in.parquet", whole, job, local_parts(classifier, job, None, "mean"), progress=False)
    scored = []

    def stopped_after_three(parts):
        for number, columns, meta in local_parts(classifier, job, None, "mean")(parts):
            if len(scored) == 3:
                raise KeyboardInterrupt
            scored.append(number)
            yield number, columns, meta

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        score_collection(tmp_path / "in.parquet", out, job, stopped_after_three, progress=False)
    assert not (out / "_manifest.json").exists()
    (out / ".part-00003.parquet.tmp").write_bytes(b"half a part")  # killed while writing part 3
    done = score_collection(tmp_path / "in.parquet", out, job, local_parts(classifier, job, None, "mean"),
                            progress=False)  # fmt: skip
    assert done["parts_reused"] == 3 and done["parts"] == 8
    pd.testing.assert_frame_equal(read_output(out), read_output(whole))
    with pytest.raises(Exception, match="other settings"):
        score_collection(tmp_path / "in.parquet", out, Job("tiny", "510/510/1", "max", "body", "doc", part_rows=4),
                         local_parts(classifier, job, None, "max"), progress=False)  # fmt: skip


@pytest.mark.slow
def test_killing_the_command_and_rerunning_it_gives_every_id_once(tmp_path, model_dir):
    frame = pd.concat([documents(300)] * 4, ignore_index=True)
    frame["doc"] = [f"d{i:04d}" for i in range(len(frame))]
    frame.to_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "longbert", "predict", str(tmp_path / "in.parquet"), "--output", str(out),
               "--model", str(model_dir), "--text-column", "body", "--id-column", "doc", "--part-rows", "40",
               "--quiet"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(out.glob("part-*.parquet"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(out.glob("part-*.parquet")))
    assert 3 <= finished < 30, "killed mid-run"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stderr.strip().splitlines()[-1])["parts_reused"] == finished
    result = read_output(out)
    assert result["id"].tolist() == frame["doc"].tolist(), "every id exactly once, in order"


def run_job(tmp_path, classifier, job, source="in.parquet", out="out"):
    return score_collection(tmp_path / source, tmp_path / out, job, local_parts(classifier, job, None, "mean"),
                            progress=False)  # fmt: skip


def test_a_damaged_part_is_scored_again_and_said_so(tmp_path, classifier, capsys):
    documents(12).to_parquet(tmp_path / "in.parquet")
    job = Job("tiny", "510/510/1", "mean", "body", "doc", part_rows=4)
    run_job(tmp_path, classifier, job)
    whole = read_output(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert len(manifest["digests"]) == 3 and all(manifest["digests"]), "every part's digest is in the manifest"
    part = tmp_path / "out" / "part-00001.parquet"
    for damage in (lambda: part.write_bytes(part.read_bytes()[:100]), lambda: part.write_bytes(b"not parquet")):
        damage()
        capsys.readouterr()
        done = run_job(tmp_path, classifier, job)
        assert done["parts_reused"] == 2, "the two whole parts are kept, the damaged one is redone"
        assert "part-00001.parquet does not match the digest recorded" in capsys.readouterr().err
        pd.testing.assert_frame_equal(read_output(tmp_path / "out"), whole)


def test_a_resume_redoes_what_another_input_changed_and_refuses_other_weights(tmp_path, capsys, model_dir):
    from conftest import save_tiny_model

    documents(8).to_parquet(tmp_path / "in.parquet")
    model = save_tiny_model(tmp_path / "model")
    args = [str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--model", str(model),
            "--text-column", "body", "--quiet", "--part-rows", "4"]  # fmt: skip
    assert run(capsys, *args)[0] == 0
    documents(9).to_parquet(tmp_path / "in.parquet")  # another input under the same name: one row more
    code, err = run(capsys, *args)
    assert code == 0 and json.loads(err.strip().splitlines()[-1])["parts_reused"] == 2
    assert read_output(tmp_path / "out")["id"].tolist() == list(range(9))
    documents(8).to_parquet(tmp_path / "in.parquet")
    save_tiny_model(tmp_path / "model", seed=5)  # retrained in place
    code, err = run(capsys, *args)
    assert code == 2 and "other settings, input or model weights" in err


def test_a_refused_run_leaves_nothing_that_blocks_its_corrected_rerun(tmp_path, capsys, model_dir):
    documents(8).to_parquet(tmp_path / "in.parquet")
    args = [str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--model", str(model_dir), "--quiet"]
    code, err = run(capsys, *args, "--text-column", "body", "--id-column", "no_such_column")
    assert code == 2 and "has no column 'no_such_column'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "_settings.json").exists()
    code, err = run(capsys, *args, "--text-column", "body", "--id-column", "doc")
    assert code == 0, err


def test_a_full_disk_is_one_line(tmp_path, capsys, model_dir, monkeypatch):
    import longbert.collection

    documents(8).to_parquet(tmp_path / "in.parquet")

    def full(path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(longbert.collection, "write_atomic", full)
    code, err = run(capsys, str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--model",
                    str(model_dir), "--text-column", "body", "--quiet")  # fmt: skip
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1


def test_actors_are_checked_before_ray_starts(tmp_path, capsys, model_dir, monkeypatch):
    import longbert.distributed

    monkeypatch.setattr(longbert.distributed, "cluster", lambda *args: pytest.fail("Ray was started"))
    documents(4).to_parquet(tmp_path / "in.parquet")
    code, err = run(capsys, str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--model",
                    str(model_dir), "--text-column", "body", "--ray", "local", "--actors", "0")  # fmt: skip
    assert code == 2 and "--actors must be a positive integer, got 0" in err


def test_a_resume_redoes_a_part_whose_rows_changed_whatever_the_files_size_and_time(tmp_path, capsys, model_dir):
    texts = ["A wonderful film, moving and funny. " * 3, "Dull, slow and far too long. " * 4] * 6
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    args = [str(source), "--output", str(tmp_path / "out"), "--model", str(model_dir), "--quiet", "--part-rows",
            "4", "--precision", "fp32"]  # fmt: skip
    assert run(capsys, *args)[0] == 0
    before = read_output(tmp_path / "out")
    stat = source.stat()
    edited = texts.copy()
    edited[5] = edited[5].replace("slow", "glum")  # same size
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in edited))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same modification time
    assert source.stat().st_size == stat.st_size
    code, err = run(capsys, *args)
    assert code == 0 and "the input rows of part-00001.parquet changed since it was written" in err
    assert json.loads(err.strip().splitlines()[-1])["parts_reused"] == 2, "only the edited part is scored again"
    after = read_output(tmp_path / "out")
    from longbert import LongTextClassifier

    expected = LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="fp32").predict(edited[5])[0]
    assert after["probabilities"][5][1] == pytest.approx(expected.probabilities[1], abs=1e-5)
    assert after["probabilities"][5][1] != pytest.approx(before["probabilities"][5][1], abs=1e-9)


def test_an_output_directory_holding_other_files_is_refused(tmp_path, capsys, model_dir):
    documents(4).to_parquet(tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_text("mine")
    code, err = run(capsys, str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--model",
                    str(model_dir), "--text-column", "body", "--quiet")  # fmt: skip
    assert code == 2 and err.strip().splitlines() == [
        f"longbert predict: error: --output {tmp_path / 'out'} holds files longbert did not write (a.txt): "
        "choose an empty or new directory"
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]


def test_duplicate_ids_get_one_warning_and_every_row_is_kept_in_order(tmp_path, capsys, model_dir):
    frame = documents(10)
    frame.loc[[3, 7], "doc"] = "d001"
    frame.loc[8, "doc"] = "d002"
    frame.to_parquet(tmp_path / "in.parquet")
    code, err = run(capsys, str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"), "--model",
                    str(model_dir), "--text-column", "body", "--id-column", "doc", "--quiet")  # fmt: skip
    assert code == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == ["longbert predict: warning: 2 ids occur more than once ('d001', 'd002'); every row is kept, "
                        "in input order"]  # fmt: skip
    assert read_output(tmp_path / "out")["id"].tolist() == frame["doc"].tolist()


@pytest.mark.parametrize("flags, message", [
    (["--id-column", "nope"], "the input has no column 'nope'"),
    (["--output", "/dev/null/x"], "cannot read or write /dev/null/x"),
])  # fmt: skip
def test_bad_input_in_collection_mode_is_one_line_before_any_progress_bar(tmp_path, model_dir, flags, message):
    documents(4).to_parquet(tmp_path / "in.parquet")
    output = [] if "--output" in flags else ["--output", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, "-m", "longbert", "predict", str(tmp_path / "in.parquet"), *output,
                           "--model", str(model_dir), "--text-column", "body", *flags],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert "documents:" not in done.stderr


def test_a_null_text_means_no_text_in_every_format_and_rows_count_from_0(tmp_path, capsys, model_dir):
    texts = ["A fine film. " * 5, None, "Dull. " * 5]
    frame = pd.DataFrame({"text": texts})
    frame.to_parquet(tmp_path / "in.parquet")
    frame.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    errors = {}
    for kind in ("parquet", "csv", "jsonl"):
        code, err = run(capsys, str(tmp_path / f"in.{kind}"), "--output", str(tmp_path / kind), "--model",
                        str(model_dir), "--quiet")  # fmt: skip
        assert code == 0, err
        result = read_output(tmp_path / kind)
        errors[kind] = result["error"].tolist()
        assert result["id"].tolist() == [0, 1, 2] and result["label"].isna().tolist() == [False, True, False]
    assert [[e if isinstance(e, str) else None for e in errors[k]] for k in errors] == [[None, "no text", None]] * 3
    for kind, where in (("parquet", "row 1"), ("csv", "row 1"), ("jsonl", "line 2")):
        code = main(["predict", str(tmp_path / f"in.{kind}"), "--model", str(model_dir), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and where in err and len(err.strip().splitlines()) == 1, (kind, err)
