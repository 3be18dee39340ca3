#!/usr/bin/env python3
"""Checks that the baseline emits what meshfed emits.

    check.py MESHFED_OUT BASELINE_OUT

Both trees must hold the same clusters and file names, and every file the
same objects with the same fields once parsed (formatting may differ: PyYAML
and meshfed quote and fold differently). Prints the object count per cluster
and exits 1 on any difference.
"""

import os
import sys

import yaml


def tree(root):
    out = {}
    for cluster in sorted(os.listdir(root)):
        # Cluster folders only: meshfed's .meshfed-manifest record sits beside them.
        if not os.path.isdir(os.path.join(root, cluster)):
            continue
        for name in sorted(os.listdir(os.path.join(root, cluster))):
            # NEXT-STEPS.md is prose for people, not objects: the baseline does not write it.
            if name.endswith(".md"):
                continue
            with open(os.path.join(root, cluster, name)) as f:
                out[(cluster, name)] = list(yaml.load_all(f, Loader=yaml.CSafeLoader))
    return out


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: check.py MESHFED_OUT BASELINE_OUT")
    ours, theirs = tree(argv[1]), tree(argv[2])
    problems = []
    if set(ours) != set(theirs):
        problems.append(f"different files: {sorted(set(ours) ^ set(theirs))}")
    counts = {}
    for key in sorted(set(ours) & set(theirs)):
        if ours[key] != theirs[key]:
            problems.append(f"{key[0]}/{key[1]}: objects differ")
        if key[1] not in ("kustomization.yaml",) and not key[1].startswith("helm-"):
            c = counts.setdefault(key[0], [0, 0])
            c[0] += len(ours[key])
            c[1] += len(theirs[key])
    for cluster, (a, b) in sorted(counts.items()):
        print(f"{cluster}: meshfed {a} objects, baseline {b} objects")
        if a != b:
            problems.append(f"{cluster}: object count differs")
    for p in problems:
        print(f"DIFFERENT: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"equivalent: {len(ours)} files, {sum(a for a, _ in counts.values())} applied objects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
