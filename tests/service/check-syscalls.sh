#!/bin/sh
# check-syscalls.sh SERVICE_UNIT SYSCALL...
#
# Every SYSCALL must get through the SystemCallFilter= lines of
# SERVICE_UNIT: it is named, directly or through a @group (expanded
# recursively with `systemd-analyze syscall-filter`), by a line without
# '~', and by no '~' line.  A syscall memd needs that the filter drops
# fails with EPERM (SystemCallErrorNumber=) only under systemd, where no
# other test runs memd, so this is where a too-tight filter shows.  A
# unit with no SystemCallFilter= at all passes everything.
# Exit 77 (skip) only when systemd-analyze is not installed.
set -u

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not found (Debian package: systemd); skipping"
	exit 77
fi
[ $# -ge 2 ] || { echo "usage: $0 SERVICE_UNIT SYSCALL..." >&2; exit 2; }
unit=$1
shift

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# expand NAME: print NAME's syscalls, one a line (a group's, recursively).
expand() {
	case "$1" in
	@*)
		case " $(cat "$tmp/seen" 2>/dev/null) " in
		*" $1 "*) return 0 ;;
		esac
		printf ' %s' "$1" >>"$tmp/seen"
		systemd-analyze syscall-filter "$1" >"$tmp/group" 2>&1 || {
			cat "$tmp/group"; echo "FAIL: unknown syscall group $1" >&2; exit 1; }
		# Entries are indented; comments start with '#'.
		for e in $(sed -n 's/^[[:space:]]\{1,\}\([@a-z0-9_-]\{1,\}\)$/\1/p' "$tmp/group"); do
			expand "$e"
		done ;;
	*)
		echo "$1" ;;
	esac
}

: >"$tmp/allow"
: >"$tmp/deny"
: >"$tmp/seen"
filters=$(sed -n 's/^SystemCallFilter=//p' "$unit")
if [ -z "$filters" ]; then
	echo "$unit has no SystemCallFilter=: every syscall is allowed"
	exit 0
fi
printf '%s\n' "$filters" | while IFS= read -r line; do
	out=allow
	case "$line" in
	~*) out=deny; line=${line#\~} ;;
	esac
	for name in $line; do
		: >"$tmp/seen"
		expand "$name" >>"$tmp/$out" || exit 1
	done
done || exit 1

fail=0
for sc in "$@"; do
	if ! grep -qx "$sc" "$tmp/allow"; then
		echo "FAIL: $sc is not in any allowing SystemCallFilter= line of $unit"
		fail=1
	elif grep -qx "$sc" "$tmp/deny"; then
		echo "FAIL: $sc is removed by a SystemCallFilter=~ line of $unit"
		fail=1
	else
		echo "ok: $sc passes the SystemCallFilter= of $unit"
	fi
done
exit $fail
