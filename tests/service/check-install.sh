#!/bin/sh
# check-install.sh MESON BUILDDIR VERSION PATH...
#
# `meson install --destdir` into a temp dir must lay out every PATH (each
# an absolute install path; the DESTDIR is prepended).  Beyond existence:
# libmemclient.so.0 is a symlink to the real library, whose SONAME it is,
# libmemclient.so is a symlink too, memclient.pc names -lmemclient, the man
# pages render
# (when man(1)'s formatter is installed), and the installed memd prints
# "memd VERSION".
set -u
[ $# -ge 4 ] || { echo "usage: $0 MESON BUILDDIR VERSION PATH..." >&2; exit 2; }
meson=$1 builddir=$2 version=$3
shift 3

dest=$(mktemp -d) || exit 1
trap 'rm -rf "$dest"' EXIT
if ! "$meson" install -C "$builddir" --no-rebuild --destdir "$dest" >"$dest.log" 2>&1; then
	cat "$dest.log"; rm -f "$dest.log"
	echo "FAIL: meson install --destdir failed"
	exit 1
fi
rm -f "$dest.log"

fail=0
ok=0
for p in "$@"; do
	if [ -e "$dest$p" ]; then
		ok=$((ok + 1))
	else
		echo "FAIL: missing $p"
		fail=1
	fi
done
echo "$ok of $# paths installed"

check() { # what, command...
	what=$1; shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}
for p in "$@"; do
	case "$p" in
	*/libmemclient.so.0)
		check "libmemclient.so.0 is a symlink to a real file" \
			sh -c "test -L '$dest$p' && test -f \"\$(readlink -f '$dest$p')\""
		check "SONAME of libmemclient.so.0 is libmemclient.so.0" \
			sh -c "readelf -d '$dest$p' | grep -q 'SONAME.*\\[libmemclient\\.so\\.0\\]'" ;;
	*/libmemclient.so)
		check "libmemclient.so is a symlink" test -L "$dest$p" ;;
	*/memclient.pc)
		check "memclient.pc names -lmemclient" grep -q -- '-lmemclient' "$dest$p" ;;
	*/sbin/memd)
		check "installed memd --version says memd $version" \
			sh -c "'$dest$p' --version | grep -qx 'memd $version'" ;;
	*/man[0-9]/*)
		if command -v nroff >/dev/null 2>&1; then
			check "$(basename "$p") renders without warnings" \
				sh -c "out=\$(nroff -man -ww '$dest$p' 2>&1 >/dev/null); [ -z \"\$out\" ] || { echo \"\$out\"; false; }"
		fi ;;
	esac
done
exit $fail
