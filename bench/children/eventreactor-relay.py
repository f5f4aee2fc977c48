"""
EventReactor's own router, as a baseline for router-throughput.ts: the relay loop of
event-router.py's main() from github.com/euforia/EventReactor (master, de6af3f), ported
from Python 2 to Python 3 and nothing else. Per message: PULL recv(), json.loads, one
log.info line ("Publishing: namespace:event_type", formatted eagerly with %, as the
original does), PUB send() of the bytes as received (one frame, EventReactor's framing).
A message that fails (not JSON, no namespace or event_type) is logged at error and not
published, as in the original.

Logging is set up as EventReactor sets it up: logging.basicConfig with the level and
format of its etc/config.json.sample (INFO, the format below), so every event writes a
line to stderr; its init script appends stderr to /var/log/event-reactor/event-router.log,
and router-throughput.ts points stderr at a log file in the same way.

Differences from the original, all outside the loop: sockets are made directly rather
than through its ZBase wrapper (which calls ctxt.socket(eval(type)) and bind(uri), the
same calls); the PUB send high-water mark is 0 (no limit) so the bench's count completes
instead of ZeroMQ dropping at the default of 1000; the bench's environment and stdout
lines (as in bare-relay.ts); SIGTERM ends the loop as Ctrl-C (KeyboardInterrupt) does in
the original.

Run with Debian's python3-zmq: /usr/bin/python3 bench/children/eventreactor-relay.py

Environment: BENCH_PULL_BIND, BENCH_PUB_BIND (default tcp://127.0.0.1:*, port chosen by
ZeroMQ), BENCH_LOGLEVEL (default INFO, the sample config's). Prints {"msg":"relay listening","pull":...,"pub":...} on stdout when bound and
{"msg":"relay closed"} after SIGTERM.
"""

import json
import logging
import os
import signal
import sys

import zmq

# From EventReactor's etc/config.json.sample ("logging"); the level is configurable there
# as here (BENCH_LOGLEVEL: at WARNING the per-event info line is formatted but not written).
LOG_FORMAT = "%(asctime)s (%(process)d) [%(levelname)s %(lineno)s:%(name)s.%(funcName)s]: %(message)s"
LOG_LEVEL = os.environ.get("BENCH_LOGLEVEL") or "INFO"


def bind(sock, uri):
    """Bind and return the endpoint ZeroMQ resolved (for `tcp://...:*`)."""
    sock.bind(uri)
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    log = logging.getLogger(__name__)
    logging.basicConfig(level=getattr(logging, LOG_LEVEL), format=LOG_FORMAT)

    ctxt = zmq.Context()
    aggr = ctxt.socket(zmq.PULL)
    pub = ctxt.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pull_uri = bind(aggr, os.environ.get("BENCH_PULL_BIND") or "tcp://127.0.0.1:*")
    log.info("Listening on (%s): %s" % ("zmq.PULL", pull_uri))
    pub_uri = bind(pub, os.environ.get("BENCH_PUB_BIND") or "tcp://127.0.0.1:*")
    log.info("Listening on (%s): %s" % ("zmq.PUB", pub_uri))

    signal.signal(signal.SIGTERM, interrupt)
    sys.stdout.write(json.dumps({"msg": "relay listening", "pull": pull_uri, "pub": pub_uri}) + "\n")
    sys.stdout.flush()

    try:
        ## Feed data to publishing stream
        while True:

            rslt = aggr.recv()
            try:
                resp = json.loads(rslt)
                log.info("Publishing: %(namespace)s:%(event_type)s" % (resp))

                pub.send(rslt)

            except Exception as e:
                log.error("%s '%s'" % (str(e), str(rslt)))

    except KeyboardInterrupt:
        pass

    aggr.close(linger=0)
    pub.close(linger=2000)
    ctxt.term()
    sys.stdout.write(json.dumps({"msg": "relay closed"}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
