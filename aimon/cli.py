"""The ``aimon`` command: ``demo``, ``reference build``, ``drift``, ``check`` and ``report``.

Exit status: 0 all is well, 1 drift or a failed data-quality check found (``aimon drift``,
``aimon check``), 2 bad input (an unreadable or header-only file, a reference column
missing from the current data, a bad option); the message of a bad input names the file,
column or option at fault.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from aimon import __version__
from aimon.errors import AimonError

if TYPE_CHECKING:
    import pandas as pd

    from aimon.drift.compare import DriftReport
    from aimon.drift.reference import Reference

__all__ = ["main"]

EXIT_OK, EXIT_DRIFT, EXIT_BAD_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aimon", description="Watch machine-learning models in production."
    )
    parser.add_argument("--version", action="version", version=f"aimon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="run a simulated model: latency spike, errors, drift, alerts and a drift report",
    )
    demo.add_argument(
        "--duration", type=float, default=10.0, help="seconds of the scenario (default 10)"
    )
    demo.add_argument("--port", type=int, default=9108, help="port for /metrics (default 9108)")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--workers", type=int, default=16, help="client threads (default 16)")
    demo.add_argument(
        "--webhook",
        metavar="URL",
        help="also send the alerts to this URL (Alertmanager's webhook payload)",
    )
    demo.add_argument(
        "--report",
        type=Path,
        default=Path("aimon-demo-report.html"),
        metavar="PATH",
        help="the HTML drift report to write (default aimon-demo-report.html)",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="after the scenario, keep serving /metrics with calm traffic until Ctrl-C/SIGTERM",
    )

    reference = commands.add_parser("reference", help="reference profiles for drift")
    actions = reference.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="profile a CSV or Parquet file into a JSON profile")
    build.add_argument("data", type=Path, help="the reference data (.csv, .tsv or .parquet)")
    build.add_argument("-o", "--output", type=Path, required=True, help="the profile to write")
    build.add_argument("--bins", type=int, default=10, help="quantile bins per numeric feature")
    build.add_argument(
        "--categorical", type=_names, default=(), help="columns to treat as categories: a,b"
    )
    build.add_argument(
        "--sample-size", type=int, default=10_000, help="values kept per feature for exact tests"
    )
    build.add_argument("--top-k", type=int, default=50, help="categories kept per feature")
    build.add_argument("--prediction", help="the column holding the model's output")
    build.add_argument(
        "--target",
        help="the column holding the ground truth: with --prediction, the model's quality on "
        "these rows is kept as the baseline of live quality",
    )
    _quality_settings_arguments(build)

    _sidecar_arguments(commands)

    drift = commands.add_parser(
        "drift", help="compare a data file with a reference (data file or profile)"
    )
    _comparison_arguments(drift)
    drift.add_argument("--format", choices=("table", "json"), default="table")
    drift.add_argument(
        "--fail-on",
        choices=("column", "dataset"),
        default="column",
        help="exit 1 when any column drifts (default) or only on dataset drift; a failed "
        "data-quality check exits 1 either way",
    )

    check = commands.add_parser(
        "check",
        help="check a data file's quality against a reference: missing values, out of range, "
        "not a number, unseen categories, constant columns",
    )
    _comparison_arguments(check)
    check.add_argument("--format", choices=("table", "json"), default="table")

    _quality_arguments(
        commands.add_parser(
            "quality",
            help="join a prediction log and an outcomes log by request id and compute quality",
        )
    )

    _report_arguments(commands)
    return parser


def _sidecar_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sidecar = commands.add_parser(
        "sidecar",
        help="follow a JSON prediction log and serve its metrics and alerts",
        description="Settings come from --config (YAML), AIMON_* environment variables and "
        "these flags; flags win over the environment, the environment over the file.",
    )
    sidecar.add_argument("--config", help="a YAML settings file")
    sidecar.add_argument("--log-file", help="the prediction log to follow (- for standard input)")
    sidecar.add_argument("--reference", help="a saved reference profile (.json) for drift")
    sidecar.add_argument("--thresholds", help="alert rules (.yaml or .toml)")
    sidecar.add_argument(
        "--host",
        help="address to bind (default 0.0.0.0); a sidecar reachable beyond loopback needs "
        "--bearer-token-file or basic auth: POST /outcomes is open otherwise",
    )
    sidecar.add_argument("--port", type=int, help="port for /metrics (default 9108)")
    sidecar.add_argument("--window", help="rolling window (default 5m)")
    sidecar.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="where an event field is in a line, e.g. latency=duration_ms or "
        "features=request.features (repeatable)",
    )
    sidecar.add_argument("--max-models", type=int, help="monitors at most (default 16)")
    sidecar.add_argument(
        "--outcomes-file",
        help='a log of outcome lines to follow ({"request_id": ..., "actual": ..., "ts": ...})',
    )
    sidecar.add_argument(
        "--outcome-ttl", help="how long a prediction waits for its outcome (default 1h)"
    )
    _quality_settings_arguments(sidecar)
    sidecar.add_argument(
        "--state-dir", help="checkpoints here: a restart continues exactly where it stopped"
    )
    security = sidecar.add_argument_group(
        "authentication and TLS",
        "Secrets are read from files, or from AIMON_AUTH__BEARER_TOKEN / AIMON_AUTH__PASSWORD; "
        "never given on the command line. /healthz and /ready stay open for probes unless "
        "--protect-probes.",
    )
    security.add_argument(
        "--bearer-token-file", metavar="PATH", help="require 'Authorization: Bearer <token>'"
    )
    security.add_argument("--basic-auth-user", metavar="NAME", help="require basic auth as NAME")
    security.add_argument(
        "--basic-auth-password-file", metavar="PATH", help="the basic-auth password"
    )
    security.add_argument(
        "--protect-probes",
        action="store_true",
        default=None,
        help="require the credentials on /healthz and /ready too",
    )
    security.add_argument("--tls-cert", metavar="PATH", help="serve HTTPS: PEM certificate chain")
    security.add_argument("--tls-key", metavar="PATH", help="the certificate's PEM private key")
    security.add_argument(
        "--tls-client-ca",
        metavar="PATH",
        help="require client certificates signed by this CA (mutual TLS)",
    )


def _report_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon report``'s arguments."""
    report = commands.add_parser(
        "report", help="write a self-contained HTML drift report (summary table and charts)"
    )
    _comparison_arguments(report)
    report.add_argument("-o", "--output", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--title", default="Drift report", help="the report's heading")
    report.add_argument(
        "--engine",
        choices=("aimon", "evidently"),
        default="aimon",
        help="aimon's report (default) or Evidently's own (needs the evidently extra)",
    )


def _quality_arguments(quality: argparse.ArgumentParser) -> None:
    quality.add_argument("predictions", type=Path, help="JSON-lines prediction log")
    quality.add_argument("outcomes", type=Path, help="JSON-lines outcomes log")
    quality.add_argument("--format", choices=("table", "json"), default="table")
    quality.add_argument(
        "--reference",
        type=Path,
        help="a reference profile (.json) built with --target: compare with its quality",
    )
    _quality_settings_arguments(quality)


def _quality_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quality-task",
        "--task",
        dest="task",
        choices=("classification", "binary_score", "regression"),
        help="the kind of task (default: the reference's, else inferred from the pairs)",
    )
    parser.add_argument("--positive-label", help="the positive class of binary metrics (default 1)")
    parser.add_argument(
        "--quality-threshold",
        "--threshold",
        dest="threshold",
        type=float,
        help="a score at or above it predicts the positive class (binary_score; default 0.5)",
    )


def _comparison_arguments(parser: argparse.ArgumentParser) -> None:
    """REF, CUR and the options of a batch comparison (``drift`` and ``report``)."""
    parser.add_argument("reference", type=Path, help="reference data, or a profile (.json)")
    parser.add_argument("current", type=Path, help="current data (.csv, .tsv or .parquet)")
    parser.add_argument(
        "--methods", type=_names, help="methods, e.g. psi,ks (default: Evidently's per column)"
    )
    parser.add_argument("--columns", type=_names, help="columns to compare (default: all)")
    parser.add_argument(
        "--bins", type=_bins, default=10, help="numeric bins: a number, or 'evidently'"
    )
    limits = parser.add_argument_group(
        "data quality", "when a column fails a data-quality check (shares from 0 to 1)"
    )
    limits.add_argument(
        "--max-missing-increase", type=_share, default=0.05, metavar="SHARE",
        help="missing share above the reference's (default 0.05)",
    )  # fmt: skip
    limits.add_argument(
        "--max-out-of-range", type=_share, default=0.05, metavar="SHARE",
        help="values outside the reference's range (default 0.05)",
    )  # fmt: skip
    limits.add_argument(
        "--max-type-violations", type=_share, default=0.01, metavar="SHARE",
        help="rows that are not a number in a numeric column (default 0.01)",
    )  # fmt: skip
    limits.add_argument(
        "--max-unseen", type=_share, default=0.05, metavar="SHARE",
        help="labels the reference never saw (default 0.05)",
    )  # fmt: skip


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return names


def _bins(text: str) -> int | str:
    if text == "evidently":
        return text
    try:
        bins = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'evidently', got {text!r}"
        ) from None
    if bins < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2 bins, got {bins}")
    return bins


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``aimon`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    try:
        if args.command == "demo":
            return _demo(args, out)
        if args.command == "reference":
            return _reference_build(args, out)
        if args.command == "sidecar":
            return _sidecar(args, out)
        if args.command == "report":
            return _report(args, out)
        if args.command == "quality":
            return _quality(args, out)
        if args.command == "check":
            return _check(args, out)
        return _drift(args, out)
    except (AimonError, ValueError) as exc:
        print(f"aimon: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    import signal
    import threading

    from aimon.demo import DemoSettings, run_demo

    if args.duration <= 0:
        raise AimonError("--duration must be positive")
    if args.workers < 1:
        raise AimonError("--workers must be at least 1")
    if args.webhook is not None and not args.webhook.startswith(("http://", "https://")):
        raise AimonError("--webhook: expected an http:// or https:// URL")
    if not args.report.parent.is_dir():
        raise AimonError(f"--report: {args.report.parent} is not a directory")
    settings = DemoSettings(
        duration_s=args.duration,
        port=args.port,
        host=args.host,
        workers=args.workers,
        webhook=args.webhook,
        report=args.report,
        serve=args.serve,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():  # asked twice: stop waiting for a clean end
            raise KeyboardInterrupt
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        run_demo(settings, out, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _quality(args: argparse.Namespace, out: TextIO) -> int:
    from aimon.drift.reference import Reference
    from aimon.quality.batch import evaluate_files, format_table
    from aimon.quality.metrics import label_from_text

    for path in (args.predictions, args.outcomes):
        if not path.is_file():
            raise AimonError(f"{path}: no such file")
    reference = None
    if args.reference is not None:
        profile = Reference.load(args.reference)
        if profile.quality is None:
            raise AimonError(
                f"--reference: {args.reference} has no quality: build it with --target and "
                "--prediction"
            )
        reference = profile.quality
    report = evaluate_files(  # a QualityError names the setting
        args.predictions,
        args.outcomes,
        task=args.task,
        positive_label=label_from_text(args.positive_label),
        threshold=args.threshold,
        reference=reference,
    )
    if args.format == "json":
        out.write(report.model_dump_json(indent=2) + "\n")
    else:
        out.write(format_table(report))
    return EXIT_OK


def _sidecar(args: argparse.Namespace, out: TextIO) -> int:
    import signal
    import threading

    from aimon.alerts import LogSink, Router
    from aimon.config import load_settings
    from aimon.exporters.http import BearerAuth, MetricsServer
    from aimon.exporters.sidecar_metrics import SidecarCollector
    from aimon.sidecar import MonitorSettings, Sidecar

    fields: dict[str, str] = {}
    for item in args.field:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise AimonError(f"--field: expected NAME=PATH, got {item!r}")
        fields[name] = path

    def given(**group: object) -> dict[str, object] | None:  # one nested group's given flags
        return {k: v for k, v in group.items() if v is not None} or None

    settings = load_settings(
        args.config,
        log_file=args.log_file,
        reference=args.reference,
        thresholds_file=args.thresholds,
        host=args.host,
        port=args.port,
        window=args.window,
        max_models=args.max_models,
        state_dir=args.state_dir,
        outcomes_file=args.outcomes_file,
        outcome_ttl=args.outcome_ttl,
        quality_task=args.task,
        positive_label=args.positive_label,
        quality_threshold=args.threshold,
        fields=fields or None,
        auth=given(
            bearer_token_file=args.bearer_token_file,
            username=args.basic_auth_user,
            password_file=args.basic_auth_password_file,
            protect_probes=args.protect_probes,
        ),
        tls=given(
            cert_file=args.tls_cert, key_file=args.tls_key, client_ca_file=args.tls_client_ca
        ),
    )
    auth = settings.auth.build()  # secrets and certificates read now: a bad one fails at start
    ssl_context = settings.tls.context()
    reference = settings.reference_profile()  # read once, shared by every model's monitor
    thresholds = settings.thresholds()
    routes = settings.routes()
    router = Router(routes or [LogSink()]) if thresholds is not None or routes else None
    monitor_settings = MonitorSettings(
        window=settings.window,
        reference=reference,
        thresholds=thresholds,
        router=router,  # one router for every model's monitor
        quality=settings.quality(),
    )
    sidecar = Sidecar(
        settings.log_file,
        fields=settings.fields,
        max_models=settings.max_models,
        monitor_settings=monitor_settings,
        state_dir=settings.state_dir,
        outcomes_file=settings.outcomes_file,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server = MetricsServer(
            sidecar.all_monitors,
            settings.host,
            settings.port,
            ready=sidecar.ready,
            guard=sidecar.scrape,
            auth=auth,
            protect_probes=settings.auth.protect_probes,
            ssl_context=ssl_context,
            collectors=[SidecarCollector(sidecar)],
            outcomes=sidecar.post_outcomes,
        )
    except OSError as exc:
        sidecar.close()
        raise AimonError(f"port: cannot serve on {settings.host}:{settings.port}: {exc}") from None
    access = "no authentication"
    if auth is not None:
        access = "bearer token" if isinstance(auth, BearerAuth) else "basic auth"
        access += " on every endpoint" if settings.auth.protect_probes else ", probes open"
    print(
        f"aimon sidecar: following {settings.log_file}, serving {server.url}/metrics ({access})",
        file=out,
    )
    out.flush()
    try:
        sidecar.run(stop)
    finally:
        server.close()
        sidecar.close()
        if router is not None:
            router.close()
    return EXIT_OK


def _reference_build(args: argparse.Namespace, out: TextIO) -> int:
    from aimon.drift.reference import Reference
    from aimon.quality.metrics import label_from_text

    profile = Reference.from_file(
        args.data,
        bins=args.bins,
        categorical=args.categorical,
        sample_size=args.sample_size,
        top_k=args.top_k,
        prediction=args.prediction,
        target=args.target,
        quality_task=args.task,
        positive_label=label_from_text(args.positive_label),
        quality_threshold=0.5 if args.threshold is None else args.threshold,
    )
    try:
        profile.save(args.output)
    except OSError as exc:
        raise AimonError(f"{args.output}: cannot write the profile: {exc.strerror}") from None
    kinds = [f.kind for f in profile.features.values()]
    print(
        f"wrote {args.output}: {profile.rows} rows, {kinds.count('numeric')} numeric and "
        f"{kinds.count('categorical')} categorical features",
        file=out,
    )
    if profile.quality is not None:
        values = ", ".join(f"{k} {v:.4g}" for k, v in profile.quality.values().items())
        print(f"model quality on {profile.quality.count} rows ({profile.quality.task}): {values}",
              file=out)  # fmt: skip
    return EXIT_OK


def _load(args: argparse.Namespace) -> tuple[Reference | pd.DataFrame, pd.DataFrame]:
    """REF (a data file or a saved profile) and CUR of ``drift`` and ``report``."""
    from aimon.drift.reference import Reference, read_table

    is_profile = args.reference.suffix.lower() == ".json"
    reference = Reference.load(args.reference) if is_profile else read_table(args.reference)
    current = read_table(args.current)
    for path, data in ((args.reference, reference), (args.current, current)):
        if not isinstance(data, Reference) and len(data) == 0:
            raise AimonError(f"{path}: no rows (a header only?)")
    _require_columns(reference, current, args)
    return reference, current


def _require_columns(
    reference: Reference | pd.DataFrame, current: pd.DataFrame, args: argparse.Namespace
) -> None:
    """Every reference column (but the prediction and target of a profile) is in CUR."""
    import difflib

    from aimon.drift.reference import Reference

    if isinstance(reference, Reference):
        outputs = (reference.prediction, reference.target)
        wanted = [name for name in reference.features if name not in outputs]
    else:
        wanted = [str(name) for name in reference.columns]
    if args.columns is not None:
        wanted = [name for name in args.columns if name in wanted]
    present = {str(name) for name in current.columns}
    missing = [name for name in wanted if name not in present]
    if not missing:
        return
    extra = sorted(present - set(wanted))
    hints = []
    for name in missing[:5]:
        close = difflib.get_close_matches(name, extra, n=1, cutoff=0.5)
        hints.append(f"{name!r}" + (f" (renamed {close[0]!r}?)" if close else ""))
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    raise AimonError(
        f"{args.current}: column{'s' if len(missing) > 1 else ''} of the reference not in the "
        f"data: {', '.join(hints)}{more}"
    )


def _compare(
    reference: Reference | pd.DataFrame, current: pd.DataFrame, args: argparse.Namespace
) -> DriftReport:
    from aimon.drift.compare import compare
    from aimon.drift.data_quality import QualityLimits

    limits = QualityLimits(
        missing_increase=args.max_missing_increase,
        out_of_range=args.max_out_of_range,
        type_violations=args.max_type_violations,
        unseen=args.max_unseen,
    )
    return compare(
        reference, current, methods=args.methods, columns=args.columns, bins=args.bins,
        limits=limits,
    )  # fmt: skip


def _drift(args: argparse.Namespace, out: TextIO) -> int:
    from aimon.drift.render import report_json, report_table

    report = _compare(*_load(args), args)
    out.write(report_json(report) if args.format == "json" else report_table(report))
    drifted = report.dataset_drift if args.fail_on == "dataset" else bool(report.drifted_columns)
    return EXIT_DRIFT if drifted or report.quality_failures else EXIT_OK


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from aimon.drift.render import quality_json, quality_table

    report = _compare(*_load(args), args)
    out.write(quality_json(report) if args.format == "json" else quality_table(report))
    return EXIT_DRIFT if report.quality_failures else EXIT_OK


def _report(args: argparse.Namespace, out: TextIO) -> int:
    from aimon.drift.reference import Reference
    from aimon.drift.report import evidently_html, report_html

    reference, current = _load(args)
    if args.engine == "evidently":
        if isinstance(reference, Reference):
            raise AimonError(
                f"{args.reference}: --engine evidently compares data sets: give the reference "
                "data (.csv or .parquet), not a profile"
            )
        if args.methods is not None or args.bins != 10:
            raise AimonError(
                "--methods and --bins apply to --engine aimon; Evidently chooses its own"
            )
        if args.columns is not None:
            for side, frame in (("reference", reference), ("current", current)):
                missing = [c for c in args.columns if c not in frame.columns]
                if missing:
                    raise AimonError(f"columns: {missing[0]!r} is not in the {side} data")
            reference, current = reference[list(args.columns)], current[list(args.columns)]
        page = evidently_html(reference, current)
        summary = "Evidently's data-drift report"
    else:
        report = _compare(reference, current, args)
        page = report_html(
            report,
            title=args.title,
            reference_name=args.reference.name,
            current_name=args.current.name,
        )
        summary = f"{len(report.drifted_columns)} of {len(report)} features drifted"
    try:
        args.output.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise AimonError(f"{args.output}: cannot write the report: {exc.strerror}") from None
    print(f"wrote {args.output}: {summary}", file=out)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
