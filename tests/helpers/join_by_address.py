"""Start a two-node Ray cluster on 127.0.0.1 (ray.cluster_utils), score a collection on it through the command by its
address (`longbert predict IN --output OUT --ray 127.0.0.1:PORT --actors 2`) and remove the worker node, not
gracefully, once the first part is written: python join_by_address.py MODEL INPUT OUT REPORT. Writes the command's
exit code, its stderr and whether the node was removed to REPORT (JSON)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # longbert.distributed.LOOPBACK, before Ray is imported

from ray.cluster_utils import Cluster

model, source, out, report = sys.argv[1:5]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
worker = cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
command = [
    sys.executable,
    "-m",
    "longbert",
    "predict",
    source,
    "--output",
    out,
    "--model",
    model,
    "--id-column",
    "doc",
    "--part-rows",
    "20",
    "--precision",
    "fp32",
    "--quiet",
    "--ray",
    cluster.address,
    "--actors",
    "2",
]
driver = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)  # fmt: skip
removed = False
deadline = time.monotonic() + 400
while driver.poll() is None and time.monotonic() < deadline:
    if not removed and (Path(out) / "part-00000.parquet").exists():
        cluster.remove_node(worker, allow_graceful=False)
        removed = True
    time.sleep(0.2)
stderr = driver.communicate(timeout=60)[1]
Path(report).write_text(json.dumps({"address": cluster.address, "code": driver.returncode, "stderr": stderr,
                                    "removed": removed}))  # fmt: skip
cluster.shutdown()
