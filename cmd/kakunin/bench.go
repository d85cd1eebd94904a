package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"kakunin/internal/bench"
	"kakunin/internal/testenv"
)

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o bench.Options
	fs.IntVar(&o.Users, "users", 200000, "users in the directory and the store")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "logins in flight at once")
	fs.DurationVar(&o.Duration, "duration", 15*time.Second, "measured time of each phase")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured time before each phase")
	stores := fs.String("store", "sqlite,postgres", "kakunin's store drivers, comma-separated: each is measured (sqlite, postgres); -held uses the first")
	peer := fs.String("peer", "", "measure a peer doing the same two rounds: freeradius or none (default freeradius when a freeradius binary is on PATH or in /usr/sbin)")
	fs.IntVar(&o.Rounds, "rounds", 2, "interleaved rounds per system (A B A B), each of -duration")
	fs.IntVar(&o.Nodes, "nodes", 1, "with the postgres store, also measure this many kakunin nodes on one database, driven together")
	fs.IntVar(&o.Rate, "rate", 0, "a fixed load: logins started per second in all (default: as fast as the workers go); compares the cost of a login (CPU, latency) across store sizes at one load")
	fs.IntVar(&o.StoreUsers, "store-users", 0, "users in kakunin's store (default: the directory's eligible users); more are enrolled only in the store, fewer leave the rest out")
	fs.StringVar(&o.PostgresDSN, "postgres", testenv.DefaultPostgres, "PostgreSQL database for -store postgres (a fresh schema is created in it)")
	fs.BoolVar(&o.RequiredGroup, "required-group", true, "require membership of vpn-staff in both loops")
	fs.BoolVar(&o.BindTemplate, "bind-template", false, "configure kakunin with ldap.bind_template (bind without a search; the groups are then read after the bind)")
	fs.IntVar(&o.Held, "held", 0, "instead of the naive loop: hold this many push requests (a push gateway that never answers) and measure the TOTP flow without and with them")
	fs.StringVar(&o.ProfileDir, "cpuprofile", "", "save a CPU profile of kakunin during each of its phases in this directory (go tool pprof)")
	keep := fs.String("dir", "", "work directory to keep (default: a temporary one, removed afterwards)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Drivers = strings.Split(*stores, ",")
	o.Driver = o.Drivers[0]
	switch *peer {
	case "":
		if _, err := bench.FindFreeRADIUS(); err == nil {
			o.Peer = "freeradius"
		}
	case "freeradius", "none":
		o.Peer = *peer
	default:
		return fmt.Errorf("-peer %q: want freeradius or none", *peer)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	o.Kakunin, o.Out = exe, os.Stdout
	o.Dir = *keep
	if o.Dir == "" {
		tmp, err := os.MkdirTemp("", "kakunin-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.Dir = filepath.Join(tmp, "work")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.Held > 0 {
		r, err := bench.RunHeld(ctx, o)
		if err != nil {
			return err
		}
		bench.ReportHeld(os.Stdout, o, r)
		return nil
	}
	rs, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	bench.Report(os.Stdout, o, rs)
	return nil
}
