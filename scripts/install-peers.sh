#!/usr/bin/env bash
# Install the test peers we did not write (SIPp, baresip, Chromium for the pages) and
# the audio tools the tests use, from Debian packages, when they are missing and we
# are root. Playwright drives Debian's chromium (its own browser download is not used).
set -euo pipefail
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip)
command -v sox >/dev/null || need+=(sox)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing test peers: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "warning: missing test peers (${need[*]}); install them or tests that need them fail under CI=true" >&2
fi
