#!/bin/sh
# check-units.sh SOCKET_UNIT SERVICE_UNIT MEMD_BIN MEMD_8 LIBMEMCLIENT_3
#
# The systemd units must pass `systemd-analyze verify` with no output at
# all (it exits 0 even for a misspelled key, printing a warning, so any
# output fails the test), and `systemd-analyze security --offline=yes` must
# rate memd.service at an exposure of at most 2.0.  The units are copied to
# a temp dir with ExecStart= pointing at the memd this build made (verify
# checks that the binary exists), and verify's Documentation= check finds
# the man pages this build made through a private MANPATH.
# memd.service must also set CPUSchedulingPolicy=batch: its
# SystemCallFilter= denies sched_setscheduler (@resources), so memd cannot
# move itself to SCHED_BATCH there (daemon/sched_policy.c).
# Exit 77 (skip) only when systemd-analyze is not installed.
set -u

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not found (Debian package: systemd); skipping"
	exit 77
fi
[ $# -eq 5 ] || { echo "usage: $0 SOCKET SERVICE MEMD_BIN MEMD_8 LIBMEMCLIENT_3" >&2; exit 2; }
socket_unit=$1 service_unit=$2 memd_bin=$3 man8=$4 man3=$5
max_exposure=2.0

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/man/man8" "$tmp/man/man3"
cp "$socket_unit" "$tmp/units/memd.socket"
sed "s|^ExecStart=.*/memd\\(.*\\)\$|ExecStart=$memd_bin\\1|" "$service_unit" >"$tmp/units/memd.service"
grep -q "^ExecStart=$memd_bin" "$tmp/units/memd.service" || {
	echo "FAIL: no ExecStart= line to point at $memd_bin"; exit 1; }
cp "$man8" "$tmp/man/man8/memd.8"
cp "$man3" "$tmp/man/man3/libmemclient.3"

man_opt=
if ! command -v man >/dev/null 2>&1; then
	man_opt=--man=no # nothing could show Documentation= anyway
fi

fail=0
out=$(cd "$tmp/units" && MANPATH="$tmp/man" systemd-analyze verify $man_opt \
	./memd.socket ./memd.service 2>&1)
rc=$?
lines=0
[ -z "$out" ] || lines=$(printf '%s\n' "$out" | wc -l)
echo "systemd-analyze verify memd.socket memd.service: exit $rc, $lines line(s) of output"
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	printf '%s\n' "$out"
	echo "FAIL: systemd-analyze verify must print nothing"
	fail=1
fi

if grep -qx 'CPUSchedulingPolicy=batch' "$service_unit"; then
	echo "memd.service: CPUSchedulingPolicy=batch"
else
	echo "FAIL: memd.service lacks CPUSchedulingPolicy=batch (memd cannot set it under the unit's SystemCallFilter=)"
	fail=1
fi

out=$(cd "$tmp/units" && systemd-analyze security --offline=yes --no-pager ./memd.service 2>&1)
rc=$?
exposure=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for memd.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ]; then
	printf '%s\n' "$out"
	echo "FAIL: systemd-analyze security printed no exposure level (exit $rc)"
	fail=1
elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e + 0 <= m + 0) }'; then
	echo "systemd-analyze security --offline=yes memd.service: exposure $exposure (max $max_exposure)"
else
	printf '%s\n' "$out" | grep -v '^✓'
	echo "FAIL: exposure $exposure is above $max_exposure"
	fail=1
fi
exit $fail
