package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/health"
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
	s.log = newLogger(cfg.Service, s.Stderr)
	s.limiter = &supervisor.HostLimiter{}
	s.manager = &supervisor.Manager{Logger: s.log}
	if err := s.startEmulator(cfg); err != nil {
		return err
	}
	defer s.stopEmulator()
	ln, err := net.Listen("tcp", cfg.Service.HTTPListen)
	if err != nil {
		return fmt.Errorf("http_listen %s: %w", cfg.Service.HTTPListen, err)
	}
	srv := &http.Server{Handler: (&health.API{Source: s}).Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.log.Info("fmspush started", "version", version, "http", "http://"+ln.Addr().String(), "config", s.configName())
	s.apply(ctx, cfg)
	s.watch(ctx)
	s.log.Info("shutting down")
	s.manager.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	s.log.Info("stopped")
	return nil
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

// apply makes the running streams match cfg.
func (s *service) apply(ctx context.Context, cfg *config.Config) {
	if s.emulator != nil {
		cfg.ResolveEmulator(s.emulator.Addr())
	}
	specs := make([]supervisor.Spec, 0, len(cfg.Streams))
	for _, st := range cfg.Streams {
		specs = append(specs, s.specFor(cfg, st))
	}
	ch := s.manager.Apply(ctx, specs)
	s.mu.Lock()
	s.cfg = cfg
	s.cfgStat = health.ConfigStatus{Path: s.configName(), LoadedAt: time.Now()}
	s.mu.Unlock()
	s.log.Info("config applied", "added", ch.Added, "changed", ch.Changed, "removed", ch.Removed, "unchanged", len(ch.Unchanged))
}

// reloadFailed keeps the running config and shows the error in status.
func (s *service) reloadFailed(err error) {
	s.mu.Lock()
	s.cfgStat.LastError = err.Error()
	s.cfgStat.ErrorAt = time.Now()
	s.mu.Unlock()
	s.log.Error("config reload failed; keeping the last good config", "error", err)
}

// Snapshot implements health.StatusSource.
func (s *service) Snapshot() health.ServiceStatus {
	s.mu.Lock()
	stat := s.cfgStat
	s.mu.Unlock()
	return health.ServiceStatus{Version: version, Started: s.started, Config: stat, Streams: s.manager.Streams()}
}

// watch applies config updates until ctx ends.
func (s *service) watch(ctx context.Context) {
	if s.ConfigPath == "" {
		<-ctx.Done()
		return
	}
	w := &config.Watcher{Path: s.ConfigPath, Logger: s.log.Named("config")}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { cancel(); <-done }()
	updates := w.Updates()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Reload:
			s.log.Info("SIGHUP: reloading config")
			w.Reload()
		case u, ok := <-updates:
			if !ok {
				// The watcher stopped (its directory vanished): keep serving
				// the last good config without reloads.
				werr := <-done
				done <- werr // for the deferred wait
				s.reloadFailed(fmt.Errorf("config watcher stopped: %v", werr))
				updates = nil
				continue
			}
			s.onUpdate(ctx, u)
		}
	}
}

func (s *service) onUpdate(ctx context.Context, u config.Update) {
	if u.Err != nil {
		s.reloadFailed(u.Err)
		return
	}
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	ch := config.Diff(old, u.Config)
	if ch.ServiceChanged {
		s.log.Warn("service block changed: restart fmspush for http_listen, logging or ffmpeg_path changes to take effect")
	}
	if ch.EmulatorChanged {
		if err := s.restartEmulator(u.Config); err != nil {
			s.reloadFailed(err)
			return
		}
	}
	s.apply(ctx, u.Config)
}

func (s *service) currentConfig() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}
