package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	sp "github.com/floe-north/floe/syncproto"
)

// SyncOptions tune one sync session.
type SyncOptions struct {
	// Progress, if set, is called about twice a second and at the end.
	Progress func(SyncProgress)
	// StallTimeout cuts a session in which nothing has moved either way
	// for this long. Zero means DefaultStallTimeout.
	StallTimeout time.Duration
	// Leaf and Branch tune reconciliation (tests and benchmarks).
	Leaf, Branch int
	// NoBlobs skips the blob phase (attachment chunks) after the entries.
	// Both ends must agree: a node that runs it waits for the other's
	// want.
	NoBlobs bool
}

// DefaultStallTimeout is how long a session may see nothing move before
// it is cut. A satellite link stalls for seconds, not minutes.
const DefaultStallTimeout = 2 * time.Minute

// SyncProgress is a session's state, for a progress line.
type SyncProgress struct {
	Peer    sp.DeviceID
	Stats   sp.Stats
	Elapsed time.Duration
	// ETA estimates the time left from the entries still to send and to
	// receive and the bytes per second so far; zero when unknown.
	ETA time.Duration
}

// SyncResult is what a finished session did.
type SyncResult struct {
	Peer     sp.DeviceID
	Stats    sp.Stats
	Duration time.Duration
	// HeldBack counts entries refused because they are stamped too far
	// in the future; they come again in a later session.
	HeldBack int
	// Refused counts entries their authors were not allowed to write
	// (revoked, or outside their role or area); they are dropped.
	Refused int
	// Blobs is what the blob phase (attachment chunks, after the
	// entries) moved.
	Blobs BlobStats
}

// ErrStalled means a peer stopped sending or receiving mid-session.
var ErrStalled = errors.New("the peer stalled")

// ErrLinkClosed means the link closed before the session finished.
var ErrLinkClosed = errors.New("the link closed mid-session")

// nodeSource reads entries for a session and puts each in its lane.
type nodeSource struct {
	n      *Node
	ctx    context.Context
	urgent map[sp.RecordID]bool
}

func (s *nodeSource) LoadEntry(k sp.SyncKey) ([]byte, sp.Lane, error) {
	e, err := s.n.st.Get(s.ctx, k.Hash())
	if err != nil {
		return nil, 0, err
	}
	return e.Encode(), s.lane(&e), nil
}

// lane: membership first, then urgent outreach referrals, the directory,
// and the rest.
func (s *nodeSource) lane(e *sp.Entry) sp.Lane {
	switch e.Collection {
	case "members":
		return sp.LaneMembers
	case DirectorySchema.Collection:
		return sp.LaneDirectory
	case OutreachSchema.Collection:
		u, ok := s.urgent[e.Record]
		if !ok {
			u = s.recordUrgent(e.Record)
			if len(s.urgent) < 1<<16 {
				s.urgent[e.Record] = u
			}
		}
		if u {
			return sp.LaneUrgent
		}
	}
	return sp.LaneOther
}

func (s *nodeSource) recordUrgent(id sp.RecordID) bool {
	es, err := s.n.st.Record(s.ctx, OutreachSchema.Collection, id)
	if err != nil {
		return false
	}
	for i := range es {
		if es[i].Field == "urgent" && es[i].Kind == sp.KindValue {
			if v, err := sp.DecodeValue(es[i].Value); err == nil && v == true {
				return true
			}
		}
	}
	return false
}

// SyncStream runs one sync session with peer over rw, which the caller has
// connected (a libp2p stream, a TCP connection, a pipe in tests) and
// closes afterwards. The initiator picks the session's salt. Entries from
// the peer are verified and applied as each batch arrives, so a cut loses
// at most the batch in flight.
func (n *Node) SyncStream(ctx context.Context, rw io.ReadWriter, initiator bool, peer sp.DeviceID, opts SyncOptions) (SyncResult, error) {
	start := time.Now()
	res := SyncResult{Peer: peer}
	log := n.log.With("peer", peer.Short())
	sum, err := n.st.Summary(ctx)
	if err != nil {
		return res, err
	}
	if !n.allowedPeer(peer) {
		return res, fmt.Errorf("%w: %s is not a current member of this network (revoked, or never admitted)", ErrNotAllowed, peer.Short())
	}
	var snapshot []sp.SyncKey
	keys := func() ([]sp.SyncKey, error) {
		ks := make([]sp.SyncKey, 0, sum.Digest.Count)
		err := n.st.SyncKeys(ctx, func(k sp.SyncKey) error { ks = append(ks, k); return nil })
		snapshot = ks
		return ks, err
	}
	digest := sum.Digest
	if filter := n.offerFilter(peer); filter != nil {
		// Only what both may hold: the digest and the keys of that set.
		ks, d, err := n.offerKeys(ctx, filter)
		if err != nil {
			return res, err
		}
		digest, snapshot = d, ks
		keys = func() ([]sp.SyncKey, error) { return ks, nil }
	}
	cfg := sp.SessionConfig{
		Initiator: initiator, Network: n.net.ID, Local: n.id, Peer: peer,
		Digest: digest, Leaf: opts.Leaf, Branch: opts.Branch,
		Source: &nodeSource{n: n, ctx: ctx, urgent: map[sp.RecordID]bool{}},
		Keys:   keys,
	}
	if initiator {
		rand.Read(cfg.Salt[:])
	}
	allowance, capped, settle, err := n.reserveBudget(peer)
	if err != nil {
		return res, err
	}
	if capped {
		cfg.Capped, cfg.Allowance = true, allowance
		if allowance == 0 {
			log.Info("no sync budget left for this session today: only membership and urgent referrals go")
		}
	}
	s := sp.NewSession(cfg)
	if initiator {
		s.Start()
	}
	var received []sp.SyncKey
	apply := func(es []sp.Entry) (int, error) {
		_, held, refused, bad, err := n.mergeFromPeer(ctx, es)
		res.HeldBack += held
		res.Refused += refused
		if err != nil {
			return held, err
		}
		if bad > 0 {
			log.Warn("peer sent entries that fail verification; cutting the session", "refused", bad)
			return held, fmt.Errorf("%w: the peer sent %d entries that fail verification (forged or damaged); they were refused and the session was cut", sp.ErrProtocol, bad)
		}
		for i := range es {
			received = append(received, sp.MakeSyncKey(es[i].Time, es[i].Hash()))
		}
		return held, nil
	}
	dopts := DriveOptions{StallTimeout: opts.StallTimeout}
	if !opts.NoBlobs {
		dopts.After = func(ctx context.Context, recv func() ([]byte, error), send func([][]byte) error) {
			n.blobPhase(ctx, recv, send, &res.Blobs, s.Remaining)
		}
	}
	if opts.Progress != nil {
		dopts.Progress = func(st sp.Stats) { opts.Progress(progressOf(peer, st, time.Since(start))) }
	}
	sessionErr := Drive(ctx, rw, s, apply, dopts)
	res.Stats = s.Stats()
	res.Duration = time.Since(start)
	settle(res.Stats.In.Total() + res.Stats.Out.Total() + int64(res.Blobs.BytesIn+res.Blobs.BytesOut))
	n.recordSession(ctx, peer, &res, sessionErr, digest, snapshot, received)
	if res.Stats.Applied > 0 {
		if _, err := n.Maintain(ctx); err != nil {
			log.Warn("key maintenance after the session failed", "err", err)
		}
	}
	if sessionErr != nil {
		log.Info("sync session failed", "err", sessionErr, "in_bytes", res.Stats.In.Total(), "out_bytes", res.Stats.Out.Total(), "applied", res.Stats.Applied)
		return res, sessionErr
	}
	log.Info("sync session done", "in_bytes", res.Stats.In.Total(), "out_bytes", res.Stats.Out.Total(),
		"sent", res.Stats.Sent, "received", res.Stats.Received, "rounds", res.Stats.RoundsIn+res.Stats.RoundsOut, "took", res.Duration.Round(time.Millisecond))
	return res, nil
}

// DriveOptions tune Drive.
type DriveOptions struct {
	// StallTimeout cuts a session in which nothing moved either way for
	// this long; zero means DefaultStallTimeout.
	StallTimeout time.Duration
	// Progress, if set, is called about twice a second and at the end.
	Progress func(sp.Stats)
	// After, if set, runs on the same link once the session completed:
	// recv returns the next frame's payload, send queues frames. Its
	// error is the caller's to keep; Drive returns the session's.
	After func(ctx context.Context, recv func() ([]byte, error), send func(frames [][]byte) error)
}

// Drive runs a session over rw until it is done, as the session's package
// doc asks: frames are read and written concurrently (so two peers sending
// at once never both block), and apply verifies and applies each batch of
// entries before the session hears that it was applied. apply returns how
// many of the batch it held back for now (the session tells the peer) or
// an error, which ends the session. Every batch that arrived whole before a
// cut is applied. Drive returns the error that ended the session, or nil
// once it is complete; the caller closes rw.
func Drive(ctx context.Context, rw io.ReadWriter, s *sp.Session, apply func([]sp.Entry) (int, error), opts DriveOptions) error {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The last time a frame was read, and written, in unix nanos.
	var readAt, wroteAt atomic.Int64
	readAt.Store(time.Now().UnixNano())
	wroteAt.Store(time.Now().UnixNano())
	// Frames and the read error share one channel, so that every frame
	// read before a cut is stepped before the cut is seen.
	type readItem struct {
		p   []byte
		err error
	}
	in := make(chan readItem, 8)
	go func() {
		br := bufio.NewReaderSize(rw, 64<<10)
		for {
			p, err := sp.ReadFrame(br, nil)
			if err == nil {
				readAt.Store(time.Now().UnixNano())
			}
			select {
			case in <- readItem{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	writes := make(chan [][]byte)
	werr := make(chan error, 1)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		bw := bufio.NewWriterSize(rw, 64<<10)
		for fs := range writes {
			for _, f := range fs {
				if _, err := bw.Write(f); err != nil {
					werr <- err
					return
				}
				wroteAt.Store(time.Now().UnixNano())
			}
			if err := bw.Flush(); err != nil {
				werr <- err
				return
			}
		}
	}()
	defer func() {
		close(writes)
		select {
		case <-wdone:
		case <-time.After(5 * time.Second):
		}
	}()

	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(s.Stats())
		}
	}
	since := func(t *atomic.Int64) time.Duration { return time.Since(time.Unix(0, t.Load())) }
	// Waiting for the peer, the session stalls when nothing moved either
	// way; with frames to write, when the writer made no progress (a peer
	// that sends and never reads is cut too).
	stalled := func(writing time.Time) error {
		quiet := min(since(&readAt), since(&wroteAt))
		if !writing.IsZero() {
			quiet = min(since(&wroteAt), time.Since(writing))
		}
		if quiet > opts.StallTimeout {
			return fmt.Errorf("%w: nothing moved for %s; what arrived was applied", ErrStalled, opts.StallTimeout)
		}
		return nil
	}
	// applyReady applies what a Ready handed out and advances.
	applyReady := func(rd sp.Ready, rdErr error) error {
		var err error
		if len(rd.Apply) > 0 && rdErr == nil {
			var held int
			held, err = apply(rd.Apply)
			if err == nil && held > 0 {
				s.HoldBack(held)
			}
		}
		s.Advance()
		return err
	}
	var readErr error
	onRead := func(it readItem) {
		if it.err != nil {
			readErr = it.err
			return
		}
		s.Step(it.p) // an error ends the session; Err has it
	}
	var sessionErr error
loop:
	for !s.Done() || s.HasReady() {
		if readErr != nil {
			break
		}
		if s.HasReady() {
			rd, rdErr := s.Ready()
			writing := time.Now()
			for len(rd.Frames) > 0 && readErr == nil {
				// Keep reading while the writer is busy, so two peers that
				// both send never block each other, but only while the
				// entries waiting to be applied stay few.
				inq := in
				if s.Backlog() >= maxBacklog {
					inq = nil
				}
				select {
				case writes <- rd.Frames:
					rd.Frames = nil
				case it := <-inq:
					onRead(it)
				case err := <-werr:
					sessionErr = fmt.Errorf("%w: %v", ErrLinkClosed, err)
				case <-ctx.Done():
					sessionErr = ctx.Err()
				case <-tick.C:
					sessionErr = stalled(writing)
					progress()
				}
				if sessionErr != nil {
					applyReady(rd, rdErr) // the first error is the one to report
					break loop
				}
			}
			if err := applyReady(rd, rdErr); err != nil {
				sessionErr = err
				break loop
			}
			if rdErr != nil {
				sessionErr = rdErr
				break loop
			}
			continue
		}
		select {
		case it := <-in:
			onRead(it)
		case err := <-werr:
			sessionErr = fmt.Errorf("%w: %v", ErrLinkClosed, err)
			break loop
		case <-ctx.Done():
			sessionErr = ctx.Err()
			break loop
		case <-tick.C:
			if err := stalled(time.Time{}); err != nil {
				sessionErr = err
				break loop
			}
			progress()
		}
	}
	// However the session ends, apply what arrived whole and was stepped:
	// each entry is verified on its own, so a later bad frame, a cut or the
	// peer's Abort does not make the earlier ones worth less.
	if rd, _ := s.Ready(); len(rd.Apply) > 0 {
		if err := applyReady(rd, nil); err != nil && sessionErr == nil {
			sessionErr = err
		}
	} else {
		s.Advance()
	}
	if readErr != nil && sessionErr == nil && !s.Done() {
		switch {
		case errors.Is(readErr, io.EOF) || errors.Is(readErr, io.ErrUnexpectedEOF):
			sessionErr = fmt.Errorf("%w after %s in and %s out; what arrived was applied, and the next sync continues from there", ErrLinkClosed, byteSize(s.Stats().In.Total()), byteSize(s.Stats().Out.Total()))
		case errors.Is(readErr, sp.ErrFrame) || errors.Is(readErr, sp.ErrVersion):
			sessionErr = readErr
		default:
			sessionErr = fmt.Errorf("%w: %v; what arrived was applied", ErrLinkClosed, readErr)
		}
	}
	if sessionErr == nil {
		sessionErr = s.Err()
	}
	if sessionErr != nil && !errors.Is(sessionErr, sp.ErrPeerAbort) {
		// Tell the peer why, if the link still works.
		if s.Err() == nil {
			s.Abort(sp.PeerReason(sessionErr))
		}
		if rd, _ := s.Ready(); len(rd.Frames) > 0 {
			select {
			case writes <- rd.Frames:
			case <-wdone: // the writer has stopped: the link is gone
			case <-time.After(time.Second):
			}
		}
		s.Advance()
		// A writer stuck on a peer that stopped reading is released.
		if d, ok := rw.(interface{ SetDeadline(time.Time) error }); ok {
			time.AfterFunc(time.Second, func() { d.SetDeadline(time.Now()) })
		}
	}
	if sessionErr == nil && opts.After != nil {
		recv := func() ([]byte, error) {
			for {
				select {
				case it := <-in:
					return it.p, it.err
				case err := <-werr:
					return nil, fmt.Errorf("%w: %v", ErrLinkClosed, err)
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-tick.C:
					if err := stalled(time.Time{}); err != nil {
						return nil, err
					}
				}
			}
		}
		send := func(frames [][]byte) error {
			writing := time.Now()
			for {
				select {
				case writes <- frames:
					return nil
				case err := <-werr:
					return fmt.Errorf("%w: %v", ErrLinkClosed, err)
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
					if err := stalled(writing); err != nil {
						return err
					}
				}
			}
		}
		opts.After(ctx, recv, send)
	}
	progress()
	return sessionErr
}

// maxBacklog caps the entries Drive keeps stepped but not yet applied
// while it waits on its writer: past it, it stops reading until the
// batch in hand is applied.
const maxBacklog = 4 * sp.MaxItems

func progressOf(peer sp.DeviceID, st sp.Stats, el time.Duration) SyncProgress {
	p := SyncProgress{Peer: peer, Stats: st, Elapsed: el}
	done := float64(st.Sent) + float64(st.Received)
	left := float64(st.ToSend-st.Sent) + float64(st.PeerPending)
	if done > 0 && el > 0 && left > 0 {
		p.ETA = time.Duration(float64(el) * left / done)
	}
	return p
}

// recordSession notes a session in the peer list and, after a complete
// one, keeps a summary of what the peer is now known to hold.
func (n *Node) recordSession(ctx context.Context, peer sp.DeviceID, res *SyncResult, err error, dig sp.Digest, snapshot, received []sp.SyncKey) {
	now := n.now()
	st := res.Stats
	n.counters.count(res, err)
	uerr := n.updatePeer(peer, false, func(p *Peer) {
		p.LastTry = unixMilli(now)
		p.BytesOut += uint64(st.Out.Total())
		p.BytesIn += uint64(st.In.Total())
		p.EntriesOut += uint64(st.Sent)
		p.EntriesIn += st.Applied
		if err != nil {
			p.Failures++
			p.LastError = err.Error()
			return
		}
		p.Failures, p.LastError = 0, ""
		p.LastSync = unixMilli(now)
		p.Sessions++
		p.Waiting = st.Withheld + st.PeerWithheld
	})
	if uerr != nil {
		n.log.Warn("could not record the session", "err", uerr)
	}
	if err != nil || st.PeerHeldBack > 0 || st.Withheld > 0 {
		// A peer that held entries back does not hold all it was sent,
		// nor one this side withheld for the budget: its next bundle or
		// session will acknowledge what it keeps.
		return
	}
	// The peer holds everything this node held at the start (it received
	// what it lacked) and everything it sent.
	keys := snapshot
	if keys == nil {
		if old, _ := n.peerAck(peer); old != nil && old.Count == dig.Count && old.Sum == dig.Sum {
			return
		}
		if e := n.st.SyncKeys(ctx, func(k sp.SyncKey) error { keys = append(keys, k); return nil }); e != nil {
			return
		}
		if cur, e := n.st.Summary(ctx); e != nil || cur.Digest != dig {
			return // changed meanwhile: the keys may hold writes the peer lacks
		}
	}
	keys = mergeKeys(keys, received)
	var d sp.Digest
	for i := range keys {
		d.Add(keys[i].Hash())
	}
	var salt sp.Salt
	rand.Read(salt[:])
	s := sp.Summarize(keys, d, sp.MakeHLC(uint64(now.UnixMilli()), 0), salt)
	if e := n.setPeerAck(peer, &s); e != nil {
		n.log.Warn("could not keep the peer's acknowledgement", "err", e)
	}
}

// mergeKeys returns the sorted union of sorted a and unsorted b.
func mergeKeys(a, b []sp.SyncKey) []sp.SyncKey {
	if len(b) == 0 {
		return a
	}
	out := append(slices.Clone(a), b...)
	slices.SortFunc(out, func(x, y sp.SyncKey) int { return compareKeys(&x, &y) })
	return slices.Compact(out)
}

func compareKeys(x, y *sp.SyncKey) int {
	for i := range x {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func byteSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
