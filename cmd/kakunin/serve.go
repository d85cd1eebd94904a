package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kakunin/challenge"
	"kakunin/ldapauth"
	"kakunin/portal"
	"kakunin/radius"
	"kakunin/store"
)

// app is kakunin wired together from a configuration.
type app struct {
	cfg    *config
	log    *slog.Logger
	reg    *prometheus.Registry
	store  store.Store
	dir    *ldapauth.Directory
	engine *challenge.Engine
	radius *radius.Server
	portal *portal.Server
	http   *http.Server
	httpLn net.Listener
	// The approval callbacks' listener (push and voice), when configured.
	callbacks http.Handler
	cbServer  *http.Server
	cbLn      net.Listener
	stopBg    context.CancelFunc
	bgDone    chan struct{}
	started   time.Time
}

func newLogger(c logConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newApp opens the store and the directory and builds the server; nothing
// listens until start.
func newApp(ctx context.Context, cfg *config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if a.store, err = store.Open(ctx, cfg.Store, log.With("component", "store")); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Per-group reply attributes need the user's groups from the directory.
	cfg.LDAP.NeedGroups = len(cfg.Radius.GroupAttributes) > 0
	if a.dir, err = ldapauth.New(cfg.LDAP, log.With("component", "ldap"), a.reg); err != nil {
		a.store.Close()
		return nil, fmt.Errorf("directory: %w", err)
	}
	sms, err := cfg.SMS.sender()
	if err != nil {
		a.close()
		return nil, fmt.Errorf("sms: %w", err)
	}
	opts := []challenge.Option{challenge.WithAuditLogger(log.With("component", "audit"))}
	if sms != nil {
		opts = append(opts, challenge.WithSMS(sms))
		log.Info("SMS codes enabled", "provider", cfg.SMS.Provider)
	}
	approvalOpts, callbacks, err := cfg.approvals()
	if err != nil {
		a.close()
		return nil, err
	}
	opts = append(opts, approvalOpts...)
	a.engine, err = challenge.New(cfg.Flow, a.dir, a.store, log.With("component", "flow"), a.reg, opts...)
	if err != nil {
		a.close()
		return nil, err
	}
	if callbacks != nil {
		if a.callbacks, err = callbacks(a.engine, log.With("component", "callbacks")); err != nil {
			a.close()
			return nil, err
		}
		log.Info("push and voice approvals enabled", "push", cfg.Push.enabled(), "voice", cfg.Voice.Provider)
	}
	if a.radius, err = radius.New(cfg.Radius, a.engine, log.With("component", "radius"), a.reg); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *app) start() error {
	if err := a.radius.Start(); err != nil {
		return err
	}
	if a.cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", a.cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
		a.httpLn = ln
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
		mux.HandleFunc("GET /readyz", a.ready)
		if a.cfg.Metrics.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		}
		a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go a.http.Serve(ln)
	}
	if a.callbacks != nil {
		if err := a.listenCallbacks(a.callbacks); err != nil {
			return err
		}
	}
	if err := a.startPortal(); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	a.stopBg, a.bgDone = cancel, make(chan struct{})
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		// Fails what an earlier run of this node held, then hands
		// decided approvals to held requests.
		if err := a.engine.Run(bg, 250*time.Millisecond); err != nil {
			a.log.Error("approval watcher stopped", "err", err)
		}
	}()
	go func() { defer close(a.bgDone); a.engine.Maintain(bg, time.Minute); <-runDone }()
	a.started = time.Now()
	for _, addr := range a.radius.AuthAddrs() {
		a.log.Info("listening for Access-Request", "addr", addr.String())
	}
	for _, addr := range a.radius.AcctAddrs() {
		a.log.Info("listening for Accounting-Request", "addr", addr.String())
	}
	if a.httpLn != nil {
		a.log.Info("serving metrics and health checks", "addr", a.httpLn.Addr().String())
	}
	return nil
}

// readyTimeout bounds each readiness check on its own.
const readyTimeout = 3 * time.Second

// ready answers 200 only when the directory (at least one of its servers)
// and the store both answer. The two are checked at once, each with its
// own deadline, so a slow directory server cannot use up the store's.
func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	check := func(ping func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		return ping(ctx)
	}
	var dirErr, storeErr error
	var wg sync.WaitGroup
	wg.Go(func() { dirErr = check(a.dir.Ping) })
	wg.Go(func() { storeErr = check(a.store.Ping) })
	wg.Wait()
	var problems []string
	if dirErr != nil {
		problems = append(problems, "directory: unreachable")
		a.log.Warn("readiness: directory", "err", dirErr)
	}
	if storeErr != nil {
		problems = append(problems, "store: unreachable")
		a.log.Warn("readiness: store", "err", storeErr)
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, strings.Join(problems, "\n")+"\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// shutdown stops reading, lets in-flight decisions finish up to the
// context's deadline (then answers the held ones: "try again"), fails the
// approvals of the requests so answered, then closes the store and the
// directory.
func (a *app) shutdown(ctx context.Context) error {
	err := a.radius.Shutdown(ctx)
	if a.engine != nil {
		// The grace may be spent: the store gets a few seconds of its own.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), approvalsAtShutdown)
		if _, ferr := a.engine.Shutdown(fctx); ferr != nil {
			a.log.Warn("approvals of requests answered at shutdown not failed; the next start of this node fails them", "err", ferr)
		}
		cancel()
	}
	a.stopPortal(ctx)
	if a.http != nil {
		a.http.Shutdown(ctx)
	}
	if a.cbServer != nil {
		a.cbServer.Shutdown(ctx)
	}
	if a.stopBg != nil {
		a.stopBg()
		<-a.bgDone
	}
	a.close()
	return err
}

// approvalsAtShutdown bounds failing, after the grace, the approvals of
// the requests answered at shutdown (-shutdown-grace plus radius's answer
// window plus this stays under the service unit's TimeoutStopSec).
const approvalsAtShutdown = 5 * time.Second

func (a *app) close() {
	if a.dir != nil {
		a.dir.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

// defaultShutdownGrace is serve's -shutdown-grace, which check-config
// assumes too.
const defaultShutdownGrace = 90 * time.Second

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "/etc/kakunin/kakunin.yaml", "configuration file")
	grace := fs.Duration("shutdown-grace", defaultShutdownGrace, "how long SIGTERM waits for in-flight requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	log := newLogger(cfg.Log, os.Stderr)
	for _, w := range cfg.warnings(*grace) {
		log.Warn("configuration: " + w)
	}
	return serveUntilSignal(cfg, log, *grace, nil)
}

// serveUntilSignal runs until SIGTERM or SIGINT; ready (may be nil) is
// called once everything listens.
func serveUntilSignal(cfg *config, log *slog.Logger, grace time.Duration, ready func(*app)) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := a.start(); err != nil {
		a.shutdown(context.Background())
		return err
	}
	if ready != nil {
		ready(a)
	}
	<-ctx.Done()
	stop() // a second SIGTERM or Ctrl-C now stops at once
	log.Info("stopping: finishing in-flight requests", "grace", grace.String(), "hint", "signal again to stop at once")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := a.shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func runCheckConfig(args []string) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "/etc/kakunin/kakunin.yaml", "configuration file")
	grace := fs.Duration("shutdown-grace", defaultShutdownGrace, "the -shutdown-grace serve runs with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	// Warnings go to stderr: stdout stays the effective configuration.
	for _, w := range cfg.warnings(*grace) {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(os.Stdout, "# %s is valid. Effective configuration (secrets masked):\n", *path)
	return cfg.dump(os.Stdout)
}
