#!/bin/sh
# Shell handler: appends one line per event to a log file and prints it.
# As in EventReactor, the event JSON is the last argument (it is also on stdin);
# EVENT_ID, EVENT_TYPE and EVENT_NAMESPACE are in the environment.
# Usage in event-handlers.json: "log-event.sh --tag NAME"
set -eu
tag=event
if [ "${1:-}" = "--tag" ]; then tag=$2; shift 2; fi
for event in "$@"; do :; done
log="${EVENT_REACTOR_HANDLER_LOG:-/tmp/event-reactor-handlers.log}"
line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [$tag] $EVENT_NAMESPACE:$EVENT_TYPE id=$EVENT_ID event=$event"
printf '%s\n' "$line" >> "$log"
printf 'logged to %s: %s\n' "$log" "$line"
