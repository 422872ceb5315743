#!/bin/bash
# debian-changelog.sh CHANGELOG.md VERSION MAINTAINER - print a Debian
# changelog (the format of debian/changelog, see deb-changelog(5)) with one
# entry: VERSION, made of the items of CHANGELOG.md's newest section.
#
# lintian wants changelog.Debian.gz in a non-native .deb, and dpkg's tools
# read its top entry; docs/changelog.md stays the one place changes are
# written. The date is $SOURCE_DATE_EPOCH (the commit's time) so that two
# builds of one commit give the same bytes.
set -euo pipefail

changelog=${1:?usage: $0 CHANGELOG.md VERSION MAINTAINER}
version=${2:?usage: $0 CHANGELOG.md VERSION MAINTAINER}
maintainer=${3:?usage: $0 CHANGELOG.md VERSION MAINTAINER}
date=$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")

echo "crate ($version) unstable; urgency=medium"
echo
# The newest section runs from the first "## " heading to the next one.
# Markdown items ("- " then indented continuation lines) become Debian ones
# ("  * "), refilled to 78 columns because lintian warns past 80.
awk '
	/^## / { if (seen++) exit; next }
	!seen { next }
	/^- / { if (item != "") print item; item = substr($0, 3); next }
	/^[ \t]+[^ \t]/ && item != "" { sub(/^[ \t]+/, ""); item = item " " $0; next }
	{ if (item != "") print item; item = "" }
	END { if (item != "") print item }
' "$changelog" | while IFS= read -r item; do
	fold -s -w 74 <<<"$item" | sed -e 's/ *$//' -e '1s/^/  * /' -e '2,$s/^/    /'
done
echo
echo " -- $maintainer  $date"
