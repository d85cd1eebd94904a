package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/webpush"
	"kakunin/store"
)

// Push-capable apps: the portal installed on the phone as a web app
// (manifest.webmanifest), whose service worker (sw.js) shows the approval
// notifications kakunin sends through Web Push and opens the approval page
// when one is tapped. The page that registers it (push.html, push.js)
// subscribes the browser with the VAPID public key and posts the
// subscription here; the engine's webpush channel sends to it.

// WithWebPush offers push-capable apps: browsers subscribe with v's public
// key (push.webpush must be the engine's channel too), and the security
// info page's test notifications go through s.
func WithWebPush(v *webpush.VAPID, s *webpush.Sender) Option {
	return func(srv *Server) { srv.vapid, srv.pushSender = v, s }
}

// testInterval is how often one push app may be sent a test notification.
const testInterval = 30 * time.Second

// pushTests remembers when each push method was last sent a test, so a
// button held down does not flood the phone (per node; good enough for a
// courtesy limit).
type pushTests struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *pushTests) allow(methodID string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	if t, ok := p.last[methodID]; ok && now.Sub(t) < testInterval {
		return false
	}
	for id, t := range p.last {
		if now.Sub(t) >= testInterval {
			delete(p.last, id)
		}
	}
	p.last[methodID] = now
	return true
}

func (s *Server) pushRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sw.js", s.serviceWorker)
	mux.HandleFunc("GET /static/manifest.webmanifest", s.manifest)
	mux.HandleFunc("GET /static/icon-192.png", s.icon(192))
	mux.HandleFunc("GET /static/icon-512.png", s.icon(512))
	mux.HandleFunc("GET /setup/push", s.with(signedIn, s.pushPage))
	mux.HandleFunc("POST /setup/push", s.with(signedIn, s.addPush))
	mux.HandleFunc("POST /security/push-test", s.with(signedIn, s.pushTest))
}

// serviceWorker serves static/sw.js at the root, so that its scope (the
// whole portal, the start_url of the installed app) needs no wider
// Service-Worker-Allowed than its own path; the header still says so for
// proxies that move it. A service worker must be JavaScript from this
// origin, and is not cached for long: a fixed worker reaches phones soon.
func (s *Server) serviceWorker(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(staticFS, "static/sw.js")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Service-Worker-Allowed", "/")
	h.Set("Cache-Control", "no-cache")
	w.Write(b)
}

// manifest serves the web app manifest with its registered media type
// (the extension is not in Go's table).
func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(staticFS, "static/manifest.webmanifest")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/manifest+json")
	w.Write(b)
}

// icon serves the app's icon as a PNG drawn at start (a check mark on the
// portal's blue): phones want bitmaps, iOS's home screen in particular.
func (s *Server) icon(size int) http.HandlerFunc {
	var buf bytes.Buffer
	png.Encode(&buf, drawIcon(size)) // an in-memory RGBA cannot fail to encode
	b := buf.Bytes()
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(b)
	}
}

func drawIcon(size int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	bg, fg := color.RGBA{0x0b, 0x5c, 0xad, 0xff}, color.RGBA{0xff, 0xff, 0xff, 0xff}
	f := float64(size)
	// The check mark: two strokes, thick enough to read at 48 px.
	a, b, c := [2]float64{0.28 * f, 0.52 * f}, [2]float64{0.44 * f, 0.68 * f}, [2]float64{0.74 * f, 0.34 * f}
	width := 0.07 * f
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			p := [2]float64{float64(x) + .5, float64(y) + .5}
			if segDist(p, a, b) < width || segDist(p, b, c) < width {
				img.Set(x, y, fg)
			} else {
				img.Set(x, y, bg)
			}
		}
	}
	return img
}

// segDist is the distance from p to the segment ab.
func segDist(p, a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := ((p[0]-a[0])*dx + (p[1]-a[1])*dy) / (dx*dx + dy*dy)
	t = max(0, min(1, t))
	ex, ey := p[0]-(a[0]+t*dx), p[1]-(a[1]+t*dy)
	return math.Hypot(ex, ey)
}

type pushData struct {
	VAPIDKey string
	Label    string
}

// pushAllowed checks what adding a push app needs; it has answered the
// request when it returns false. A push app cannot verify a portal
// sign-in, so it is offered besides a first method, not as one.
func (s *Server) pushAllowed(w http.ResponseWriter, r *http.Request, v *visit) bool {
	switch {
	case s.vapid == nil:
		http.NotFound(w, r)
	case len(v.methods) == 0:
		redirect(w, r, "/")
	case apps(v.methods) >= maxApps:
		redirect(w, r, "/security?notice=app_limit")
	case s.stepUpDue(v):
		s.stepUp(w, r, "/setup/push")
	default:
		return true
	}
	return false
}

func (s *Server) pushPage(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.pushAllowed(w, r, v) {
		return
	}
	s.renderPush(w, r, v, http.StatusOK, "", "")
}

func (s *Server) renderPush(w http.ResponseWriter, r *http.Request, v *visit, status int, errKey, label string) {
	s.render(w, r, v, status, "push", page{Title: "push_title", Error: errKey,
		D: pushData{VAPIDKey: s.vapid.PublicKey(), Label: label}})
}

// pushRegistration returns the Web Push subscription a push method holds,
// false for other channels.
func pushRegistration(m store.Method) (webpush.Subscription, bool) {
	if m.Kind != store.KindPush {
		return webpush.Subscription{}, false
	}
	var reg challenge.PushRegistration
	if json.Unmarshal(m.Secret, &reg) != nil || reg.Channel != "webpush" {
		return webpush.Subscription{}, false
	}
	sub, err := webpush.ParseSubscription(reg.Subscription)
	return sub, err == nil
}

// addPush takes the subscription push.js posts in the form: checked as a
// push service would need it, stored in its canonical form (without the
// browser's expirationTime), audited by AddPush.
func (s *Server) addPush(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.pushAllowed(w, r, v) {
		return
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	if len([]rune(label)) > 64 {
		label = string([]rune(label)[:64])
	}
	sub, err := webpush.ParseSubscription([]byte(r.PostFormValue("subscription")))
	if err != nil {
		// The cause names a field, never its value.
		s.log.Info("portal: push subscription refused", "user", v.user.ID, "err", err)
		s.renderPush(w, r, v, http.StatusBadRequest, "err_push_subscription", label)
		return
	}
	if !s.cfg.pushServiceAllowed(sub.Endpoint) {
		s.log.Info("portal: push subscription refused: push service not in portal.push_services", "user", v.user.ID, "subscription", sub)
		s.renderPush(w, r, v, http.StatusBadRequest, "err_push_service", label)
		return
	}
	for _, m := range v.methods {
		if old, ok := pushRegistration(m); ok && old.Endpoint == sub.Endpoint {
			s.renderPush(w, r, v, http.StatusConflict, "err_push_duplicate", label)
			return
		}
	}
	raw, err := json.Marshal(sub)
	if err != nil {
		s.fail(w, r, v, "encode push subscription", err)
		return
	}
	if label == "" {
		label = text(v.lang, "push_name_default")
	}
	m, err := s.admin.AddPush(r.Context(), v.user.ID, label, challenge.PushRegistration{Channel: "webpush", Subscription: raw}, "portal")
	if err != nil {
		s.fail(w, r, v, "add push app", err)
		return
	}
	s.m.changes.WithLabelValues("method_added").Inc()
	s.notify(v, "mail_method_added", describe(v.user.Language, m))
	s.log.Info("method added in the portal", "user", v.user.ID, "kind", "push", "method", m.ID, "subscription", sub)
	redirect(w, r, "/security?notice=push_added")
}

// pushTest sends a notification that is not an approval: it names no
// approval page and asks nothing, and tapping it opens the security info.
func (s *Server) pushTest(w http.ResponseWriter, r *http.Request, v *visit) {
	if s.pushSender == nil {
		http.NotFound(w, r)
		return
	}
	id := r.PostFormValue("method")
	var sub webpush.Subscription
	found := false
	for _, m := range v.methods {
		if m.ID == id {
			sub, found = pushRegistration(m)
		}
	}
	if !found {
		redirect(w, r, "/security")
		return
	}
	now := s.now()
	if !s.tests.allow(id, now) {
		redirect(w, r, "/security?notice=push_test_wait")
		return
	}
	payload, err := json.Marshal(webpush.Notification{
		Title: text(v.lang, "push_test_title"), Body: text(v.lang, "push_test_body"),
		URL: s.portalURL("/security"), Tag: "test-" + id, Expires: now.Add(5 * time.Minute).Unix(),
	})
	if err != nil {
		s.fail(w, r, v, "encode test notification", err)
		return
	}
	err = s.pushSender.Send(r.Context(), sub, payload, webpush.Options{TTL: 300, Urgency: webpush.UrgencyHigh})
	switch {
	case errors.Is(err, webpush.ErrGone):
		s.log.Info("portal: test notification: subscription gone", "user", v.user.ID, "method", id)
		redirect(w, r, "/security?notice=push_test_gone")
	case err != nil:
		s.log.Warn("portal: test notification not sent", "user", v.user.ID, "method", id, "err", err)
		redirect(w, r, "/security?notice=push_test_failed")
	default:
		s.log.Info("portal: test notification sent", "user", v.user.ID, "method", id)
		redirect(w, r, "/security?notice=push_test_sent")
	}
}

// portalURL is path on the portal's public address (a path alone without
// one: the service worker resolves it against its own origin).
func (s *Server) portalURL(path string) string {
	if s.cfg.PublicURL == "" {
		return path
	}
	u, err := url.Parse(s.cfg.PublicURL)
	if err != nil {
		return path
	}
	return u.Scheme + "://" + u.Host + path
}
