package portal

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/portal/mail"
	"kakunin/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows nothing inline: styles and scripts come from /static only;
// the QR code is a data: image. Scripts, the service worker and the web
// app manifest are named although default-src covers them, so that
// loosening default-src one day cannot loosen them.
const csp = "default-src 'self'; script-src 'self'; worker-src 'self'; manifest-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// maxForm bounds a request body: the portal's forms are a few fields.
const maxForm = 16 << 10

// Server is the enrollment portal.
type Server struct {
	cfg    Config
	eng    *challenge.Engine
	admin  *challenge.Admin
	st     store.Store
	issuer string
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	secure bool
	pages  map[string]*template.Template

	// Push-capable apps (push.go), when push.webpush is configured.
	vapid      *webpush.VAPID
	pushSender *webpush.Sender
	tests      pushTests

	// Mail (email.go), when portal.smtp is configured: the notification
	// email's code and the notifications, which are sent in the
	// background (notes counts them, so Shutdown can wait).
	mailer Mailer
	notes  sync.WaitGroup

	srv       *http.Server
	ln        net.Listener
	stopPurge context.CancelFunc
	purged    chan struct{}
}

// Mailer sends one mail (*mail.Client over SMTP; mail.Console in the
// demo).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// WithMailer lets users register a notification email, verified by a
// code sent through m, and sends them notifications of changes.
func WithMailer(m Mailer) Option { return func(s *Server) { s.mailer = m } }

// Option changes a Server at construction.
type Option func(*Server)

// WithClock makes the portal read time from now (tests: session expiry,
// step-up). The engine has its own clock for codes.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns the portal. cfg must have been defaulted and validated;
// issuer is the name authenticator apps show (flow.issuer).
func New(cfg Config, eng *challenge.Engine, admin *challenge.Admin, st store.Store, issuer string, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, eng: eng, admin: admin, st: st, issuer: issuer, log: log,
		m: newMetrics(reg), now: time.Now, secure: cfg.secureCookies()}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s, nil
}

// parsePages parses each page with the layout around it.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// Handler is the portal with its security headers and cross-origin
// protection (CSRF): a state-changing request from another origin is
// refused before it reaches a handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	cop := http.NewCrossOriginProtection()
	if s.cfg.PublicURL != "" {
		// Behind a proxy that rewrites Host, the browser's Origin is the
		// public one.
		u, _ := url.Parse(s.cfg.PublicURL) // Validate parsed it
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.log.Warn("portal.public_url is not an origin for cross-origin protection", "err", err)
		}
	}
	return s.headers(cop.Handler(mux))
}

func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "public, max-age=3600")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		next.ServeHTTP(w, r)
	})
}

// Start listens on portal.listen and serves until Shutdown.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("portal.listen: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLS() {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("portal.tls_cert_file, portal.tls_key_file: %w", err)
		}
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("portal stopped", "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopPurge, s.purged = cancel, make(chan struct{})
	go func() { defer close(s.purged); s.maintain(ctx, time.Minute) }()
	s.log.Info("serving the enrollment portal", "addr", ln.Addr().String(), "tls", s.cfg.TLS(), "secure_cookies", s.secure)
	return nil
}

// Addr is where Start listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, waits for requests in flight up to ctx and
// stops purging expired sessions.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	s.stopPurge()
	<-s.purged
	if werr := s.waitNotifications(ctx); err == nil {
		err = werr
	}
	return err
}
