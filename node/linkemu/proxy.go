package linkemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ProxyServer is a shaping TCP proxy made by [Proxy].
type ProxyServer struct {
	ln     net.Listener
	target string
	p      Profile
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once

	mu       sync.Mutex
	closed   bool
	accepted int64
	live     map[*link]func() // live connections and how to shut each down
	done     Stats            // totals of finished connections
}

// Proxy listens on listen (for example "127.0.0.1:0") and forwards every
// connection it accepts to target, shaping both directions with p. Each
// connection is its own link: its CutAt counts from when it was accepted,
// its CutAfterBytes from zero, and connection k (counting from 0) draws its
// losses from seed p.Seed+k. A cut resets both TCP connections. A half
// close is passed on once the bytes before it are delivered. The proxy
// stops when ctx is done or Close is called.
func Proxy(ctx context.Context, listen string, target string, p Profile) (*ProxyServer, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("linkemu: proxy listening on %s: %w", listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &ProxyServer{ln: ln, target: target, p: p, ctx: ctx, cancel: cancel, live: map[*link]func(){}}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		s.shutdown()
	}()
	go s.accept()
	return s, nil
}

// Addr is the address the proxy listens on.
func (s *ProxyServer) Addr() string { return s.ln.Addr().String() }

// Stats sums the bytes delivered over all connections, finished and live.
func (s *ProxyServer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.done
	for l := range s.live {
		st = st.add(l.stats())
	}
	return st
}

// Close stops listening, drops every connection and waits for the proxy's
// goroutines to finish.
func (s *ProxyServer) Close() error {
	s.shutdown()
	s.wg.Wait()
	return nil
}

func (s *ProxyServer) shutdown() {
	s.stop.Do(func() {
		s.cancel()
		_ = s.ln.Close()
		s.mu.Lock()
		s.closed = true
		var stops []func()
		for _, f := range s.live {
			stops = append(stops, f)
		}
		s.mu.Unlock()
		for _, f := range stops {
			f()
		}
	})
}

func (s *ProxyServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			// A failed accept (out of descriptors, say) is not the end;
			// back off instead of spinning.
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		seed := s.p.Seed + s.accepted
		s.accepted++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c, seed)
	}
}

// serve carries one connection: client to target is dirs[0], target to
// client dirs[1].
func (s *ProxyServer) serve(client net.Conn, seed int64) {
	defer s.wg.Done()
	var d net.Dialer
	target, err := d.DialContext(s.ctx, "tcp", s.target)
	if err != nil {
		reset(client) // the client sees the connection refused, as it were
		return
	}
	l := newLink(s.p, seed, 1)
	var once sync.Once
	drop := func(hard bool) {
		once.Do(func() {
			if hard {
				reset(client)
				reset(target)
			} else {
				_ = client.Close()
				_ = target.Close()
			}
		})
	}
	l.onCut = []func(){func() { drop(true) }}
	shut := func() {
		l.mu.Lock()
		l.ends = 0
		l.stopTimers()
		for i := range l.dirs {
			l.dirs[i].err = net.ErrClosed
			l.dirs[i].q, l.dirs[i].queued = nil, 0
		}
		l.broadcast()
		l.mu.Unlock()
		drop(false)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		drop(false)
		return
	}
	s.live[l] = shut
	s.mu.Unlock()
	l.start()

	var wg sync.WaitGroup
	wg.Add(4)
	for i, ends := range [2][2]net.Conn{{client, target}, {target, client}} {
		src, dst, d := ends[0], ends[1], &l.dirs[i]
		go func() {
			defer wg.Done()
			feed(l, d, src)
		}()
		go func() {
			defer wg.Done()
			if err := l.pump(d, dst); err != nil {
				drop(errors.Is(err, ErrCut))
				return
			}
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}()
	}
	wg.Wait()
	drop(false)

	l.mu.Lock()
	l.ends = 0
	l.stopTimers()
	l.mu.Unlock()
	s.mu.Lock()
	delete(s.live, l)
	s.done = s.done.add(l.stats())
	s.mu.Unlock()
}

// feed reads src and queues what it reads on d until src ends, then marks
// d closed so the pump passes the end on.
func feed(l *link, d *dir, src net.Conn) {
	defer func() {
		l.mu.Lock()
		d.wclosed = true
		l.broadcast()
		l.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, err := l.send(d, buf[:n], func() error { return d.err }, nil); err != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// A reset or a local close: nothing more will come, and the
				// other side should not wait for it.
				l.mu.Lock()
				if d.err == nil && l.cutErr == nil {
					d.err = fmt.Errorf("linkemu: proxy reading: %w", err)
				}
				l.mu.Unlock()
			}
			return
		}
	}
}

func (a Stats) add(b Stats) Stats {
	return Stats{AToB: a.AToB + b.AToB, BToA: a.BToA + b.BToA, Cut: a.Cut || b.Cut}
}
