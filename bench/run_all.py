"""`make bench`: run every benchmark under bench/ and write bench/results/latest.json.

A benchmark is any ``bench/*.py`` module (``common.py`` and this file aside) that exposes

    NAME: str                                          its key in latest.json
    add_arguments(parser: argparse.ArgumentParser)     its options, each with a default
    async def main(args: argparse.Namespace) -> dict   runs, prints its figures, returns them

``main`` starts whatever it needs (``common.bench_stack`` gives a fresh real stack: embedded
PostgreSQL and Temporal dev server, migrations, demo users, worker and API processes) and stops it
before returning, so the benchmarks never share state. It returns a JSON-serialisable dict; pass
or fail figures go under ``"targets"`` as built by ``common.target(...)`` and are summarised here.
Every module also gets the common options of ``common.base_parser``: ``args.large`` (the issue's
large sizes), ``args.keep_data``, ``args.py_spy`` (profile the worker and the API) and
``args.temporal_config`` (extra dev-server settings to try). Module sizes follow ``args.large``
unless their own option is given -- to pass one, run that module alone, which its
``if __name__ == "__main__": common.run_module(NAME, add_arguments, main)`` allows:
``python bench/engine_overhead.py --cases 500``. Helper modules without ``main`` (``bare.py``) are
skipped.

    python bench/run_all.py                 default mode (the whole run: under 15 minutes)
    python bench/run_all.py --large         the issue's large sizes
    python bench/run_all.py --only engine_overhead,sustained_load

Each module's result is also written to bench/results/<NAME>.json; a module that fails is
reported with its error, and the others still run (the exit code is then 1).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DIR,
    REPO_ROOT,
    RESULTS_DIR,
    base_parser,
    environment,
    print_table,
    write_result,
)

NOT_BENCHMARKS = {"common", "run_all"}
# Cheap, independent checks first; the rest alphabetically.
ORDER = ["engine_overhead", "sustained_load", "deadline_precision", "read_model_scale"]
BUDGET_S = 15 * 60  # the whole default run (issue 6: "make bench runs in under 15 minutes")


def discover() -> tuple[list[ModuleType], dict[str, str]]:
    """The benchmark modules, in ORDER then by name; and those that failed to import, with why."""
    modules = []
    broken: dict[str, str] = {}
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.stem in NOT_BENCHMARKS or path.stem.startswith("_"):
            continue
        try:
            module = importlib.import_module(path.stem)
        except Exception as exc:
            traceback.print_exc()
            broken[path.stem] = f"import failed: {type(exc).__name__}: {exc}"
            continue
        run = getattr(module, "main", None)
        if run is not None and inspect.iscoroutinefunction(run) and hasattr(module, "add_arguments"):
            if not hasattr(module, "NAME"):
                module.NAME = path.stem
            modules.append(module)
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(modules, key=lambda m: (rank.get(m.NAME, len(ORDER)), m.NAME)), broken


def module_args(module: ModuleType, large: bool, keep_data: bool) -> argparse.Namespace:
    parser = base_parser()
    module.add_arguments(parser)
    args = parser.parse_args([])
    args.large = large
    args.keep_data = keep_data
    return args


async def run(modules: list[ModuleType], large: bool, keep_data: bool) -> tuple[dict[str, Any], bool]:
    results: dict[str, Any] = {}
    ok = True
    for module in modules:
        print(f"\n{'=' * 100}\n{module.NAME}  ({'large' if large else 'default'} mode)\n{'=' * 100}", flush=True)
        began = time.monotonic()
        try:
            result = await module.main(module_args(module, large, keep_data))
        except Exception as exc:
            ok = False
            traceback.print_exc()
            result = {"name": module.NAME, "error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = round(time.monotonic() - began, 1)
        write_result(module.NAME, result)
        results[module.NAME] = result
    return results, ok


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, result in results.items():
        if "error" in result:
            rows.append(
                {"benchmark": name, "target": "(failed to run)", "value": result["error"][:60], "result": "ERROR"}
            )
        for item in result.get("targets", []):
            rows.append(
                {
                    "benchmark": name,
                    "target": item["name"],
                    "value": item["value"],
                    "needs": f"{item['op']} {item['threshold']}",
                    "result": "PASS" if item["met"] else "MISS",
                }
            )
        rows.append({"benchmark": name, "target": "(seconds)", "value": result.get("seconds", "")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="the issue's large sizes")
    parser.add_argument("--only", default="", help="comma-separated NAMEs to run (default: all)")
    parser.add_argument("--keep-data", action="store_true", help="keep each stack's temporary data dir")
    options = parser.parse_args()

    modules, broken = discover()
    if options.only:
        wanted = {name.strip() for name in options.only.split(",") if name.strip()}
        unknown = wanted - {m.NAME for m in modules} - set(broken)
        if unknown:
            known = ", ".join(m.NAME for m in modules)
            raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))} (known: {known})")
        modules = [m for m in modules if m.NAME in wanted]
        broken = {name: why for name, why in broken.items() if name in wanted}
    print(f"benchmarks: {', '.join(m.NAME for m in modules)}", flush=True)

    began = time.monotonic()
    results, ok = asyncio.run(run(modules, options.large, options.keep_data))
    for name, why in broken.items():
        results[name] = {"name": name, "error": why}
        ok = False
    total = round(time.monotonic() - began, 1)
    latest = {
        "mode": "large" if options.large else "default",
        "seconds": total,
        "environment": environment(),
        "results": results,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "latest.json"
    path.write_text(json.dumps(latest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print_table(f"make bench: {len(results)} benchmark(s) in {total:.0f}s", summary(results))
    print(f"\nwritten: {path.relative_to(REPO_ROOT)}")
    if not options.large and total > BUDGET_S:
        print(f"note: default mode took {total / 60:.1f} min, over its {BUDGET_S / 60:.0f}-minute budget (issue 6)")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
