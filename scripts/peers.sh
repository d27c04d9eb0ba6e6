#!/usr/bin/env bash
# Builds or installs the independent RTMP servers the interop tests start
# (internal/testpeer: StartLal, StartGo2RTC, StartNMS), only when missing:
#   lal v0.37.4 and go2rtc v1.9.9 from the tools module tools/peers (go.mod pins
#   the exact versions: the module proxy refuses version lists, so `go install
#   pkg@v` does not work), node-media-server 4.4.3 from npm.
# Everything goes to ${FMSPUSH_PEERS_DIR:-$HOME/.cache/fmspush-peers}; the
# file names carry the versions, so a version bump builds again.
# Keep the versions in step with internal/testpeer (lal.go, go2rtc.go, nms.go).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
dir=${FMSPUSH_PEERS_DIR:-$HOME/.cache/fmspush-peers}
mkdir -p "$dir/bin"

build() { # build NAME VERSION PACKAGE
  local out="$dir/bin/$1-$2"
  [ -x "$out" ] && return 0
  echo "peers: building $1 $2"
  (cd tools/peers && CGO_ENABLED=0 "$GO" build -trimpath -o "$out.tmp" "$3") && mv "$out.tmp" "$out"
}
build lalserver v0.37.4 github.com/q191201771/lal/app/lalserver
build go2rtc v1.9.9 github.com/AlexxIT/go2rtc

nms=4.4.3
if [ ! -f "$dir/nms-$nms/node_modules/node-media-server/bin/app.js" ]; then
  echo "peers: installing node-media-server $nms"
  rm -rf "$dir/nms-$nms.tmp" && mkdir -p "$dir/nms-$nms.tmp"
  # The package declares engines node >= 20; it runs on Debian 12's node 18
  # (StartNMS's test proves it), so npm's engine warning is not an error.
  (cd "$dir/nms-$nms.tmp" && echo '{"private":true}' >package.json &&
    npm install --no-audit --no-fund --omit=dev --loglevel=error "node-media-server@$nms")
  rm -rf "$dir/nms-$nms" && mv "$dir/nms-$nms.tmp" "$dir/nms-$nms"
fi
