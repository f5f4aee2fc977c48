#!/bin/sh
# Shell handler: list, or delete, the files under a directory that are older than N
# days. The event says which directory and how old:
#   {"event_type": "disk.full", "payload": {"path": "/srv/app/cache", "older_than_days": 7}}
# but only a directory inside CLEANUP_ROOT is touched, and nothing is deleted unless the
# handler string says --delete: events can come from anyone who reaches the router, so
# the operator, not the event, decides what may go.
#
# Copy to the handler directory, make it executable, and register it in
# event-handlers.json with CLEANUP_ROOT in the entry's env (handlers see only their
# entry's env, not the worker's); first as a dry run, which only lists:
#   "local:disk.full": [
#     { "driver": "shell", "handler": "disk-cleanup.sh", "exclusive": true, "timeout": 300,
#       "env": { "CLEANUP_ROOT": "/srv/app/cache" } }
#   ]
# then, once the list looks right: "handler": "disk-cleanup.sh --delete".
#
# What it will not do, whoever wrote the event or the files in the tree:
#  - follow a symlink: CLEANUP_ROOT and payload.path must not be symlinks themselves
#    (give the directory they lead to); symlinks on the way to them are resolved, and
#    the resolved path must lie inside the resolved CLEANUP_ROOT (or be it);
#  - leave that directory: it is entered once (cd -P) and searched from there with
#    find -P (never following a symlink, to a file or to a directory), -xdev (never
#    crossing into another file system) and -type f (regular files only: neither
#    directories nor symlinks, nor what they point to);
#  - delete by path name: find's -delete removes each file it found relative to the
#    directory it found it in, so a directory renamed or replaced by a symlink while the
#    search runs cannot redirect a deletion elsewhere.
# Age is by modification time. Paths are listed relative to the cleaned directory.
# Needs a find with -P and -delete (GNU findutils, BSD). Reads the payload with jq when
# installed, else with node.
# Exit: 0 done; 1 refused (bad payload, path outside CLEANUP_ROOT, a symlink) or failed.
set -eu

delete=no
if [ "${1:-}" = --delete ] && [ $# -gt 1 ]; then delete=yes; shift; fi
event=
for event in "$@"; do :; done
if [ -z "$event" ] || [ "$event" = - ]; then event=$(cat); fi

fail() {
	printf 'disk-cleanup: %s\n' "$*" >&2
	exit 1
}

# Prints payload field $1 as text, or nothing when it is absent.
field() {
	if command -v jq >/dev/null 2>&1; then
		printf '%s' "$event" | jq -r --arg k "$1" '(.payload | objects | .[$k]) // empty | tostring'
	else
		printf '%s' "$event" | node -e '
			let s = "";
			process.stdin.on("data", (c) => (s += c)).on("end", () => {
				let p;
				try {
					p = JSON.parse(s).payload;
				} catch (e) {
					process.stderr.write(e.message + "\n");
					process.exit(1);
				}
				const v = p !== null && typeof p === "object" ? p[process.argv[1]] : undefined;
				if (v !== undefined && v !== null) process.stdout.write(String(v));
			});' "$1"
	fi
}

root=${CLEANUP_ROOT:-}
[ -n "$root" ] || fail "CLEANUP_ROOT is not set; refusing to touch anything"
path=$(field path) || fail "the event is not valid JSON"
days=$(field older_than_days) || fail "the event is not valid JSON"

case $path in
	/*) ;;
	'') fail 'payload.path is missing' ;;
	*) fail "payload.path must be absolute, got \"$path\"" ;;
esac
case $days in
	'' | *[!0-9]*) fail "payload.older_than_days must be a whole number of days, got \"$days\"" ;;
esac
days=${days#"${days%%[!0]*}"} # no leading zeros: $((08)) would be bad octal
[ -n "$days" ] || fail 'payload.older_than_days must be at least 1'

# Without trailing slashes, so that -L looks at the name itself, not at what it leads to.
trim() {
	_t=$1
	while [ "$_t" != / ] && [ "${_t%/}" != "$_t" ]; do _t=${_t%/}; done
	printf '%s' "$_t"
}
root=$(trim "$root")
path=$(trim "$path")

real_root=$(cd -P -- "$root" 2>/dev/null && pwd -P) || fail "CLEANUP_ROOT $root is not a directory"
[ "$real_root" != / ] || fail 'CLEANUP_ROOT must not be /'
[ ! -L "$root" ] || fail "CLEANUP_ROOT $root is a symlink; set it to the directory it leads to, $real_root"
# From here on the cleaned directory is the current one: whatever happens to the names
# leading to it, find starts where the check below was made.
cd -P -- "$path" 2>/dev/null || fail "$path is not a directory"
real_path=$(pwd -P)
case $real_path/ in
	"$real_root"/*) ;;
	*) fail "$path ($real_path) is outside CLEANUP_ROOT $real_root; refusing" ;;
esac
[ ! -L "$path" ] || fail "$path is a symlink (to $real_path); refusing: give the directory itself"

# find -mtime +N matches ages of at least N+1 whole days.
age=$((days - 1))
if [ "$delete" = yes ]; then
	echo "deleting files older than $days days under $real_path:"
	find -P . -xdev -type f -mtime "+$age" -print -delete
else
	echo "dry run (register with --delete to delete): files older than $days days under $real_path:"
	find -P . -xdev -type f -mtime "+$age" -print
fi
