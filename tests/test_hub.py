"""Models from the Hub, through huggingface_hub's and transformers' real download code against a Hub-compatible file
server on 127.0.0.1 (tests/helpers/hub_server.py; HF_ENDPOINT), never the network: an open classifier loads and
answers as the same model loaded from its folder; a missing, gated, pickle-only, headless, too-large or non-encoder
model is one line before any weights are fetched; the per-visitor load budget and the loaded-model bound hold."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TOKENIZER_DIR, save_tiny_model, tiny_bert

HELPERS = Path(__file__).parent / "helpers"
CHECK = """
import json, sys
from longbert import LongbertError
from longbert.hub import check_hub_model
from ui import models
out = {}
for repo in ("acme/nope", "acme/gated", "acme/pickled", "acme/encoder", "acme/gpt"):
    try:
        models.classifier_for(repo, "visitor")
        out[repo] = "loaded"
    except LongbertError as error:
        out[repo] = str(error)
try:
    check_hub_model("acme/tiny", 0.01)
except LongbertError as error:
    out["too large"] = str(error)
review = "A long and wonderful film. " * 200
classifier = models.classifier_for("acme/tiny", "visitor")
out["hub"] = classifier.predict(review)[0].probabilities
out["local"] = models.LongTextClassifier.from_pretrained(sys.argv[1], precision="fp32").predict(review)[0].probabilities
out["second"] = models.classifier_for("acme/other", "visitor").predict(review)[0].probabilities
try:
    models.classifier_for("acme/third", "visitor")
except LongbertError as error:
    out["budget"] = str(error)
out["other visitor"] = bool(models.classifier_for("acme/third", "someone else").predict(review))
out["loaded"] = [m for m in ("acme/tiny", "acme/other", "acme/third") if models.is_loaded(m)]
print("RESULT " + json.dumps(out))
"""


def repositories(root: Path) -> Path:
    hub = root / "hub"
    for name in ("tiny", "other", "third"):
        save_tiny_model(hub / "acme" / name, seed={"tiny": 0, "other": 1, "third": 2}[name], init=0.5)
    save_tiny_model(hub / "acme" / "gated")
    (hub / "acme" / "gated" / "GATED").touch()
    pickled = save_tiny_model(hub / "acme" / "pickled")
    torch.save(tiny_bert().state_dict(), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    from transformers import AutoTokenizer

    encoder = hub / "acme" / "encoder"
    tiny_bert().bert.save_pretrained(encoder)
    AutoTokenizer.from_pretrained(TOKENIZER_DIR).save_pretrained(encoder)
    gpt = save_tiny_model(hub / "acme" / "gpt")
    config = json.loads((gpt / "config.json").read_text())
    (gpt / "config.json").write_text(json.dumps(config | {"model_type": "gpt2"}))
    return hub


@pytest.mark.slow
def test_hub_models_through_huggingface_hubs_own_download_code(tmp_path):
    hub = repositories(tmp_path)
    port_file = tmp_path / "port"
    server = subprocess.Popen([sys.executable, str(HELPERS / "hub_server.py"), str(hub), str(port_file)])
    try:
        for _ in range(100):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_OFFLINE"))}
        env |= {"HF_ENDPOINT": f"http://127.0.0.1:{port_file.read_text()}", "HF_HOME": str(tmp_path / "cache"),
                "LONGBERT_HUB_MODELS": "1", "LONGBERT_HUB_LOADS": "2", "LONGBERT_MAX_MODELS": "2",
                "LONGBERT_MODEL": str(hub / "acme" / "tiny"), "LONGBERT_MODELS": "", "LONGBERT_PRECISION": "fp32",
                "PYTHONPATH": str(Path(__file__).parent.parent)}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", CHECK, str(hub / "acme" / "tiny")], env=env, capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.stderr[-3000:]
    out = json.loads(line[len("RESULT ") :])
    assert "no model 'acme/nope' on the Hub" in out["acme/nope"]
    assert "acme/gated is gated on the Hub" in out["acme/gated"]
    assert "only pickle weights (pytorch_model.bin)" in out["acme/pickled"]
    assert "no sequence-classification head (BertModel)" in out["acme/encoder"]
    assert "is a gpt2: this server reads BERT-family encoders" in out["acme/gpt"]
    assert "the limit here is 0.01 MB" in out["too large"]
    assert all("\n" not in v for v in out.values() if isinstance(v, str)), "each refusal is one line"
    assert out["hub"] == pytest.approx(out["local"], abs=1e-6), "downloaded, it answers as the same model"
    assert out["loaded"] == ["acme/other", "acme/third"], "two stay loaded, the least recently used went"
    assert "loaded 2 models from the Hub this hour; the limit here is 2" in out["budget"]
    assert out["other visitor"], "the budget is each visitor's own"
    asked = (hub / "requests.log").read_text().splitlines()
    fetched = {line.split()[1] for line in asked if line.startswith("GET ") and "/resolve/" in line}
    assert any("/acme/tiny/resolve/" in p and p.endswith("/model.safetensors") for p in fetched), fetched
    for refused in ("pickled", "gpt", "encoder", "gated"):
        weights = [p for p in fetched if f"/acme/{refused}/" in p and p.endswith((".safetensors", ".bin"))]
        assert not weights, f"no weights of acme/{refused} were fetched: {weights}"
