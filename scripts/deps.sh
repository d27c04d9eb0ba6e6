#!/usr/bin/env bash
# Installs what fmspush's build, tests and demo need on Debian 12, only when missing.
# Usage: scripts/deps.sh [demo|test]
set -euo pipefail
want=(ffmpeg)
if [ "${1:-test}" = test ]; then
  want+=(nginx-light libnginx-mod-rtmp stunnel4 pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev chromium)
  # systemd-analyze verifies the unit of make install (its ExecReload is procps' /bin/kill)
  want+=(systemd procps)
  # prometheus provides promtool, which checks deploy/prometheus/alerts.yml
  # (19 MB download); policy-rc.d below keeps its server from starting.
  want+=(prometheus)
  # etcd-server (3.4) is the fleet's coordination store: the fleet tests
  # start their own on loopback (testpeer.StartEtcd); policy-rc.d below keeps
  # the system one from starting.
  want+=(etcd-server)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node-media-server (a test peer, scripts/peers.sh) runs on Debian's nodejs 18
# and installs with npm; a node already on PATH (another packaging) is kept.
if [ "${1:-test}" = test ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps the packages from starting a system nginx on port 80
  # (or a system stunnel: the tests start their own, testpeer.StartStunnel;
  # or a Prometheus server on port 9090: the tests need only promtool; or a
  # system etcd on port 2379: the tests start their own).
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
  # Nor at boot: the tests need promtool only, not a server on port 9090.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable prometheus.service >/dev/null 2>&1 || true
  fi
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable etcd.service >/dev/null 2>&1 || true
  fi
fi
# The independent RTMP servers of the interop tests (lal and go2rtc built with
# Go, node-media-server from npm), only when missing.
if [ "${1:-test}" = test ]; then
  GO=${GO:-go} "$(dirname "$0")/peers.sh"
fi
