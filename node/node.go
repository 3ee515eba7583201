// Package node is a running Floe node: it owns the device key, the hybrid
// clock and the encrypted store, and turns what people ask for (add a
// service, record an outreach contact, search, resolve a conflict) into
// signed entries and merged reads. The libp2p host, the scheduler and the
// HTTP API will live here too.
package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Options configure a node.
type Options struct {
	Logger *slog.Logger
	// Now is the wall clock; tests inject one. Nil means time.Now.
	Now func() time.Time
	// MaxDrift is how far ahead an incoming entry may be stamped.
	MaxDrift time.Duration
	// Store options; IndexText is set by the node.
	Store store.Options
	// NetworkName names the network Init creates; Join, if set, makes Init
	// join the invite's network instead.
	NetworkName string
	Join        *Invite
	// Audiences are the sealed-field audiences the first device of a new
	// network belongs to (e.g. ShelterAudience for a laptop that works
	// alone); none by default.
	Audiences []string
}

// Node is an open node.
type Node struct {
	st    *store.Store
	key   ed25519.PrivateKey
	id    sp.DeviceID
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex // serializes writes and guards clock
	clock sp.Clock
	net   Network
	pmu   sync.Mutex   // serializes changes to the peer list and acks
	base  *slog.Logger // the logger as given, for other subsystems
	trust *trust
	// pending holds verified entries whose author's certificate has not
	// arrived (guarded by mu); they are retried when certificates do.
	pending    []sp.Entry
	pendingSet map[sp.EntryHash]bool
	bmu        sync.Mutex               // guards manifests
	manifests  map[store.ChunkHash]bool // attachment manifests heard of; nil until first needed
	kmu        sync.Mutex               // guards keys
	keys       map[string][]byte        // unwrapped group secrets, dropped by Lock
	budgetMu   sync.Mutex               // serializes the daily budget's counters
	reserved   int64                    // budget given to sessions running now (budgetMu)
	counters   counters                 // since the node opened, for metrics
}

// ErrLocked means the node was locked: its keys are gone from memory.
var ErrLocked = errors.New("the node is locked; unlock it with the passphrase")

const metaDeviceKey = "device-key"

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Store.Logger = o.Logger
	o.Store.IndexText = IndexText
	o.Store.IndexVersion = IndexVersion
}

// IndexVersion names the search-index policy of IndexText and the schemas
// (which fields are searchable, which are sensitive). Change it whenever
// they change: the store then rebuilds its index at the next open.
const IndexVersion = "floe-node/1"

// Init creates a node in dir: the encrypted store and a new device key.
func Init(ctx context.Context, dir string, passphrase []byte, opts Options) (*Node, error) {
	opts.fill()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making a device key: %w", err)
	}
	st, err := store.Create(ctx, dir, passphrase, opts.Store)
	if err != nil {
		return nil, err
	}
	if err := st.PutMeta(metaDeviceKey, priv.Seed()); err != nil {
		st.Close()
		return nil, fmt.Errorf("saving the device key: %w; remove %s and run init again", err, dir)
	}
	n := newNode(st, priv, opts)
	net, err := NewNetwork(opts.NetworkName)
	if opts.Join != nil {
		net = opts.Join.Network
	}
	if err == nil {
		err = n.saveNetwork(net)
	}
	if err == nil && opts.Join != nil {
		err = n.AddPeer(Peer{Device: opts.Join.From, Name: opts.Join.Name, Addrs: opts.Join.Addrs})
		if err == nil {
			err = n.st.PutMeta(metaJoinInvite, opts.Join.ID[:])
		}
	}
	if err == nil && opts.Join == nil {
		err = n.initRoot(ctx, opts.Audiences)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%w; remove %s and run init again", err, dir)
	}
	n.log.Info("node created", "device", n.id.Short(), "network", net.ID.String())
	return n, nil
}

// Open unlocks an existing node.
func Open(ctx context.Context, dir string, passphrase []byte, opts Options) (*Node, error) {
	opts.fill()
	st, err := store.Open(ctx, dir, passphrase, opts.Store)
	if err != nil {
		return nil, err
	}
	seed, err := st.GetMeta(metaDeviceKey)
	if errors.Is(err, sp.ErrNotFound) {
		st.Close()
		return nil, fmt.Errorf("%s has no device key: an earlier `floe init` did not finish; remove %s and run init again: %w", dir, dir, store.ErrIncomplete)
	}
	if err == nil && len(seed) != ed25519.SeedSize {
		err = fmt.Errorf("%w: device key has the wrong length", store.ErrIntegrity)
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("reading the device key: %w", err)
	}
	n := newNode(st, ed25519.NewKeyFromSeed(seed), opts)
	if err := n.loadNetwork(); err != nil {
		st.Close()
		return nil, err
	}
	sum, err := st.Summary(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	n.clock.Observe(sum.LastWrite)
	if err := n.loadTrust(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return n, nil
}

func newNode(st *store.Store, key ed25519.PrivateKey, opts Options) *Node {
	n := &Node{st: st, key: key, log: opts.Logger.With("subsystem", "node"), base: opts.Logger, now: opts.Now,
		trust: newTrust(), keys: map[string][]byte{}}
	copy(n.id[:], key.Public().(ed25519.PublicKey))
	n.clock.MaxDrift = opts.MaxDrift
	return n
}

// Close closes the store and drops the keys from memory.
func (n *Node) Close() error {
	n.dropKeys()
	return n.st.Close()
}

// Lock closes the store and drops every key from memory, as far as Go
// allows: the device key and unwrapped group keys are overwritten (copies
// the runtime made meanwhile cannot be reached). Reopen with Open.
func (n *Node) Lock() error { return n.Close() }

func (n *Node) dropKeys() {
	n.kmu.Lock()
	defer n.kmu.Unlock()
	for k, v := range n.keys {
		clear(v)
		delete(n.keys, k)
	}
	clear(n.key)
	n.key = nil
	clear(n.net.PSK[:])
}

// ID is the device ID.
func (n *Node) ID() sp.DeviceID { return n.id }

// Store is the node's store.
func (n *Node) Store() *store.Store { return n.st }

// IndexText is the search-index policy: the text of searchable directory
// fields. Sensitive fields are never indexed.
func IndexText(e *sp.Entry) string {
	if e.Collection != Directory || e.Kind != sp.KindValue {
		return ""
	}
	_, spec, err := DirectorySchema.ResolvePath(e.Field)
	if err != nil || spec.Sensitive || !spec.Searchable {
		return ""
	}
	v, err := sp.DecodeValue(e.Value)
	if err != nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if spec.Type == Set && x {
			_, elem, _ := splitPath(e.Field)
			return elem
		}
	}
	return ""
}

func splitPath(p string) (top, elem string, ok bool) {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i], p[i+1:], true
		}
	}
	return p, "", false
}

// write stamps, signs and applies new entries for one record. build gets
// the record's current entries and returns the entries to write without
// time, author, context or signature.
//
// area is the area of a new record; an existing record keeps its own.
// Every entry is checked as a peer would check it (this device's
// certificate must allow it), and sensitive fields are sealed here, before
// they are ever an entry.
func (n *Node) write(ctx context.Context, coll string, id sp.RecordID, area string, build func(cur []sp.Entry) ([]sp.Entry, error)) error {
	changes, err := n.writeLocked(ctx, coll, id, area, build)
	if err != nil {
		return err
	}
	return n.afterTrust(ctx, changes)
}

func (n *Node) writeLocked(ctx context.Context, coll string, id sp.RecordID, area string, build func(cur []sp.Entry) ([]sp.Entry, error)) ([]trustChange, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.key == nil {
		return nil, ErrLocked
	}
	cur, err := n.st.Record(ctx, coll, id)
	if err != nil && !errors.Is(err, sp.ErrNotFound) {
		return nil, err
	}
	if len(cur) == 1 && cur[0].Kind == sp.KindTombstone {
		return nil, fmt.Errorf("%w: %s can no longer be changed; add a new record instead", ErrDeleted, id.Short())
	}
	es, err := build(cur)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, nil
	}
	for _, c := range cur {
		area = c.Area
		break
	}
	now := n.now()
	if err := n.checkClock(now); err != nil {
		return nil, err
	}
	for i := range es {
		e := &es[i]
		e.Collection, e.Record, e.Area, e.Author = coll, id, area, n.id
		if coll != Members {
			if err := n.checkLocalWrite(e); err != nil {
				return nil, err
			}
		}
		if e.Kind == sp.KindValue && isSealedField(coll, e.Field) {
			if e.Value, err = n.sealValue(coll, id, e.Field, e.Value); err != nil {
				return nil, err
			}
		}
		e.Time = n.clock.Now(now)
		if e.Kind == sp.KindValue {
			var sib []sp.Entry
			for _, c := range cur {
				if c.Field == e.Field {
					sib = append(sib, c)
				}
			}
			e.Context = sp.Context(sib)
		}
		e.Sign(n.key)
		if err := e.Validate(); err != nil {
			return nil, err
		}
		if err := n.authorize(e); err != nil {
			return nil, err
		}
	}
	if _, err = n.st.ApplyVerified(ctx, es); err != nil {
		return nil, err
	}
	n.noteAttachments(es)
	return n.observeAll(es), nil
}

// observeAll feeds applied members entries to the trust state.
func (n *Node) observeAll(es []sp.Entry) []trustChange {
	var out []trustChange
	for i := range es {
		if es[i].Collection == Members {
			if ch := n.observe(&es[i]); len(ch.revoked) > 0 || ch.epochs || ch.certs {
				out = append(out, ch)
			}
		}
	}
	return out
}

// afterTrust acts on new revocations: entries their devices wrote after
// them are forgotten, and cached keys are dropped (a new epoch may
// follow).
func (n *Node) afterTrust(ctx context.Context, chs []trustChange) error {
	for _, ch := range chs {
		for _, r := range ch.revoked {
			n.log.Info("device revoked", "device", r.Device.Short())
			if _, err := n.forget(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrClockBehind means this node's newest entry is stamped further ahead of
// its wall clock than peers accept, so a new write (stamped after it) would
// be held back by every peer.
var ErrClockBehind = errors.New("this laptop's clock is behind its own newest entry")

// checkClock refuses a local write that peers would refuse: when the clock
// was once far ahead (or is far behind now), new entries must still be
// stamped after the node's newest, and that is beyond the drift bound.
func (n *Node) checkClock(now time.Time) error {
	probe := n.clock
	t := probe.Now(now)
	if err := probe.Check(t, n.id, now); err != nil {
		ahead := time.Duration(t.WallMillis()-uint64(max(now.UnixMilli(), 0))) * time.Millisecond
		return fmt.Errorf("%w: its newest entry is stamped %s ahead of the clock, so other laptops would hold back anything written now. "+
			"If the date and time are right now, the clock was wrong when that entry was written: nothing written here can sync until %s; "+
			"if they are wrong now, correct them. Nothing was written",
			ErrClockBehind, ahead.Round(time.Second), t.Time().Add(-probe.MaxDriftOrDefault()).Format("2006-01-02 15:04 MST"))
	}
	return nil
}

// Merge verifies entries from elsewhere (structure, signature, clock) and
// applies the ones that pass. Entries that fail are counted and reported in
// the error; the rest are applied.
func (n *Node) Merge(ctx context.Context, es []sp.Entry) (sp.ApplyResult, error) {
	res, errs, err := n.merge(ctx, es)
	if err != nil {
		return res, err
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%d of %d entries were refused; first: %w", len(errs), len(es), errs[0])
	}
	return res, nil
}

// mergeFromPeer verifies and applies a batch from a sync peer. It counts
// the entries held back (stamped too far ahead, or by an author whose
// certificate has not arrived: they come again later), those refused by
// authorization (an author outside its role or area, or revoked: a peer
// that has not heard of a revocation yet relays such entries in good
// faith), and those that fail verification (forged or damaged); only a
// store failure is an error.
func (n *Node) mergeFromPeer(ctx context.Context, es []sp.Entry) (res sp.ApplyResult, held, refused, bad int, err error) {
	res, errs, err := n.merge(ctx, es)
	for _, e := range errs {
		switch {
		case errors.Is(e, sp.ErrClockAhead) || errors.Is(e, ErrUnknownAuthor):
			held++
		case errors.Is(e, ErrNotAllowed) || errors.Is(e, ErrRevoked):
			refused++
		default:
			bad++
		}
	}
	if held > 0 {
		n.log.Warn("held back entries stamped too far in the future or by a device whose certificate has not arrived; a later sync brings them", "entries", held)
	}
	if refused > 0 {
		n.log.Warn("refused entries their authors were not allowed to write (revoked, or outside their role or area)", "entries", refused)
	}
	return res, held, refused, bad, err
}

// Every entry is authorized against the members collection: entries whose
// author's certificate has not arrived yet are returned with
// ErrUnknownAuthor (callers hold them back), and members entries are
// applied first, so a batch that carries a certificate and its holder's
// entries goes in whole.
func (n *Node) merge(ctx context.Context, es []sp.Entry) (sp.ApplyResult, []error, error) {
	res, errs, chs, err := n.mergeLocked(ctx, es)
	if err != nil {
		return res, errs, err
	}
	return res, errs, n.afterTrust(ctx, chs)
}

func (n *Node) mergeLocked(ctx context.Context, es []sp.Entry) (sp.ApplyResult, []error, []trustChange, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	var errs []error
	verr := parallel(len(es), func(i int) error { return es[i].Verify() })
	var pass []sp.Entry
	for i := range es {
		e := &es[i]
		if err := verr[i]; err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.clock.Check(e.Time, e.Author, now); err != nil {
			errs = append(errs, err)
			continue
		}
		pass = append(pass, *e)
	}
	// Members entries first, statements before wraps; each is observed as
	// it passes, so later entries of the batch see it.
	sortMembersFirst(pass)
	ok := pass[:0:0]
	var chs []trustChange
	newCerts := false
	for i := range pass {
		e := &pass[i]
		if err := n.authorize(e); err != nil {
			if errors.Is(err, ErrUnknownAuthor) {
				n.hold(e)
			}
			errs = append(errs, fmt.Errorf("entry %s by %s: %w", e.Hash().Short(), e.Author.Short(), err))
			continue
		}
		if e.Collection == Members {
			if ch := n.observe(e); len(ch.revoked) > 0 || ch.epochs || ch.certs {
				chs = append(chs, ch)
				newCerts = newCerts || ch.certs || ch.epochs
			}
		}
		ok = append(ok, *e)
	}
	// Entries held for a certificate (or key epoch) that has now arrived
	// go in with this batch.
	for newCerts && len(n.pending) > 0 {
		retry := n.pending
		n.pending, n.pendingSet, newCerts = nil, nil, false
		for i := range retry {
			e := &retry[i]
			if err := n.authorize(e); err != nil {
				if errors.Is(err, ErrUnknownAuthor) {
					n.hold(e)
				}
				continue
			}
			if e.Collection == Members {
				if ch := n.observe(e); len(ch.revoked) > 0 || ch.epochs || ch.certs {
					chs = append(chs, ch)
					newCerts = newCerts || ch.certs || ch.epochs
				}
			}
			ok = append(ok, *e)
		}
	}
	// Observe first: if the apply fails part way, what it did apply is
	// still ordered before this node's next write.
	for i := range ok {
		n.clock.Observe(ok[i].Time)
	}
	res, err := n.st.ApplyVerified(ctx, ok)
	n.noteAttachments(ok)
	return res, errs, chs, err
}

// maxPending caps the entries held in memory for a certificate.
const maxPending = 8192

// hold keeps an entry for a retry once its author's certificate arrives.
// Held entries are also reported to the peer as held back, so one lost
// here comes again in a later session.
func (n *Node) hold(e *sp.Entry) {
	if len(n.pending) >= maxPending {
		return
	}
	h := e.Hash()
	if n.pendingSet == nil {
		n.pendingSet = map[sp.EntryHash]bool{}
	}
	if n.pendingSet[h] {
		return
	}
	n.pendingSet[h] = true
	n.pending = append(n.pending, *e)
}

// Entries calls fn for every entry the node keeps, in sync order.
func (n *Node) Entries(ctx context.Context, fn func(sp.Entry) error) error {
	return n.st.ScanSyncOrder(ctx, nil, func(_ sp.SyncKey, e sp.Entry) error { return fn(e) })
}
