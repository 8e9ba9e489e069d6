#!/usr/bin/env python3
"""Vendors the CloudFormation registry schemas that the resource codegen reads.

The schemas come from the cfn-lint release pinned in requirements-dev.txt (its
cfnlint/data/schemas: providers/us-east-1.json maps each type name to resources/<hash>.json).
They are written as one gzip'd JSON object, type name -> schema, with sorted keys and a fixed
gzip mtime, so the same cfn-lint always gives the same bytes. Run it after bumping cfn-lint:

    .venv/bin/python scripts/vendor-schemas.py
    cargo run -p silos-codegen
"""

import gzip
import json
import pathlib
import sys
from importlib import metadata

import cfnlint

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "codegen" / "schemas"
data = pathlib.Path(cfnlint.__file__).parent / "data" / "schemas"
region = "us-east-1"

providers = json.loads((data / "providers" / f"{region}.json").read_text())
schemas = {}
for type_name in sorted(providers):
    schemas[type_name] = json.loads(
        (data / "resources" / f"{providers[type_name]}.json").read_text()
    )

body = json.dumps(schemas, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
out.mkdir(parents=True, exist_ok=True)
with open(out / f"{region}.json.gz", "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(body.encode("utf-8"))

# IAM's actions per service, as cfn-lint knows them (its W3037 check): the generator keeps a
# handler permission only if IAM knows it, so no derived policy names an action that is not one.
policies = json.loads((data.parent / "AdditionalSpecs" / "Policies.json").read_text())
actions = {
    prefix: sorted(spec.get("Actions", {}).keys())
    for prefix, spec in sorted(policies.items())
}
body = json.dumps(actions, sort_keys=True, separators=(",", ":"))
with open(out / "iam-actions.json.gz", "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(body.encode("utf-8"))

version = metadata.version("cfn-lint")
schema_date = json.loads((data / "version.json").read_text()).get("schema_date", "unknown")
(out / "SOURCE.md").write_text(
    f"""# The vendored CloudFormation registry schemas

- `{region}.json.gz`: every resource type's registry schema, as one JSON object (type name to
  schema), sorted, gzip'd with a fixed mtime.
- Source: cfn-lint {version} (PyPI), `cfnlint/data/schemas/providers/{region}.json` and the
  `cfnlint/data/schemas/resources/<hash>.json` files it names.
- cfn-lint's schema date: {schema_date}.
- Types: {len(schemas)}.
- `iam-actions.json.gz`: IAM's actions per service prefix (lowercase), from the same cfn-lint's
  `cfnlint/data/AdditionalSpecs/Policies.json`: {len(actions)} services. A handler permission
  IAM does not list is kept apart (`Permissions::unlisted`) and never granted.
- Regenerate with `.venv/bin/python scripts/vendor-schemas.py`, then `cargo run -p silos-codegen`.
"""
)
print(f"{len(schemas)} schemas from cfn-lint {version} -> {out}", file=sys.stderr)
