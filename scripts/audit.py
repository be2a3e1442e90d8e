"""Supply-chain audit: known vulnerabilities in the pinned dependency tree (requirements.lock) and
in the npm test tools (package-lock.json).

Exit codes — three outcomes, never a silent pass:
  0  every package was checked and none has a known vulnerability;
  1  a known vulnerability was found (CI fails);
  2  the check could not be completed: a vulnerability service was unreachable from this machine,
     or some packages could not be looked up. Printed loudly as UNVERIFIED with the list of what
     was not checked. CI reports it and goes on (a network limit is not a defect of the code);
     `make audit` fails on it, so a person running it sees the check did not happen.

Python: pip-audit against the lock file with `--vulnerability-service pypi` (PyPI's JSON API; OSV is
not reachable from the build machines). npm: `npm audit` against package-lock.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def python_audit() -> tuple[list[str], list[str], int]:
    """(vulnerabilities, unchecked packages, packages checked)."""
    cmd = [
        str(BIN / "pip-audit"),
        "--requirement", str(ROOT / "requirements.lock"),
        "--no-deps", "--disable-pip",  # the lock already lists the whole tree, pinned
        "--vulnerability-service", "pypi",
        "--format", "json", "--progress-spinner", "off",
    ]  # fmt: skip
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603 - fixed argv
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], [f"pip-audit did not run: {type(exc).__name__}"], 0
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return [], [f"pip-audit did not run to the end: {tail}"], 0
    vulns: list[str] = []
    unchecked: list[str] = []
    checked = 0
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            unchecked.append(str(dep["skip_reason"]))
            continue
        name = f"{dep.get('name')}=={dep.get('version')}"
        checked += 1
        for v in dep.get("vulns", []):
            fixes = ", ".join(v.get("fix_versions", [])) or "none yet"
            vulns.append(f"{name}: {v.get('id')} (fixed in {fixes})")
    return vulns, unchecked, checked


def npm_audit() -> tuple[list[str], list[str]]:
    if not (ROOT / "package-lock.json").exists():
        return [], []
    try:
        run = subprocess.run(
            ["npm", "audit", "--json", "--audit=true"],  # noqa: S607 - npm from PATH, as `make test` uses it
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], [f"npm audit did not run: {type(exc).__name__}"]
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        return [], ["npm audit gave no report"]
    if "error" in report or ("message" in report and "vulnerabilities" not in report):
        return [], [f"npm audit: the advisory service answered {report.get('statusCode', 'an error')}"]
    found = [f"{name}: {v.get('severity')}" for name, v in report.get("vulnerabilities", {}).items()]
    return found, []


def main() -> int:
    vulns, unchecked, checked = python_audit()
    npm_vulns, npm_unchecked = npm_audit()
    vulns += npm_vulns
    unchecked = npm_unchecked + unchecked
    for v in vulns:
        print(f"VULNERABLE  {v}")
    if vulns:
        print(f"supply-chain audit: {len(vulns)} known vulnerability(ies) — update the pin in requirements.lock")
        return 1
    if unchecked:
        print(f"supply-chain audit UNVERIFIED: {len(unchecked)} item(s) could not be checked, {checked} checked clean")
        for u in unchecked[:20]:
            print(f"  not checked  {u}")
        if len(unchecked) > 20:
            print(f"  … and {len(unchecked) - 20} more")
        print("  (the vulnerability service is not reachable from this machine: see SECURITY.md, 'Dependencies')")
        return 2
    print(f"supply-chain audit: {checked} Python packages and the npm test tools checked, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
