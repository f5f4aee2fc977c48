#!/bin/sh
# Shell handler: POST the event as JSON to a webhook (chat, paging, ticketing...).
#
# Copy to the handler directory (event_handlers_dir, /etc/event-reactor/event-handlers
# by default), make it executable, and register it in event-handlers.json:
#   "local:disk.full": [
#     { "driver": "shell", "handler": "notify-webhook.sh", "timeout": 20,
#       "env": { "WEBHOOK_URL": { "secret": "webhook-url" } } }
#   ]
# The URL comes from --url in the handler string or from WEBHOOK_URL in the entry's env
# (handlers see only their entry's env, not the worker's; a URL holding a token is best
# a secret, read from secrets_dir/webhook-url and masked in results). Without either it
# prints what it would send and succeeds, which is handy for a dry run.
#
# Options: notify-webhook.sh [--url URL] [--header 'Name: value']...
# Environment: WEBHOOK_URL, WEBHOOK_TIMEOUT (seconds, default 10).
# Exit: 0 on a 2xx answer; 1 on any other status or when the request fails.
set -eu

url=${WEBHOOK_URL:-}
timeout=${WEBHOOK_TIMEOUT:-10}
headers=
while [ $# -gt 1 ]; do
	case $1 in
		--url) url=$2; shift 2 ;;
		--header) headers="$headers
$2"; shift 2 ;;
		*) break ;;
	esac
done

# The event JSON is the last argument; "-" means it was too big for argv and is on
# stdin only.
event=
for event in "$@"; do :; done
if [ -z "$event" ] || [ "$event" = - ]; then event=$(cat); fi

if [ -z "$url" ]; then
	printf 'WEBHOOK_URL not set; would POST %s:\n%s\n' "${EVENT_KEY:-event}" "$event"
	exit 0
fi
case $url in
	http://* | https://*) ;;
	*)
		echo "notify-webhook: the webhook URL must start with http:// or https://" >&2
		exit 1
		;;
esac
if ! command -v curl >/dev/null 2>&1; then
	echo "notify-webhook: curl not found on PATH" >&2
	exit 1
fi

# Only the host is printed: webhook paths and queries often carry secrets, and stdout
# is archived as the handler's result.
host=${url#*://}
host=${host%%/*}
host=${host##*@}

response=$(mktemp)
trap 'rm -f "$response"' EXIT
set -- --silent --show-error --max-time "$timeout" --output "$response" --write-out '%{http_code}' \
	--request POST --header 'Content-Type: application/json' \
	--header "X-Event-Id: ${EVENT_ID:-}" --header "X-Event-Key: ${EVENT_KEY:-}" \
	--header "X-Event-Attempt: ${EVENT_ATTEMPT:-1}" --data-binary @-
while IFS= read -r h; do
	[ -z "$h" ] || set -- "$@" --header "$h"
done <<HEADERS
$headers
HEADERS

if ! status=$(printf '%s' "$event" | curl "$@" "$url"); then
	echo "notify-webhook: request to $host failed" >&2
	exit 1
fi
case $status in
	2??)
		printf 'POSTed %s (id %s) to %s: HTTP %s\n' "${EVENT_KEY:-event}" "${EVENT_ID:-?}" "$host" "$status"
		;;
	*)
		printf 'notify-webhook: %s answered HTTP %s:\n' "$host" "$status" >&2
		head -c 2000 "$response" >&2
		echo >&2
		exit 1
		;;
esac
