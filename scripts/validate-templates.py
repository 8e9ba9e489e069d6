"""Runs cfn-lint and checkov on every template a synth wrote, as the manifest lists them.

Usage: validate-templates.py VENV OUT_DIR [OUT_DIR ...]
Fails on any cfn-lint error or warning, on any failed checkov check, and if checkov scanned
nothing (a validator that checks nothing must not pass).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

venv, dirs = Path(sys.argv[1]), [Path(d) for d in sys.argv[2:]]
templates = []
for d in dirs:
    manifest = json.loads((d / "manifest.json").read_text())
    templates += [str(d / s["template"]) for s in manifest["stacks"]]

env = dict(os.environ, BC_SKIP_MAPPING="TRUE")


def cfn_lint(files):
    return subprocess.run(
        [venv / "bin" / "cfn-lint", "--non-zero-exit-code", "warning", "--", *files],
        capture_output=True,
        text=True,
    )


def checkov(files):
    args = [venv / "bin" / "checkov", "--skip-download", "--framework", "cloudformation",
            "--output", "json", "--quiet"]
    for f in files:
        args += ["-f", f]
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    reports = json.loads(r.stdout) if r.stdout.strip().startswith(("[", "{")) else []
    if isinstance(reports, dict):
        reports = [reports]
    passed = sum(rep.get("summary", {}).get("passed", 0) for rep in reports)
    failed = [c for rep in reports for c in rep.get("results", {}).get("failed_checks", [])]
    return r, passed, failed


# The canary: both validators must reject a known-bad template.
canary = str(Path(__file__).resolve().parent.parent / "tests/fixtures/invalid/canary.yaml")
if cfn_lint([canary]).returncode == 0:
    sys.exit("cfn-lint accepted the canary template: it is not checking anything")
_, _, canary_failed = checkov([canary])
if not canary_failed:
    sys.exit("checkov passed the canary template: it is not checking anything")

lint = cfn_lint(templates)
if lint.returncode != 0:
    print(lint.stdout, lint.stderr)
    sys.exit(f"cfn-lint: findings in the synthesized templates (exit {lint.returncode})")
print(f"cfn-lint: {len(templates)} templates, 0 errors, 0 warnings")

r, passed, failed = checkov(templates)
for c in failed:
    print(f"  {c['check_id']} {c['check_name']}: {c['resource']} in {c['file_path']}")
if failed or r.returncode != 0:
    print(r.stderr[-2000:])
    sys.exit(f"checkov: {len(failed)} failed checks (exit {r.returncode})")
if passed == 0:
    sys.exit("checkov: no check ran on the synthesized templates")
print(f"checkov: {len(templates)} templates, {passed} passed checks, 0 failed")
