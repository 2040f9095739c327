"""The soak's verdict and its printed report."""

STAT_NAMES = ("computed_rows", "recomputed_rows", "batches", "dead_letters")


def server_errors(report: dict) -> int:
    return sum(n for label, n in report["responses"].items() if label.rsplit(" ", 1)[1].startswith("5"))


def failures(report: dict) -> list[str]:
    """What makes the soak fail: a lost or twice-announced job, a 5xx, a worker that died by
    itself, or an announcement count that went blind."""
    jobs = report["jobs"]
    found = []
    if jobs["lost"]:
        found.append(f"{jobs['lost']} accepted jobs lost")
    if jobs["duplicated"]:
        found.append(f"{jobs['duplicated']} jobs announced more than once")
    if errors := server_errors(report):
        found.append(f"{errors} 5xx responses")
    if exits := report["unexpected_exits"]:
        found.append(f"{len(exits)} worker exits the soak did not cause, e.g. {exits[0]}")
    if report["event_listener_failure"]:
        found.append(
            f"the announcement counter died ({report['event_listener_failure']}): "
            "duplicates cannot be ruled out"
        )
    return found


def warnings(report: dict) -> list[str]:
    """Worth a look, but outside the exit status, which guards only the "nothing lost" promise."""
    found = [f"{n} x {kind}" for kind, n in report["anomalies"].items()]
    found += report["anomaly_examples"]
    if report["jobs"]["unannounced"]:
        found.append(f"{report['jobs']['unannounced']} terminal jobs never announced")
    if report["client_errors"]:
        found.append(f"client-side HTTP errors: {report['client_errors']}")
    if report["skipped_ticks"]:
        found.append(f"{report['skipped_ticks']} ticks skipped: over the in-flight cap")
    found += [f"api and redis disagree: {d}" for d in report["api_disagreements"]]
    for lane, summary in report["lanes"].items():
        if any(summary["depth_at_end"].values()):
            found.append(f"{lane} not empty after the drain: {summary['depth_at_end']}")
        if summary["stats"].get("computed_rows", 0) > summary["rows_with_results"]:
            found.append(f"{lane} counted more computed rows than rows with a result")
    return found + report["unclean_stops"]


def _line(label: str, value: object, indent: int = 0) -> None:
    print(f"{' ' * indent}{label:<{34 - indent}} {value}")


def _print_jobs(jobs: dict) -> None:
    _line("accepted jobs", jobs["accepted"])
    _line("succeeded", jobs["succeeded"], 2)
    _line("failed, by code", jobs["failed"] or 0, 2)
    _line("cancelled", jobs["cancelled"], 2)
    _line("expired", jobs["expired"], 2)
    _line("lost (must be 0)", jobs["lost"], 2)
    _line("duplicated (must be 0)", jobs["duplicated"], 2)
    _line("never announced", jobs["unannounced"], 2)
    for example in jobs["lost_examples"] + jobs["duplicated_examples"]:
        print(f"    {example}")


def _print_lane(lane: str, summary: dict) -> None:
    print(f"lane {lane}")
    depth, end = summary["max_depth"], summary["depth_at_end"]
    _line("max depth (sampled every 0.5 s)", f"{depth['rows']} rows, {depth['entries']} entries", 2)
    _line("depth after the drain", f"{end['rows']} rows, {end['entries']} entries", 2)
    stats = summary["stats"]
    _line("stats", ", ".join(f"{name} {stats.get(name, 0)}" for name in STAT_NAMES), 2)
    _line("rows of jobs with a result", summary["rows_with_results"], 2)


def print_report(report: dict) -> None:
    config = report["config"]
    print(f"\nload {report['load_s']} s at {config['rate']:g} jobs/s, drain {report['drain_s']} s")
    _line("jobs started, by kind", report["job_kinds"])
    _print_jobs(report["jobs"])
    print("responses")
    for label, count in report["responses"].items():
        _line(label, count, 2)
    _line("5xx responses (must be 0)", server_errors(report))
    _line("worker kills (SIGKILL)", report["worker_kills"])
    print("peak RSS (VmHWM), MB")
    for process, mb in report["peak_rss_mb"].items():
        _line(process, mb, 2)
    for lane, summary in report["lanes"].items():
        _print_lane(lane, summary)
    for warning in warnings(report):
        print(f"warning: {warning}")
    verdict = "FAIL: " + "; ".join(report["failures"]) if report["failures"] else "PASS"
    print(f"verdict: {verdict}")
