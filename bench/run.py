"""mltrail's side-by-side benchmark against MLflow and FastTrackML.

    python bench/run.py                 # everything (about 30 min on 2 cores)
    python bench/run.py --quick         # smaller sizes, fewer repetitions (< 2 min)
    python bench/run.py --only ops,capacity
    python bench/run.py --servers mlflow,fasttrackml   # while developing

Sections: process, ops (with ops_server), sdk (each project's SDK against its own server), capacity, scale, embedded, serving, ui, ui_trace, auth, footprint,
genai (genai.evaluate with loopback judges, bench/genai_eval.py), spark (spark_udf over 1,000,000 rows, bench/spark_udf.py),
scaleout (1, 2 and 4 mltrail servers behind HAProxy on PostgreSQL and S3, bench/sec_scaleout.py),
migrate (mltrail import beside mlflow-migration, bench/sec_migrate.py; --migrate-size small|full).
Prints one markdown table per section and writes bench/results.json. Never part
of ``make test``; see docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

from common import BENCH_DIR, MLTRAIL_WORKERS_ENV, NA, ROOT, SERVERS
from env import ensure_bench_venv, ensure_wrk, machine_info
from report import Section, to_json, to_markdown

ALL_SECTIONS = ("process", "ops", "sdk", "capacity", "scale", "embedded", "serving", "ui", "ui_trace", "auth", "footprint",
                "genai", "spark", "traces_list", "scaleout", "migrate")
SERVER_SECTIONS = {"process", "ops", "sdk", "capacity", "scale"}
# --quick leaves out serving (MLflow's model server alone takes ~15-25 s to start), ui (seeds 100k runs),
# ui_trace (Chromium), spark (a JVM), scaleout (PostgreSQL, HAProxy, 32 clients) and migrate (seeds an
# MLflow store); ask for them with --only.
QUICK_SECTIONS = tuple(
    s for s in ALL_SECTIONS if s not in ("serving", "ui", "ui_trace", "spark", "traces_list", "scaleout", "migrate")
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few repetitions (< 2 minutes)")
    ap.add_argument("--only", default="", help=f"comma-separated sections out of {', '.join(ALL_SECTIONS)}")
    ap.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of servers")
    ap.add_argument(
        "--migrate-size",
        choices=("small", "full"),
        default="small",
        help="migrate section: small (100 runs, 100,000 points) or full (issue 17: 1,000 runs, 1,000,000 points)",
    )
    ap.add_argument(
        "--mltrail-workers",
        type=int,
        default=1,
        help="worker processes of every mltrail server (its default: 1; FastTrackML uses every core, "
        "mlflow server starts 4)",
    )
    ap.add_argument("--out", default=str(BENCH_DIR / "results.json"), help="where to write the JSON results")
    ap.add_argument("--markdown", default="", help="also write the tables to this markdown file")
    ap.add_argument(
        "--update-docs",
        action="store_true",
        help="put the tables into docs/benchmarks.md (between its results markers)",
    )
    return ap.parse_args(argv)


class Bench:
    """Runs the selected sections, printing each table as soon as it is done."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        default = QUICK_SECTIONS if args.quick else ALL_SECTIONS
        self.sections = [s for s in (args.only.split(",") if args.only else default) if s]
        unknown = set(self.sections) - set(ALL_SECTIONS)
        if unknown:
            raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
        self.names = [s for s in SERVERS if s in args.servers.split(",")]
        self.results: dict = {
            "machine": machine_info(),
            "quick": self.quick,
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "sections": {},
        }
        self.tables: list[str] = []

    def emit(self, section: Section) -> None:
        section.columns = tuple(c for c in section.columns if c in self.names)
        md = to_markdown(section)
        print("\n" + md, flush=True)
        self.tables.append(md)
        self.results["sections"][section.key] = to_json(section)
        self.save()

    def save(self) -> None:
        with open(self.args.out, "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        if self.args.markdown:
            with open(self.args.markdown, "w") as f:
                f.write(header(self.results) + "\n\n" + "\n".join(self.tables))

    def guarded(self, key: str, title: str, fn, *args) -> None:
        """Run one section; an unexpected error becomes that section's n/a note."""
        t0 = time.perf_counter()
        try:
            out = fn(*args)
            for sec in out if isinstance(out, list) else [out]:
                self.emit(sec)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            traceback.print_exc()
            sec = Section(key, title)
            sec.na_all(f"section failed: {type(exc).__name__}: {exc}")
            self.emit(sec)
        print(f"[{key}: {time.perf_counter() - t0:.0f} s]", flush=True)

    def run(self) -> None:
        # The migrate section brings its own venv (mlflow-migration needs Python 3.12+).
        problems = ensure_bench_venv() if set(self.sections) - {"migrate"} else {}
        for name, why in problems.items():
            print(f"[setup] {name}: {why}", flush=True)
        if SERVER_SECTIONS & set(self.sections):
            self.run_server_sections(problems)
        if "embedded" in self.sections:
            import sec_embedded

            self.guarded("embedded", "Embedded mode", sec_embedded.run, self.quick)
        if "serving" in self.sections:
            import sec_serving

            self.guarded("serving", "Model serving", sec_serving.run, self.quick, ensure_wrk())
        if "ui" in self.sections:
            import sec_ui

            self.guarded("ui", "Web UI", sec_ui.run, self.quick)
        if "ui_trace" in self.sections:
            import ui_trace

            self.guarded("ui_trace", "Trace page", ui_trace.run, self.quick)
        if "traces_list" in self.sections:
            import traces_list

            self.guarded("traces_list", "Traces list", traces_list.run, self.quick)
        if "auth" in self.sections:
            import auth_overhead

            self.guarded("auth", "Auth overhead", auth_overhead.run, self.quick)
        if "footprint" in self.sections:
            import sec_footprint

            self.guarded("footprint", "Install footprint", sec_footprint.run, self.quick)
        if "genai" in self.sections:
            import genai_eval

            self.guarded("genai", "GenAI evaluation", genai_eval.run, self.quick)
        if "spark" in self.sections:
            import spark_udf

            self.guarded("spark", "Batch scoring on Spark", spark_udf.run, self.quick)
        if "scaleout" in self.sections:
            import sec_scaleout

            self.guarded("scaleout", "Scale-out behind HAProxy", sec_scaleout.run, self.quick)
        if "migrate" in self.sections:
            import sec_migrate

            self.guarded("migrate", "Moving an MLflow store", sec_migrate.run, self.args.migrate_size)

    def run_server_sections(self, problems: dict[str, str]) -> None:
        import sec_ops
        import sec_process
        from common import wait_until_idle
        from driverproc import start_drivers
        from servers import RssSampler, stop_all

        servers: dict = {}
        drivers: dict = {}
        try:
            servers, starts = sec_process.start_servers(self.names, problems, self.quick)
            urls = {n: s.url for n, s in servers.items() if not isinstance(s, NA)}
            drivers = start_drivers(urls)
            for n, s in servers.items():
                if isinstance(s, NA):
                    drivers[n] = s
            drivers = {n: drivers[n] for n in self.names}
            running = [s for s in servers.values() if not isinstance(s, NA)]
            # Drivers (and their mlflow import) first, then wait for every server and driver to go
            # quiet: a server still warming up after its first 200 steals CPU from the others.
            pids = [s.proc.pid for s in running if s.proc is not None]
            pids += [d.proc.pid for d in drivers.values() if not isinstance(d, NA) and d.proc is not None]
            waited = wait_until_idle(pids)
            print(f"[servers] idle after {waited:.1f} s", flush=True)
            with RssSampler(running):
                live, ids = sec_ops.setup(drivers)
                if "ops" in self.sections:
                    self.guarded("ops", "Client workload", sec_ops.run, live, self.quick)
                if "sdk" in self.sections:
                    import sec_sdk

                    official = live.get("mlflow", NA("mlflow is not among --servers"))
                    self.guarded("sdk", "SDK against its own server", sec_sdk.run, urls, official, self.quick)
                if "capacity" in self.sections:
                    import sec_capacity

                    self.guarded(
                        "capacity",
                        "Server capacity",
                        sec_capacity.run,
                        servers,
                        ids,
                        self.quick,
                        ensure_wrk(),
                    )
                if "scale" in self.sections:
                    import sec_scale

                    self.guarded("scale", "Scale", sec_scale.run, servers, live, self.quick)
            if "process" in self.sections:
                self.guarded(
                    "process", "Process figures", sec_process.run, servers, starts, drivers, self.quick
                )
        finally:
            for d in drivers.values():
                if not isinstance(d, NA):
                    d.close()
            for s in servers.values():
                if not isinstance(s, NA):
                    s.cleanup()
            stop_all()


def header(results: dict) -> str:
    m = results["machine"]
    mode = "quick" if results["quick"] else "full"
    load = f" 1-minute load average {m.get('load_start', '?')} at the start"
    if "load_end" in m:
        load += f", {m['load_end']} at the end"
    workers = os.environ.get(MLTRAIL_WORKERS_ENV, "1")
    served = f" mltrail server with --workers {workers}." if workers != "1" else ""
    return (
        f"Run {results['started']} ({mode} mode) on {m['nproc']} cores, {m['cpu']}, "
        f"{m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']};{load}.{served}"
    )


DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def update_docs(bench: Bench) -> None:
    """Replace the results block of docs/benchmarks.md with this run's tables."""
    text = DOCS.read_text()
    if START not in text or END not in text:
        print(f"{DOCS} has no {START} ... {END} block; not updated", flush=True)
        return
    total = bench.results.get("total_s", 0)
    block = f"{START}\n{header(bench.results)} Total time {total / 60:.1f} min.\n\n" + "\n".join(bench.tables)
    head, rest = text.split(START, 1)
    DOCS.write_text(head + block + END + rest.split(END, 1)[1])
    print(f"updated {DOCS}", flush=True)


def prepare_processes() -> None:
    """Make every process the bench starts run this checkout's code from cached bytecode.

    Some machines set ``PYTHONDONTWRITEBYTECODE=1`` for everything. Then a server the bench
    spawns never writes ``__pycache__``, and every start compiles again each module whose
    cache is missing or stale (an editable install has no caches of its own): on this kind
    of machine that was 0.3-0.4 s of CPU per ``mltrail server`` start, measured as
    start-to-ready. pip compiles an installed package's modules at install time; here the
    bench does the same for ``src/`` once (a no-op when the caches are fresh), and lets its
    children keep the caches they write (as the Makefile does with ``unexport``).

    ``src/`` also goes first on ``PYTHONPATH`` (absolute: servers run in temporary folders),
    so a bench run from a second checkout that shares another checkout's ``.venv`` measures
    its own code, not that of the checkout the venv was installed from.
    """
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    src = str(ROOT / "src")
    compileall.compile_dir(src, quiet=1, workers=0)
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *rest])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ[MLTRAIL_WORKERS_ENV] = str(args.mltrail_workers)  # read by servers.Server, in every section
    prepare_processes()
    bench = Bench(args)
    print(header(bench.results), flush=True)
    t0 = time.perf_counter()
    try:
        bench.run()
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, partial results kept", flush=True)
        return 130
    bench.results["total_s"] = round(time.perf_counter() - t0, 1)
    bench.results["machine"]["load_end"] = round(os.getloadavg()[0], 1)
    bench.save()
    if args.update_docs:
        update_docs(bench)
    print(f"\ntotal {bench.results['total_s']:.0f} s; results in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
