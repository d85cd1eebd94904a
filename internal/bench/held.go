package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"

	"kakunin/challenge"
	"kakunin/internal/testenv"
	kradius "kakunin/radius"
	"kakunin/store"
)

// HeldResult is the held-requests benchmark: the TOTP flow without and
// with opt.Held push requests held at once on the same server.
type HeldResult struct {
	Without, With Result
	Held          int   // requests held while With was measured
	RSSWithout    int64 // kakunin serve's resident memory, bytes
	RSSWith       int64
	// Right after the requests were held, before the second TOTP phase.
	RSSHeld             int64
	StackHeld, HeapHeld float64
}

// RunHeld measures the two-round TOTP flow, then holds opt.Held push
// requests (a push gateway that accepts every push and never answers)
// and measures the TOTP flow again beside them.
func RunHeld(ctx context.Context, opt Options) (HeldResult, error) {
	var res HeldResult
	out := opt.Out
	if err := os.RemoveAll(opt.Dir); err != nil {
		return res, err
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "starting slapd with %d users ... ", opt.Users)
	t0 := time.Now()
	sl, err := testenv.StartSlapd(filepath.Join(opt.Dir, "slapd"), testenv.SlapdOptions{Users: opt.Users})
	if err != nil {
		return res, err
	}
	defer sl.Stop()
	fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())
	users := eligible(opt.Users, opt.RequiredGroup)
	if len(users) < opt.Held+1000 {
		return res, fmt.Errorf("-held %d needs at least %d eligible users; raise -users", opt.Held, opt.Held+1000)
	}
	held, totp := users[len(users)-opt.Held:], users[:len(users)-opt.Held]
	storeCfg, dropSchema, err := storeConfig(ctx, opt)
	if err != nil {
		return res, err
	}
	defer dropSchema()
	fmt.Fprintf(out, "enrolling %d TOTP users and %d push users ... ", len(totp), len(held))
	t0 = time.Now()
	if err := enroll(ctx, storeCfg, totp); err != nil {
		return res, err
	}
	if err := enrollPush(ctx, storeCfg, held); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())

	// The push gateway takes every push and never answers.
	var pushes atomic.Int64
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		pushes.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gw.Close()
	cbPort, err := freePort("tcp")
	if err != nil {
		return res, err
	}
	opt.extraConfig = fmt.Sprintf(`push:
  webhook: {url: %s, secret: "bench-push-gateway-secret-0123456789"}
callbacks:
  listen: 127.0.0.1:%d
  public_url: http://127.0.0.1:%d
  signing_key: "bench-callback-signing-key-0123456789abcdef"
`, gw.URL, cbPort, cbPort)
	opt.flowConfig = "  hold: {timeout: 5m}\n  push: {number_matching: false}\n"
	opt.radiusConfig = "  request_timeout: 6m\n"
	srv, err := startServer(ctx, opt, sl, storeCfg)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	pids := cpuPids{bench: os.Getpid(), server: srv.cmd.Process.Pid, slapd: sl.Pid()}
	picker := newPicker(totp, true)
	phase := func(name string) (Result, error) {
		fmt.Fprintf(out, "%s, concurrency %d, %s ... ", name, opt.Concurrency, opt.Duration)
		r, err := measure(ctx, name, opt, pids, func() (func() error, func(), error) { return flowLogin(srv, picker) })
		if err == nil {
			fmt.Fprintf(out, "%.0f/s\n", r.Rate)
		}
		return r, err
	}
	if res.Without, err = phase("kakunin password+TOTP, nothing held"); err != nil {
		return res, err
	}
	res.RSSWithout, _ = srv.rss()

	// Hold the pushes: one request per user, each on its own socket as
	// many NAS sessions would be.
	fmt.Fprintf(out, "holding %d push requests ... ", len(held))
	t0 = time.Now()
	hctx, cancelHeld := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var failed atomic.Int64
	// 10 every 20 ms: 500 new sign-ins a second, about what the server
	// decides on two cores; a NAS would retransmit any it dropped.
	sem := make(chan struct{}, 10)
	for _, i := range held {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A NAS retransmits; every 30 s here, so that a request
			// dropped while the server was busy is held after all.
			c := kradius.NewClient(srv.radiusAddr, srv.secret, "bench", 30*time.Second)
			stop := context.AfterFunc(hctx, func() { c.Close() }) // unblocks the read
			defer stop()
			go func() { time.Sleep(20 * time.Millisecond); <-sem }()
			r, err := c.Access(hctx, testenv.UserID(i), testenv.UserPassword(i)+",push", nil)
			if err == nil && r.Code == radius.CodeAccessAccept {
				failed.Add(1) // nobody approved: an accept would be a bug
			}
		}()
	}
	for {
		n, err := srv.metric("kakunin_auth_held_requests")
		if err == nil && int(n) >= len(held) {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			cancelHeld()
			return res, fmt.Errorf("only %v of %d requests held after 5 minutes (pushes sent: %d); see %s", n, len(held), pushes.Load(), filepath.Join(opt.Dir, "kakunin.log"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(out, "%.1fs\n", time.Since(t0).Seconds())
	res.Held = len(held)
	res.RSSHeld, _ = srv.rss()
	res.StackHeld, _ = srv.metric("go_memstats_stack_inuse_bytes")
	res.HeapHeld, _ = srv.metric("go_memstats_heap_inuse_bytes")
	fmt.Fprintf(out, "kakunin serve holding %d: resident %d MB (Go stacks %.0f MB, heap in use %.0f MB)\n",
		len(held), res.RSSHeld>>20, res.StackHeld/(1<<20), res.HeapHeld/(1<<20))
	if res.With, err = phase(fmt.Sprintf("kakunin password+TOTP, %d held", len(held))); err != nil {
		cancelHeld()
		return res, err
	}
	res.RSSWith, _ = srv.rss()
	if n, err := srv.metric("kakunin_auth_held_requests"); err == nil && int(n) < len(held) {
		fmt.Fprintf(out, "(only %v requests still held at the end of the phase)\n", n)
	}
	cancelHeld()
	wg.Wait()
	if failed.Load() > 0 {
		return res, fmt.Errorf("%d held push requests were accepted without an approval", failed.Load())
	}
	return res, nil
}

// ReportHeld prints the held-requests benchmark and its ratios.
func ReportHeld(w io.Writer, opt Options, r HeldResult) {
	fmt.Fprintf(w, "\n%d users, concurrency %d, %s per phase, store %s\n", opt.Users, opt.Concurrency, opt.Duration, opt.Driver)
	for _, x := range []struct {
		r   Result
		rss int64
	}{{r.Without, r.RSSWithout}, {r.With, r.RSSWith}} {
		fmt.Fprintf(w, "%-44s %8.0f/s  p50 %9s  p99 %9s  errors %d  kakunin RSS %d MB\n", x.r.Name, x.r.Rate,
			x.r.P50.Round(10*time.Microsecond), x.r.P99.Round(10*time.Microsecond), x.r.Errors, x.rss>>20)
	}
	if r.Without.Rate > 0 && r.Without.P99 > 0 {
		fmt.Fprintf(w, "with / without %d held: rate %.2fx, p99 %.2fx (target p99 <= 1.5x); resident memory %d MB (target < 250 MB)\n",
			r.Held, r.With.Rate/r.Without.Rate, float64(r.With.P99)/float64(r.Without.P99), r.RSSWith>>20)
	}
}

func enrollPush(ctx context.Context, cfg store.Config, users []int) error {
	st, err := store.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer st.Close()
	reg, _ := json.Marshal(challenge.PushRegistration{Channel: "webhook", Device: "bench"})
	now := time.Now()
	for _, i := range users {
		m := store.Method{ID: store.NewID(), UserID: testenv.UserID(i), Kind: store.KindPush, Label: "bench", Secret: reg, CreatedAt: now}
		if err := st.AddMethod(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// metric reads one unlabelled gauge or counter from /metrics.
func (s *server) metric(name string) (float64, error) {
	resp, err := http.Get(s.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, errors.New(name + " not found")
}
