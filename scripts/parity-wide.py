#!/usr/bin/env python3
"""`make parity-wide CHARTS=DIR`: a wide differential check against the real helm.

Every chart directory under DIR (a directory holding Chart.yaml whose ancestors below
DIR hold none) is rendered by the real `helm template` and by our `fleet-bundle
template`, first with its default values, then once with each of its own `ci/*.yaml`
values files. Each run is classed as

  identical          same bytes on stdout
  semantically equal same YAML documents once parsed (order of keys, quoting, comments)
  differ             different documents; the first differing line is printed
  equal but random   helm's own output changes from run to run (random passwords,
                     certificates) and ours equals it on every line that does not
  helm varies        different, and helm's output changes from run to run: the lines
                     differ in number, so the random parts cannot be set apart
  ours fails         helm renders, we refuse; our first error line is printed
  helm fails         we render, helm refuses; helm's first error line is printed
  both refuse        both exit non-zero
  skipped            a dependency in Chart.yaml is neither in charts/ nor anywhere
                     under DIR (nothing is downloaded)

Dependencies are vendored as `helm dependency build` would from the same checkout: a
chart whose Chart.yaml names a dependency that is missing from its charts/ directory
gets a copy of the chart of that name found under DIR (a `file://` path first), the copy
itself vendored the same way. Charts are copied to a scratch directory first; DIR is
never written to.

Counts are printed per repository (the first directory level under DIR) and in total,
with helm's and our wall time overall and per chart. Environment: HELM_BIN (default
.tools/bin/helm), OURS (default target/release/fleet-bundle, else target/debug),
FILTER (a substring a chart path must contain), VERBOSE=1 (print every run).
"""
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300

CLASSES = [
    "identical",
    "semantically equal",
    "equal but random",
    "differ",
    "helm varies",
    "ours fails",
    "helm fails",
    "both refuse",
    "skipped",
]


SHORT = {
    "identical": "identical",
    "semantically equal": "sem-equal",
    "equal but random": "rand-equal",
    "differ": "differ",
    "helm varies": "helm-varies",
    "ours fails": "ours-fails",
    "helm fails": "helm-fails",
    "both refuse": "both-refuse",
    "skipped": "skipped",
}


def load_chart_yaml(path):
    try:
        with open(os.path.join(path, "Chart.yaml"), encoding="utf-8") as f:
            data = yaml.safe_load(f)
        return data if isinstance(data, dict) else {}
    except Exception:
        return {}


def find_charts(top):
    charts = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        if "Chart.yaml" in filenames:
            charts.append(dirpath)
            dirnames[:] = []  # a chart's own charts/ are its subcharts, not charts of DIR
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return charts


def repository_of(top, chart):
    rel = os.path.relpath(chart, top)
    return rel.split(os.sep)[0]


class Vendor:
    """Copies missing dependencies from the charts found under DIR."""

    def __init__(self, top, charts):
        self.top = top
        self.by_name = defaultdict(list)
        for c in charts:
            name = load_chart_yaml(c).get("name") or os.path.basename(c)
            self.by_name[str(name)].append(c)

    def source_for(self, origin, dep):
        repo = str(dep.get("repository") or "")
        if repo.startswith("file://"):
            p = os.path.normpath(os.path.join(origin, repo[len("file://"):]))
            if os.path.isfile(os.path.join(p, "Chart.yaml")):
                return p
        candidates = self.by_name.get(str(dep.get("name")), [])
        if not candidates:
            return None
        same_repo = [c for c in candidates
                     if repository_of(self.top, c) == repository_of(self.top, origin)]
        return (same_repo or candidates)[0]

    def vendor(self, origin, copy, depth=0):
        """Fills copy/charts from DIR; returns the names that could not be found."""
        missing = []
        deps = load_chart_yaml(copy).get("dependencies")
        if not isinstance(deps, list) or depth > 8:
            return missing
        charts_dir = os.path.join(copy, "charts")
        for dep in deps:
            if not isinstance(dep, dict) or not dep.get("name"):
                continue
            name = str(dep["name"])
            if present(charts_dir, name):
                continue
            src = self.source_for(origin, dep)
            if src is None:
                missing.append(name)
                continue
            os.makedirs(charts_dir, exist_ok=True)
            dest = os.path.join(charts_dir, name)
            shutil.copytree(src, dest, symlinks=True)
            missing += self.vendor(src, dest, depth + 1)
        return missing


def present(charts_dir, name):
    if not os.path.isdir(charts_dir):
        return False
    for entry in os.listdir(charts_dir):
        full = os.path.join(charts_dir, entry)
        if os.path.isdir(full):
            if str(load_chart_yaml(full).get("name")) == name or entry == name:
                return True
        elif entry.endswith(".tgz") and entry.rsplit("-", 1)[0] == name:
            return True
    return False


def run(cmd, cwd):
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=TIMEOUT)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = -1, b"", b"timed out"
    return rc, out, err, time.perf_counter() - start


def documents(text):
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    return docs


def first_line(b):
    """The error of a failed run: the first line naming an error (past helm's
    `level=WARN` notices), with the line after it when it ends on a position only; for
    a crash, the panic's place and message."""
    lines = [l.strip() for l in b.decode("utf-8", "replace").splitlines() if l.strip()]
    for i, line in enumerate(lines):
        if "panicked at" in line:  # a crash: its message, never the backtrace after it
            message = lines[i + 1] if i + 1 < len(lines) else ""
            return f"{line} {message}"[:300]
    for i, line in enumerate(lines):
        if "rror" in line:
            if line.rstrip("0123456789").endswith(":") and i + 1 < len(lines):
                line = f"{line} {lines[i + 1]}"
            return line[:300]
    return lines[0][:300] if lines else "(no message)"


def equal_but_random(first, second, ours):
    """Whether ours equals helm's output on every line helm printed the same in two
    runs (random passwords and certificates are the lines that changed)."""
    a, b, o = (x.decode("utf-8", "replace").splitlines() for x in (first, second, ours))
    if not len(a) == len(b) == len(o):
        return False
    return all(x != y or x == z for x, y, z in zip(a, b, o))


def first_difference(a, b):
    la = a.decode("utf-8", "replace").splitlines()
    lb = b.decode("utf-8", "replace").splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: helm {x.strip()[:110]!r} / ours {y.strip()[:110]!r}"
    i = min(len(la), len(lb))
    if len(la) > len(lb):
        return f"line {i + 1}: helm {la[i].strip()[:110]!r} / ours (end)"
    return f"line {i + 1}: helm (end) / ours {lb[i].strip()[:110]!r}"


def classify(helm, ours, work, helm_cmd):
    hrc, hout, herr, _ = helm
    orc, oout, oerr, _ = ours
    if hrc != 0 and orc != 0:
        return "both refuse", f"helm: {first_line(herr)} | ours: {first_line(oerr)}"
    if hrc != 0:
        return "helm fails", first_line(herr)
    if orc != 0:
        return "ours fails", first_line(oerr)
    if hout == oout:
        return "identical", ""
    try:
        if documents(hout) == documents(oout):
            return "semantically equal", ""
    except Exception:
        pass
    again = run(helm_cmd, work)
    if again[0] == 0 and again[1] != hout:
        if equal_but_random(hout, again[1], oout):
            return "equal but random", ""
        return "helm varies", first_difference(hout, oout)
    return "differ", first_difference(hout, oout)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: parity-wide.py DIR")
    top = os.path.abspath(sys.argv[1])
    helm_bin = os.environ.get("HELM_BIN") or os.path.join(ROOT, ".tools/bin/helm")
    ours_bin = os.environ.get("OURS")
    if not ours_bin:
        for profile in ("release", "debug"):
            candidate = os.path.join(ROOT, "target", profile, "fleet-bundle")
            if os.access(candidate, os.X_OK):
                ours_bin = candidate
                break
    if not ours_bin:
        sys.exit("no fleet-bundle binary: run cargo build -p fleet-bundle first")
    verbose = os.environ.get("VERBOSE") == "1"
    wanted = os.environ.get("FILTER", "")
    print(f"helm: {helm_bin}\nours: {ours_bin}\ncharts under: {top}")

    charts = find_charts(top)
    vendor = Vendor(top, charts)
    counts = defaultdict(lambda: defaultdict(int))
    times = defaultdict(lambda: [0.0, 0.0])
    per_chart = []
    notes = []
    scratch = tempfile.mkdtemp(prefix="parity-wide-")
    try:
        for chart in charts:
            rel = os.path.relpath(chart, top)
            if wanted not in rel:
                continue
            repo = rel.split(os.sep)[0]
            work = os.path.join(scratch, rel.replace(os.sep, "__"))
            shutil.copytree(chart, work, symlinks=True)
            missing = vendor.vendor(chart, work)
            ci_dir = os.path.join(work, "ci")
            value_files = [None]
            if os.path.isdir(ci_dir):
                value_files += sorted(
                    os.path.join("ci", f) for f in os.listdir(ci_dir)
                    if f.endswith((".yaml", ".yml")))
            chart_helm = chart_ours = 0.0
            for values in value_files:
                label = rel + (f" -f {values}" if values else "")
                if missing:
                    counts[repo]["skipped"] += 1
                    notes.append(("skipped", label,
                                  "dependency unavailable: " + ", ".join(missing)))
                    continue
                args = ["template", "release-name", "."] + (["-f", values] if values else [])
                helm_cmd = [helm_bin] + args
                helm = run(helm_cmd, work)
                ours = run([ours_bin] + args, work)
                cls, note = classify(helm, ours, work, helm_cmd)
                counts[repo][cls] += 1
                if cls in ("identical", "semantically equal", "equal but random"):
                    times[repo][0] += helm[3]
                    times[repo][1] += ours[3]
                    chart_helm += helm[3]
                    chart_ours += ours[3]
                if note:
                    notes.append((cls, label, note))
                if verbose:
                    print(f"  {cls:18} {label}  {note}", flush=True)
            if chart_ours > 0:
                per_chart.append((rel, chart_helm, chart_ours))
            shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    for cls in CLASSES[3:]:
        rows = [n for n in notes if n[0] == cls]
        if rows:
            print(f"\n== {cls} ({len(rows)})")
            for _, label, note in rows:
                print(f"  {label}: {note}")

    print("\n== time per chart (runs where both render the same), helm / ours")
    for rel, h, o in per_chart:
        print(f"  {rel:60} {h * 1000:9.0f} ms {o * 1000:9.0f} ms {h / o:6.1f}x")
    ratios = sorted(h / o for _, h, o in per_chart if o > 0)
    if ratios:
        print(f"  per chart helm/ours: min {ratios[0]:.1f}x, "
              f"median {ratios[len(ratios) // 2]:.1f}x, max {ratios[-1]:.1f}x")

    print("\n== counts")
    header = f"{'repository':22}" + "".join(f"{SHORT[c]:>12}" for c in CLASSES) + f"{'helm s':>9}{'ours s':>9}"
    print(header)
    total = defaultdict(int)
    th = to = 0.0
    for repo in sorted(counts):
        row = counts[repo]
        for c in CLASSES:
            total[c] += row[c]
        h, o = times[repo]
        th += h
        to += o
        print(f"{repo:22}" + "".join(f"{row[c]:>12}" for c in CLASSES) + f"{h:>9.1f}{o:>9.1f}")
    print(f"{'total':22}" + "".join(f"{total[c]:>12}" for c in CLASSES) + f"{th:>9.1f}{to:>9.1f}")
    if to > 0:
        print(f"overall helm/ours {th / to:.1f}x (runs where both render the same)")


if __name__ == "__main__":
    main()
