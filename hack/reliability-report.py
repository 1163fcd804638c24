#!/usr/bin/env python3
"""Turns what `make chaos` leaves in target/faults-report (the fault suite's
per-run files written by tests/faults.rs, the property and parity logs, the
hostile-load figures of benches/hostile.rs) into the "## Figures" section of
docs/reliability.md.

    hack/reliability-report.py [--write]   # prints the section; --write updates the doc
"""
import glob
import json
import math
import re
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


REPORT = os.path.join(ROOT, "target", "faults-report")


def load():
    runs = []
    for path in sorted(glob.glob(os.path.join(REPORT, "*-seed*.json"))):
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    return runs


def read(name):
    path = os.path.join(REPORT, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f) if name.endswith(".json") else f.read()


def fuzz_lines():
    """Cases run per property target, from the logs of the chaos run."""
    settings = read("fuzz-settings.json")
    if settings is None:
        return []
    lines = ["", "Properties and parity in the same run:", "",
             "| target | properties | cases each | failed |", "| --- | --- | --- | --- |"]
    proptest = read("proptest.log") or ""
    by_module = {}
    for m in re.finditer(r"^test (\S+) \.\.\. (ok|FAILED)$", proptest, re.M):
        module = m.group(1).rsplit("::", 1)[0]
        tally = by_module.setdefault(module, [0, 0])
        tally[0] += 1
        tally[1] += m.group(2) == "FAILED"
    for module, (count, failed) in sorted(by_module.items()):
        lines.append(f"| `{module}` (proptest) | {count} | {settings['proptestCases']} | {failed} |")
    hypothesis = read("hypothesis.log") or ""
    by_class = {}
    for m in re.finditer(r"^(test_\S+) \((\S+)\) \.\.\. (ok|FAIL|ERROR)", hypothesis, re.M):
        group = m.group(2).rsplit(".", 1)[0]
        tally = by_class.setdefault(group, [0, 0])
        tally[0] += 1
        tally[1] += m.group(3) != "ok"
    for group, (count, failed) in sorted(by_class.items()):
        lines.append(f"| `{group}` (Hypothesis) | {count} | up to {settings['hypothesisMaxExamples']} | {failed} |")
    parity = re.search(r"^admission parity: .*$", read("parity.log") or "", re.M)
    lines.append("")
    lines.append(f"- {parity.group(0)}." if parity else
                 f"- admission parity ({settings['paritySamples']} specs): no result line (see the log)")
    return lines


def hostile_lines():
    h = read("hostile.json")
    if h is None:
        return []
    calm, storm = h["calm"], h["hostilePhase"]
    hostile = h["hostile"]
    total = hostile["silent"] + hostile["slowHeaders"] + hostile["nonReaders"] + hostile["malformedWorkers"]
    lines = ["", f"The sidecar under hostile load (`benches/hostile.rs`): {h['entries']} entries, "
             f"{h['clients']} well-behaved keep-alive clients, then the same beside {total} hostile "
             f"connections ({hostile['silent']} silent, {hostile['slowHeaders']} sending headers a byte "
             f"at a time, {hostile['nonReaders']} never reading their answers, "
             f"{hostile['malformedWorkers']} sending malformed requests in a loop) under its default "
             f"limit of {h['maxConnections']}:", "",
             "| phase | requests | p50 | p99 | max | rate | peak RSS | open files |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    phases = [("alone", calm), ("among hostile clients", storm)]
    if "hostileAgain" in h:
        phases.append(("among hostile clients, a second time", h["hostileAgain"]))
    for name, p in phases:
        lines.append(
            f"| {name} | {p['requests']} | {p['p50Ms']:.2f} ms | {p['p99Ms']:.2f} ms | {p['maxMs']:.1f} ms "
            f"| {p['requests'] / p['seconds']:.0f}/s | {p['peakRssMib']:.0f} MiB | {p['peakOpenFiles']} |"
        )
    growth = storm["peakRssMib"] - h["rssBeforeMib"]
    within = lambda ok: "within" if ok else "**outside**"
    lines += ["",
              f"- well-behaved p99 among hostile clients: {storm['p99Ms']:.2f} ms, bound "
              f"{h['boundP99Ms']:.0f} ms: {within(storm['p99Ms'] <= h['boundP99Ms'])};",
              f"- memory growth under hostility: {growth:.1f} MiB, bound {h['boundRssGrowthMib']:.0f} MiB "
              f"(32 KiB per connection at the limit): {within(growth <= h['boundRssGrowthMib'])};",
              f"- once they stopped: {h['after']['rssMib']:.0f} MiB and {h['after']['openFiles']} open files "
              f"(idle before: {h['idle']['rssMib']:.0f} MiB, {h['idle']['openFiles']});",
              "- hostile connections the sidecar closed: "
              + ", ".join(f"{k} {v}" for k, v in h["closed"].items()) + ";",
              "- malformed requests answered: "
              + ", ".join(f"{k} ×{v}" for k, v in h["malformedAnswers"].items()) + "."]
    return lines


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
    refused = [r.get("refusedAppends", 0) for r in normal if "AuditDiskFull" in r["injected"]]
    if refused:
        lines += ["", f"Audit lines refused by the full disk (logged by the operator, each one "
                  f"on stdout and never half in the file): {sum(refused)} in {len(refused)} run(s) "
                  f"with that fault ({', '.join(map(str, refused))})."]
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
    lines += fuzz_lines()
    lines += hostile_lines()
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
