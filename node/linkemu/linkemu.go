// Package linkemu owns link emulation for tests and benchmarks of the sync
// protocol: slow, lossy and breaking links without netem. It has an
// in-memory connected pair ([Pipe]), a wrapper that shapes what is written
// through an existing connection ([Wrap]), a shaping TCP proxy ([Proxy]), and
// for the sneakernet path a truncating writer ([CutWriter]) and a byte
// damager ([Damage]).
//
// # The link model
//
// Each direction of a link is shaped on its own with the same [Profile]. A
// chunk of n bytes written at time t starts serializing at
// max(t, end of the previous chunk), takes n*8/Bandwidth, and is delivered
// Latency after it is serialized:
//
//	delivery = max(t, previous end) + n*8/Bandwidth + Latency
//
// Writes return once the bytes are accepted; they block only while the
// direction holds a full window of bytes that the other side has not yet
// received (the larger of 256 KiB and twice the bandwidth-delay product, like
// a TCP window).
//
// Loss is emulated as TCP would see it, never as corruption. The stream is
// cut into MSS-sized segments (1460 bytes by stream offset, whatever the
// write sizes) and each is lost with probability Loss, decided by a random
// source seeded from Seed and the direction, so a seed always loses the same
// segments. A lost segment and everything after it in that direction is held
// back one retransmission timeout: the sender's clock stalls for the RTO,
// as it does waiting for a timeout, so each loss makes the transfer about
// one RTO longer. The RTO is RTT + 200 ms (2*Latency + 200 ms), which is
// what Linux settles on for a steady link (srtt + the 200 ms minimum); 800 ms
// for [Satellite].
//
// # Cuts
//
// A cut breaks both directions at once. Bytes not yet delivered are lost,
// bytes delivered but not yet read are lost too, and from then on Read and
// Write on both ends return an error that wraps [ErrCut] (test it with
// errors.Is). Close still works. CutAt cuts that long after the link was
// made; CutAfterBytes counts the bytes accepted in both directions together,
// stops accepting at the limit, and cuts when the last allowed byte would
// arrive, so at most CutAfterBytes bytes are ever delivered. A Write that
// reaches the limit blocks until the cut and then fails. Once every end of a
// link is closed, pending cuts are cancelled.
//
// # Stats
//
// The connections that [Pipe] and [Wrap] return are *[Conn]; get the counts
// with c.(*linkemu.Conn).Stats(). A [ProxyServer] sums them over its
// connections.
package linkemu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// ErrCut is wrapped by the errors Read and Write return once a link is cut,
// and returned by a [CutWriter] past its limit.
var ErrCut = errors.New("linkemu: link cut")

// MSS is the segment size the loss model works in, in bytes.
const MSS = 1460

const (
	minWindow = 256 << 10
	maxWindow = 64 << 20
	minRTO    = 200 * time.Millisecond
)

// Profile describes one link. Both directions are shaped the same way.
// Negative values count as zero; Loss is clamped to [0, 1].
type Profile struct {
	// Latency is the one-way delay added to every byte.
	Latency time.Duration
	// Bandwidth is in bits per second, each way; 0 means unlimited.
	Bandwidth int64
	// Loss is the probability that a segment of MSS bytes is lost and
	// resent after one RTO (see the package doc).
	Loss float64
	// CutAfterBytes cuts the link once this many bytes in total have been
	// accepted in either direction; 0 means never.
	CutAfterBytes int64
	// CutAt cuts the link this long after it was made; 0 means never.
	CutAt time.Duration
	// Seed makes the loss decisions repeatable.
	Seed int64
}

// Satellite is the field link: 600 ms RTT, 512 kbit/s, 1% segment loss.
var Satellite = Profile{Latency: 300 * time.Millisecond, Bandwidth: 512_000, Loss: 0.01}

// RTO is the retransmission timeout a lost segment costs: RTT + 200 ms.
func (p Profile) RTO() time.Duration {
	return 2*max(p.Latency, 0) + minRTO
}

// Window is how many bytes a direction holds in flight (sent but not yet
// read) before Write blocks: twice the bandwidth-delay product, at least
// 256 KiB and at most 64 MiB.
func (p Profile) Window() int {
	if p.Bandwidth <= 0 {
		return minWindow
	}
	bdp := float64(p.Bandwidth) / 8 * (2 * max(p.Latency, 0)).Seconds()
	return int(min(max(2*bdp, minWindow), maxWindow))
}

func (p Profile) normalized() Profile {
	p.Latency = max(p.Latency, 0)
	p.Bandwidth = max(p.Bandwidth, 0)
	p.Loss = min(max(p.Loss, 0), 1)
	p.CutAfterBytes = max(p.CutAfterBytes, 0)
	p.CutAt = max(p.CutAt, 0)
	return p
}

// Stats counts the bytes a link delivered each way. For a [Pipe], AToB is
// what a wrote and b read and BToA the reverse; for [Wrap], AToB is what was
// written through to the wrapped connection and BToA what was read from it;
// for a [ProxyServer], AToB is client to target and BToA target to client,
// summed over all its connections.
type Stats struct {
	AToB, BToA int64
	// Cut reports whether the link (for a proxy: any of its connections)
	// was cut.
	Cut bool
}

// seg is a chunk of bytes in flight and when it arrives.
type seg struct {
	b  []byte
	at time.Time
}

// dir is one direction of a link. Its fields are guarded by link.mu.
type dir struct {
	q         []seg
	queued    int       // accepted and not yet delivered (queued or being written out)
	lastEnd   time.Time // when the link finishes serializing what is queued
	lastAt    time.Time // delivery time of the last chunk; deliveries stay in order
	off       int64     // stream offset, for segment boundaries
	lost      bool      // whether the current segment is lost
	losses    int       // segments lost so far
	rng       *rand.Rand
	wclosed   bool  // the writer is done: the reader sees EOF once q drains
	rclosed   bool  // the reader is gone: writes fail, q is dropped
	err       error // sticky: why this direction stopped (a destination write failed, shutdown)
	delivered int64
}

// link is the state both directions share.
type link struct {
	p      Profile
	rto    time.Duration
	window int

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change; waiters select on it
	cutErr  error
	budget  int64 // bytes the link may still accept; -1 means no limit
	dirs    [2]dir
	ends    int // open ends; when none are left, cuts no longer apply
	timers  []*time.Timer
	onCut   []func() // run once, outside mu, when the link is cut
}

func newLink(p Profile, seed int64, ends int) *link {
	p = p.normalized()
	l := &link{p: p, rto: p.RTO(), window: p.Window(), changed: make(chan struct{}), budget: -1, ends: ends}
	if p.CutAfterBytes > 0 {
		l.budget = p.CutAfterBytes
	}
	for i := range l.dirs {
		l.dirs[i].rng = rand.New(rand.NewPCG(uint64(seed), 0x6c696e6b656d75+uint64(i)))
	}
	return l
}

// start arms the CutAt timer. Call it once onCut is set.
func (l *link) start() {
	if l.p.CutAt <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := fmt.Errorf("%w: %v after it was made", ErrCut, l.p.CutAt)
	l.timers = append(l.timers, time.AfterFunc(l.p.CutAt, func() { l.cut(err) }))
}

// broadcast wakes every waiter. l.mu must be held.
func (l *link) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// stopTimers cancels pending cuts. l.mu must be held.
func (l *link) stopTimers() {
	for _, t := range l.timers {
		t.Stop()
	}
	l.timers = nil
}

// cut breaks the link: both directions drop what they hold and every call
// from now on fails with err.
func (l *link) cut(err error) {
	l.mu.Lock()
	if l.cutErr != nil || l.ends == 0 {
		l.mu.Unlock()
		return
	}
	l.cutErr = err
	for i := range l.dirs {
		l.dirs[i].q = nil
		l.dirs[i].queued = 0
	}
	l.stopTimers()
	hooks := l.onCut
	l.broadcast()
	l.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}

func (l *link) stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{AToB: l.dirs[0].delivered, BToA: l.dirs[1].delivered, Cut: l.cutErr != nil}
}

// serialize is how long n bytes take on the wire.
func (l *link) serialize(n int) time.Duration {
	if l.p.Bandwidth == 0 {
		return 0
	}
	return time.Duration(int64(n) * 8 * int64(time.Second) / l.p.Bandwidth)
}

// schedule works out when the next n bytes written on d arrive. The n bytes
// lie within one segment. l.mu must be held.
func (l *link) schedule(d *dir, n int, now time.Time) time.Time {
	newSeg := d.off%MSS == 0
	if newSeg {
		d.lost = l.p.Loss > 0 && d.rng.Float64() < l.p.Loss
		if d.lost {
			d.losses++
		}
	}
	end := later(now, d.lastEnd).Add(l.serialize(n))
	at := end.Add(l.p.Latency)
	if newSeg && d.lost {
		// The sender waits out the timeout before resending; everything
		// after this segment is held back with it.
		end = end.Add(l.rto)
		at = at.Add(l.rto)
	}
	d.lastEnd = end
	at = later(at, d.lastAt)
	d.lastAt = at
	d.off += int64(n)
	return at
}

// send queues b on d, blocking while the window is full. stop is called
// with l.mu held and returns the error that ends the write, if any; deadline
// (may be nil) is read with l.mu held.
func (l *link) send(d *dir, b []byte, stop func() error, deadline *time.Time) (int, error) {
	n := 0
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.cutErr != nil {
			return n, l.cutErr
		}
		if err := stop(); err != nil {
			return n, err
		}
		if deadline != nil && passed(*deadline) {
			return n, os.ErrDeadlineExceeded
		}
		if n == len(b) {
			return n, nil
		}
		room := l.window - d.queued
		if room > 0 && l.budget != 0 {
			now := time.Now()
			for n < len(b) && room > 0 && l.budget != 0 {
				k := min(len(b)-n, room, MSS-int(d.off%MSS))
				if l.budget > 0 && l.budget < int64(k) {
					k = int(l.budget)
				}
				at := l.schedule(d, k, now)
				d.q = append(d.q, seg{b: append([]byte(nil), b[n:n+k]...), at: at})
				d.queued += k
				room -= k
				n += k
				if l.budget > 0 {
					l.budget -= int64(k)
					if l.budget == 0 {
						err := fmt.Errorf("%w after %d bytes", ErrCut, l.p.CutAfterBytes)
						l.timers = append(l.timers, time.AfterFunc(time.Until(at), func() { l.cut(err) }))
					}
				}
			}
			l.broadcast()
			continue
		}
		// The window is full, or the byte budget is spent and the cut is
		// on its way.
		var wake time.Time
		if deadline != nil {
			wake = *deadline
		}
		ch := l.changed
		l.mu.Unlock()
		sleep(ch, wake)
		l.mu.Lock()
	}
}

// pump writes d's bytes to dst as they become due. It returns nil once the
// writer has closed and everything is delivered, or the error that stopped
// it: the cut, a failed write to dst (which becomes d.err), or d.err.
func (l *link) pump(d *dir, dst net.Conn) error {
	var buf []byte
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.cutErr != nil {
			return l.cutErr
		}
		if d.err != nil {
			return d.err
		}
		now := time.Now()
		if len(d.q) > 0 && !d.q[0].at.After(now) {
			buf = buf[:0]
			for len(d.q) > 0 && !d.q[0].at.After(now) && len(buf) < 64<<10 {
				buf = append(buf, d.q[0].b...)
				d.q[0] = seg{}
				d.q = d.q[1:]
			}
			l.mu.Unlock()
			n, err := dst.Write(buf)
			l.mu.Lock()
			if l.cutErr != nil || d.err != nil {
				continue // the cut or shutdown already dropped the queue
			}
			d.queued -= len(buf)
			d.delivered += int64(n)
			if err != nil {
				d.err = fmt.Errorf("linkemu: delivering: %w", err)
				d.q, d.queued = nil, 0
			}
			l.broadcast()
			continue
		}
		if len(d.q) == 0 && d.wclosed {
			return nil
		}
		var wake time.Time
		if len(d.q) > 0 {
			wake = d.q[0].at
		}
		ch := l.changed
		l.mu.Unlock()
		sleep(ch, wake)
		l.mu.Lock()
	}
}

// sleep waits until ch is closed or wake has passed; a zero wake waits on
// ch alone.
func sleep(ch <-chan struct{}, wake time.Time) {
	if wake.IsZero() {
		<-ch
		return
	}
	d := time.Until(wake)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// earliest is the earlier of two wake times, where zero means none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func passed(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}
