"""``aimon demo``: a simulated model under the decorator, with a latency spike, an error
burst and a drifting feature, the alerts they raise, and the drift report they leave.

A reference is built from synthetic training data; traffic comes from a pool of threads
calling a decorated ``predict``. From 25 % of the run latency rises for a while, then some
calls fail; from 40 % to 70 % the ``amount`` feature drifts (and with it the model's score);
then traffic recovers. Rules on p95 latency, error rate and per-feature PSI send their
alerts to a LogSink printed in the terminal (and to a webhook, if one is given): they fire,
then resolve as traffic recovers. Twice a second the terminal shows the rolling window and
the drifted features; ``/metrics`` is served throughout. At the end the features the model
saw during the drift are compared with the training data and written as an HTML report,
and a summary tells the story: each phase at its peak, when each alert fired and resolved,
what drifted, where the report is. With ``serve`` the model then keeps answering a calm
baseline of traffic, and ``/metrics`` stays up for Prometheus, until ``stop`` is set.

Ground truth arrives late, as it does in production: each answered call's outcome (was it
fraud?) is recorded with :meth:`~aimon.Monitor.record_outcome` by a timer thread a twentieth
of the run later, joined by :func:`aimon.current_request_id`. Fraud follows the amount of the
purchase as it was before the drift, so the model, which sees the tripled amounts, flags far
too much while drifting: the summary shows F1 and accuracy falling, and recovering after.
"""

from aimon.demo.report import DEFAULT_REPORT
from aimon.demo.run import DemoRun, run_demo
from aimon.demo.scenario import DemoSettings

__all__ = ["DEFAULT_REPORT", "DemoRun", "DemoSettings", "run_demo"]
