package node

// The libp2p host: the one place in Floe that opens network sockets.
//
// A Host carries byte streams between member devices and nothing else. It
// knows nothing of frames, entries or sessions; the sync code drives it:
//
//  1. NewHost with the device key, the network's pre-shared key and an
//     Allowed func that answers "is this device a current member?".
//  2. Incoming /floe/sync/1 streams are handed to the handle func, one
//     goroutine each. When handle returns, the stream is closed.
//  3. Open dials a member at the addresses the caller knows (from the
//     membership records or typed in by a person) and returns a stream.
//  4. Close stops listening, resets every stream and waits for the handle
//     calls to return.
//
// What is on and off, the resource limits and why, and what a watcher on
// the network still sees are written down in docs/p2p.md. Keep the two in
// step. In short, a watcher without the PSK sees addresses, ports, timing
// and volume, never device IDs, protocol names or content. A prober that
// connects to a listening port gets 44 random-looking bytes (the pnet
// nonce and the encrypted multistream header) and then silence until the
// 15 s handshake timeout. That fingerprints "libp2p with a private
// network", not which network.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	sp "github.com/floe-north/floe/syncproto"
)

// ProtocolID names the live sync protocol on a libp2p stream. Bump the
// number, never reuse it, when the stream format changes incompatibly.
const ProtocolID = "/floe/sync/1"

// DefaultListen is where a host listens when HostConfig.Listen is nil:
// loopback only, on a port the system picks.
const DefaultListen = "/ip4/127.0.0.1/tcp/0"

// Errors from Open that callers branch on.
var (
	// ErrPeerNotAllowed means the device is not a current member by this
	// node's Allowed func, so the host will not talk to it.
	ErrPeerNotAllowed = errors.New("device is not a current member of this network")
	// ErrUnreachable means no connection could be made or kept: the peer is
	// off, the address is wrong, the two nodes use different network keys,
	// or the peer does not accept this device.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrHostClosed means Close has been called.
	ErrHostClosed = errors.New("p2p host is closed")
)

// Resource limits. An old laptop in a band office and a hub that many
// laptops sync with both have to survive a misbehaving member without
// running out of memory, file descriptors or patience. The numbers are
// fixed (not scaled to the machine's memory) so that every node behaves
// the same and the limits can be reasoned about. docs/p2p.md explains each.
//
// Two more limits keep go-libp2p's defaults and are not set here: at most
// 8 concurrent connections per remote IPv4 address (per IPv6 /56), and new
// connections per address at a burst of 16, then one every 5 s. Loopback
// is exempt.
const (
	// Whole host.
	p2pMaxConns     = 64 // a hub serves a community's laptops; more is an attack or a bug
	p2pMaxConnsIn   = 48 // leaves room to dial out when inbound is full
	p2pMaxConnsOut  = 32
	p2pMaxFD        = 64       // one per TCP connection; stays far below old OS defaults (256 on macOS)
	p2pMaxStreams   = 256      // 64 MiB / 256 KiB initial yamux window per stream
	p2pMaxStreamsIn = 192      // inbound may use most of it
	p2pMaxMemory    = 64 << 20 // yamux receive windows and buffers, all peers together
	// Connections and streams not yet tied to a peer or a protocol
	// (during the handshake and protocol negotiation).
	p2pTransientConns   = 16
	p2pTransientStreams = 32
	p2pTransientMemory  = 8 << 20
	// One peer, all protocols.
	p2pPeerConns   = 4 // one is normal; simultaneous dials make two
	p2pPeerStreams = 32
	p2pPeerStrIn   = 16
	p2pPeerMemory  = 16 << 20 // yamux windows stop growing here: a fast peer gets less throughput, the host keeps its memory
	// One connection, one stream.
	p2pConnMemory   = 8 << 20
	p2pStreamMemory = 4 << 20
	// The sync protocol, all peers together and per peer. A sync session is
	// one stream; blob fetches may add a few. A peer that opens more is
	// refused: the extra streams are reset before handle sees them.
	p2pSyncStreams        = 160
	p2pSyncStreamsIn      = 128
	p2pSyncStreamsPerPeer = 8
	p2pSyncMemory         = 48 << 20
	p2pSyncPeerMemory     = 8 << 20
	// Any other protocol that somehow passes negotiation.
	p2pOtherStreams        = 16
	p2pOtherStreamsPerPeer = 2
	// Idle-connection trimming: above the high mark, the oldest unused
	// connections (past the grace period) are closed down to the low mark.
	// Connections carrying a Floe stream are protected.
	p2pTrimLow   = 32
	p2pTrimHigh  = 48
	p2pTrimGrace = time.Minute
)

// HostConfig configures a Host.
type HostConfig struct {
	// Key is the device's ed25519 key; the libp2p peer ID is derived from it.
	Key ed25519.PrivateKey
	// PSK is the network's pre-shared key. Nodes with different keys cannot
	// finish a libp2p handshake with each other. It must not be all zeros.
	PSK [32]byte
	// Listen lists TCP multiaddrs to listen on. Nil means DefaultListen; an
	// empty, non-nil slice means listen nowhere (dial only).
	Listen []string
	// Allowed reports whether a device is a current member. It is asked on
	// every connection (both directions, after the handshake), on every
	// incoming stream and before every Open, so a revocation takes effect
	// for the next stream. Nil allows every device that has the PSK; use
	// that only in tests.
	Allowed func(sp.DeviceID) bool
	// Logger receives events with "subsystem"="p2p". Nil discards them.
	// Payloads are never logged; device IDs and addresses are.
	Logger *slog.Logger
}

// Stream is a reliable, ordered byte stream to one member device.
type Stream interface {
	io.ReadWriteCloser
	// CloseWrite tells the peer nothing more will be written; reading
	// still works.
	CloseWrite() error
	// SetDeadline sets the read and write deadline.
	SetDeadline(time.Time) error
	// Remote is the device at the other end, proved by the handshake.
	Remote() sp.DeviceID
	// Reset aborts the stream in both directions.
	Reset() error
}

// Host is a running libp2p host for one device. Its methods are safe for
// concurrent use.
//
// On: TCP, the private-network PSK layer, Noise, yamux, a connection gater,
// a fixed resource manager, idle-connection trimming, and identify
// (/ipfs/id/1.0.0 and /ipfs/id/push/1.0.0), which go-libp2p's host always
// runs: after the handshake, members learn each other's public key, listen
// addresses, the address they see us at, supported protocols and the agent
// string "floe".
//
// Off: QUIC, WebSocket, WebTransport, WebRTC, TLS, relay (as client and
// service), hole punching, NAT port mapping (UPnP/NAT-PMP), AutoNAT probing
// and the AutoNAT service, AutoNAT v2, ping, DHT and any routing, mDNS,
// learning our own address from what peers observe, metrics, and TCP port
// reuse for outgoing dials.
type Host struct {
	h      host.Host
	rm     network.ResourceManager
	id     sp.DeviceID
	log    *slog.Logger
	gate   *p2pGater
	handle func(context.Context, Stream)

	ctx    context.Context // cancelled by Close; parent of handler contexts
	cancel context.CancelFunc
	tags   atomic.Uint64 // makes connection-protection tags unique

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // running handle calls
}

// NewHost starts a host and begins serving ProtocolID streams with handle.
// ctx bounds only the start; the host runs until Close. handle runs once
// per incoming stream, in its own goroutine, with a context that Close
// cancels; the stream is closed when handle returns.
func NewHost(ctx context.Context, cfg HostConfig, handle func(ctx context.Context, s Stream)) (*Host, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting p2p host: %w", err)
	}
	if handle == nil {
		panic("bug: NewHost with a nil handle func")
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("starting p2p host: device key has %d bytes, want %d", len(cfg.Key), ed25519.PrivateKeySize)
	}
	if cfg.PSK == ([32]byte{}) {
		return nil, errors.New("starting p2p host: the network key is all zeros; it must be derived from the network secret")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsystem", "p2p")

	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("starting p2p host: device key: %w", err)
	}
	var id sp.DeviceID
	copy(id[:], cfg.Key.Public().(ed25519.PublicKey))

	listen := cfg.Listen
	if listen == nil {
		listen = []string{DefaultListen}
	}
	listenAddrs := make([]ma.Multiaddr, 0, len(listen))
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("starting p2p host: listen address %q is not a multiaddr: %v", s, err)
		}
		if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
			return nil, fmt.Errorf("starting p2p host: listen address %q is not TCP; only TCP is supported (for example /ip4/0.0.0.0/tcp/4040)", s)
		}
		listenAddrs = append(listenAddrs, a)
	}

	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(p2pLimits()))
	if err != nil {
		return nil, fmt.Errorf("starting p2p host: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(p2pTrimLow, p2pTrimHigh, connmgr.WithGracePeriod(p2pTrimGrace))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("starting p2p host: connection manager: %w", err)
	}
	gate := &p2pGater{allowed: cfg.Allowed, log: log}
	psk := cfg.PSK // pnet keeps the slice; give it its own copy

	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.PrivateNetwork(pnet.PSK(psk[:])),
		// Exactly one transport, one security protocol, one muxer.
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(gate),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		// Everything that finds, announces or traverses is off.
		libp2p.DisableRelay(),
		libp2p.ForceReachabilityPrivate(), // AutoNAT v1 client stays static: no probes
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.Ping(false),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("floe"),
		libp2p.UDPBlackHoleSuccessCounter(nil),
		libp2p.IPv6BlackHoleSuccessCounter(nil),
	}
	if len(listenAddrs) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrs(listenAddrs...))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("starting p2p host (listening on %s): %w", strings.Join(listen, ", "), err)
	}

	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ph := &Host{
		h: h, rm: rm, id: id, log: log, gate: gate, handle: handle,
		ctx: hctx, cancel: cancel,
	}
	h.SetStreamHandler(ProtocolID, ph.serve)
	log.Info("p2p host started", "device", id.Short(), "addrs", ph.Addrs())
	return ph, nil
}

// ID is this host's device.
func (h *Host) ID() sp.DeviceID { return h.id }

// Addrs returns the addresses other members can dial, each ending in
// /p2p/<peer id>, or none for a dial-only host. An unspecified listen
// address (0.0.0.0) is expanded to the machine's interface addresses.
func (h *Host) Addrs() []string {
	full, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.h.ID(), Addrs: h.h.Addrs()})
	if err != nil {
		panic("bug: own peer ID does not form a multiaddr: " + err.Error())
	}
	out := make([]string, 0, len(full))
	for _, a := range full {
		if transport, _ := peer.SplitAddr(a); len(transport) == 0 {
			continue // no listen addresses: only the bare /p2p part
		}
		out = append(out, a.String())
	}
	return out
}

// Open connects to dev (unless already connected) and opens a ProtocolID
// stream. addrs are TCP multiaddrs, bare or ending in /p2p/<peer id> of
// dev; they are remembered for two minutes (peerstore.TempAddrTTL). The
// protocol is confirmed lazily: if the peer refuses the stream, the first
// Read fails. Close or Reset every stream; at most 8 (p2pSyncStreamsPerPeer)
// may be open to one peer at a time, in each direction.
//
// Errors wrap ErrPeerNotAllowed when dev is not a member by this node's
// Allowed func, ErrUnreachable when no connection could be made, and
// ErrHostClosed after Close.
func (h *Host) Open(ctx context.Context, dev sp.DeviceID, addrs []string) (Stream, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, ErrHostClosed
	}
	if dev == h.id {
		return nil, errors.New("opening a stream: that is this device's own ID")
	}
	if !h.gate.allows(dev) {
		return nil, fmt.Errorf("opening a stream to %s: %w", dev.Short(), ErrPeerNotAllowed)
	}
	pid, err := PeerIDOf(dev)
	if err != nil {
		return nil, fmt.Errorf("opening a stream to %s: %w", dev.Short(), err)
	}
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("opening a stream to %s: address %q is not a multiaddr: %v", dev.Short(), s, err)
		}
		transport, id := peer.SplitAddr(a)
		if id != "" && id != pid {
			return nil, fmt.Errorf("opening a stream to %s: address %q belongs to another device", dev.Short(), s)
		}
		if len(transport) == 0 {
			continue
		}
		mas = append(mas, transport)
	}
	h.h.Peerstore().AddAddrs(pid, mas, peerstore.TempAddrTTL)
	// The caller decides when to retry; don't let an earlier failure
	// (a laptop that was asleep) block this dial.
	if b, ok := h.h.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		b.Backoff().Clear(pid)
	}

	s, err := h.h.NewStream(ctx, pid, ProtocolID)
	if err != nil {
		h.log.Debug("open failed", "device", dev.Short(), "err", err)
		return nil, fmt.Errorf("%w: %s at %s: %w (check the address, that the peer is running, that both nodes use the same network key, and that the peer counts this device as a member)",
			ErrUnreachable, dev.Short(), p2pAddrList(addrs), err)
	}
	h.log.Debug("stream opened", "device", dev.Short())
	return h.wrap(s, dev), nil
}

// Close stops listening, closes every connection and waits for running
// handle calls to return. It is safe to call more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()

	h.cancel()
	err := h.h.Close() // resets every stream, so handlers blocked in Read return
	h.wg.Wait()
	if rerr := h.rm.Close(); err == nil {
		err = rerr
	}
	h.log.Info("p2p host stopped")
	if err != nil {
		return fmt.Errorf("closing p2p host: %w", err)
	}
	return nil
}

// serve runs for each incoming ProtocolID stream, on libp2p's goroutine
// for that stream.
func (h *Host) serve(s network.Stream) {
	dev, err := DeviceOf(s.Conn().RemotePeer())
	if err != nil || !h.gate.allows(dev) {
		// Membership can be revoked after the connection was admitted.
		h.log.Info("refused stream from a device that is not a member", "peer", s.Conn().RemotePeer().String())
		_ = s.Reset()
		_ = s.Conn().Close()
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = s.Reset()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	st := h.wrap(s, dev)
	h.log.Debug("stream accepted", "device", dev.Short())
	h.handle(ctx, st)
	if err := st.Close(); err != nil {
		_ = st.Reset()
	}
}

// wrap protects the connection from idle trimming while the stream is open.
func (h *Host) wrap(s network.Stream, dev sp.DeviceID) *p2pStream {
	tag := "floe-stream-" + strconv.FormatUint(h.tags.Add(1), 10)
	pid := s.Conn().RemotePeer()
	cm := h.h.ConnManager()
	cm.Protect(pid, tag)
	return &p2pStream{s: s, remote: dev, done: func() { cm.Unprotect(pid, tag) }}
}

type p2pStream struct {
	s      network.Stream
	remote sp.DeviceID
	once   sync.Once
	done   func()
}

var _ Stream = (*p2pStream)(nil)

func (s *p2pStream) Read(p []byte) (int, error)    { return s.s.Read(p) }
func (s *p2pStream) Write(p []byte) (int, error)   { return s.s.Write(p) }
func (s *p2pStream) CloseWrite() error             { return s.s.CloseWrite() }
func (s *p2pStream) SetDeadline(t time.Time) error { return s.s.SetDeadline(t) }
func (s *p2pStream) Remote() sp.DeviceID           { return s.remote }
func (s *p2pStream) Close() error                  { s.once.Do(s.done); return s.s.Close() }
func (s *p2pStream) Reset() error                  { s.once.Do(s.done); return s.s.Reset() }
func (s *p2pStream) String() string                { return "p2p stream with " + s.remote.Short() }

// p2pGater admits only member devices. Dials and accepted connections are
// checked by peer ID once the Noise handshake has proved it; a stranger
// without the PSK never gets that far.
type p2pGater struct {
	allowed func(sp.DeviceID) bool
	log     *slog.Logger
}

func (g *p2pGater) allows(dev sp.DeviceID) bool { return g.allowed == nil || g.allowed(dev) }

func (g *p2pGater) allowsPeer(p peer.ID) bool {
	dev, err := DeviceOf(p)
	return err == nil && g.allows(dev)
}

// InterceptPeerDial refuses to dial a non-member.
func (g *p2pGater) InterceptPeerDial(p peer.ID) bool { return g.allowsPeer(p) }

// InterceptAddrDial allows every address: only TCP can be dialled anyway.
func (g *p2pGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept allows every inbound TCP connection to reach the
// handshake; the PSK and InterceptSecured do the refusing.
func (g *p2pGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses a non-member once its identity is proved, in
// both directions.
func (g *p2pGater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if g.allowsPeer(p) {
		return true
	}
	g.log.Info("refused connection from a device that is not a member", "peer", p.String(), "direction", dir.String())
	return false
}

// InterceptUpgraded allows: the decision was made in InterceptSecured.
func (g *p2pGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// p2pLimits builds the resource manager's fixed limits from the constants
// above. Anything not set here keeps go-libp2p's unscaled defaults, with
// its limits for identify.
func p2pLimits() rcmgr.ConcreteLimitConfig {
	def := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&def)
	base := def.Scale(0, 0) // below 128 MiB: the base values, no scaling

	v := func(n int) rcmgr.LimitVal { return rcmgr.LimitVal(n) }
	m := func(n int64) rcmgr.LimitVal64 { return rcmgr.LimitVal64(n) }
	syncPerPeer := rcmgr.ResourceLimits{
		Streams:         v(2 * p2pSyncStreamsPerPeer),
		StreamsInbound:  v(p2pSyncStreamsPerPeer),
		StreamsOutbound: v(p2pSyncStreamsPerPeer),
		Memory:          m(p2pSyncPeerMemory),
	}
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: v(p2pMaxConns), ConnsInbound: v(p2pMaxConnsIn), ConnsOutbound: v(p2pMaxConnsOut),
			Streams: v(p2pMaxStreams), StreamsInbound: v(p2pMaxStreamsIn), StreamsOutbound: v(p2pMaxStreams / 2),
			FD: v(p2pMaxFD), Memory: m(p2pMaxMemory),
		},
		Transient: rcmgr.ResourceLimits{
			Conns: v(p2pTransientConns), ConnsInbound: v(p2pTransientConns), ConnsOutbound: v(p2pTransientConns),
			Streams: v(p2pTransientStreams), StreamsInbound: v(p2pTransientStreams), StreamsOutbound: v(p2pTransientStreams),
			FD: v(p2pTransientConns), Memory: m(p2pTransientMemory),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: v(p2pPeerConns), ConnsInbound: v(p2pPeerConns), ConnsOutbound: v(p2pPeerConns),
			Streams: v(p2pPeerStreams), StreamsInbound: v(p2pPeerStrIn), StreamsOutbound: v(p2pPeerStrIn),
			FD: v(p2pPeerConns), Memory: m(p2pPeerMemory),
		},
		Conn:   rcmgr.ResourceLimits{Memory: m(p2pConnMemory)},
		Stream: rcmgr.ResourceLimits{Memory: m(p2pStreamMemory)},
		ProtocolDefault: rcmgr.ResourceLimits{
			Streams: v(p2pOtherStreams), StreamsInbound: v(p2pOtherStreams), StreamsOutbound: v(p2pOtherStreams),
		},
		ProtocolPeerDefault: rcmgr.ResourceLimits{
			Streams: v(p2pOtherStreamsPerPeer), StreamsInbound: v(p2pOtherStreamsPerPeer), StreamsOutbound: v(p2pOtherStreamsPerPeer),
		},
		Protocol: map[protocol.ID]rcmgr.ResourceLimits{
			ProtocolID: {
				Streams: v(p2pSyncStreams), StreamsInbound: v(p2pSyncStreamsIn), StreamsOutbound: v(p2pSyncStreamsIn),
				Memory: m(p2pSyncMemory),
			},
		},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{ProtocolID: syncPerPeer},
	}
	return partial.Build(base)
}

// PeerIDOf is the libp2p peer ID of a device: the identity multihash of
// its ed25519 public key.
func PeerIDOf(dev sp.DeviceID) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(dev[:])
	if err != nil {
		return "", fmt.Errorf("device %s: %w", dev.Short(), err)
	}
	return peer.IDFromPublicKey(pub)
}

// DeviceOf is the device a peer ID names. Peer IDs that do not embed an
// ed25519 key (RSA, secp256k1, hashed keys) are not Floe devices.
func DeviceOf(p peer.ID) (sp.DeviceID, error) {
	var dev sp.DeviceID
	pub, err := p.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return dev, fmt.Errorf("peer %s is not a Floe device (its ID does not carry an ed25519 key)", p)
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != len(dev) {
		return dev, fmt.Errorf("peer %s is not a Floe device (bad ed25519 key)", p)
	}
	copy(dev[:], raw)
	// Only the canonical encoding names a device.
	if back, err := PeerIDOf(dev); err != nil || back != p {
		return sp.DeviceID{}, fmt.Errorf("peer %s is not a Floe device (non-canonical ID)", p)
	}
	return dev, nil
}

// ParseAddr splits a full address as shown by Host.Addrs, such as
// "/ip4/192.168.1.20/tcp/4040/p2p/12D3KooW...", into the transport part
// and the device it leads to.
func ParseAddr(s string) (addr string, dev sp.DeviceID, err error) {
	a, err := ma.NewMultiaddr(strings.TrimSpace(s))
	if err != nil {
		return "", dev, fmt.Errorf("%q is not a peer address (want something like /ip4/192.168.1.20/tcp/4040/p2p/12D3KooW...): %v", s, err)
	}
	transport, pid := peer.SplitAddr(a)
	if pid == "" {
		return "", dev, fmt.Errorf("%q has no /p2p/<peer id> at the end; copy the full address the other node shows", s)
	}
	if len(transport) == 0 {
		return "", dev, fmt.Errorf("%q has a peer ID but no network address before it (want /ip4/<address>/tcp/<port>/p2p/<peer id>)", s)
	}
	if _, err := transport.ValueForProtocol(ma.P_TCP); err != nil {
		return "", dev, fmt.Errorf("%q is not a TCP address; Floe connects over TCP only", s)
	}
	dev, err = DeviceOf(pid)
	if err != nil {
		return "", dev, fmt.Errorf("%q: %w", s, err)
	}
	return transport.String(), dev, nil
}

// p2pAddrList formats addresses for an error message.
func p2pAddrList(addrs []string) string {
	if len(addrs) == 0 {
		return "(no new address; known addresses only)"
	}
	return strings.Join(addrs, ", ")
}
