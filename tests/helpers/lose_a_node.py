"""Score a collection on a two-node Ray cluster on 127.0.0.1 (ray.cluster_utils) and remove the worker node, not
gracefully, while it scores: python lose_a_node.py MODEL INPUT OUT REPORT. Writes the nodes' addresses and the counts
to REPORT (JSON; Ray's own processes print to stdout)."""

import json
import os
import sys
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # longbert.distributed.LOOPBACK, before Ray is imported

import ray
from ray.cluster_utils import Cluster

from longbert.collection import Job, score_collection
from longbert.distributed import actor_parts

model, source, out, report = sys.argv[1:5]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
worker = cluster.add_node(num_cpus=1)
ray.init(address=cluster.address, log_to_driver=False)
addresses = sorted({node["NodeManagerAddress"] for node in ray.nodes()})
job = Job(model, "510/510/1", "mean", "text", "doc", part_rows=20)
pool = actor_parts(2, 0, 1, model=model, strategy="510/510/1", pooling="mean", precision="fp32")  # one per node
removed = []


def losing_the_worker(parts):
    for number, part in enumerate(parts):
        if number == 4:  # both actors hold parts: the worker's is lost with its node
            cluster.remove_node(worker, allow_graceful=False)
            removed.append(number)
        yield part


done = score_collection(source, out, job, lambda parts: pool(losing_the_worker(parts)), progress=False)
deadline = time.monotonic() + 60  # the cluster notices the lost node on its own schedule
while (alive := sum(node["Alive"] for node in ray.nodes())) > 1 and time.monotonic() < deadline:
    time.sleep(0.5)
Path(report).write_text(json.dumps({"addresses": addresses, "removed": bool(removed), "alive_nodes": alive, **done}))
ray.shutdown()
cluster.shutdown()
