package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/httpapi"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/supervisor"
)

func runCommand(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default: ./config.hcl if present, else the embedded default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		if _, err := os.Stat("config.hcl"); err == nil {
			*path = "config.hcl"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	svc := &service{ConfigPath: *path, Stderr: stderr, Reload: hup}
	return svc.Run(ctx)
}

// service is the running fmspush: config, emulator, streams and HTTP, wired.
type service struct {
	ConfigPath string
	Stderr     io.Writer
	Reload     <-chan os.Signal

	log      hclog.Logger
	started  time.Time
	manager  *supervisor.Manager
	limiter  *supervisor.HostLimiter
	emulator *emulator
	ingests  ingests                 // the native paths' camera sessions, one per stream
	reloads  chan chan reloadOutcome // POST /v1/reload's requests to the watch loop
	notify   *notifier
	httpAddr string
	fleet    *fleetNode // nil without a fleet block
	runCtx   context.Context

	// applyMu serialises what is applied to the manager: a config's specs
	// (apply) and, in a fleet, the owned set (applyOwned). owned is the
	// push IDs this node runs in a fleet (nil: no fleet, every push);
	// stopping is set at shutdown, when nothing more starts.
	applyMu  sync.Mutex
	owned    map[string]bool
	stopping bool

	// httpIdleTimeout overrides httpapi.IdleTimeout (tests).
	httpIdleTimeout time.Duration
	// beforeUpdate, when set, runs in the main loop before a config update
	// is applied (tests: a wedged loop).
	beforeUpdate func()

	mu      sync.Mutex
	cfg     *config.Config
	cfgStat health.ConfigStatus
}

// Run starts everything, applies reloads, and shuts down cleanly on ctx.
func (s *service) Run(ctx context.Context) error {
	cfg, err := s.load()
	if err != nil {
		return err
	}
	s.started = time.Now()
	s.runCtx = ctx
	s.reloads = make(chan chan reloadOutcome)
	s.log = newLogger(cfg.Service, s.Stderr)
	if s.notify == nil { // a test may bring its own
		s.notify = newNotifier(s.log)
	}
	if s.limiter == nil { // a test may bring its own (a shorter window)
		s.limiter = &supervisor.HostLimiter{}
	}
	// Every delivery clock (both paths' stall clocks, ffmpeg's watchdog,
	// the supervisor's failback clock) restarts after a pause of the
	// process instead of blaming the target; the pause is logged once here.
	log := s.log
	pause.Default.OnPause(func(p pause.Pause) {
		log.Warn(fmt.Sprintf("service was paused for %s; delivery clocks restarted", p))
	})
	s.manager = &supervisor.Manager{Logger: s.log}
	if err := s.startEmulator(cfg); err != nil {
		return err
	}
	defer s.stopEmulator()
	s.startFleet(cfg) // before the status API reads s.fleet
	ln, err := net.Listen("tcp", cfg.Service.HTTPListen)
	if err != nil {
		s.leaveFleet()
		return fmt.Errorf("http_listen %s: %w", cfg.Service.HTTPListen, err)
	}
	thumbs := &thumbnails{FFmpeg: cfg.Service.FFmpegPath, Ingests: s.ingests.of, Log: s.log.Named("thumbnail")}
	srv := httpapi.NewServer((&httpapi.API{Source: s, Control: controller{s}, Token: s.apiToken, Thumbnails: thumbs}).Handler())
	if s.httpIdleTimeout > 0 {
		srv.IdleTimeout = s.httpIdleTimeout
	}
	serveErr := make(chan error, 1) // buffered: Serve's return after Shutdown is not waited for
	go func() { serveErr <- srv.Serve(ln) }()
	s.httpAddr = ln.Addr().String()
	s.log.Info("fmspush started", "version", version, "http", "http://"+ln.Addr().String(), "config", s.configName())
	if !loopbackListen(cfg.Service.HTTPListen) {
		s.log.Warn(fmt.Sprintf("status API listening beyond loopback on %s: anyone who can reach it reads stream status", cfg.Service.HTTPListen))
	}
	s.apply(ctx, cfg, false)
	if cfg.Service.APIToken == "" && !loopbackListen(cfg.Service.HTTPListen) {
		s.log.Warn("no service.api_token_file: the control API is read-only")
	}
	s.notify.ready(s.readyStatus())
	err = s.watch(ctx, serveErr)
	s.notify.stopping()
	s.log.Info("shutting down")
	s.applyMu.Lock()
	s.stopping = true
	s.applyMu.Unlock()
	s.manager.Close()
	s.leaveFleet()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	s.log.Info("stopped")
	return err
}

func (s *service) configName() string {
	if s.ConfigPath == "" {
		return "(embedded default)"
	}
	return s.ConfigPath
}

// load reads the config file, or the embedded default when none is given.
func (s *service) load() (*config.Config, error) {
	if s.ConfigPath == "" {
		return config.ParseDefault()
	}
	return config.Load(s.ConfigPath)
}

func newLogger(svc config.Service, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "fmspush",
		Level:      svc.LogLevel.HCLog(),
		JSONFormat: svc.LogFormat == config.LogJSON,
		Output:     w,
	})
}

// apply makes the running streams match cfg; reload counts it as a reload
// in the status (the load at start, and the watcher's first read of the
// same file, are none).
func (s *service) apply(ctx context.Context, cfg *config.Config, reload bool) supervisor.Changes {
	if s.emulator != nil {
		cfg.ResolveEmulator(s.emulator.Addr())
	}
	s.applyMu.Lock()
	specs := s.specsFor(cfg)
	ch := s.manager.Apply(ctx, specs)
	autoProcs.size(len(specs))
	s.ingests.keep(cfg)
	s.warnArgvSecrets(cfg, append(ch.Added, ch.Changed...))
	s.mu.Lock()
	reloads := s.cfgStat.Reloads
	if reload {
		reloads++
	}
	s.cfg = cfg
	s.cfgStat = health.ConfigStatus{Path: s.configName(), LoadedAt: time.Now(), Reloads: reloads,
		ReloadFailures: s.cfgStat.ReloadFailures}
	s.mu.Unlock()
	s.applyMu.Unlock()
	if s.fleet != nil {
		s.fleet.member.SetWanted(pushIDs(cfg))
	}
	s.log.Info("config applied", "added", ch.Added, "changed", ch.Changed, "removed", ch.Removed, "unchanged", len(ch.Unchanged))
	return ch
}

// specsFor is the manager's specs for cfg: every push, or in a fleet the
// ones this node owns; s.applyMu held.
func (s *service) specsFor(cfg *config.Config) []supervisor.Spec {
	specs := make([]supervisor.Spec, 0, len(cfg.Streams))
	for _, st := range cfg.Streams {
		if s.runs(st.ID()) {
			specs = append(specs, s.specFor(cfg, st))
		}
	}
	return specs
}

// reloadFailed keeps the running config and shows the error in status.
func (s *service) reloadFailed(err error) {
	s.mu.Lock()
	s.cfgStat.LastError = err.Error()
	s.cfgStat.ErrorAt = time.Now()
	s.cfgStat.ReloadFailures++
	s.mu.Unlock()
	s.log.Error("config reload failed; keeping the last good config", "error", err)
}

// Snapshot implements httpapi.StatusSource.
func (s *service) Snapshot() health.ServiceStatus {
	s.mu.Lock()
	stat, cfg := s.cfgStat, s.cfg
	s.mu.Unlock()
	st := health.ServiceStatus{Version: version, Started: s.started, Config: stat, Streams: s.manager.Streams()}
	s.withFleet(&st, cfg)
	return st
}

// watch is the service's main loop: it applies config updates until ctx
// ends, and pings the systemd watchdog from here, so that a loop wedged in
// an update stops the pings. It returns an error when the HTTP server
// stops serving on its own (the unit's Restart=on-failure restarts us).
func (s *service) watch(ctx context.Context, serveErr <-chan error) error {
	var (
		w       *config.Watcher
		updates <-chan config.Update
		done    = make(chan error, 1)
	)
	if s.ConfigPath != "" {
		w = &config.Watcher{Path: s.ConfigPath, Logger: s.log.Named("config")}
		wctx, cancel := context.WithCancel(ctx)
		go func() { done <- w.Run(wctx) }()
		defer func() { cancel(); <-done }()
		updates = w.Updates()
	}
	tick, stopTick := s.notify.ticker()
	defer stopTick()
	// The watcher's first update is the file as it is at start, applied
	// already: it is no reload. hupPending is a SIGHUP whose update has
	// not come yet (RELOADING=1 was sent; READY=1 follows the update).
	first, hupPending := true, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case req := <-s.reloads:
			s.notify.reloading()
			req <- s.reloadNow(ctx)
			s.notify.ready(s.readyStatus())
		case err := <-serveErr:
			s.log.Error("status API stopped serving; exiting", "error", err)
			return fmt.Errorf("http server: %w", err)
		case <-tick:
			s.notify.watchdog()
		case <-s.Reload:
			s.log.Info("SIGHUP: reloading config")
			s.notify.reloading()
			if updates == nil {
				// No watcher (the embedded default, or the watcher
				// stopped): read the file here.
				s.onUpdate(ctx, s.loadUpdate(), true)
				s.notify.ready(s.readyStatus())
				continue
			}
			hupPending = true
			w.Reload()
		case u, ok := <-updates:
			if !ok {
				// The watcher stopped (fsnotify failed): keep serving the
				// last good config; SIGHUP still reloads. A removed
				// directory does not stop it: it says so in an update and
				// watches again when the directory is back.
				werr := <-done
				done <- werr // for the deferred wait
				s.reloadFailed(fmt.Errorf("config watcher stopped (reload with SIGHUP): %v", werr))
				updates = nil
				if hupPending {
					s.onUpdate(ctx, s.loadUpdate(), true)
					s.notify.ready(s.readyStatus())
					hupPending = false
				}
				continue
			}
			if s.beforeUpdate != nil {
				s.beforeUpdate()
			}
			reload := !first || hupPending
			if reload && !hupPending {
				s.notify.reloading() // a change of the file
			}
			s.onUpdate(ctx, u, reload)
			if reload {
				s.notify.ready(s.readyStatus())
			}
			first, hupPending = false, false
		}
	}
}

// readyStatus is the STATUS= line of a READY=1 after a reload.
func (s *service) readyStatus() string {
	n := 0
	if cfg := s.currentConfig(); cfg != nil {
		n = len(cfg.Streams)
	}
	return statusLine(n, s.httpAddr)
}

// loadUpdate reads the config again: the file, or the embedded default.
func (s *service) loadUpdate() config.Update {
	cfg, err := s.load()
	return config.Update{Config: cfg, Err: err, At: time.Now()}
}

// loopbackListen reports whether a host:port listens on loopback only:
// 127.0.0.0/8, ::1 or localhost. An empty host listens everywhere.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// onUpdate applies an update of the config (reload: as apply's).
func (s *service) onUpdate(ctx context.Context, u config.Update, reload bool) (supervisor.Changes, error) {
	if u.Err != nil {
		s.reloadFailed(u.Err)
		return supervisor.Changes{}, u.Err
	}
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	ch := config.Diff(old, u.Config)
	if ch.ServiceChanged {
		s.log.Warn("service block changed: restart fmspush for http_listen, logging, ffmpeg_path or fleet changes to take effect")
	}
	if ch.EmulatorChanged {
		if err := s.restartEmulator(u.Config); err != nil {
			s.reloadFailed(err)
			return supervisor.Changes{}, err
		}
	}
	return s.apply(ctx, u.Config, reload), nil
}

func (s *service) currentConfig() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}
