package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	sp "github.com/floe-north/floe/syncproto"
)

func testPSK(t *testing.T) [32]byte {
	t.Helper()
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func testKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// p2pLog collects a host's log so a test can check what was written.
type p2pLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *p2pLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *p2pLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startHost starts a host and closes it when the test ends.
func startHost(t *testing.T, cfg HostConfig, handle func(context.Context, Stream)) *Host {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = testKey(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(&p2pLog{}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := NewHost(t.Context(), cfg, handle)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// echo answers "re:" and everything the peer wrote, once the peer closes
// its write side.
func echo(calls *atomic.Int32, from chan<- sp.DeviceID) func(context.Context, Stream) {
	return func(ctx context.Context, s Stream) {
		calls.Add(1)
		if from != nil {
			from <- s.Remote()
		}
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(s)
		if err != nil {
			return
		}
		_, _ = s.Write(append([]byte("re:"), b...))
	}
}

// roundTrip writes msg, closes the write side and reads the whole answer.
func roundTrip(s Stream, msg string) (string, error) {
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write([]byte(msg)); err != nil {
		return "", err
	}
	if err := s.CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(s)
	return string(b), err
}

func TestP2PExchange(t *testing.T) {
	psk := testPSK(t)
	var aCalls, bCalls atomic.Int32
	aFrom := make(chan sp.DeviceID, 1)
	a := startHost(t, HostConfig{PSK: psk}, echo(&aCalls, aFrom))
	b := startHost(t, HostConfig{PSK: psk, Listen: []string{}}, echo(&bCalls, nil))
	if got := b.Addrs(); len(got) != 0 {
		t.Errorf("dial-only host has addresses %v", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := b.Open(ctx, a.ID(), a.Addrs())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if s.Remote() != a.ID() {
		t.Errorf("Remote() = %s, want %s", s.Remote().Short(), a.ID().Short())
	}
	got, err := roundTrip(s, "hello from b")
	if err != nil || got != "re:hello from b" {
		t.Fatalf("b->a round trip = %q, %v", got, err)
	}
	s.Close()
	if from := <-aFrom; from != b.ID() {
		t.Errorf("a's handler saw %s, want %s", from.Short(), b.ID().Short())
	}

	// The other way: b listens nowhere, so a reuses b's connection.
	s, err = a.Open(ctx, b.ID(), nil)
	if err != nil {
		t.Fatalf("Open back over the existing connection: %v", err)
	}
	got, err = roundTrip(s, "hello from a")
	if err != nil || got != "re:hello from a" {
		t.Fatalf("a->b round trip = %q, %v", got, err)
	}
	s.Close()

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Open(ctx, b.ID(), nil); !errors.Is(err, ErrHostClosed) {
		t.Errorf("Open after Close: %v, want ErrHostClosed", err)
	}
	if aCalls.Load() != 1 || bCalls.Load() != 1 {
		t.Errorf("handler calls a=%d b=%d, want 1 each", aCalls.Load(), bCalls.Load())
	}
}

func TestP2PWrongPSK(t *testing.T) {
	var calls atomic.Int32
	a := startHost(t, HostConfig{PSK: testPSK(t)}, echo(&calls, nil))
	b := startHost(t, HostConfig{PSK: testPSK(t), Listen: []string{}}, echo(&calls, nil))

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	s, err := b.Open(ctx, a.ID(), a.Addrs())
	if err == nil {
		_, err = roundTrip(s, "let me in")
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open with another network key: %v, want ErrUnreachable", err)
	}
	a.Close() // waits for any handler
	if n := calls.Load(); n != 0 {
		t.Errorf("handler ran %d times for a peer with another network key", n)
	}
}

func TestP2PGater(t *testing.T) {
	psk := testPSK(t)
	bKey, cKey := testKey(t), testKey(t)
	var cDev sp.DeviceID
	copy(cDev[:], cKey.Public().(ed25519.PublicKey))
	var cAllowed atomic.Bool
	cAllowed.Store(true)
	allowed := func(d sp.DeviceID) bool { return d == cDev && cAllowed.Load() }

	var calls atomic.Int32
	a := startHost(t, HostConfig{PSK: psk, Allowed: allowed}, echo(&calls, nil))
	b := startHost(t, HostConfig{PSK: psk, Key: bKey}, echo(&calls, nil))
	c := startHost(t, HostConfig{PSK: psk, Key: cKey, Listen: []string{}}, echo(&calls, nil))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	// Outbound: a will not dial a device that is not a member.
	if _, err := a.Open(ctx, b.ID(), b.Addrs()); !errors.Is(err, ErrPeerNotAllowed) {
		t.Errorf("a.Open(b) = %v, want ErrPeerNotAllowed", err)
	}
	// Inbound: b has the PSK but is not a member; a drops it after the handshake.
	s, err := b.Open(ctx, a.ID(), a.Addrs())
	if err == nil {
		_, err = roundTrip(s, "let me in")
	}
	if err == nil {
		t.Fatal("a non-member got a stream through")
	}
	// A member gets through.
	s, err = c.Open(ctx, a.ID(), a.Addrs())
	if err != nil {
		t.Fatalf("member Open: %v", err)
	}
	if got, err := roundTrip(s, "member"); err != nil || got != "re:member" {
		t.Fatalf("member round trip = %q, %v", got, err)
	}
	s.Close()
	// Revoked while connected: the next stream is refused.
	cAllowed.Store(false)
	s, err = c.Open(ctx, a.ID(), a.Addrs())
	if err == nil {
		_, err = roundTrip(s, "still me")
	}
	if err == nil {
		t.Fatal("a revoked device got a stream through")
	}

	a.Close()
	if n := calls.Load(); n != 1 {
		t.Errorf("a's handler ran %d times, want 1 (the member, before revocation)", n)
	}
}

// rawHost is a libp2p host with the network key but none of Host's
// limits: a member whose software misbehaves.
func rawHost(t *testing.T, psk [32]byte) (peer.ID, func(context.Context, peer.ID, []string) (network.Stream, error)) {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.PrivateNetwork(pnet.PSK(psk[:])),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.NoListenAddrs,
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	open := func(ctx context.Context, p peer.ID, addrs []string) (network.Stream, error) {
		for _, s := range addrs {
			a, _, err := ParseAddr(s)
			if err != nil {
				t.Fatal(err)
			}
			h.Peerstore().AddAddr(p, ma.StringCast(a), peerstore.TempAddrTTL)
		}
		return h.NewStream(ctx, p, ProtocolID)
	}
	return h.ID(), open
}

func TestP2PStreamLimit(t *testing.T) {
	psk := testPSK(t)
	release := make(chan struct{})
	var held atomic.Int32
	// The handler says "ok" and then holds the stream until released.
	hold := func(ctx context.Context, s Stream) {
		held.Add(1)
		if _, err := s.Write([]byte("ok")); err != nil {
			return
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	target := startHost(t, HostConfig{PSK: psk}, hold)
	defer close(release)

	_, open := rawHost(t, psk)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	pid, err := PeerIDOf(target.ID())
	if err != nil {
		t.Fatal(err)
	}
	const tries = 3 * p2pSyncStreamsPerPeer
	var streams []network.Stream
	for range tries {
		s, err := open(ctx, pid, target.Addrs())
		if err != nil {
			continue // refused before negotiation: also fine
		}
		defer s.Reset()
		streams = append(streams, s)
	}
	served := 0
	for _, s := range streams {
		_ = s.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(s, buf); err == nil && string(buf) == "ok" {
			served++
		}
	}
	if served != p2pSyncStreamsPerPeer {
		t.Errorf("%d of %d concurrent streams were served, want exactly %d", served, tries, p2pSyncStreamsPerPeer)
	}

	// Another member is still served while the first one is at its limit.
	good := startHost(t, HostConfig{PSK: psk, Listen: []string{}}, func(context.Context, Stream) {})
	s, err := good.Open(ctx, target.ID(), target.Addrs())
	if err != nil {
		t.Fatalf("Open by a well-behaved member: %v", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("well-behaved member read %q, %v", buf, err)
	}
	if n := held.Load(); n != p2pSyncStreamsPerPeer+1 {
		t.Errorf("handler ran %d times, want %d", n, p2pSyncStreamsPerPeer+1)
	}
}

func TestP2PAddrs(t *testing.T) {
	h := startHost(t, HostConfig{PSK: testPSK(t)}, func(context.Context, Stream) {})
	addrs := h.Addrs()
	if len(addrs) == 0 {
		t.Fatal("a listening host has no addresses")
	}
	pid, err := PeerIDOf(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range addrs {
		if !strings.HasPrefix(s, "/ip4/127.0.0.1/tcp/") || !strings.HasSuffix(s, "/p2p/"+pid.String()) {
			t.Errorf("address %q: want loopback TCP ending in /p2p/%s", s, pid)
		}
		addr, dev, err := ParseAddr(s)
		if err != nil {
			t.Fatalf("ParseAddr(%q): %v", s, err)
		}
		if dev != h.ID() || addr+"/p2p/"+pid.String() != s {
			t.Errorf("ParseAddr(%q) = %q, %s", s, addr, dev.Short())
		}
	}
	if back, err := DeviceOf(pid); err != nil || back != h.ID() {
		t.Errorf("DeviceOf(PeerIDOf(id)) = %s, %v", back.Short(), err)
	}

	// Peer IDs that are not ed25519 keys are not devices.
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpID, err := peer.IDFromPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DeviceOf(secpID); err == nil {
		t.Error("DeviceOf accepted a secp256k1 peer ID")
	}

	bad := []struct{ in, want string }{
		{"", "not a peer address"},
		{"192.168.1.20:4040", "not a peer address"},
		{"/ip4/192.168.1.20/tcp/4040", "no /p2p/<peer id>"},
		{"/p2p/" + pid.String(), "no network address"},
		{"/ip4/192.168.1.20/udp/4040/quic-v1/p2p/" + pid.String(), "TCP only"},
		{"/ip4/192.168.1.20/tcp/4040/p2p/" + secpID.String(), "not a Floe device"},
	}
	for _, tc := range bad {
		_, _, err := ParseAddr(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddr(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestP2POpenClosedPort(t *testing.T) {
	psk := testPSK(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	h := startHost(t, HostConfig{PSK: psk, Listen: []string{}}, func(context.Context, Stream) {})
	var dev sp.DeviceID
	copy(dev[:], testKey(t).Public().(ed25519.PublicKey))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = h.Open(ctx, dev, []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(port)})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open to a closed port: %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v past a 2s deadline", d)
	}
	if !strings.Contains(err.Error(), dev.Short()) {
		t.Errorf("error %q does not name the device", err)
	}
	// With no address at all, the error says so too.
	if _, err := h.Open(ctx, dev, nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Open with no address: %v, want ErrUnreachable", err)
	}
}

func TestP2PConfigErrors(t *testing.T) {
	psk := testPSK(t)
	key := testKey(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := "/ip4/127.0.0.1/tcp/" + strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		name string
		cfg  HostConfig
		want string
	}{
		{"short key", HostConfig{Key: key[:32], PSK: psk}, "device key"},
		{"zero psk", HostConfig{Key: key}, "all zeros"},
		{"quic listen", HostConfig{Key: key, PSK: psk, Listen: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}}, "only TCP"},
		{"bad listen", HostConfig{Key: key, PSK: psk, Listen: []string{"127.0.0.1:0"}}, "not a multiaddr"},
		{"port in use", HostConfig{Key: key, PSK: psk, Listen: []string{busyAddr}}, busyAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHost(t.Context(), tc.cfg, func(context.Context, Stream) {})
			if err == nil {
				h.Close()
				t.Fatal("NewHost succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestP2PLogs(t *testing.T) {
	psk := testPSK(t)
	var logs p2pLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var calls atomic.Int32
	a := startHost(t, HostConfig{PSK: psk, Logger: log}, echo(&calls, nil))
	b := startHost(t, HostConfig{PSK: psk, Logger: log, Listen: []string{}}, echo(&calls, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := b.Open(ctx, a.ID(), a.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	const secret = "safe-house-at-km-42"
	if _, err := roundTrip(s, secret); err != nil {
		t.Fatal(err)
	}
	s.Close()
	a.Close()
	b.Close()
	out := logs.String()
	if strings.Contains(out, secret) {
		t.Errorf("payload reached the log:\n%s", out)
	}
	if !strings.Contains(out, "subsystem=p2p") || !strings.Contains(out, "stream accepted") {
		t.Errorf("log lacks the p2p subsystem or stream events:\n%s", out)
	}
}
