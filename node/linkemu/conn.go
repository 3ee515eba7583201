package linkemu

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// linger bounds how long a closed [Wrap] connection keeps delivering the
// bytes it had accepted, in case the peer stops reading.
const linger = 30 * time.Second

// Conn is one end of an emulated link: a [Pipe] end or a [Wrap]ped
// connection. It is a net.Conn; Stats reports what the link delivered.
type Conn struct {
	l     *link
	end   int      // 0 for a or a wrapped connection, 1 for b
	under net.Conn // Wrap only

	closeOnce sync.Once // Wrap only: closes or resets under, once
	closeErr  error

	// Guarded by l.mu.
	closed    bool
	rdeadline time.Time // Pipe only; Wrap passes read deadlines through
	wdeadline time.Time
}

var _ net.Conn = (*Conn)(nil)

// Pipe returns the two ends of an in-memory connection through an emulated
// link with profile p. Like net.Pipe, Close on one end makes the other's
// Read return io.EOF once the bytes in flight have arrived, and its Write
// return io.ErrClosedPipe; deadlines work as on net.Pipe. Unlike net.Pipe,
// a Write returns as soon as its bytes fit in the window. Both ends are
// *[Conn] and report the same [Stats].
func Pipe(p Profile) (a, b net.Conn) {
	l := newLink(p, p.Seed, 2)
	ca, cb := &Conn{l: l, end: 0}, &Conn{l: l, end: 1}
	l.start()
	return ca, cb
}

// Wrap shapes what is written through c with profile p: latency,
// bandwidth, loss and cuts apply on the way out, while reads pass through
// (count towards CutAfterBytes and fail once the link is cut). A cut resets
// c, so the peer sees the connection break. Close returns at once; bytes
// already accepted are still delivered on schedule, as the kernel does
// after close(2), and then c is closed. The result is a *[Conn].
func Wrap(c net.Conn, p Profile) net.Conn {
	l := newLink(p, p.Seed, 1)
	w := &Conn{l: l, under: c}
	l.onCut = []func(){func() { w.closeOnce.Do(func() { reset(c) }) }}
	go func() {
		err := l.pump(&l.dirs[0], c)
		l.mu.Lock()
		closed := w.closed
		l.mu.Unlock()
		if err == nil || closed {
			w.closeUnder()
		}
	}()
	l.start()
	return w
}

// Stats reports the bytes the link delivered each way and whether it was
// cut. See [Stats] for which way is which.
func (c *Conn) Stats() Stats { return c.l.stats() }

// Read reads bytes that have arrived.
func (c *Conn) Read(b []byte) (int, error) {
	if c.under != nil {
		return c.wrapRead(b)
	}
	l := c.l
	d := &l.dirs[1-c.end]
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if c.closed {
			return 0, io.ErrClosedPipe
		}
		if l.cutErr != nil {
			return 0, l.cutErr
		}
		if passed(c.rdeadline) {
			return 0, os.ErrDeadlineExceeded
		}
		now := time.Now()
		if len(d.q) > 0 && !d.q[0].at.After(now) && len(b) > 0 {
			n := 0
			for n < len(b) && len(d.q) > 0 && !d.q[0].at.After(now) {
				k := copy(b[n:], d.q[0].b)
				n += k
				if k == len(d.q[0].b) {
					d.q[0] = seg{}
					d.q = d.q[1:]
				} else {
					d.q[0].b = d.q[0].b[k:]
				}
			}
			d.queued -= n
			d.delivered += int64(n)
			l.broadcast()
			return n, nil
		}
		if len(d.q) == 0 && d.wclosed {
			return 0, io.EOF
		}
		if len(b) == 0 {
			return 0, nil
		}
		var wake time.Time
		if len(d.q) > 0 {
			wake = d.q[0].at
		}
		wake = earliest(wake, c.rdeadline)
		ch := l.changed
		l.mu.Unlock()
		sleep(ch, wake)
		l.mu.Lock()
	}
}

func (c *Conn) wrapRead(b []byte) (int, error) {
	l := c.l
	l.mu.Lock()
	if err := c.readErr(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	l.mu.Unlock()
	n, err := c.under.Read(b)
	l.mu.Lock()
	if err := c.readErr(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	var cutNow bool
	if l.budget >= 0 && n > 0 && int64(n) >= l.budget {
		n, err, cutNow = int(l.budget), nil, true
	}
	if l.budget > 0 {
		l.budget -= int64(n)
	}
	l.dirs[1].delivered += int64(n)
	l.mu.Unlock()
	if cutNow {
		l.cut(fmt.Errorf("%w after %d bytes", ErrCut, l.p.CutAfterBytes))
		if n == 0 {
			return 0, l.err()
		}
	}
	return n, err
}

// readErr is why a wrapped Read must fail now, if it must. l.mu must be held.
func (c *Conn) readErr() error {
	if c.closed {
		return net.ErrClosed
	}
	return c.l.cutErr
}

func (l *link) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cutErr
}

// Write queues b for delivery. It blocks only while the window is full.
func (c *Conn) Write(b []byte) (int, error) {
	l := c.l
	d := &l.dirs[c.end]
	if c.under != nil {
		return l.send(d, b, func() error {
			if c.closed {
				return net.ErrClosed
			}
			return d.err
		}, &c.wdeadline)
	}
	return l.send(d, b, func() error {
		if c.closed || d.rclosed {
			return io.ErrClosedPipe
		}
		return nil
	}, &c.wdeadline)
}

// Close closes this end. For a Pipe end, bytes it wrote still reach the
// other end, followed by io.EOF, and bytes on their way to it are dropped.
// For a wrapped connection, see [Wrap].
func (c *Conn) Close() error {
	l := c.l
	l.mu.Lock()
	if c.closed {
		l.mu.Unlock()
		return nil
	}
	c.closed = true
	l.ends--
	if l.ends == 0 {
		l.stopTimers()
	}
	out := &l.dirs[c.end]
	out.wclosed = true
	if c.under == nil {
		in := &l.dirs[1-c.end]
		in.rclosed = true
		in.q, in.queued = nil, 0
		l.broadcast()
		l.mu.Unlock()
		return nil
	}
	pending := out.queued > 0 && l.cutErr == nil && out.err == nil
	last := out.lastAt
	l.broadcast()
	l.mu.Unlock()
	if !pending {
		return c.closeUnder()
	}
	// The pump closes under once it has delivered the rest. Wake readers
	// blocked on under now, and don't let the peer hold the pump forever.
	_ = c.under.SetReadDeadline(time.Unix(1, 0))
	_ = c.under.SetWriteDeadline(last.Add(linger))
	return nil
}

func (c *Conn) closeUnder() error {
	c.closeOnce.Do(func() { c.closeErr = c.under.Close() })
	return c.closeErr
}

// LocalAddr returns the wrapped connection's address, or a placeholder for
// a Pipe end.
func (c *Conn) LocalAddr() net.Addr {
	if c.under != nil {
		return c.under.LocalAddr()
	}
	return pipeAddr(c.end)
}

// RemoteAddr returns the wrapped connection's peer address, or a
// placeholder for a Pipe end.
func (c *Conn) RemoteAddr() net.Addr {
	if c.under != nil {
		return c.under.RemoteAddr()
	}
	return pipeAddr(1 - c.end)
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// SetReadDeadline sets when a blocked Read gives up with
// os.ErrDeadlineExceeded. On a wrapped connection it passes through.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.under == nil {
		return c.setDeadline(&c.rdeadline, t)
	}
	c.l.mu.Lock()
	closed := c.closed
	c.l.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	return c.under.SetReadDeadline(t)
}

// SetWriteDeadline sets when a Write blocked on a full window gives up with
// os.ErrDeadlineExceeded. Bytes already accepted are delivered regardless.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(&c.wdeadline, t)
}

func (c *Conn) setDeadline(field *time.Time, t time.Time) error {
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed {
		if c.under != nil {
			return net.ErrClosed
		}
		return io.ErrClosedPipe
	}
	*field = t
	l.broadcast()
	return nil
}

type pipeAddr int

func (pipeAddr) Network() string  { return "linkemu" }
func (a pipeAddr) String() string { return "linkemu-" + string(rune('a'+int(a))) }

// reset closes c so that a TCP peer sees the connection reset, as after a
// real cut.
func reset(c net.Conn) {
	if t, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = t.SetLinger(0)
	}
	_ = c.Close()
}
