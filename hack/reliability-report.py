#!/usr/bin/env python3
"""Turns the fault suite's per-run files (target/faults-report/*.json, written
by tests/faults.rs) into the "## Figures" section of docs/reliability.md.

    hack/reliability-report.py [--write]   # prints the section; --write updates the doc
"""
import glob
import json
import math
import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DOC = os.path.join(ROOT, "docs", "reliability.md")
START = "## Figures"


def quantile(values, q):
    """Nearest-rank quantile, as tests/faults/probe.rs computes it."""
    ordered = sorted(values)
    rank = min(max(math.ceil(q * len(ordered)), 1), len(ordered))
    return ordered[rank - 1]


def load():
    runs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "target", "faults-report", "*.json"))):
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    return runs


def section(runs):
    normal = [r for r in runs if not r["broken"]]
    broken = [r for r in runs if r["broken"]]
    lines = [START, ""]
    operations = sum(r["applied"] for r in normal)
    faults = [f for r in normal for f in r["injected"]]
    violations = [v for r in normal for v in r["violations"]]
    seeds = sorted({r["seed"] for r in normal})
    lines.append(
        f"Written by `make chaos` ({len(normal)} runs, seeds {', '.join(map(str, seeds))}): "
        f"{operations} operations, {len(faults)} faults injected, "
        f"{len(violations)} violation(s)."
    )
    lines += ["", "| test | runs | operations | faults injected | violations | peak RSS (max) |",
              "| --- | --- | --- | --- | --- | --- |"]
    by_test = {}
    for r in normal:
        by_test.setdefault(" + ".join(r["faults"]) or "none", []).append(r)
    for test, rs in sorted(by_test.items()):
        lines.append(
            f"| {test} | {len(rs)} | {sum(r['applied'] for r in rs)}/{sum(r['steps'] for r in rs)} "
            f"| {len([f for r in rs for f in r['injected']])} | {sum(len(r['violations']) for r in rs)} "
            f"| {max(r['peakRssBytes'] for r in rs) >> 20} MiB |"
        )
    lines += ["", "Convergence after each fault: the time from the fault's end to a ban created "
              "at that moment being in the published blocklist, while the workload (and later "
              "faults) go on.", "",
              "| fault | samples | p50 | p99 | max |", "| --- | --- | --- | --- | --- |"]
    by_fault = {}
    for r in normal:
        for c in r["convergence"]:
            by_fault.setdefault(c["fault"], []).append(c["seconds"])
    for fault, values in sorted(by_fault.items()):
        lines.append(
            f"| {fault} | {len(values)} | {quantile(values, 0.5):.1f} s | "
            f"{quantile(values, 0.99):.1f} s | {max(values):.1f} s |"
        )
    if violations:
        lines += ["", "Violations:", ""]
        for r in normal:
            for v in r["violations"]:
                lines.append(f"- seed {r['seed']} ({' + '.join(r['faults'])}): {v}")
    if broken:
        lines += ["", "The checker against deliberately broken builds (failpoints compiled into "
                  "test builds only):", ""]
        for r in broken:
            lines.append(
                f"- `{'+'.join(r['broken'])}`, seed {r['seed']}: {len(r['violations'])} "
                f"violation(s) reported, as it must"
            )
    return "\n".join(lines) + "\n"


def main():
    runs = load()
    if not runs:
        sys.exit("no runs in target/faults-report: run the fault suite first")
    text = section(runs)
    if "--write" not in sys.argv:
        print(text, end="")
        return
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    head, sep, rest = doc.partition(START)
    if not sep:
        sys.exit(f"{DOC} has no {START!r} section")
    # The section runs to the next heading of the same level, or the end.
    tail = rest.split("\n## ", 1)
    after = "\n## " + tail[1] if len(tail) == 2 else ""
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(head + text + after)
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
