"""``aimon sidecar``: follow a JSON prediction log and serve its metrics and alerts."""

from __future__ import annotations

import argparse
from typing import TextIO

from aimon.cli.exits import EXIT_OK
from aimon.cli.options import quality_settings_arguments
from aimon.errors import AimonError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``aimon sidecar`` and its options."""
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
        "--segment", action="append", metavar="COLUMN",
        help="keep a window, drift and data quality per value of this feature in every "
        "model's monitor (repeatable); drift per segment needs a reference built with the "
        "same --segment",
    )  # fmt: skip
    sidecar.add_argument(
        "--max-segment-values", type=int, metavar="K",
        help="values kept apart per --segment column, the busiest by recent traffic; the "
        "rest pooled in __other__ (default 20)",
    )  # fmt: skip
    sidecar.add_argument(
        "--outcomes-file",
        help='a log of outcome lines to follow ({"request_id": ..., "actual": ..., "ts": ...})',
    )
    sidecar.add_argument(
        "--outcome-ttl", help="how long a prediction waits for its outcome (default 1h)"
    )
    quality_settings_arguments(sidecar)
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


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aimon sidecar``, until SIGTERM or SIGINT; returns the exit status."""
    import signal
    import threading

    from aimon.alerts import LogSink, Router
    from aimon.config import load_settings
    from aimon.exporters.auth import BearerAuth
    from aimon.exporters.http import MetricsServer
    from aimon.exporters.sidecar_metrics import SidecarCollector
    from aimon.monitor_settings import MonitorSettings
    from aimon.sidecar import Sidecar

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
        segments=args.segment,
        max_segment_values=args.max_segment_values,
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
        segments=settings.segment_settings(),
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
