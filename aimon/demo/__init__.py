"""``aimon demo``: a simulated model under the decorator, with a latency spike, an error
burst and a drifting feature, the alerts they raise, and the drift report they leave.

A reference is built from synthetic training data; traffic comes from a pool of threads
calling a decorated ``predict``. From 25 % of the run latency rises for a while, then some
calls fail; from 40 % to 70 % the ``amount`` feature drifts toward the hard cases (and with
it the model's score); then traffic recovers. Rules on p95 latency, error rate, per-feature
PSI and accuracy (estimated and realised) send their alerts to a LogSink printed in the
terminal (and to a webhook, if one is given): they fire, then resolve as traffic recovers.
Twice a second the terminal shows the rolling window, the accuracy and the drifted features;
``/metrics`` is served throughout. At the end the features the model saw during the drift
are compared with the training data and written as an HTML report, and a summary tells the
story: each phase at its peak, when each alert fired and resolved, what drifted, where the
report is, when the estimated and the realised accuracy fell. With ``serve`` the model then
keeps answering a calm baseline of traffic, and ``/metrics`` stays up for Prometheus,
until ``stop`` is set.

Ground truth arrives late, as it does in production: each answered call's outcome (was it
fraud?) is recorded with :meth:`~aimon.Monitor.record_outcome` by a timer thread a tenth of
the run later, joined by :func:`aimon.current_request_id`. The model's score is the
probability of fraud given the amount, calibrated on the training data, so the Monitor
estimates its accuracy from the scores alone (CBPE) as each call ends. The drift brings
purchases near the amount where fraud becomes likely, where the model is unsure: each status
line shows the estimated accuracy with its interval beside the realised one, the estimate
falls as soon as the drifted calls are answered, the realised accuracy follows when their
outcomes arrive, and the summary says when each fell.
"""

from aimon.demo.report import DEFAULT_REPORT
from aimon.demo.run import DemoRun, run_demo
from aimon.demo.scenario import DemoSettings

__all__ = ["DEFAULT_REPORT", "DemoRun", "DemoSettings", "run_demo"]
