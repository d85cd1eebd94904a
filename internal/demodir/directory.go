package demodir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"
)

// Directory is a running demo directory. Its methods are safe for
// concurrent use.
type Directory struct {
	log             *slog.Logger
	url             string
	servicePassword string

	tree []*entry // built at Start, never changed
	root *entry   // the root DSE

	srv    *gldap.Server
	served chan struct{} // closed when srv.Run has returned
	relay  *relay

	mu       sync.Mutex
	sessions map[int]*entry // gldap connection ID → the entry it is bound as
	closed   int            // connections gldap has closed

	stopOnce sync.Once
}

// Start validates users and serves them over plain LDAP on addr ("" means
// 127.0.0.1:0, a free port on the loopback interface; URL tells which).
// A service account is created with a random password (BindDN,
// BindPassword). log receives debug records only, and never a password;
// nil discards them. Call Stop when done.
//
// The demo passwords are public: bind to a loopback address unless you
// mean to let others on the network try the demo.
func Start(addr string, users []User, log *slog.Logger) (*Directory, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := validate(users); err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	d := &Directory{
		log:             log,
		servicePassword: rand.Text(),
		root:            rootDSE(),
		sessions:        make(map[int]*entry),
	}
	d.tree = buildTree(users, d.servicePassword)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	backend, err := d.startServer()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	d.url = ldapURL(ln.Addr())
	d.relay = newRelay(ln, backend, log)
	d.relay.wg.Add(1)
	go d.relay.serve()
	log.Debug("demo directory: serving", "url", d.url, "base_dn", baseDN, "users", len(users))
	return d, nil
}

// startServer runs the gldap server on a free loopback port and returns
// its address. The port is found by listening and closing, so another
// process may take it first: then gldap's Run fails and a new port is
// tried.
func (d *Directory) startServer() (string, error) {
	mux, err := gldap.NewMux()
	if err != nil {
		return "", err
	}
	for _, err := range []error{
		mux.Bind(d.handleBind),
		mux.Search(d.handleSearch),
		mux.ExtendedOperation(d.handleStartTLS, gldap.ExtendedOperationStartTLS),
		mux.Modify(readOnly(gldap.ApplicationModifyResponse)),
		mux.Add(readOnly(gldap.ApplicationAddResponse)),
		mux.Delete(readOnly(gldap.ApplicationDelResponse)),
		mux.Unbind(d.handleUnbind),
		mux.DefaultRoute(handleUnsupported),
	} {
		if err != nil {
			return "", err
		}
	}

	var lastErr error
	for range 3 {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return "", err
		}
		srv, err := gldap.NewServer(
			gldap.WithLogger(gldapLogger(d.log)),
			gldap.WithOnClose(d.forget),
		)
		if err != nil {
			return "", err
		}
		if err := srv.Router(mux); err != nil {
			return "", err
		}
		ran := make(chan error, 1)
		go func() { ran <- srv.Run(addr) }()
		if lastErr = waitReady(srv, addr, ran, d.closedConns); lastErr != nil {
			_ = srv.Stop()
			continue
		}
		d.srv = srv
		d.served = make(chan struct{})
		go func() {
			if err := <-ran; err != nil {
				d.log.Debug("demo directory: ldap server stopped", "err", err)
			}
			close(d.served)
		}()
		return addr, nil
	}
	return "", fmt.Errorf("start ldap server: %w", lastErr)
}

// waitReady returns once srv accepts connections on addr, or with the
// error its Run returned. Its probe connection must have been closed by
// gldap too (closed counts them): gldap adds each connection to a
// WaitGroup its Stop waits on, and a Stop racing with that Add is a data
// race (seen with -race when a test stops the directory at once).
func waitReady(srv *gldap.Server, addr string, ran <-chan error, closed func() int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-ran:
			if err == nil {
				err = errors.New("ldap server exited")
			}
			return err
		default:
		}
		if srv.Ready() {
			// Ready means gldap has tried to listen; a dial tells whether
			// it did.
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				for closed() == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				select {
				case err := <-ran:
					if err == nil {
						err = errors.New("ldap server exited")
					}
					return err
				default:
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ldap server not listening on %s after 10s", addr)
		}
		time.Sleep(time.Millisecond)
	}
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// ldapURL names the listener in a URL a local client can dial: a
// wildcard address becomes 127.0.0.1.
func ldapURL(a net.Addr) string {
	host, port := "127.0.0.1", "0"
	if t, ok := a.(*net.TCPAddr); ok {
		port = strconv.Itoa(t.Port)
		if !t.IP.IsUnspecified() {
			host = t.IP.String()
		}
	}
	return "ldap://" + net.JoinHostPort(host, port)
}

// gldapLogger passes gldap's own errors (a client that sent garbage, a
// connection that broke) to log at debug level. Its debug level stays
// off: it dumps whole packets, bind passwords included.
func gldapLogger(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "gldap",
		Level:       hclog.Error,
		Output:      debugWriter{log},
		DisableTime: true,
	})
}

type debugWriter struct{ log *slog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug("demo directory: gldap", "line", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Stop closes every client connection and stops the server. It may be
// called more than once.
func (d *Directory) Stop() {
	d.stopOnce.Do(func() {
		// Closing the relay's connections first lets gldap's connection
		// goroutines end, which its Stop waits for.
		d.relay.close()
		// gldap adds each connection to a WaitGroup that its Stop waits
		// on; calling Stop before gldap has seen every connection close
		// races with those Adds. Every connection it ever got is the
		// readiness probe's or the relay's.
		for deadline := time.Now().Add(5 * time.Second); d.closedConns() < 1+d.relay.backends() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if err := d.srv.Stop(); err != nil {
			d.log.Debug("demo directory: stop ldap server", "err", err)
		}
		<-d.served
		d.log.Debug("demo directory: stopped", "url", d.url)
	})
}

// URL is the ldap:// URL clients connect to.
func (d *Directory) URL() string { return d.url }

// BaseDN is the directory's naming context, dc=demo,dc=kakunin.
func (d *Directory) BaseDN() string { return baseDN }

// PeopleDN is the container of the users, the base of a user search.
func (d *Directory) PeopleDN() string { return peopleDN }

// BindDN is the DN of the service account kakunin searches as.
func (d *Directory) BindDN() string { return serviceDN }

// BindPassword is the service account's password, generated at Start.
func (d *Directory) BindPassword() string { return d.servicePassword }

// UserDN is the DN of the user with the given ID.
func (d *Directory) UserDN(id string) string { return userDN(id) }

// GroupDN is the DN of the named group, e.g. for a required group.
func (d *Directory) GroupDN(name string) string { return groupDN(name) }

// lookup finds the entry named dn (distinguishedNameMatch).
func (d *Directory) lookup(dn *ldap.DN) *entry {
	for _, e := range d.tree {
		if e.dn.EqualFold(dn) {
			return e
		}
	}
	return nil
}

// boundAs is the entry connection conn is bound as; nil when anonymous.
func (d *Directory) boundAs(conn int) *entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions[conn]
}

func (d *Directory) setBound(conn int, e *entry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e == nil {
		delete(d.sessions, conn)
		return
	}
	d.sessions[conn] = e
}

// forget drops a closed connection's identity; gldap never reuses an ID.
func (d *Directory) forget(conn int) {
	d.setBound(conn, nil)
	d.mu.Lock()
	d.closed++
	d.mu.Unlock()
}

func (d *Directory) closedConns() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
