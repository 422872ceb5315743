#!/bin/bash
# test.sh - build crate's .deb and .rpm, check them, then install the .deb on
# this machine, use it as a user would, remove and purge it, and check that
# the machine is as it was. `make test-package` runs it; it needs root (dpkg)
# and installs lintian, rpm and man-db if they are missing.
#
# The packaged crate runs the demo with its state root, log file and run
# directory in a temporary directory, so the test adds nothing to
# /var/lib/crate or /var/log/crate: on a clean machine dpkg can then remove
# them, and on a used one their contents are left exactly as they were.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n== %s\n' "$*"; }
fail() {
	echo "test-package: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root: it installs and removes the .deb (sudo make test-package)"

# The test installs the package and then removes it: on a machine that
# already has crate installed, that would take the user's crate away.
if dpkg-query -W -f='${Status}' crate 2>/dev/null | grep -q installed; then
	fail "the crate package is installed here; remove it first (dpkg -r crate)"
fi
for p in /usr/bin/crate /usr/libexec/crate; do
	[ ! -e "$p" ] || fail "$p exists and is not from a package: the test would overwrite it"
done

tmp=$(mktemp -d /tmp/crate-test-package.XXXXXX)
installed=
cleanup() {
	# A failed run must not leave the package behind: we checked above that
	# it was not installed before, so if it is now, it is ours.
	if [ -n "$installed" ] && dpkg-query -W crate >/dev/null 2>&1; then
		echo "test-package: purging the crate package this test installed" >&2
		dpkg -P crate >/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

step "tools: lintian, rpm, man-db"
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v rpm >/dev/null || need+=(rpm)
command -v man >/dev/null || need+=(man-db)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${need[@]}"
fi

step "version.sh: git describe -> a dpkg/rpm version"
while read -r describe want; do
	got=$(scripts/package/version.sh "$describe" 20260102)
	[ "$got" = "$want" ] || fail "version.sh $describe: got $got, want $want"
	dpkg --validate-version "$got" || fail "version.sh $describe: $got is not a valid Debian version"
done <<'TABLE'
v1.2.0                  1.2.0
v1.2.0-rc1              1.2.0~rc1
v1.2.0-3-g454fdab       1.2.0+git3.454fdab
v1.2.0-3-g454fdab-dirty 1.2.0+git3.454fdab+dirty
454fdab                 0.0.0~git20260102.454fdab
454fdab-dirty           0.0.0~git20260102.454fdab+dirty
dev                     0.0.0~dev
TABLE
dpkg --compare-versions 0.0.0~git20260102.454fdab lt 1.2.0~rc1 &&
	dpkg --compare-versions 1.2.0~rc1 lt 1.2.0 &&
	dpkg --compare-versions 1.2.0 lt 1.2.0+git3.454fdab ||
	fail "version.sh: snapshot < pre-release < release < later commit does not hold"

step "build: make deb rpm image"
make deb rpm image
debs=(build/crate_*.deb)
rpms=(build/crate-*.rpm)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "want one build/crate_*.deb, have: ${debs[*]}"
[ ${#rpms[@]} = 1 ] && [ -f "${rpms[0]}" ] || fail "want one build/crate-*.rpm, have: ${rpms[*]}"
deb=${debs[0]} rpm=${rpms[0]}
echo "$deb"
echo "$rpm"

step "lintian $deb (fails on any E:)"
# lintian warns that it runs as root; the .deb is ours, so that is fine.
lintian --info "$deb" 2>&1 | grep -v 'running with root privileges' | tee "$tmp/lintian.txt" || true
if grep -q '^E:' "$tmp/lintian.txt"; then
	fail "lintian reported errors"
fi
# Tags we mean are overridden in scripts/package/lintian-overrides.
[ -s "$tmp/lintian.txt" ] || echo "lintian: no tags"

step "file lists: dpkg-deb -c and rpm -qlp against the expected list"
# Manual pages: whatever `crate man` writes today, so that a new subcommand
# adds its page without editing this test. crate.1 and crate-run.1 must be
# among them.
mkdir "$tmp/man"
bin/crate man "$tmp/man"
[ -f "$tmp/man/crate.1" ] && [ -f "$tmp/man/crate-run.1" ] ||
	fail "bin/crate man wrote no crate.1 or crate-run.1"
{
	cat <<'FILES'
/usr/bin/crate
/usr/libexec/crate/crate-init
/usr/share/bash-completion/completions/crate
/usr/share/zsh/vendor-completions/_crate
/usr/share/fish/vendor_completions.d/crate.fish
/usr/share/doc/crate/README.md
/usr/share/doc/crate/copyright
/usr/share/doc/crate/changelog.gz
/etc/logrotate.d/crate
/usr/lib/systemd/system/crate-gc.service
/usr/lib/systemd/system/multi-user.target.wants/crate-gc.service
FILES
	for page in "$tmp"/man/*.1; do
		echo "/usr/share/man/man1/$(basename "$page").gz"
	done
} | sort >"$tmp/files.common"
# Directories the package owns itself (the rest are just parents).
printf '%s\n' /usr/libexec/crate /usr/share/doc/crate /var/lib/crate /var/log/crate >"$tmp/dirs.owned"

# The .deb: its files, two Debian-only ones, and every directory on the way
# (a .deb's data tarball lists parents explicitly).
{
	cat "$tmp/files.common"
	echo /usr/share/doc/crate/changelog.Debian.gz
	echo /usr/share/lintian/overrides/crate
} | sort >"$tmp/files.deb"
{
	cat "$tmp/files.deb" "$tmp/dirs.owned"
	cat "$tmp/files.deb" "$tmp/dirs.owned" | while read -r f; do
		d=$(dirname "$f")
		while [ "$d" != / ]; do
			echo "$d"
			d=$(dirname "$d")
		done
	done
} | sort -u >"$tmp/want.deb"
dpkg-deb -c "$deb" | awk '{print $6}' | sed -e 's|^\./|/|' -e 's|/$||' | sort >"$tmp/got.deb"
diff -u "$tmp/want.deb" "$tmp/got.deb" || fail ".deb contents differ from the expected list (- missing, + unexpected)"

# The .rpm: its files and the directories it owns; no parents, as rpm lists
# only what the package owns.
sort -u "$tmp/files.common" "$tmp/dirs.owned" >"$tmp/want.rpm"
rpm -qlp "$rpm" 2>/dev/null | sort >"$tmp/got.rpm"
diff -u "$tmp/want.rpm" "$tmp/got.rpm" || fail ".rpm contents differ from the expected list (- missing, + unexpected)"

# Modes and config files: the state and log directories are root's only,
# and the logrotate rule survives upgrades and local edits.
dpkg-deb -c "$deb" | awk '$6 == "./var/lib/crate/" || $6 == "./var/log/crate/" {print $1, $2}' >"$tmp/modes"
[ "$(sort -u "$tmp/modes")" = "drwx------ root/root" ] || fail ".deb: /var/lib/crate, /var/log/crate not 0700 root: $(cat "$tmp/modes")"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$(go env GOARCH)" ] || fail ".deb: Architecture is not GOARCH"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/logrotate.d/crate ||
	fail ".deb: /etc/logrotate.d/crate is not a conffile"
rpm -qcp "$rpm" 2>/dev/null | grep -qx /etc/logrotate.d/crate || fail ".rpm: /etc/logrotate.d/crate is not %config"
rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" 2>/dev/null |
	grep -E ' /var/(lib|log)/crate$' | awk '{print $1, $2}' | sort -u >"$tmp/modes"
[ "$(cat "$tmp/modes")" = "drwx------ root:root" ] || fail ".rpm: /var/lib/crate, /var/log/crate not 0700 root: $(cat "$tmp/modes")"
echo "both packages hold exactly the expected files"

step "install: dpkg -i $deb"
# What exists before, to check after the purge that the package took away
# all it brought and nothing that was here: every path it ships, and the
# contents, mode and owner of the two directories that may hold user data.
dpkg-deb -c "$deb" | awk '{print $6}' | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^$' >"$tmp/paths"
while read -r p; do
	[ -e "$p" ] && echo "$p"
done <"$tmp/paths" >"$tmp/existed" || true
for d in /var/lib/crate /var/log/crate; do
	if [ -d "$d" ]; then
		find "$d" | sort >"$tmp/before.$(basename "$(dirname "$d")")"
		stat -c '%a %u %g' "$d" >"$tmp/stat.$(basename "$(dirname "$d")")"
		echo "$d exists already: $(wc -l <"$tmp/before.$(basename "$(dirname "$d")")") entries, which must survive the purge"
	fi
done
installed=yes
dpkg -i "$deb"

step "use: the installed crate"
# crate must find crate-init in /usr/libexec/crate by itself: no CRATE_INIT,
# and no crate-init next to /usr/bin/crate.
unset CRATE_INIT
[ ! -e /usr/bin/crate-init ] || fail "/usr/bin/crate-init exists: crate would not use the packaged one"
/usr/bin/crate version

/usr/bin/crate check || fail "crate check failed on this machine"

# crate-gc.service's command, as systemd would run it at boot, and the link
# that enables it.
grep -qx 'ExecStart=/usr/bin/crate gc' /usr/lib/systemd/system/crate-gc.service || fail "crate-gc.service runs something else"
[ "$(readlink /usr/lib/systemd/system/multi-user.target.wants/crate-gc.service)" = ../crate-gc.service ] ||
	fail "crate-gc.service is not enabled by its link"
/usr/bin/crate --data-root "$tmp/root" --log-file "$tmp/crate.log" --root "$tmp/run" gc || fail "crate gc failed"

# The Makefile's demo, from the installed binaries, with state in $tmp.
state=(--data-root "$tmp/root" --log-file "$tmp/crate.log" --root "$tmp/run")
/usr/bin/crate "${state[@]}" run --hostname demo --memory 64 --cpu 50 --pids 100 \
	build/busybox.tar.gz whoami-container | tee "$tmp/demo.txt"
grep -q '^hostname: *demo$' "$tmp/demo.txt" || fail "the demo container did not report hostname demo"

step "man crate-run"
# Debian's minimal images tell dpkg not to install /usr/share/man
# (path-exclude in /etc/dpkg/dpkg.cfg.d/); there, read the page from the
# .deb itself.
if grep -rqsE '^path-exclude[= ]+/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
	echo "dpkg excludes /usr/share/man on this machine (/etc/dpkg/dpkg.cfg.d/): rendering the page from the .deb"
	dpkg-deb -x "$deb" "$tmp/extract"
	page=$tmp/extract/usr/share/man/man1/crate-run.1.gz
	MANWIDTH=80 man -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" || true
else
	MANWIDTH=80 man crate-run >"$tmp/man.txt" 2>"$tmp/man.err" || true
fi
head -5 "$tmp/man.txt"
grep -q 'crate-run' "$tmp/man.txt" || fail "man crate-run rendered nothing: $(cat "$tmp/man.err")"

step "shell completions"
# _crate is the name the completion script is asked to define.
bash -c 'source /usr/share/bash-completion/completions/crate
	COMP_WORDS=(crate r); COMP_CWORD=1; _crate; printf "%s\n" "${COMPREPLY[@]}"' >"$tmp/complete.txt"
grep -qx run "$tmp/complete.txt" || fail "bash completion of 'crate r' does not offer run: $(cat "$tmp/complete.txt")"
echo "bash: crate r<TAB> -> $(tr '\n' ' ' <"$tmp/complete.txt")"
if command -v zsh >/dev/null; then zsh -n /usr/share/zsh/vendor-completions/_crate || fail "zsh completion: syntax error"; fi
if command -v fish >/dev/null; then fish -n /usr/share/fish/vendor_completions.d/crate.fish || fail "fish completion: syntax error"; fi
if command -v logrotate >/dev/null; then
	# -d: a dry run that changes neither the logs nor logrotate's state.
	logrotate -d /etc/logrotate.d/crate 2>&1 | grep -qi error && fail "logrotate rejects /etc/logrotate.d/crate"
fi

step "remove: dpkg -r crate, then dpkg -P crate"
dpkg -r crate
[ -f /etc/logrotate.d/crate ] || fail "dpkg -r removed the conffile; only a purge should"
[ ! -e /usr/bin/crate ] || fail "dpkg -r left /usr/bin/crate"
dpkg -P crate
installed=
! dpkg-query -W crate >/dev/null 2>&1 || fail "dpkg still knows the crate package after the purge"

# Every path the package shipped exists now exactly when it existed before.
while read -r p; do
	if grep -qxF "$p" "$tmp/existed"; then
		[ -e "$p" ] || fail "the purge removed $p, which existed before the install"
	else
		[ ! -e "$p" ] || fail "the purge left $p behind"
	fi
done <"$tmp/paths"
# And what was in /var/lib/crate and /var/log/crate is still there.
for d in /var/lib/crate /var/log/crate; do
	key=$(basename "$(dirname "$d")")
	[ -f "$tmp/before.$key" ] || continue
	find "$d" | sort >"$tmp/after.$key"
	lost=$(comm -23 "$tmp/before.$key" "$tmp/after.$key")
	[ -z "$lost" ] || fail "entries of $d lost: $lost"
	# dpkg set the directory's mode and owner to the package's; put back
	# what this machine had.
	read -r mode uid gid <"$tmp/stat.$key"
	chmod "$mode" "$d"
	chown "$uid:$gid" "$d"
	echo "$d: all $(wc -l <"$tmp/before.$key") earlier entries kept"
done

printf '\ntest-package: ok\n'
