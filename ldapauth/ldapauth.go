package ldapauth

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes the authentication flow acts on. Errors returned by Directory
// wrap exactly one of them.
var (
	// ErrInvalidCredentials: wrong password, unknown user, or an account
	// the directory refuses (locked, disabled, expired). Deliberately one
	// error, so the flow cannot tell a user which it was; the log says.
	ErrInvalidCredentials = errors.New("ldapauth: invalid credentials")
	// ErrNotAllowed: the password is right but the user is not a member of
	// the required group.
	ErrNotAllowed = errors.New("ldapauth: not a member of the required group")
	// ErrUnavailable: no directory server could answer (network, timeout,
	// TLS, an unexpected result); the cause is wrapped.
	ErrUnavailable = errors.New("ldapauth: directory unavailable")
	// ErrNoSuchUser: Lookup found no entry for the name.
	ErrNoSuchUser = errors.New("ldapauth: no such user")
)

var (
	errClosed     = errors.New("directory closed")
	errAmbiguous  = errors.New("user_filter matches more than one entry")
	errUnreadable = errors.New("entry not readable")
)

// Entry is what the directory says about a user.
type Entry struct {
	// DN is the user's entry.
	DN string
	// Attributes holds the first value of each configured attribute the
	// entry has, by kakunin's name (mail, phone, …).
	Attributes map[string]string
	// Groups are the DNs in the entry's group attribute. Authenticate
	// fills it only when a required group or NeedGroups asks for it.
	Groups []string
}

// Directory checks passwords against an LDAP directory and reads users'
// groups and attributes. It is safe for concurrent use.
type Directory struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	logins  map[string]prometheus.Counter
	now     func() time.Time
	servers []*server
	service *pool // bound as the service account
	users   *pool // bound as the last user who logged in
	cache   *dnCache
	// unknown remembers names no entry matches, as the DN noSuchDN, so a
	// repeated unknown name costs what a cached user's wrong password
	// costs. Kept apart from cache so that made-up names cannot evict
	// real users' DNs.
	unknown *dnCache
	// noSuchDN is a DN under base_dn that no entry has (a random value
	// per process): an unknown user's password is bound to it, so that
	// the directory does comparable work and answers 49, and no real
	// account is touched.
	noSuchDN string

	filterPre, filterPost string   // user_filter around its %s
	bindPre, bindPost     string   // bind_template around its %s
	bindIsDN              bool     // bind_template is a DN, not a principal name
	requiredGroup         *ldap.DN // parsed RequiredGroup, nil if none
	needGroups            bool
	readAttrs             []string // attributes Authenticate needs; none: skip the read
	lookupAttrs           []string // attributes Lookup returns

	closed atomic.Bool
}

// New returns a Directory for cfg, which must be valid. It does not
// connect: Ping tells whether the directory answers.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Directory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ldapauth: invalid configuration:\n%w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("ldapauth: metrics: %w", err)
	}
	cfg.URLs = slices.Clone(cfg.URLs)
	cfg.Attributes = maps.Clone(cfg.Attributes)
	d := &Directory{
		cfg:    cfg,
		log:    log,
		m:      m,
		logins: map[string]prometheus.Counter{},
		now:    time.Now,
	}
	for _, o := range []string{outcomeOK, outcomeInvalid, outcomeNotAllowed, outcomeUnavailable} {
		d.logins[o] = m.logins.WithLabelValues(o)
	}

	var roots *x509.CertPool
	if cfg.CAFile != "" {
		if roots, err = loadCAFile(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("ldapauth: ca_file: %w", err)
		}
	}
	sessions := tls.NewLRUClientSessionCache(0)
	for i, raw := range cfg.URLs {
		u, err := parseServerURL(raw)
		if err != nil {
			return nil, fmt.Errorf("ldapauth: urls[%d]: %w", i, err)
		}
		s := &server{index: i, url: raw, addr: u.Host, ldaps: u.Scheme == "ldaps", startTLS: u.Scheme == "ldap" && cfg.StartTLS}
		if s.ldaps || s.startTLS {
			name := cfg.ServerName
			if name == "" {
				name = u.Hostname()
			}
			s.tls = &tls.Config{
				RootCAs:            roots,
				ServerName:         name,
				MinVersion:         tls.VersionTLS12,
				ClientSessionCache: sessions,
			}
		}
		d.servers = append(d.servers, s)
	}
	d.service = newPool(d, "service", true, cfg.PoolSize)
	d.users = newPool(d, "user", false, cfg.PoolSize)
	if cfg.DNCacheTTL > 0 && cfg.BindTemplate == "" {
		d.cache = newDNCache(cfg.DNCacheTTL, cfg.DNCacheSize)
		d.unknown = newDNCache(cfg.DNCacheTTL, cfg.DNCacheSize)
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	d.noSuchDN = "cn=kakunin-no-such-user-" + hex.EncodeToString(nonce[:]) + "," + cfg.BaseDN

	d.filterPre, d.filterPost, _ = strings.Cut(cfg.UserFilter, "%s")
	if cfg.BindTemplate != "" {
		d.bindPre, d.bindPost, _ = strings.Cut(cfg.BindTemplate, "%s")
		d.bindIsDN = isDNTemplate(cfg.BindTemplate)
	}
	if cfg.RequiredGroup != "" {
		if d.requiredGroup, err = ldap.ParseDN(cfg.RequiredGroup); err != nil {
			return nil, fmt.Errorf("ldapauth: required_group: %w", err)
		}
	}
	d.needGroups = cfg.RequiredGroup != "" || cfg.NeedGroups
	if d.needGroups {
		d.readAttrs = append(d.readAttrs, cfg.GroupAttribute)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Attributes)) {
		d.readAttrs = appendAttr(d.readAttrs, cfg.Attributes[name])
	}
	d.lookupAttrs = appendAttr(slices.Clone(d.readAttrs), cfg.GroupAttribute)
	return d, nil
}

func appendAttr(attrs []string, a string) []string {
	if slices.ContainsFunc(attrs, func(b string) bool { return strings.EqualFold(a, b) }) {
		return attrs
	}
	return append(attrs, a)
}

// Authenticate checks user's password and, when configured, membership of
// the required group, and returns the user's entry. It fails with an
// error wrapping ErrInvalidCredentials, ErrNotAllowed or ErrUnavailable.
//
// An empty password is refused without contacting the directory: a simple
// bind with a DN and no password is an unauthenticated bind, which many
// servers accept.
func (d *Directory) Authenticate(ctx context.Context, user, password string) (Entry, error) {
	start := time.Now()
	e, reason, err := d.authenticate(ctx, user, password)
	took := slog.Duration("duration", time.Since(start))
	switch {
	case err == nil:
		d.logins[outcomeOK].Inc()
		d.log.Debug("ldap: password accepted", "user", user, "dn", e.DN, took)
	case errors.Is(err, ErrInvalidCredentials):
		d.logins[outcomeInvalid].Inc()
		d.log.Info("ldap: credentials rejected", "user", user, "reason", reason, took)
	case errors.Is(err, ErrNotAllowed):
		d.logins[outcomeNotAllowed].Inc()
		d.log.Info("ldap: not in the required group", "user", user, "dn", e.DN, "group", d.cfg.RequiredGroup, took)
	default:
		d.logins[outcomeUnavailable].Inc()
		d.log.Warn("ldap: directory unavailable", "user", user, "err", err, took)
	}
	return e, err
}

// authenticate returns the reason for a rejection, for the log only.
func (d *Directory) authenticate(ctx context.Context, user, password string) (Entry, string, error) {
	if d.closed.Load() {
		return Entry{}, "", unavailable(errClosed)
	}
	if password == "" {
		return Entry{}, "empty password", ErrInvalidCredentials
	}
	if !validUserName(user) {
		return Entry{}, "malformed user name", ErrInvalidCredentials
	}

	var (
		dn     string
		cached bool
		found  *ldap.Entry // the entry, when a search (with readAttrs) found it
	)
	if d.cfg.BindTemplate != "" {
		var ok bool
		if dn, ok = d.bindName(user); !ok {
			return Entry{}, "user name not usable in bind_template", ErrInvalidCredentials
		}
	} else {
		if d.cache != nil {
			if dn, cached = d.cache.get(user, d.now()); cached {
				d.m.cacheHit.Inc()
			} else if _, ok := d.unknown.get(user, d.now()); ok {
				// Cost what a cached user's wrong password costs: a
				// bind, then a search.
				d.m.cacheHit.Inc()
				if err := d.bindNoSuchUser(ctx, password); err != nil {
					return Entry{}, "", err
				}
				e, err := d.find(ctx, user, d.readAttrs)
				if err != nil {
					return d.findFailed(err)
				}
				// The user exists now.
				d.unknown.drop(user)
				found, dn = e, e.DN
				d.cache.put(user, dn, d.now())
			} else {
				d.m.cacheMiss.Inc()
			}
		}
		if !cached && found == nil {
			e, err := d.find(ctx, user, d.readAttrs)
			if err != nil {
				if errors.Is(err, ErrNoSuchUser) || errors.Is(err, errAmbiguous) {
					// Cost what a wrong password costs: a search, then a
					// bind. Only the lack of an entry is remembered; an
					// ambiguous filter stays loud in the log.
					if berr := d.bindNoSuchUser(ctx, password); berr != nil {
						return Entry{}, "", berr
					}
					if d.unknown != nil && errors.Is(err, ErrNoSuchUser) {
						d.unknown.put(user, d.noSuchDN, d.now())
					}
				}
				return d.findFailed(err)
			}
			found, dn = e, e.DN
			if d.cache != nil {
				d.cache.put(user, dn, d.now())
			}
		}
	}

	dn, found, reason, err := d.checkPassword(ctx, user, password, dn, cached, found)
	if err != nil {
		return Entry{}, reason, err
	}

	if len(d.readAttrs) == 0 {
		return Entry{DN: dn}, "", nil
	}
	if found == nil {
		if found, reason, err = d.readAfterBind(ctx, user, dn, cached); err != nil {
			if errors.Is(err, ErrInvalidCredentials) {
				return Entry{}, reason, err
			}
			return Entry{DN: dn}, "", err
		}
	}
	entry := d.entry(found, d.needGroups)
	if d.requiredGroup != nil && !d.inRequiredGroup(entry.Groups) {
		return entry, "", ErrNotAllowed
	}
	return entry, "", nil
}

// checkPassword binds dn with password on a user connection. With a
// cached DN a refused bind searches again, and binds again only if the DN
// changed, so a wrong password is tried once, and counted once by the
// directory's lockout. It returns the DN that was bound and, if a search
// ran, the entry it found.
func (d *Directory) checkPassword(ctx context.Context, user, password, dn string, cached bool, found *ldap.Entry) (string, *ldap.Entry, string, error) {
	c, err := d.users.get(ctx)
	if err != nil {
		return dn, nil, "", unavailable(err)
	}
	defer func() {
		if c != nil {
			d.users.put(c)
		}
	}()

	c, err = d.userBind(ctx, c, dn, password)
	if cached && isRejected(err) {
		// Maybe the entry moved: search again.
		e, ferr := d.find(ctx, user, d.readAttrs)
		switch {
		case ferr != nil:
			d.cache.drop(user)
			if errors.Is(ferr, ErrNoSuchUser) {
				d.unknown.put(user, d.noSuchDN, d.now())
			}
			_, reason, err := d.findFailed(ferr)
			return dn, nil, reason, err
		case !sameDN(e.DN, dn):
			d.log.Debug("ldap: cached DN outdated", "user", user, "old", dn, "new", e.DN)
			found, dn = e, e.DN
			d.cache.put(user, dn, d.now())
			c, err = d.userBind(ctx, c, dn, password)
		}
	}
	if err != nil {
		if isRejected(err) {
			return dn, nil, rejectReason(err), ErrInvalidCredentials
		}
		return dn, nil, "", unavailable(fmt.Errorf("bind %s: %w", dn, err))
	}
	return dn, found, "", nil
}

// userBind binds dn with password on c, a user connection, and returns
// the connection to put back (nil if none). A bind that had no answer at
// all (a timeout, or a connection that failed before the server sent a
// byte) is tried again on another server, once per server, within ctx. A
// bind that got any answer, a refusal above all, is never tried again: a
// wrong password reaches the directory once.
func (d *Directory) userBind(ctx context.Context, c *conn, dn, password string) (*conn, error) {
	var tried []*server
	for {
		before := c.received()
		err := d.bind(ctx, c, dn, password)
		if err == nil || !isServerFailure(err) || c.received() != before ||
			ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return c, err
		}
		tried = append(tried, c.srv)
		d.users.put(c) // broken: closed, its slot freed for the next
		next, gerr := d.users.get(ctx, tried...)
		if gerr != nil {
			if !errors.Is(gerr, errNoOtherServer) {
				err = errors.Join(err, gerr)
			}
			return nil, err
		}
		d.log.Warn("ldap: bind had no answer, trying the next server", "server", c.srv.url, "next", next.srv.url, "err", err)
		c = next
	}
}

// bindNoSuchUser binds password to noSuchDN, for a user name no entry
// matches, and returns only a failure of the directory (ErrUnavailable),
// as a real user's bind would.
func (d *Directory) bindNoSuchUser(ctx context.Context, password string) error {
	c, err := d.users.get(ctx)
	if err != nil {
		return unavailable(err)
	}
	c, err = d.userBind(ctx, c, d.noSuchDN, password)
	if c != nil {
		d.users.put(c)
	}
	switch {
	case err == nil:
		d.log.Error("ldap: the directory accepted a bind to a DN that does not exist; check its configuration", "dn", d.noSuchDN)
	case !isRejected(err):
		return unavailable(fmt.Errorf("bind %s: %w", d.noSuchDN, err))
	}
	return nil
}

// findFailed maps a failed user search to Authenticate's result.
func (d *Directory) findFailed(err error) (Entry, string, error) {
	switch {
	case errors.Is(err, ErrNoSuchUser):
		return Entry{}, "no such user", ErrInvalidCredentials
	case errors.Is(err, errAmbiguous):
		return Entry{}, err.Error(), ErrInvalidCredentials
	}
	return Entry{}, "", unavailable(err)
}

// Lookup finds a user's entry as the service account, with all configured
// attributes and the groups. An unknown user is ErrNoSuchUser. It is for
// help-desk tools, not for logins: the login flow must not tell whether a
// user exists.
func (d *Directory) Lookup(ctx context.Context, user string) (Entry, error) {
	if d.closed.Load() {
		return Entry{}, unavailable(errClosed)
	}
	if !validUserName(user) {
		return Entry{}, ErrNoSuchUser
	}
	e, err := d.find(ctx, user, d.lookupAttrs)
	switch {
	case errors.Is(err, ErrNoSuchUser):
		return Entry{}, ErrNoSuchUser
	case err != nil:
		return Entry{}, unavailable(err)
	}
	return d.entry(e, true), nil
}

// Ping checks that at least one server answers the service account:
// readiness. Every server is probed at once, on a connection of its own
// (dial, service bind, a base search), each within ldap.timeout and ctx;
// the first answer ends the others. A probe leaves the servers' back-off
// alone: it neither marks a server down nor ends its back-off, so a
// probe's short deadline cannot take a healthy server out of the logins'
// rotation.
func (d *Directory) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return unavailable(errClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(d.servers))
	answered := make(chan struct{}, len(d.servers))
	var wg sync.WaitGroup
	for i, s := range d.servers {
		wg.Go(func() {
			if errs[i] = d.probe(ctx, s); errs[i] == nil {
				answered <- struct{}{}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-answered:
		cancel()
		<-done
		return nil
	case <-done:
	}
	select {
	case <-answered: // the last probe to end answered
		return nil
	default:
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", d.servers[i].url, err)
	}
	return unavailable(errors.Join(errs...))
}

// probe checks that s answers the service account, on a connection that
// is closed afterwards.
func (d *Directory) probe(ctx context.Context, s *server) error {
	c, err := d.dialServer(ctx, s)
	if err != nil {
		return err
	}
	defer c.l.Close()
	c.probe = true
	if err := d.op(ctx, c, opServiceBind, func(l *ldap.Conn) error {
		return l.Bind(d.cfg.BindDN, d.cfg.BindPassword.Value())
	}); err != nil {
		return fmt.Errorf("service account bind: %w", err)
	}
	return d.op(ctx, c, opPing, func(l *ldap.Conn) error {
		_, err := l.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, d.timeLimit(), false, "(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
}

// Close closes the pooled connections. Calls after Close fail with
// ErrUnavailable.
func (d *Directory) Close() error {
	d.closed.Store(true)
	d.service.close()
	d.users.close()
	return nil
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// bind checks a user's password on c.
func (d *Directory) bind(ctx context.Context, c *conn, dn, password string) error {
	return d.op(ctx, c, opBind, func(l *ldap.Conn) error { return l.Bind(dn, password) })
}

// withService runs f on a service connection. A search on a connection
// that sat in the pool is retried once on another if the first one turns
// out broken (a server restart, a firewall that forgot the connection).
func (d *Directory) withService(ctx context.Context, f func(*conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := d.service.get(ctx)
		if err != nil {
			return err
		}
		err = f(c)
		retry := err != nil && attempt == 0 && c.reused && c.broken && isServerFailure(err) && ctx.Err() == nil
		d.service.put(c)
		if !retry {
			return err
		}
		d.log.Debug("ldap: pooled service connection failed, retrying", "server", c.srv.url, "err", err)
	}
}

// find searches for user's entry as the service account.
func (d *Directory) find(ctx context.Context, user string, attrs []string) (*ldap.Entry, error) {
	var e *ldap.Entry
	err := d.withService(ctx, func(c *conn) error {
		var err error
		e, err = d.searchUser(ctx, c, opSearch, user, attrs)
		return err
	})
	return e, err
}

// searchUser runs user_filter for user on c: exactly one entry, or
// ErrNoSuchUser or errAmbiguous.
func (d *Directory) searchUser(ctx context.Context, c *conn, op, user string, attrs []string) (*ldap.Entry, error) {
	return d.search(ctx, c, op, user, d.userFilter(user), attrs)
}

// search runs filter, a user's, on c from base_dn: exactly one entry, or
// ErrNoSuchUser or errAmbiguous.
func (d *Directory) search(ctx context.Context, c *conn, op, user, filter string, attrs []string) (*ldap.Entry, error) {
	if len(attrs) == 0 {
		attrs = []string{"1.1"} // RFC 4511: no attributes
	}
	var res *ldap.SearchResult
	err := d.op(ctx, c, op, func(l *ldap.Conn) error {
		var err error
		res, err = l.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, d.timeLimit(), false, filter, attrs, nil))
		return err
	})
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || err == nil && len(res.Entries) > 1:
		d.log.Error("ldap: user_filter matches more than one entry; refusing the user", "user", user, "filter", filter)
		return nil, errAmbiguous
	case err != nil:
		return nil, fmt.Errorf("search %s: %w", filter, err)
	case len(res.Entries) == 0:
		return nil, ErrNoSuchUser
	}
	return res.Entries[0], nil
}

// readAfterBind reads the groups and attributes of the user just bound
// as bound (a DN, or a principal name), as the service account: never as
// the user, whose own access rights may hide attributes (memberOf, a phone
// number) without an error, so that a required group would fail and
// per-group reply attributes would silently vanish.
//
// The read also checks that the entry is the one user_filter names: with
// a cached DN, that the entry still matches user_filter; with a principal
// name, that user_filter and userPrincipalName (sAMAccountName for a
// DOMAIN\user name) find one entry, since Active Directory does not
// guarantee that the user_filter match is the account the bind
// authenticated. A mismatch is ErrInvalidCredentials, with its reason.
func (d *Directory) readAfterBind(ctx context.Context, user, bound string, cached bool) (*ldap.Entry, string, error) {
	if d.cfg.BindTemplate != "" && !d.bindIsDN {
		filter := "(&" + d.userFilter(user) + principalFilter(bound) + ")"
		var e *ldap.Entry
		err := d.withService(ctx, func(c *conn) error {
			var err error
			e, err = d.search(ctx, c, opRead, user, filter, d.readAttrs)
			return err
		})
		switch {
		case errors.Is(err, ErrNoSuchUser):
			d.log.Warn("ldap: no entry matches both user_filter and the principal the user bound as", "user", user, "bind_name", bound, "filter", filter)
			return nil, "bound account does not match user_filter", ErrInvalidCredentials
		case errors.Is(err, errAmbiguous):
			return nil, err.Error(), ErrInvalidCredentials
		case err != nil:
			return nil, "", unavailable(err)
		}
		return e, "", nil
	}

	// A DN: read it. A DN of bind_template is not re-checked against
	// user_filter (see Config.BindTemplate); a cached one is.
	filter := "(objectClass=*)"
	if cached {
		filter = d.userFilter(user)
	}
	var e *ldap.Entry
	err := d.withService(ctx, func(c *conn) error {
		var err error
		e, err = d.readEntry(ctx, c, bound, filter)
		return err
	})
	switch {
	case cached && errors.Is(err, errUnreadable):
		// The service account found this entry with user_filter when it
		// was cached, and the bind just proved it exists.
		d.cache.drop(user)
		d.log.Debug("ldap: cached DN no longer matches user_filter", "user", user, "dn", bound, "filter", filter)
		return nil, "entry no longer matches user_filter", ErrInvalidCredentials
	case err != nil:
		return nil, "", unavailable(err)
	}
	return e, "", nil
}

// userFilter is user_filter for user.
func (d *Directory) userFilter(user string) string {
	return d.filterPre + ldap.EscapeFilter(user) + d.filterPost
}

// principalFilter matches the Active Directory account a bind with a
// principal name authenticates: the user principal name
// ("user@example.ac.jp"), or the sAMAccountName of a down-level logon
// name ("EXAMPLE\user").
func principalFilter(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 && !strings.Contains(name, "@") {
		return "(sAMAccountName=" + ldap.EscapeFilter(name[i+1:]) + ")"
	}
	return "(userPrincipalName=" + ldap.EscapeFilter(name) + ")"
}

// readEntry reads the configured attributes of the entry at dn, if it
// matches filter: errUnreadable if it does not, or if it is hidden.
func (d *Directory) readEntry(ctx context.Context, c *conn, dn, filter string) (*ldap.Entry, error) {
	var res *ldap.SearchResult
	err := d.op(ctx, c, opRead, func(l *ldap.Conn) error {
		var err error
		res, err = l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			1, d.timeLimit(), false, filter, d.readAttrs, nil))
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", dn, err)
	case len(res.Entries) == 0:
		return nil, fmt.Errorf("read %s: %w", dn, errUnreadable)
	}
	return res.Entries[0], nil
}

// entry converts a directory entry to kakunin's names.
func (d *Directory) entry(e *ldap.Entry, groups bool) Entry {
	out := Entry{DN: e.DN}
	for name, attr := range d.cfg.Attributes {
		if v := e.GetEqualFoldAttributeValue(attr); v != "" {
			if out.Attributes == nil {
				out.Attributes = make(map[string]string, len(d.cfg.Attributes))
			}
			out.Attributes[name] = v
		}
	}
	if groups {
		out.Groups = e.GetEqualFoldAttributeValues(d.cfg.GroupAttribute)
	}
	return out
}

// inRequiredGroup compares DNs as the directory does: attribute types and
// values case-insensitively, spacing and escaping normalised.
func (d *Directory) inRequiredGroup(groups []string) bool {
	for _, g := range groups {
		if strings.EqualFold(g, d.cfg.RequiredGroup) {
			return true
		}
	}
	for _, g := range groups {
		if dn, err := ldap.ParseDN(g); err == nil && dn.EqualFold(d.requiredGroup) {
			return true
		}
	}
	return false
}

func sameDN(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	da, err1 := ldap.ParseDN(a)
	db, err2 := ldap.ParseDN(b)
	return err1 == nil && err2 == nil && da.EqualFold(db)
}

// timeLimit is the server-side time limit of a search, in whole seconds.
func (d *Directory) timeLimit() int {
	return max(1, int((d.cfg.Timeout+time.Second-1)/time.Second))
}

// validUserName refuses names no directory user has, before they reach a
// filter or a DN: control characters, invalid UTF-8, surrounding spaces
// (which LDAP matching ignores, so " alice" would log in as "alice" under
// another name), and absurd lengths.
func validUserName(user string) bool {
	if user == "" || len(user) > 256 || !utf8.ValidString(user) {
		return false
	}
	for _, r := range user {
		if unicode.IsControl(r) {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(user)
	last, _ := utf8.DecodeLastRuneInString(user)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

// bindName fills bind_template with user: escaped for a DN, or refused if
// it has characters that could change a principal name.
func (d *Directory) bindName(user string) (string, bool) {
	if d.bindIsDN {
		return d.bindPre + ldap.EscapeDN(user) + d.bindPost, true
	}
	if strings.ContainsAny(user, "@\\/,;=+<>\"#*()") || strings.ContainsFunc(user, unicode.IsSpace) {
		return "", false
	}
	return d.bindPre + user + d.bindPost, true
}

// isRejected reports a bind refused for the credentials. 49 is invalid
// credentials, whatever the reason (Active Directory adds its reason in
// the message; OpenLDAP's ppolicy gives 49 for locked accounts too). 389
// Directory Server answers 19 for an account locked by its password
// policy. 32 is what a few servers answer for an unknown bind DN.
func isRejected(err error) bool {
	return ldap.IsErrorAnyOf(err,
		ldap.LDAPResultInvalidCredentials,
		ldap.LDAPResultConstraintViolation,
		ldap.LDAPResultNoSuchObject)
}

// adReasons are the "data" codes of Active Directory's invalid
// credentials message (AcceptSecurityContext error, data 775, …).
var adReasons = map[string]string{
	"525": "no such user",
	"52e": "bad password",
	"530": "logon not permitted at this time",
	"531": "logon not permitted at this workstation",
	"532": "password expired",
	"533": "account disabled",
	"568": "too many security IDs",
	"701": "account expired",
	"773": "password must be changed",
	"775": "account locked",
}

// rejectReason names why a bind was refused, for the log.
func rejectReason(err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return "invalid credentials"
	}
	switch le.ResultCode {
	case ldap.LDAPResultConstraintViolation:
		return "refused by password policy"
	case ldap.LDAPResultNoSuchObject:
		return "no such user"
	}
	if le.Err != nil {
		msg := le.Err.Error()
		if _, after, ok := strings.Cut(msg, ", data "); ok {
			code, _, _ := strings.Cut(after, ",")
			if r, ok := adReasons[strings.ToLower(strings.TrimSpace(code))]; ok {
				return r
			}
			return "active directory code " + code
		}
	}
	return "bad password"
}
