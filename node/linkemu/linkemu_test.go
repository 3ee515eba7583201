package linkemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// The machines are small and noisy, so timing checks leave room.

// transfer writes size bytes from a to b and returns how long until b has
// read them all.
func transfer(t *testing.T, a, b net.Conn, size int) time.Duration {
	t.Helper()
	data := bytes.Repeat([]byte("floe"), size/4)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < len(data); off += 32 << 10 {
			if _, err := a.Write(data[off:min(off+32<<10, len(data))]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatalf("reading: %v", err)
	}
	elapsed := time.Since(start)
	if err := <-errc; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the bytes that arrived differ from those sent")
	}
	return elapsed
}

func within(t *testing.T, what string, got, want time.Duration, tol float64) {
	t.Helper()
	lo, hi := time.Duration(float64(want)*(1-tol)), time.Duration(float64(want)*(1+tol))
	if got < lo || got > hi {
		t.Errorf("%s took %v, want %v ±%.0f%%", what, got, want, tol*100)
	} else {
		t.Logf("%s took %v (expected %v)", what, got, want)
	}
}

func TestPipeThroughput(t *testing.T) {
	p := Profile{Bandwidth: 4_000_000, Latency: 50 * time.Millisecond}
	a, b := Pipe(p)
	defer a.Close()
	defer b.Close()
	const size = 256 << 10
	want := time.Duration(size*8*int64(time.Second)/p.Bandwidth) + p.Latency
	within(t, "256 KiB at 4 Mbit/s", transfer(t, a, b, size), want, 0.2)
	st := a.(*Conn).Stats()
	if st.AToB != size || st.BToA != 0 || st.Cut {
		t.Errorf("Stats = %+v, want %d bytes a to b", st, size)
	}
}

func TestPipeLatency(t *testing.T) {
	p := Profile{Latency: 100 * time.Millisecond}
	a, b := Pipe(p)
	defer a.Close()
	defer b.Close()
	go func() { _, _ = io.Copy(b, b) }() // echo

	buf := make([]byte, 4)
	for i := range 3 {
		start := time.Now()
		if _, err := a.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if wrote := time.Since(start); wrote > 50*time.Millisecond {
			t.Errorf("Write blocked for %v; it should not wait out the latency", wrote)
		}
		if _, err := io.ReadFull(a, buf); err != nil {
			t.Fatal(err)
		}
		rtt := time.Since(start)
		if rtt < 2*p.Latency || rtt > 2*p.Latency+150*time.Millisecond {
			t.Errorf("ping %d: round trip %v, want about %v", i, rtt, 2*p.Latency)
		}
	}
}

func TestCutAfterBytes(t *testing.T) {
	const limit = 10_000
	a, b := Pipe(Profile{Latency: 20 * time.Millisecond, Bandwidth: 2_000_000, CutAfterBytes: limit})
	defer a.Close()
	defer b.Close()

	// Both directions carry data; the limit counts them together. A Write
	// that reaches it blocks until the cut.
	werr := make(chan error, 2)
	for _, c := range []net.Conn{a, b} {
		go func() {
			for {
				if _, err := c.Write(make([]byte, 4000)); err != nil {
					werr <- err
					return
				}
			}
		}()
	}
	var read [2]int64
	var rerr [2]error
	var wg sync.WaitGroup
	for i, c := range []net.Conn{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read[i], rerr[i] = io.Copy(io.Discard, c)
		}()
	}
	wg.Wait()
	for i := range rerr {
		if !errors.Is(rerr[i], ErrCut) {
			t.Errorf("end %d: Read error %v, want ErrCut", i, rerr[i])
		}
		if err := <-werr; !errors.Is(err, ErrCut) {
			t.Errorf("Write error %v, want ErrCut", err)
		}
	}
	if total := read[0] + read[1]; total > limit || total < limit/2 {
		t.Errorf("%d bytes arrived before the cut, want at most %d (and most of them)", total, limit)
	}
	st := b.(*Conn).Stats()
	if !st.Cut || st.AToB+st.BToA != read[0]+read[1] {
		t.Errorf("Stats = %+v, want a cut and %d bytes", st, read[0]+read[1])
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, ErrCut) {
		t.Errorf("Write after the cut: %v, want ErrCut", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after the cut: %v", err)
	}
}

func TestCutAt(t *testing.T) {
	const at = 200 * time.Millisecond
	start := time.Now()
	a, b := Pipe(Profile{Latency: 10 * time.Millisecond, CutAt: at})
	defer a.Close()
	defer b.Close()
	if _, err := a.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "before" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	_, err := b.Read(buf) // blocks until the cut
	if elapsed := time.Since(start); !errors.Is(err, ErrCut) || elapsed < at || elapsed > at+300*time.Millisecond {
		t.Errorf("Read returned %v after %v, want ErrCut after about %v", err, elapsed, at)
	}
	if _, err := a.Write([]byte("after")); !errors.Is(err, ErrCut) {
		t.Errorf("Write after the cut: %v, want ErrCut", err)
	}
	if !a.(*Conn).Stats().Cut {
		t.Error("Stats does not report the cut")
	}
}

// lossPattern writes size bytes into a link nobody reads and returns when
// each chunk would arrive, relative to the first, and how many segments
// were lost.
func lossPattern(p Profile, size int) ([]time.Duration, int) {
	a, b := Pipe(p)
	defer b.Close()
	defer a.Close()
	if _, err := a.Write(make([]byte, size)); err != nil {
		panic(err)
	}
	l := a.(*Conn).l
	l.mu.Lock()
	defer l.mu.Unlock()
	var at []time.Duration
	for _, s := range l.dirs[0].q {
		at = append(at, s.at.Sub(l.dirs[0].q[0].at))
	}
	return at, l.dirs[0].losses
}

func TestLossIsDeterministicAndSlows(t *testing.T) {
	p := Profile{Latency: 10 * time.Millisecond, Bandwidth: 8_000_000, Loss: 0.03, Seed: 7}
	const size = 128 << 10
	first, losses := lossPattern(p, size)
	again, _ := lossPattern(p, size)
	if losses == 0 {
		t.Fatal("seed 7 lost nothing; pick a seed that loses something")
	}
	if len(first) != len(again) {
		t.Fatalf("%d chunks, then %d", len(first), len(again))
	}
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("chunk %d arrives at +%v, then at +%v: the same seed must lose the same segments", i, first[i], again[i])
		}
	}
	p2 := p
	p2.Seed = 8
	other, _ := lossPattern(p2, size)
	if fmt.Sprint(other) == fmt.Sprint(first) {
		t.Error("seeds 7 and 8 give the same schedule")
	}

	a, b := Pipe(p)
	defer a.Close()
	defer b.Close()
	clean := time.Duration(size*8*int64(time.Second)/p.Bandwidth) + p.Latency
	want := clean + time.Duration(losses)*p.RTO()
	within(t, fmt.Sprintf("128 KiB with %d losses", losses), transfer(t, a, b, size), want, 0.2)
}

func TestPipeCloseAndDeadlines(t *testing.T) {
	a, b := Pipe(Profile{Latency: 30 * time.Millisecond})
	if _, err := a.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Errorf("after the peer closed: read %q, %v; want the bytes in flight, then EOF", got, err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write to a closed peer: %v, want io.ErrClosedPipe", err)
	}
	b.Close()

	a, b = Pipe(Profile{})
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	b.SetReadDeadline(time.Now().Add(-time.Second))
	select {
	case err := <-done:
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("blocked Read after a past deadline: %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a past read deadline did not wake a blocked Read")
	}

	// Fill the window; the next Write blocks until its deadline.
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	window := Profile{}.Window()
	n, err := a.Write(make([]byte, window+1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n != window || time.Since(start) < 90*time.Millisecond {
		t.Errorf("Write past a full window: %d, %v after %v; want %d, os.ErrDeadlineExceeded after 100ms", n, err, time.Since(start), window)
	}
	b.SetReadDeadline(time.Time{})
	a.SetWriteDeadline(time.Time{})
	if _, err := b.Read(make([]byte, 1)); err != nil {
		t.Errorf("Read after clearing the deadline: %v", err)
	}
}

func TestWrap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello")) // unshaped way back
		io.Copy(io.Discard, c)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := Profile{Latency: 100 * time.Millisecond, CutAfterBytes: 1005}
	c := Wrap(raw, p)
	defer c.Close()

	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v through the wrapper", buf, err)
	}
	start := time.Now()
	n, err := c.Write(make([]byte, 2000)) // crosses the limit: blocks until the cut
	if !errors.Is(err, ErrCut) || n != 1000 {
		t.Errorf("Write = %d, %v; want 1000 bytes, then ErrCut", n, err)
	}
	if elapsed := time.Since(start); elapsed < p.Latency {
		t.Errorf("the cut came after %v, before the last byte could arrive", elapsed)
	}
	if _, err := c.Read(buf); !errors.Is(err, ErrCut) {
		t.Errorf("Read after the cut: %v, want ErrCut", err)
	}
	if st := c.(*Conn).Stats(); st.AToB > 1000 || st.BToA != 5 || !st.Cut {
		t.Errorf("Stats = %+v, want at most 1000 out, 5 in, cut", st)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the cut: %v", err)
	}
}

func TestWrapCloseDeliversPending(t *testing.T) {
	x, y := net.Pipe()
	c := Wrap(x, Profile{Latency: 50 * time.Millisecond})
	start := time.Now()
	if _, err := c.Write([]byte("bundle")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(y)
	if err != nil || string(got) != "bundle" {
		t.Errorf("peer read %q, %v; want the bytes, then EOF", got, err)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("bytes arrived after %v, before the latency", elapsed)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
}

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestProxyEcho(t *testing.T) {
	p := Profile{Latency: 50 * time.Millisecond, Bandwidth: 2_000_000}
	ps, err := Proxy(context.Background(), "127.0.0.1:0", echoServer(t), p)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	c, err := net.Dial("tcp", ps.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const size = 64 << 10
	data := bytes.Repeat([]byte{1, 2, 3, 4}, size/4)
	start := time.Now()
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite() // the echo server sees EOF through the proxy
	}()
	got, err := io.ReadAll(c)
	elapsed := time.Since(start)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo returned %d bytes, %v; want the %d sent, then EOF", len(got), err, size)
	}
	// Serialized once each way (pipelined) plus a round trip.
	want := time.Duration(size*8*int64(time.Second)/p.Bandwidth) + 2*p.Latency
	if elapsed < want*8/10 || elapsed > 2*want+500*time.Millisecond {
		t.Errorf("echo of %d bytes took %v, want about %v", size, elapsed, want)
	}
	if st := ps.Stats(); st.AToB != size || st.BToA != size || st.Cut {
		t.Errorf("Stats = %+v, want %d each way", st, size)
	}
}

func TestProxyCut(t *testing.T) {
	ps, err := Proxy(context.Background(), "127.0.0.1:0", echoServer(t), Profile{CutAt: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	c, err := net.Dial("tcp", ps.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Read(buf); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read after the cut: %v, want the connection broken", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("the cut took %v to show", elapsed)
	}
	if st := ps.Stats(); !st.Cut || st.AToB != 4 || st.BToA != 4 {
		t.Errorf("Stats = %+v, want 4 bytes each way and a cut", st)
	}
}

func TestCutWriter(t *testing.T) {
	for _, tc := range []struct {
		limit  int64
		writes []int
		want   []int // bytes each write reports
	}{
		{0, []int{3}, []int{0}},
		{10, []int{4, 4, 4, 4}, []int{4, 4, 2, 0}},
		{8, []int{4, 4, 1}, []int{4, 4, 0}},
		{100, []int{50, 50}, []int{50, 50}},
	} {
		var out bytes.Buffer
		w := CutWriter(&out, tc.limit)
		var total int64
		for i, size := range tc.writes {
			n, err := w.Write(bytes.Repeat([]byte{'x'}, size))
			if n != tc.want[i] {
				t.Errorf("limit %d, write %d: wrote %d, want %d", tc.limit, i, n, tc.want[i])
			}
			total += int64(size)
			if cut := total > tc.limit; cut != errors.Is(err, ErrCut) || (!cut && err != nil) {
				t.Errorf("limit %d, write %d: error %v", tc.limit, i, err)
			}
		}
		if int64(out.Len()) != min(tc.limit, total) {
			t.Errorf("limit %d: %d bytes reached the file", tc.limit, out.Len())
		}
	}
}

func TestDamage(t *testing.T) {
	orig := bytes.Repeat([]byte("bundle frame "), 100)
	keep := bytes.Clone(orig)
	for _, flips := range []int{0, 1, 7, len(orig) - 1, len(orig), len(orig) + 5} {
		d := Damage(orig, 42, flips)
		if !bytes.Equal(d, Damage(orig, 42, flips)) {
			t.Errorf("flips %d: the same seed gave different damage", flips)
		}
		changed := 0
		for i := range d {
			if d[i] != orig[i] {
				changed++
			}
		}
		if changed != min(flips, len(orig)) {
			t.Errorf("flips %d: %d bytes changed", flips, changed)
		}
	}
	if bytes.Equal(Damage(orig, 1, 5), Damage(orig, 2, 5)) {
		t.Error("seeds 1 and 2 gave the same damage")
	}
	if !bytes.Equal(orig, keep) {
		t.Error("Damage modified its input")
	}
}
