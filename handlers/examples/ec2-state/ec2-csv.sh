#!/bin/sh
# One CSV line per normalised EC2 state change: time,account,region,instance,state.
# Arguments come from the entry's template, one argv element each (the event JSON is
# the last argument and is not used here). The line is the run's output (the result's
# data); with EC2_STATE_CSV set in the entry's "env", it is also appended to that file.
set -eu
[ $# -ge 5 ] || { echo "usage: ec2-csv.sh TIME ACCOUNT REGION INSTANCE STATE [EVENT_JSON]" >&2; exit 64; }
csv() {
	# RFC 4180: quote a field holding a comma, a quote or a line break; double its quotes.
	case $1 in
		*[,\"]* | *'
'*) printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')" ;;
		*) printf '%s' "$1" ;;
	esac
}
line="$(csv "$1"),$(csv "$2"),$(csv "$3"),$(csv "$4"),$(csv "$5")"
printf '%s\n' "$line"
if [ -n "${EC2_STATE_CSV:-}" ]; then
	printf '%s\n' "$line" >>"$EC2_STATE_CSV"
fi
