package main

// The service manager's notify protocol (sd_notify), for `Type=notify`
// units (deploy/fmspush.service, docs/deploy.md): READY=1 once the HTTP
// server listens and the config is applied, RELOADING=1 then READY=1
// around a reload, STOPPING=1 at shutdown, and WATCHDOG=1 at half the
// unit's WatchdogSec from the service's main loop, so that a wedged loop
// stops the pings and systemd restarts the service. Outside systemd
// (NOTIFY_SOCKET unset) every call does nothing.

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// notifier sends service-manager notifications.
type notifier struct {
	log hclog.Logger
	// send delivers one notification; daemon.SdNotify by default.
	send func(state string) (bool, error)
	// interval is the watchdog ping period: half of WATCHDOG_USEC when the
	// watchdog is enabled for this process, else 0.
	interval time.Duration

	once sync.Once // the first send error is logged, the rest are not
}

// newNotifier reads the watchdog settings the service manager gave this
// process. WATCHDOG_USEC and WATCHDOG_PID are removed from the environment
// so that ffmpeg children do not inherit them; NOTIFY_SOCKET stays (the
// library reads it at each send), and systemd's default NotifyAccess=main
// ignores anything a child would send there.
func newNotifier(log hclog.Logger) *notifier {
	n := &notifier{log: log, send: func(state string) (bool, error) { return daemon.SdNotify(false, state) }}
	wd, err := daemon.SdWatchdogEnabled(true)
	if err != nil {
		log.Warn("systemd watchdog settings ignored", "error", err)
	}
	if wd > 0 {
		n.interval = wd / 2
	}
	return n
}

func (n *notifier) notify(state string) {
	if n == nil {
		return
	}
	if _, err := n.send(state); err != nil {
		n.once.Do(func() { n.log.Warn("systemd notification failed", "socket", os.Getenv("NOTIFY_SOCKET"), "error", err) })
	}
}

// ready says that the service is up (or done reloading); status is shown
// by `systemctl status`.
func (n *notifier) ready(status string) {
	n.notify(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// reloading says that a reload has started; ready ends it.
func (n *notifier) reloading() { n.notify(daemon.SdNotifyReloading) }

// stopping says that shutdown has started.
func (n *notifier) stopping() { n.notify(daemon.SdNotifyStopping + "\nSTATUS=stopping") }

// watchdog pings the service manager's watchdog.
func (n *notifier) watchdog() { n.notify(daemon.SdNotifyWatchdog) }

// ticker returns a ticker at the watchdog period, or nil when the watchdog
// is off (a nil channel never fires in a select).
func (n *notifier) ticker() (<-chan time.Time, func()) {
	if n == nil || n.interval <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(n.interval)
	return t.C, t.Stop
}

// statusLine is the STATUS= text of a READY notification.
func statusLine(streams int, httpAddr string) string {
	return fmt.Sprintf("streams: %d; status at http://%s/v1/streams", streams, httpAddr)
}
