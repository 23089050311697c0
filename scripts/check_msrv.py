#!/usr/bin/env python3
"""Checks that `rust-version` in Cargo.toml is true for the locked build.

Clippy's `incompatible_msrv` lint (run by .ci/run) catches our own use of standard-library
APIs newer than `rust-version`; this catches the other half: a dependency in Cargo.lock whose
own `rust-version` is newer, which would make the workspace (its tests included) unbuildable
on the toolchain we claim. Exits 1 and names the offenders.
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.loads(
        subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--locked"])
    )
    packages = {p["id"]: p for p in meta["packages"]}
    members = [packages[i] for i in meta["workspace_members"]]
    declared = {p["name"]: p.get("rust_version") for p in members}
    missing = [name for name, rv in declared.items() if not rv]
    if missing:
        print(f"check_msrv: no rust-version in {', '.join(missing)}")
        return 1
    msrv = min(version(rv) for rv in declared.values())
    used = [node["id"] for node in meta["resolve"]["nodes"]]
    newer = sorted(
        (version(packages[i]["rust_version"]), packages[i]["name"], packages[i]["version"])
        for i in used
        if packages[i].get("rust_version") and version(packages[i]["rust_version"]) > msrv
    )
    if newer:
        shown = ".".join(map(str, msrv))
        print(f"check_msrv: rust-version {shown} is older than these locked dependencies need:")
        for need, name, ver in newer:
            print(f"  {name} {ver} needs {'.'.join(map(str, need))}")
        return 1
    print(f"check_msrv: rust-version {'.'.join(map(str, msrv))} holds for all {len(used)} locked packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
