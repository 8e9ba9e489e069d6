"""Recovery time after `silos local` is killed mid-flight (docs/RELIABILITY.md).

Starts the serialized emulator and `silos local` against it, onboards N tenants (default 20),
kills local mode with SIGKILL at once, restarts it against the same emulator, and reports the
time from the restart until every tenant is `running`, and that each has exactly one stack.

Usage: .venv/bin/python scripts/recovery.py [SILOS_BINARY] [N]
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


def start_local(binary, endpoint, out):
    proc = subprocess.Popen(
        [binary, "local", "--endpoint-url", endpoint, "--port", "0", "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("API: "):
            url = line.split()[1]
        if line.startswith("ready in "):
            return proc, url
    raise SystemExit("silos local did not start")


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/silos"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    moto = subprocess.Popen(
        [sys.executable, "scripts/moto_server.py", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    endpoint = "http://127.0.0.1:" + moto.stdout.readline().split()[1]
    out = tempfile.mkdtemp()
    try:
        first, url = start_local(binary, endpoint, out)
        for i in range(n):
            call(url + "/onboarding", "POST", {"tenantName": f"T{i}", "deploymentType": "silo"})
        first.send_signal(signal.SIGKILL)
        first.wait()
        stuck = [t for t in call_direct(endpoint, out) if t != "running"]
        started = time.monotonic()
        second, url = start_local(binary, endpoint, out)
        while True:
            tenants = call(url + "/tenants")
            if len(tenants) == n and all(t["status"] == "running" for t in tenants):
                break
            time.sleep(0.1)
        took = time.monotonic() - started
        stacks = {t["stackId"] for t in tenants}
        print(f"{n} tenants, {len(stuck)} not running at the kill; all running {took:.2f} s after the restart; {len(stacks)} distinct stacks")
        second.send_signal(signal.SIGINT)
        second.wait()
    finally:
        moto.kill()


def call_direct(endpoint, out):
    """Tenant statuses straight from the table, while local mode is down."""
    import boto3

    outputs = json.load(open(os.path.join(out, "outputs.json")))
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    items = ddb.scan(TableName=outputs["tenantsTable"])["Items"]
    return [i["status"]["S"] for i in items if "status" in i]


if __name__ == "__main__":
    main()
