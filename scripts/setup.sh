#!/usr/bin/env bash
# Set up EmoMV Desktop in ./.venv on a fresh Debian/Ubuntu machine (Python >= 3.10).
#   scripts/setup.sh          the app
#   scripts/setup.sh --test   the app + training + test tools
# Installs the Debian libraries Qt needs (with sudo when not root), pins torch first (an unpinned
# torch pulled in by another package downloads a multi-GB build), then installs the project editable.
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

# QtMultimedia needs libpulse0; a real X window (xcb) needs the xcb libraries; xvfb + xauth for
# screenshots on a machine without a display; libgl1/libegl1 for Qt's widgets.
debs="libpulse0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1
libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 xvfb xauth fonts-dejavu-core"
# The tests run a private PulseAudio server with a null sink: the preview's sync is tested on a real audio device.
[ -n "$extra" ] && debs="$debs pulseaudio"
if command -v apt-get >/dev/null 2>&1; then
  missing=$(for d in $debs; do dpkg -s "$d" >/dev/null 2>&1 || echo "$d"; done)
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "== installing Debian packages: $(echo $missing)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
else
  echo "== no apt-get: install the equivalents of these yourself if Qt complains: $(echo $debs)"
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
echo "== installing torch (pinned pair)"
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
echo "== installing emomv-desktop$extra"
.venv/bin/python -m pip install -q -e ".$extra"
echo "== done: .venv/bin/emomv-desktop, .venv/bin/emomv-train"
