#!/bin/bash
# version.sh [DESCRIBE [DATE]] - print the package version for a
# `git describe --tags --always --dirty` string (default: ask git).
#
# Debian and RPM versions must start with a digit, and RPM forbids "-" in a
# version; both compare piece by piece, with "~" sorting before anything,
# even the end of the string. So:
#
#   v1.2.0                  -> 1.2.0
#   v1.2.0-rc1              -> 1.2.0~rc1               (before 1.2.0)
#   v1.2.0-3-g454fdab       -> 1.2.0+git3.454fdab      (after 1.2.0)
#   v1.2.0-dirty            -> 1.2.0+dirty
#   454fdab                 -> 0.0.0~git20251128.454fdab  (no tag yet: before
#                                                        any release)
#   454fdab-dirty           -> 0.0.0~git20251128.454fdab+dirty
#
# DATE (YYYYMMDD) is the commit's date in UTC, so that a later snapshot
# compares greater than an earlier one although its hash need not.
set -euo pipefail

describe=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

suffix=
if [[ $describe == *-dirty ]]; then
	suffix=+dirty
	describe=${describe%-dirty}
fi

if [[ $describe =~ ^[0-9a-f]{7,40}$ ]]; then
	# --always gave a bare commit hash: no tag is reachable.
	date=${2:-$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d "$describe")}
	version="0.0.0~git$date.$describe"
else
	# TAG-N-gHASH: N commits after TAG.
	if [[ $describe =~ ^(.+)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		describe=${BASH_REMATCH[1]}
		suffix="+git${BASH_REMATCH[2]}.${BASH_REMATCH[3]}$suffix"
	fi
	version=${describe#v}
	version=${version//-/\~} # a tag's pre-release part: 1.2.0-rc1 -> 1.2.0~rc1
	if ! [[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]]; then
		# Not a version tag, or not from git at all ("dev" from a tarball):
		# still a valid version, lower than any release.
		version="0.0.0~${version//[^0-9A-Za-z.]/.}"
	fi
fi
echo "$version$suffix"
