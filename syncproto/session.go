package syncproto

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Session is one side of one sync session: a pure state machine in the
// style of raft's Step and Ready. It does no I/O and reads no clock.
//
// The caller's duties, in order:
//
//  1. Make the session with NewSession. The initiator calls Start.
//  2. Loop until Done: call Ready; write its Frames, in order, to the peer;
//     verify and apply its Apply entries, durably, then call Advance. Feed
//     every frame payload that arrives from the peer to Step. Reading and
//     writing must run concurrently, or two peers sending at once can both
//     block on full buffers.
//  3. If Step or Ready returns an error, write the frames of one more Ready
//     (an Abort telling the peer why) if you can, and close the link.
//
// Entries are applied in batches, one per Entries frame, as they arrive. A
// link cut loses at most the batch in flight; the next session reconciles
// from what was applied and does not resend it.
type Session struct {
	cfg   SessionConfig
	stats Stats

	helloSent, helloRecv bool
	peer                 Hello
	rec                  *reconciler
	reconDone            bool
	roundRanges          []byte // the round being received
	roundWants           []byte

	order   []int32  // what to send, in lane order
	lanes   []Lane   // the lane of each in order
	cached  [][]byte // encoded entries kept from the lane pass, if small
	next    int      // position in order
	endSent bool

	peerEnd    bool
	peerSent   uint64
	received   uint64
	handedOut  int  // entries in the Apply of the last Ready
	readyOut   bool // a Ready was given and not yet advanced
	heldBack   uint64
	applied    uint64
	finSent    bool
	peerFin    bool
	equal      bool // digests matched at hello
	aborted    bool
	err        error
	out        [][]byte
	apply      []Entry
	readyCount int
}

// EntrySource reads the entries a session sends.
type EntrySource interface {
	// LoadEntry returns the canonical encoding of the entry with sync key k
	// and the lane it travels in. ErrNotFound means the entry is gone since
	// the snapshot; it is skipped.
	LoadEntry(k SyncKey) ([]byte, Lane, error)
}

// SessionConfig sets up a session.
type SessionConfig struct {
	Initiator bool
	Network   NetworkID
	Local     DeviceID
	// Peer is who the other side must be; zero accepts anyone on the
	// network (the carrier has authenticated the link, or not).
	Peer DeviceID
	// Salt keys short IDs; the initiator picks it at random.
	Salt Salt
	// Digest is the local store's digest (Summary().Digest).
	Digest Digest
	// Keys returns the local sync keys in order. It is called only when the
	// two digests differ.
	Keys   func() ([]SyncKey, error)
	Source EntrySource
	// Leaf and Branch tune reconciliation; zero means LeafSize and
	// BranchFactor.
	Leaf, Branch int
	// BatchBytes caps an Entries frame's payload; zero means MaxFrameLen.
	BatchBytes int
	// LaneCache caps the bytes of encoded entries kept between the lane
	// pass and sending; zero means 16 MiB.
	LaneCache int
	// Capped limits the session to Allowance bytes of traffic (both
	// ways) for everything but the members and urgent lanes, which
	// always go. The peer learns it from the hello and keeps to the
	// smaller allowance of the two. A metered link's daily budget sets
	// it.
	Capped    bool
	Allowance int64
}

// Traffic counts the bytes of one direction, by what they carried.
type Traffic struct {
	Payload  int64 // encoded entries
	IDs      int64 // short IDs in rounds and wants
	Protocol int64 // everything else: framing, hellos, bounds, fingerprints
	Frames   int64
}

// Total is all the bytes.
func (t Traffic) Total() int64 { return t.Payload + t.IDs + t.Protocol }

// Stats describe a session so far.
type Stats struct {
	Out, In     Traffic
	RoundsOut   int // reconciliation rounds sent
	RoundsIn    int // and received
	ToSend      int // entries this side will send, once reconciliation is done
	Sent        int // entries sent
	Received    uint64
	Applied     uint64
	PeerPending uint64 // entries the peer announced and we have not received
	// HeldBack counts entries received and not kept for now (see
	// HoldBack); PeerHeldBack, those the peer said it held back.
	HeldBack, PeerHeldBack uint64
	// Withheld counts entries this side did not send because the
	// session's allowance was spent; PeerWithheld, those the peer did not.
	Withheld, PeerWithheld uint64
	Complete               bool
}

// ErrPeerAbort means the peer ended the session; PeerAbortError says why.
var ErrPeerAbort = errors.New("peer ended the session")

// PeerAbortError carries the peer's reason.
type PeerAbortError struct{ Reason string }

func (e *PeerAbortError) Error() string { return "the peer ended the session: " + e.Reason }
func (e *PeerAbortError) Unwrap() error { return ErrPeerAbort }

// ErrProtocol means the peer broke the protocol; the session is over.
var ErrProtocol = errors.New("sync protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// ErrWrongNetwork means the peer belongs to another network.
var ErrWrongNetwork = errors.New("peer is on another network")

// ErrWrongDevice means the peer is not the device this session expects, or
// it meant to reach another device.
var ErrWrongDevice = errors.New("wrong device")

// NewSession makes a session.
func NewSession(cfg SessionConfig) *Session {
	if cfg.Leaf <= 0 {
		cfg.Leaf = LeafSize
	}
	if cfg.Branch < 2 {
		cfg.Branch = BranchFactor
	}
	if cfg.BatchBytes <= 0 || cfg.BatchBytes > MaxFrameLen {
		cfg.BatchBytes = MaxFrameLen
	}
	if cfg.LaneCache <= 0 {
		cfg.LaneCache = 16 << 20
	}
	return &Session{cfg: cfg}
}

func (s *Session) hello() Hello {
	h := Hello{Network: s.cfg.Network, From: s.cfg.Local, To: s.cfg.Peer, Salt: s.cfg.Salt,
		Count: s.cfg.Digest.Count, Sum: s.cfg.Digest.Sum}
	if s.cfg.Capped {
		h.Capped, h.Allowance = true, uint64(max(s.cfg.Allowance, 0))
	}
	return h
}

// Allowance is the session's cap on traffic for the lanes after the
// urgent one: the smaller of this side's and the peer's, once the peer's
// hello is here. ok is false when neither side is capped.
func (s *Session) Allowance() (bytes int64, ok bool) {
	if s.cfg.Capped {
		bytes, ok = max(s.cfg.Allowance, 0), true
	}
	if s.helloRecv && s.peer.Capped {
		a := int64(min(s.peer.Allowance, 1<<62))
		if !ok || a < bytes {
			bytes = a
		}
		ok = true
	}
	return bytes, ok
}

// Remaining is what is left of the allowance after the traffic so far.
func (s *Session) Remaining() (bytes int64, ok bool) {
	a, ok := s.Allowance()
	if !ok {
		return 0, false
	}
	return max(a-s.stats.Out.Total()-s.stats.In.Total(), 0), true
}

// Start queues the initiator's hello.
func (s *Session) Start() {
	if !s.cfg.Initiator || s.helloSent {
		panic("bug: Start on a responder or twice")
	}
	s.send(MsgHello, s.hello(), 0, 0)
	s.helloSent = true
}

// send queues a message and counts it; payload and ids say how many of its
// bytes were entries and short IDs.
func (s *Session) send(kind MsgKind, body any, payload, ids int) {
	p := EncodeMsg(kind, body)
	if len(p) > MaxFrameLen {
		panic("bug: message over the frame cap: " + kind.String())
	}
	s.out = append(s.out, AppendFrame(nil, p))
	n := int64(len(p) + FrameOverhead)
	s.stats.Out.Frames++
	s.stats.Out.Payload += int64(payload)
	s.stats.Out.IDs += int64(ids)
	s.stats.Out.Protocol += n - int64(payload) - int64(ids)
}

// fail ends the session: the error is kept and an Abort is queued.
func (s *Session) fail(err error) error {
	if s.err == nil {
		s.err = err
		if !errors.Is(err, ErrPeerAbort) {
			reason := capText(peerReason(err), MaxAbortReason)
			s.out = s.out[:0]
			s.send(MsgAbort, Abort{Reason: reason}, 0, 0)
		}
	}
	return s.err
}

// ErrAborted means this side ended the session.
var ErrAborted = errors.New("session aborted")

// Abort ends the session from this side; the next Ready carries an Abort
// that tells the peer the reason.
func (s *Session) Abort(reason string) { s.fail(fmt.Errorf("%w: %s", ErrAborted, reason)) }

// Err is the error that ended the session, if any.
func (s *Session) Err() error { return s.err }

// Done reports whether the session is over, completely or by error.
func (s *Session) Done() bool {
	return s.err != nil || s.stats.Complete
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	st := s.stats
	st.Received, st.Applied, st.HeldBack = s.received, s.applied, s.heldBack
	if s.peerEnd {
		st.PeerPending = s.peerSent - s.received
	}
	return st
}

// Peer is the peer's hello, once it has arrived.
func (s *Session) Peer() (Hello, bool) { return s.peer, s.helloRecv }

// Step feeds one frame payload from the peer.
func (s *Session) Step(payload []byte) error {
	if s.err != nil {
		return s.err
	}
	kind, body, err := DecodeMsg(payload)
	if err != nil {
		return s.fail(protoErr("%v", err))
	}
	s.stats.In.Frames++
	n := int64(len(payload) + FrameOverhead)
	var payloadBytes, idBytes int64
	if !s.helloRecv && kind != MsgHello && kind != MsgAbort && kind <= MsgAck {
		return s.fail(protoErr("%s before hello", kind))
	}
	switch kind {
	case MsgHello:
		err = s.stepHello(body)
	case MsgRound:
		idBytes, err = s.stepRound(body)
	case MsgEntries:
		payloadBytes, err = s.stepEntries(body)
	case MsgEnd:
		err = s.stepEnd(body)
	case MsgFin:
		var f Fin
		if err = DecodeBody(kind, body, &f); err == nil {
			if !s.endSent || f.Applied != uint64(s.stats.Sent) || f.HeldBack > f.Applied {
				err = protoErr("peer finished having applied %d of the %d entries sent", f.Applied, s.stats.Sent)
			}
			s.peerFin = true
			s.stats.PeerHeldBack = f.HeldBack
		}
	case MsgAbort:
		var a Abort
		if err = DecodeBody(kind, body, &a); err == nil {
			err = &PeerAbortError{Reason: printable(capText(a.Reason, MaxAbortReason))}
		}
	default:
		// Unknown kinds are skipped: newer peers may send more.
	}
	s.stats.In.Payload += payloadBytes
	s.stats.In.IDs += idBytes
	s.stats.In.Protocol += n - payloadBytes - idBytes
	if err != nil {
		return s.fail(err)
	}
	s.checkComplete()
	return nil
}

func (s *Session) stepHello(body []byte) error {
	if s.helloRecv {
		return protoErr("second hello")
	}
	var h Hello
	if err := DecodeBody(MsgHello, body, &h); err != nil {
		// A hello that decodes once unknown keys are ignored comes
		// from a newer floe: say to upgrade, not that it is malformed.
		var probe Hello
		if probeDecMode.Unmarshal(body, &probe) == nil && probe.Network != (NetworkID{}) {
			return &NewerPeerError{Msg: MsgHello}
		}
		return protoErr("%v", err)
	}
	if h.Network != s.cfg.Network {
		return fmt.Errorf("%w: the peer belongs to network %s and this node to %s; they cannot sync", ErrWrongNetwork, h.Network, s.cfg.Network)
	}
	if h.To != (DeviceID{}) && h.To != s.cfg.Local {
		return fmt.Errorf("%w: the peer meant to reach device %s, and this is %s", ErrWrongDevice, h.To.Short(), s.cfg.Local.Short())
	}
	if s.cfg.Peer != (DeviceID{}) && h.From != s.cfg.Peer {
		return fmt.Errorf("%w: expected device %s, and %s answered", ErrWrongDevice, s.cfg.Peer.Short(), h.From.Short())
	}
	if h.From == s.cfg.Local {
		return fmt.Errorf("%w: the peer has this node's own device key; is it a copy of this node?", ErrWrongDevice)
	}
	s.helloRecv = true
	s.peer = h
	if s.cfg.Initiator {
		if h.Salt != s.cfg.Salt {
			return protoErr("peer answered with another salt")
		}
	} else {
		s.cfg.Salt = h.Salt
		s.send(MsgHello, s.hello(), 0, 0)
		s.helloSent = true
	}
	if h.Count == s.cfg.Digest.Count && h.Sum == s.cfg.Digest.Sum {
		s.equal = true
		return nil
	}
	if err := s.load(); err != nil {
		return err
	}
	if !s.cfg.Initiator {
		e := s.rec.first(h.Count)
		return s.sendRound(&e)
	}
	return nil
}

func (s *Session) load() error {
	keys, err := s.cfg.Keys()
	if err != nil {
		return fmt.Errorf("reading the local entries: %w", err)
	}
	s.rec = newReconciler(newSet(keys, &s.cfg.Salt), s.cfg.Leaf, s.cfg.Branch)
	return nil
}

// sendRound queues a round as frames. A round with no ranges ends
// reconciliation.
func (s *Session) sendRound(e *emitter) error {
	if s.stats.RoundsOut+s.stats.RoundsIn >= MaxRounds {
		return protoErr("reconciliation did not finish in %d rounds", MaxRounds)
	}
	s.stats.RoundsOut++
	ranges := e.w.buf
	if e.nonSkip == 0 {
		ranges = nil
	}
	wants := make([]byte, 0, IDBytes*len(s.rec.wants))
	for _, id := range s.rec.wants {
		wants = appendLE(wants, id, IDBytes)
	}
	s.rec.wants = s.rec.wants[:0]
	// Every part must fit a frame with its CBOR envelope.
	const part = MaxFrameLen - 64
	idsInRanges := e.w.ids
	for first := true; first || len(ranges) > 0 || len(wants) > 0; first = false {
		var r Round
		room := part
		if len(ranges) > 0 {
			k := min(room, len(ranges))
			r.Ranges, ranges = ranges[:k], ranges[k:]
			room -= k
		}
		if room > 16 && len(wants) > 0 {
			k := min((room-16)/IDBytes*IDBytes, len(wants))
			r.Wants, wants = wants[:k], wants[k:]
		}
		r.More = len(ranges) > 0 || len(wants) > 0
		ids := len(r.Wants)
		if !r.More {
			ids += idsInRanges // count the ranges' IDs once, on the last part
		}
		s.send(MsgRound, r, 0, ids)
	}
	if e.nonSkip == 0 {
		s.reconDone = true
		return s.prepareSend()
	}
	return nil
}

func (s *Session) stepRound(body []byte) (int64, error) {
	if s.reconDone || s.equal || s.rec == nil {
		return 0, protoErr("unexpected round")
	}
	var r Round
	if err := DecodeBody(MsgRound, body, &r); err != nil {
		return 0, protoErr("%v", err)
	}
	if len(s.roundRanges)+len(s.roundWants)+len(r.Ranges)+len(r.Wants) > MaxRoundLen {
		return 0, protoErr("round over %d bytes", MaxRoundLen)
	}
	s.roundRanges = append(s.roundRanges, r.Ranges...)
	s.roundWants = append(s.roundWants, r.Wants...)
	idBytes := int64(len(r.Wants))
	if r.More {
		return idBytes, nil
	}
	s.stats.RoundsIn++
	wants, err := decodeIDs(s.roundWants)
	if err != nil {
		return idBytes, protoErr("%v", err)
	}
	e, rangeIDs, any, err := s.rec.respond(s.roundRanges)
	idBytes += rangeIDs
	if err != nil {
		return idBytes, protoErr("%v", err)
	}
	s.roundRanges, s.roundWants = s.roundRanges[:0], s.roundWants[:0]
	s.rec.wanted(wants)
	if !any {
		// The peer found nothing more to compare: reconciliation is over.
		s.reconDone = true
		return idBytes, s.prepareSend()
	}
	return idBytes, s.sendRound(&e)
}

// prepareSend orders what to send by lane, keeping sync order inside a
// lane. It reads each entry once to learn its lane, and keeps the encoded
// entries if they fit the lane cache.
func (s *Session) prepareSend() error {
	idx := s.rec.sendList()
	lanes := make([]Lane, len(idx))
	cache := make([][]byte, len(idx))
	budget := s.cfg.LaneCache
	for j, i := range idx {
		b, lane, err := s.cfg.Source.LoadEntry(s.rec.set.keys[i])
		if errors.Is(err, ErrNotFound) {
			lanes[j] = 255
			continue
		}
		if err != nil {
			return fmt.Errorf("reading an entry to send: %w", err)
		}
		lanes[j] = lane
		if budget >= len(b) {
			cache[j] = b
			budget -= len(b)
		}
	}
	perm := make([]int, len(idx))
	for j := range perm {
		perm[j] = j
	}
	slices.SortStableFunc(perm, func(a, b int) int { return int(lanes[a]) - int(lanes[b]) })
	s.order = make([]int32, 0, len(idx))
	s.lanes = make([]Lane, 0, len(idx))
	s.cached = make([][]byte, 0, len(idx))
	for _, j := range perm {
		if lanes[j] == 255 {
			continue
		}
		s.order = append(s.order, idx[j])
		s.lanes = append(s.lanes, lanes[j])
		s.cached = append(s.cached, cache[j])
	}
	s.stats.ToSend = len(s.order)
	return nil
}

func (s *Session) stepEntries(body []byte) (int64, error) {
	if !s.helloRecv || s.peerEnd {
		return 0, protoErr("entries out of place")
	}
	var m Entries
	if err := DecodeBody(MsgEntries, body, &m); err != nil {
		return 0, protoErr("%v", err)
	}
	var n int64
	for i, b := range m.List {
		e, err := DecodeEntry(b)
		if err != nil {
			return n, protoErr("entry %d of a batch: %v", i+1, err)
		}
		n += int64(len(b))
		s.apply = append(s.apply, e)
	}
	s.received += uint64(len(m.List))
	return n, nil
}

func (s *Session) stepEnd(body []byte) error {
	var e End
	if err := DecodeBody(MsgEnd, body, &e); err != nil {
		return protoErr("%v", err)
	}
	if s.peerEnd {
		return protoErr("second end")
	}
	if e.Sent != s.received {
		return protoErr("the peer says it sent %d entries and %d arrived", e.Sent, s.received)
	}
	s.peerEnd, s.peerSent = true, e.Sent
	s.stats.PeerWithheld = e.Withheld
	return nil
}

func (s *Session) checkComplete() {
	if s.err != nil || s.stats.Complete {
		return
	}
	if s.equal && s.helloSent && s.helloRecv {
		s.stats.Complete = true
		return
	}
	if s.peerEnd && !s.finSent && s.applied == s.received && len(s.apply) == 0 && !s.readyOut {
		s.send(MsgFin, Fin{Applied: s.applied, HeldBack: s.heldBack}, 0, 0)
		s.finSent = true
	}
	if s.finSent && s.peerFin {
		s.stats.Complete = true
	}
}

// Backlog is how many received entries wait for the next Ready.
func (s *Session) Backlog() int { return len(s.apply) }

// HasReady reports whether Ready has anything.
func (s *Session) HasReady() bool {
	return len(s.out) > 0 || len(s.apply) > 0 ||
		(s.err == nil && s.reconDone && !s.endSent)
}

// Ready is what the caller must do next.
type Ready struct {
	// Frames go to the peer, in order.
	Frames [][]byte
	// Apply holds entries from the peer, decoded and checked for form but
	// not verified. Verify and apply them, then call Advance.
	Apply []Entry
}

// maxFramesPerReady bounds the entries read ahead of the link.
const maxFramesPerReady = 4

// Ready returns frames to send and entries to apply. Call Advance after.
func (s *Session) Ready() (Ready, error) {
	if s.readyOut {
		panic("bug: Ready called twice without Advance")
	}
	if s.err == nil && s.reconDone && !s.endSent {
		for k := 0; k < maxFramesPerReady && !s.endSent; k++ {
			if err := s.fillBatch(); err != nil {
				s.fail(err)
				break
			}
		}
	}
	rd := Ready{Frames: s.out, Apply: s.apply}
	s.out, s.apply = nil, nil
	s.handedOut = len(rd.Apply)
	s.readyOut = true
	return rd, s.err
}

// fillBatch queues one Entries frame, or End when everything is sent.
func (s *Session) fillBatch() error {
	var m Entries
	size, payload := 16, 0
	for s.next < len(s.order) {
		b := s.cached[s.next]
		if b == nil {
			var err error
			b, _, err = s.cfg.Source.LoadEntry(s.rec.set.keys[s.order[s.next]])
			if errors.Is(err, ErrNotFound) {
				s.next++
				continue
			}
			if err != nil {
				return fmt.Errorf("reading an entry to send: %w", err)
			}
		}
		if len(m.List) > 0 && (size+len(b)+5 > s.cfg.BatchBytes || len(m.List) >= MaxItems) {
			break
		}
		if s.lanes[s.next] > LaneUrgent {
			// Lanes are in order: from here on nothing is urgent, and
			// once the allowance is spent the rest waits.
			if left, capped := s.Remaining(); capped && int64(size+len(b)+5) > left {
				s.stats.Withheld = uint64(len(s.order) - s.next)
				for i := s.next; i < len(s.order); i++ {
					s.cached[i] = nil
				}
				s.next = len(s.order)
				break
			}
		}
		s.cached[s.next] = nil
		m.List = append(m.List, b)
		size += len(b) + 5
		payload += len(b)
		s.next++
	}
	if len(m.List) > 0 {
		s.send(MsgEntries, m, payload, 0)
		s.stats.Sent += len(m.List)
		return nil
	}
	s.send(MsgEnd, End{Sent: uint64(s.stats.Sent), Withheld: s.stats.Withheld}, 0, 0)
	s.endSent = true
	return nil
}

// HoldBack tells the session that n entries of the last Ready were not
// kept for now (stamped too far ahead, say), though the caller went on.
// The Fin says so, and the peer then knows this node does not hold
// everything it was sent. Call it before Advance.
func (s *Session) HoldBack(n int) {
	if !s.readyOut || n < 0 || n > s.handedOut {
		panic("bug: HoldBack outside Ready and Advance, or of more than was handed out")
	}
	s.heldBack += uint64(n)
}

// Advance tells the session that the last Ready's frames were written and
// its entries applied.
func (s *Session) Advance() {
	if !s.readyOut {
		panic("bug: Advance without Ready")
	}
	s.applied += uint64(s.handedOut)
	s.handedOut, s.readyOut = 0, false
	s.checkComplete()
}

// capText cuts s to at most n bytes without splitting a character.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// printable replaces control characters (a terminal's escape sequences
// among them) in text from a peer, which is shown to people and logged.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
