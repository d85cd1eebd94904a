package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// ServeTCP listens on a loopback port until the test ends and runs handle
// on each connection, in a goroutine of its own; the connection is closed
// when handle returns. A nil handle is a black hole: it reads and discards
// whatever arrives and never answers (a server that accepts TCP and hangs).
// At the end of the test the listener and every connection are closed,
// and ServeTCP waits for the handlers to return.
func ServeTCP(t testing.TB, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if handle == nil {
		handle = func(c net.Conn) { io.Copy(io.Discard, c) }
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln
}
