package radius

import "time"

// workers runs decisions on goroutines that outlive them. A decision
// descends deep into the store and the directory client, so a fresh
// goroutine grows and copies its stack on every request; an idle worker
// keeps the grown stack for the next one. Nothing queues: when no worker
// is idle a new one starts (max_in_flight bounds them), so a decision held
// for a minute never delays another.
type workers struct {
	work chan func() // unbuffered: a send succeeds only to an idle worker
	quit chan struct{}
	idle time.Duration
}

func newWorkers(idle time.Duration) *workers {
	return &workers{work: make(chan func()), quit: make(chan struct{}), idle: idle}
}

// run starts f on an idle worker or a new one.
func (w *workers) run(f func()) {
	select {
	case w.work <- f:
	default:
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	f()
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		select {
		case f := <-w.work:
			f()
			t.Reset(w.idle)
		case <-t.C:
			return
		case <-w.quit:
			return
		}
	}
}

// stop lets idle workers exit; running decisions finish first.
func (w *workers) stop() { close(w.quit) }
