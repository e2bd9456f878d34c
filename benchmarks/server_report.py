"""The markdown of benchmarks/server_load.py: one section per run, newest on top, earlier runs kept below as history.

Every figure comes from the run's JSON; the text around the tables says what each server was and how to read them.
"""

from __future__ import annotations

from pathlib import Path

TITLE = "# Server load: embedlab serve against a hand-written FastAPI + sentence-transformers server and Infinity"


def run_section(header: str, result: dict) -> str:
    """The new run: what ran, one table row per server and client count, the ratios and where embedlab's CPU went."""
    settings, runs = result["settings"], result["runs"]
    names = list(dict.fromkeys(run["server"] for run in runs))
    return "\n".join([
        f"## Run {result['date']}",
        "",
        header,
        "",
        *([settings["note"], ""] if settings.get("note") else []),
        (f"{settings['source']}; each request carries one text drawn at random (the same texts, in the same order, for "
         "every server); closed-loop clients send the next request when the answer is back, at niceness "
         f"{settings['client_nice']} so that they take CPU from no server. Each cell runs {settings['rounds']} "
         f"time(s) for at most {settings['seconds']:.0f} s, the servers alternating round by round; the rows pool "
         "the rounds. All servers run all-MiniLM-L6-v2 on the CPU, in their own processes on loopback, on the same "
         f"{settings['cores']} cores."),
        "",
        *[f"- **{name}**: {settings['servers'][name]} (max |diff| from the peer's vectors: "
          f"{result['max_abs_diff'].get(name, 0.0):.1e})." for name in names],
        "",
        ("| server | clients | answered | requests/s | over peer | p50 ms | p99 ms | failed | 429 | requests per "
         "batch | cores used | requests per CPU-second | load average |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[_row(run, runs) for run in runs],
        "",
        ("*cores used*: the server process's CPU seconds (user + system, all threads, from /proc) per second of the "
         "cell; *load average*: the machine's 1-minute load at the cell's end (other work included)."),
        "",
        *_profile(runs),
    ])


def _row(run: dict, runs: list[dict]) -> str:
    peer = next((r for r in runs if r["server"] == "peer" and r["clients"] == run["clients"]), None)
    ratio = f"{run['requests_per_s'] / peer['requests_per_s']:.2f}x" if peer and peer["requests_per_s"] else "-"
    batch = f"{run['mean_batch_requests']:.1f}" if run.get("mean_batch_requests") is not None else "-"
    per_cpu = f"{run['ok'] / run['cpu_seconds']:.1f}" if run.get("cpu_seconds") else "-"
    cores = f"{run['cpu_seconds'] / run['seconds']:.2f}" if run.get("cpu_seconds") else "-"
    return (f"| {run['server']} | {run['clients']} | {run['ok']:,} | {run['requests_per_s']:,.1f} | {ratio} | "
            f"{run['p50_ms']:,.0f} | {run['p99_ms']:,.0f} | {run['failed']} | {run['rejected_429']:,} | {batch} | "
            f"{cores} | {per_cpu} | {run['load_average']:.1f} |")


def _profile(runs: list[dict]) -> list[str]:
    """Where each embedlab server's CPU went in its busiest cell: event loop, inference workers, other threads."""
    lines = []
    for run in runs:
        roles = run.get("thread_cpu_seconds")
        if not roles or run["clients"] != max(r["clients"] for r in runs if r["server"] == run["server"]):
            continue
        total = sum(roles.values()) or 1.0
        shares = ", ".join(f"{role} {seconds / run['seconds']:.2f} cores ({seconds / total:.0%})"
                           for role, seconds in sorted(roles.items(), key=lambda item: -item[1]))
        lines.append(f"- {run['server']}, {run['clients']} clients: {shares}.")
    if lines:
        intro = ("Where embedlab's CPU went (per-thread CPU time from /proc; the event loop parses HTTP and JSON and "
                 "counts tokens, the inference workers tokenize and run the model):")
        lines = [intro, "", *lines, ""]
    return lines


def with_history(section: str, previous: Path) -> str:
    """The new section on top of the earlier report's sections (its title dropped; an untitled first part gets one)."""
    body = ""
    if previous.is_file():
        old = previous.read_text().split("\n", 1)
        body = old[1].strip() if len(old) > 1 else ""
        if body and not body.startswith("## "):
            body = "## Earlier run\n\n" + body
    return f"{TITLE}\n\n{section.rstrip()}\n\n{body}\n" if body else f"{TITLE}\n\n{section.rstrip()}\n"
