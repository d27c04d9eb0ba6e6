#!/bin/sh
# make install / make uninstall (docs/deploy.md).
# Usage: scripts/install.sh [install|uninstall]
# Environment (the Makefile passes its variables):
#   BIN          the built binary (bin/fmspush)
#   DESTDIR      staging root; when set, no user is created and nothing is
#                chown'd or reloaded (a package build, or a test without root)
#   PREFIX       /usr/local: the binary in PREFIX/bin, the doc in PREFIX/share/doc/fmspush
#   SYSCONFDIR   /etc: the config in SYSCONFDIR/fmspush/config.hcl
#   UNITDIR      /etc/systemd/system
#   SYSUSERSDIR  PREFIX/lib/sysusers.d
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/fmspush}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}
BINDIR=$PREFIX/bin
DOCDIR=$PREFIX/share/doc/fmspush
CONFDIR=$SYSCONFDIR/fmspush
R=$DESTDIR

# live: installing for real (not into a staging root), so the user, the
# config's group and systemd's reload are done here.
live=no
[ -z "$DESTDIR" ] && live=yes

if [ "${1:-install}" = uninstall ]; then
  rm -f "$R$BINDIR/fmspush" "$R$UNITDIR/fmspush.service" "$R$SYSUSERSDIR/fmspush.conf" "$R$DOCDIR/deploy.md"
  rmdir "$R$DOCDIR" 2>/dev/null || true
  if [ $live = yes ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
  echo "uninstall: removed the binary, the unit and the sysusers entry; kept $CONFDIR and the fmspush user (remove them by hand)"
  exit 0
fi

[ -x "$BIN" ] || { echo "install: $BIN is missing: run make build" >&2; exit 1; }

install -d "$R$BINDIR" "$R$UNITDIR" "$R$SYSUSERSDIR" "$R$DOCDIR"
install -m 0755 "$BIN" "$R$BINDIR/fmspush"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
sed -e "s|@BINDIR@|$BINDIR|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" -e "s|@DOCDIR@|$DOCDIR|g" deploy/fmspush.service.in >"$tmp"
install -m 0644 "$tmp" "$R$UNITDIR/fmspush.service"
install -m 0644 deploy/fmspush.sysusers "$R$SYSUSERSDIR/fmspush.conf"
install -m 0644 docs/deploy.md "$R$DOCDIR/deploy.md"

if [ $live = yes ] && ! getent passwd fmspush >/dev/null; then
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers "$SYSUSERSDIR/fmspush.conf"
  else
    useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin \
      --comment "fmspush camera push service" fmspush
  fi
  echo "install: created the system user fmspush"
fi

# The config directory and file: created when absent, never overwritten.
if [ ! -d "$R$CONFDIR" ]; then
  install -d -m 0750 "$R$CONFDIR"
  [ $live = yes ] && chgrp fmspush "$R$CONFDIR"
fi
if [ -e "$R$CONFDIR/config.hcl" ]; then
  echo "install: kept the existing $CONFDIR/config.hcl"
else
  install -m 0640 config.hcl "$R$CONFDIR/config.hcl"
  [ $live = yes ] && chgrp fmspush "$R$CONFDIR/config.hcl"
  echo "install: wrote $CONFDIR/config.hcl (the demo config: edit it)"
fi

if [ $live = yes ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "install: done; start it with: systemctl enable --now fmspush"
elif [ $live = no ]; then
  echo "install: staged under $DESTDIR; on the target: systemd-sysusers, chgrp fmspush $CONFDIR $CONFDIR/config.hcl, systemctl daemon-reload"
else
  echo "install: done (systemd is not running here)"
fi
