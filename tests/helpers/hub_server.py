"""A Hub-compatible file server on 127.0.0.1 for tests (HF_ENDPOINT points at it): the routes huggingface_hub and
transformers use to describe and download a model (api/models/REPO[/revision/REV] and REPO/resolve/REV/FILE),
serving repositories from folders, with the Hub's error headers for a missing repo or file and a gated one.

python hub_server.py ROOT PORT_FILE: ROOT/owner/name/* are the repositories (a file GATED in one makes it gated);
the port it listens on is written to PORT_FILE, and every path asked for is appended to ROOT/requests.log.
"""

import hashlib
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")


class Hub(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def refuse(self, status: int, code: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def answer(self, body: bytes, kind: str, extra: dict | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        with (ROOT / "requests.log").open("a") as log:
            log.write(f"{self.command} {path}\n")
        info = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/[^/]+)?/?$", path)
        resolve = re.match(r"^/([^/]+/[^/]+)/resolve/[^/]+/(.+)$", path)
        repo = ROOT / (info or resolve).group(1) if (info or resolve) else None
        if repo is None or not repo.is_dir():
            return self.refuse(404, "RepoNotFound" if repo is not None else "EntryNotFound")
        if (repo / "GATED").exists():
            return self.refuse(403, "GatedRepo")
        if info:
            files = sorted(p for p in repo.rglob("*") if p.is_file())
            config = json.loads((repo / "config.json").read_text()) if (repo / "config.json").is_file() else {}
            body = {"id": info.group(1), "modelId": info.group(1), "sha": COMMIT, "private": False, "gated": False,
                    "config": config, "siblings": [{"rfilename": str(p.relative_to(repo)), "size": p.stat().st_size}
                                                   for p in files]}  # fmt: skip
            return self.answer(json.dumps(body).encode(), "application/json")
        file = repo / resolve.group(2)
        if not file.is_file():
            return self.refuse(404, "EntryNotFound")
        data = file.read_bytes()
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        self.answer(data, "application/octet-stream", {"X-Repo-Commit": COMMIT, "ETag": etag})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    Path(sys.argv[2]).write_text(str(server.server_address[1]))
    server.serve_forever()
