// Package sim simulates a Floe network to prove that nodes converge: N real
// nodes (encrypted stores on disk) write at random, including concurrent
// edits of the same fields and record deletions, and sync through random
// partitions, links cut at random bytes, crashes and restarts, and bundles
// that are duplicated, reordered, damaged, cut short or dropped and later
// delivered. At the end the partitions heal and every node must hold the
// same state, equal to the merge of every write any node acknowledged: no
// acknowledged write may be missing.
//
// A crash is simulated by copying the node's files while it is open, so
// the copy holds what the operating system has, synced or not: the
// simulation checks what survives a process that dies, not a power cut
// that loses unsynced pages (the store syncs after every write for that).
//
// The same seed gives the same choices. Record IDs, timestamps and
// signatures are real, so the final state hash differs from run to run;
// what must not differ is the outcome: convergence, with nothing lost.
package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/linkemu"
	sp "github.com/floe-north/floe/syncproto"
)

// Config sets up a simulation.
type Config struct {
	Nodes int
	Steps int
	Seed  uint64
	// Dir holds the nodes' data directories.
	Dir string
	// Node are the options nodes are made with (tests pass cheap key
	// derivation).
	Node node.Options
	// Logf, if set, gets a line per notable event.
	Logf func(format string, args ...any)
}

// Report counts what happened.
type Report struct {
	Steps, Writes, ConcurrentEdits, Deletes                int
	Syncs, SyncsCut, SyncsFailed                           int
	Bundles, Delivered, Duplicated, Dropped, Damaged, Held int
	Crashes, Restarts, Partitions, Heals                   int
	HealRounds                                             int
	Entries                                                uint64
	StateHash                                              string
	// AcknowledgedEntries is the size of the reference: the merge of
	// every entry of every acknowledged write.
	AcknowledgedEntries uint64
}

var pass = []byte("simulation passphrase")

type simNode struct {
	dir string
	n   *node.Node
}

type heldBundle struct {
	to   int
	data []byte
}

type sim struct {
	cfg     Config
	rng     *rand.Rand
	nodes   []*simNode
	records []sp.RecordID
	ref     *sp.MemStore
	group   []int // partition group of each node
	held    []heldBundle
	rep     Report
	ctx     context.Context
	dirSeq  int
}

func (s *sim) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// Run runs a simulation and checks the outcome. It returns an error when
// the nodes do not converge, or converge without an acknowledged write.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Nodes < 2 {
		return Report{}, errors.New("a simulation needs at least 2 nodes")
	}
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)), ref: sp.NewMemStore(), ctx: ctx,
		group: make([]int, cfg.Nodes)}
	defer s.closeAll()
	if err := s.setup(); err != nil {
		return s.rep, err
	}
	for s.rep.Steps = 0; s.rep.Steps < cfg.Steps; s.rep.Steps++ {
		if err := ctx.Err(); err != nil {
			return s.rep, err
		}
		if err := s.step(); err != nil {
			return s.rep, fmt.Errorf("step %d: %w", s.rep.Steps, err)
		}
	}
	return s.rep, s.finish()
}

func (s *sim) newDir() string {
	s.dirSeq++
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("node-%03d", s.dirSeq))
}

func (s *sim) setup() error {
	dir0 := s.newDir()
	first, err := node.Init(s.ctx, dir0, pass, s.withNetwork(nil))
	if err != nil {
		return err
	}
	s.nodes = append(s.nodes, &simNode{dir: dir0, n: first})
	for i := 1; i < s.cfg.Nodes; i++ {
		// Every laptop is invited and admitted as a coordinator of the
		// whole network, so any of them may write anything.
		inv, err := first.MakeInvite(node.InviteOptions{Role: node.RoleCoordinator, Areas: []string{"*:*"}, Name: "n0"})
		if err != nil {
			return err
		}
		dir := s.newDir()
		n, err := node.Init(s.ctx, dir, pass, s.withNetwork(&inv))
		if err != nil {
			return err
		}
		req, err := n.MakeJoinRequest(fmt.Sprintf("n%d", i))
		if err != nil {
			return err
		}
		if _, err := first.Admit(s.ctx, req); err != nil {
			return err
		}
		s.nodes = append(s.nodes, &simNode{dir: dir, n: n})
	}
	// The certificates reach every laptop before the run starts.
	var members []sp.Entry
	if err := first.Entries(s.ctx, func(e sp.Entry) error {
		if e.Collection == node.Members {
			members = append(members, e)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, sn := range s.nodes[1:] {
		if _, err := sn.n.Merge(s.ctx, members); err != nil {
			return err
		}
	}
	if _, err := s.ref.ApplyVerified(s.ctx, members); err != nil {
		return err
	}
	for i, a := range s.nodes {
		for j, b := range s.nodes {
			if _, err := a.n.FindPeer(b.n.ID().String()); err == nil {
				continue // the admin added those it admitted
			}
			if i != j {
				if err := a.n.AddPeer(node.Peer{Device: b.n.ID(), Name: fmt.Sprintf("n%d", j)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *sim) withNetwork(inv *node.Invite) node.Options {
	o := s.cfg.Node
	o.Join = inv
	o.NetworkName = "simulation"
	return o
}

func (s *sim) closeAll() {
	for _, sn := range s.nodes {
		if sn.n != nil {
			sn.n.Close()
		}
	}
}

// step does one random thing.
func (s *sim) step() error {
	switch r := s.rng.IntN(100); {
	case r < 40:
		return s.write()
	case r < 65:
		return s.syncPair()
	case r < 80:
		return s.bundle()
	case r < 87:
		return s.deliverHeld()
	case r < 91:
		return s.restart(s.rng.IntN(3) > 0)
	case r < 95:
		s.partition()
	default:
		s.heal()
	}
	return nil
}

// acknowledge adds a record's entries, as a node holds them right after
// a write it acknowledged, to the reference.
func (s *sim) acknowledge(sn *simNode, coll string, id sp.RecordID) error {
	es, err := sn.n.Store().Record(s.ctx, coll, id)
	if err != nil {
		return err
	}
	_, err = s.ref.ApplyVerified(s.ctx, es)
	return err
}

var fields = []string{"phone", "hours", "name", "intake"}

func (s *sim) write() error {
	i := s.rng.IntN(len(s.nodes))
	sn := s.nodes[i]
	switch r := s.rng.IntN(100); {
	case r < 35 || len(s.records) == 0:
		ch, err := node.ChangesFrom(map[string]any{
			"name": fmt.Sprintf("Service %d", len(s.records)), "kind": "health", "community": "Arviat",
			"phone": fmt.Sprintf("867-555-01%02d", s.rng.IntN(100)),
		})
		if err != nil {
			return err
		}
		id, err := sn.n.Add(s.ctx, node.Directory, ch)
		if err != nil {
			return err
		}
		s.records = append(s.records, id)
		s.rep.Writes++
		return s.acknowledge(sn, node.Directory, id)
	case r < 45:
		ch, err := node.ChangesFrom(map[string]any{"date": "2026-11-20", "community": "Arviat", "contact": "phone",
			"subject": fmt.Sprintf("P-%d", s.rng.IntN(1000)), "urgent": s.rng.IntN(3) == 0})
		if err != nil {
			return err
		}
		id, err := sn.n.Add(s.ctx, node.Outreach, ch)
		if err != nil {
			return err
		}
		s.rep.Writes++
		return s.acknowledge(sn, node.Outreach, id)
	case r < 60:
		// The same field, edited on two nodes before they sync.
		j := s.rng.IntN(len(s.nodes))
		id := s.records[s.rng.IntN(len(s.records))]
		f := fields[s.rng.IntN(len(fields))]
		edited := 0
		for _, k := range []int{i, j} {
			if ok, err := s.edit(s.nodes[k], id, f); err != nil {
				return err
			} else if ok {
				edited++
			}
		}
		if edited == 2 && i != j {
			s.rep.ConcurrentEdits++
		}
		return nil
	case r < 66:
		id := s.records[s.rng.IntN(len(s.records))]
		err := sn.n.Delete(s.ctx, node.Directory, id)
		if err != nil {
			if errors.Is(err, node.ErrDeleted) || isUnknown(err) {
				return nil
			}
			return err
		}
		s.rep.Deletes++
		return s.acknowledge(sn, node.Directory, id)
	default:
		id := s.records[s.rng.IntN(len(s.records))]
		_, err := s.edit(sn, id, fields[s.rng.IntN(len(fields))])
		return err
	}
}

func isUnknown(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("no directory record"))
}

// edit sets a field of a record the node holds; false if it does not
// hold it (or it is deleted).
func (s *sim) edit(sn *simNode, id sp.RecordID, field string) (bool, error) {
	v := fmt.Sprintf("%s-%d", field, s.rng.IntN(1_000_000))
	if field == "phone" {
		v = fmt.Sprintf("867-555-01%02d", s.rng.IntN(100))
	}
	ch, err := node.ChangesFrom(map[string]any{field: v})
	if err != nil {
		return false, err
	}
	err = sn.n.Update(s.ctx, node.Directory, id, ch)
	if errors.Is(err, node.ErrDeleted) || isUnknown(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.rep.Writes++
	return true, s.acknowledge(sn, node.Directory, id)
}

// pair picks two nodes on the same side of the partition, or false.
func (s *sim) pair() (int, int, bool) {
	i := s.rng.IntN(len(s.nodes))
	var same []int
	for j := range s.nodes {
		if j != i && s.group[j] == s.group[i] {
			same = append(same, j)
		}
	}
	if len(same) == 0 {
		return 0, 0, false
	}
	return i, same[s.rng.IntN(len(same))], true
}

func (s *sim) syncPair() error {
	i, j, ok := s.pair()
	if !ok {
		return nil
	}
	prof := linkemu.Profile{}
	cut := s.rng.IntN(100) < 30
	if cut {
		prof.CutAfterBytes = 1 + s.rng.Int64N(3_000)
	}
	_, err := s.sync(i, j, prof)
	s.rep.Syncs++
	switch {
	case err != nil && cut:
		s.rep.SyncsCut++
	case err != nil:
		s.rep.SyncsFailed++
		return fmt.Errorf("sync n%d-n%d on a clean link: %w", i, j, err)
	case err == nil:
		// Nothing else writes meanwhile: a complete session leaves the
		// two nodes equal.
		if a, b := s.hash(i), s.hash(j); a != b {
			return fmt.Errorf("a complete session left n%d (%.12s) and n%d (%.12s) different", i, a, j, b)
		}
	}
	return nil
}

func (s *sim) hash(i int) string {
	st, err := s.nodes[i].n.Status(s.ctx)
	if err != nil {
		return "error: " + err.Error()
	}
	return st.StateHash
}

// sync runs one session between nodes i (initiator) and j.
func (s *sim) sync(i, j int, prof linkemu.Profile) (node.SyncResult, error) {
	a, b := s.nodes[i].n, s.nodes[j].n
	ca, cb := linkemu.Pipe(prof)
	var wg sync.WaitGroup
	var errB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errB = b.SyncStream(s.ctx, cb, false, a.ID(), node.SyncOptions{})
		cb.Close()
	}()
	res, errA := a.SyncStream(s.ctx, ca, true, b.ID(), node.SyncOptions{})
	ca.Close()
	wg.Wait()
	if errA == nil {
		errA = errB
	}
	return res, errA
}

func (s *sim) bundle() error {
	i := s.rng.IntN(len(s.nodes))
	j := s.rng.IntN(len(s.nodes) - 1)
	if j >= i {
		j++
	}
	var buf bytes.Buffer
	if _, err := s.nodes[i].n.ExportBundle(s.ctx, &buf, s.nodes[j].n.ID()); err != nil {
		return err
	}
	s.rep.Bundles++
	data := buf.Bytes()
	switch r := s.rng.IntN(100); {
	case r < 35:
		return s.deliver(j, data, true)
	case r < 55:
		s.held = append(s.held, heldBundle{j, data})
		s.rep.Held++
	case r < 70:
		s.rep.Duplicated++
		s.held = append(s.held, heldBundle{j, data})
		return s.deliver(j, data, true)
	case r < 80:
		s.rep.Dropped++
	default:
		// Cut short or damaged on the way; the whole copy comes later.
		s.rep.Damaged++
		s.held = append(s.held, heldBundle{j, data})
		bad := linkemu.Damage(data, s.rng.Int64(), 1+s.rng.IntN(4))
		if s.rng.IntN(2) == 0 {
			bad = data[:s.rng.IntN(len(data))]
		}
		return s.deliver(j, bad, false)
	}
	return nil
}

// deliver imports a bundle. A damaged or cut copy may be refused whole
// (when its header is hit); a whole bundle must import.
func (s *sim) deliver(j int, data []byte, whole bool) error {
	_, err := s.nodes[j].n.ImportBundle(s.ctx, bytes.NewReader(data))
	if err != nil && whole {
		return fmt.Errorf("importing a bundle into n%d: %w", j, err)
	}
	s.rep.Delivered++
	return nil
}

func (s *sim) deliverHeld() error {
	if len(s.held) == 0 {
		return nil
	}
	k := s.rng.IntN(len(s.held))
	h := s.held[k]
	s.held = append(s.held[:k], s.held[k+1:]...)
	return s.deliver(h.to, h.data, true)
}

// restart closes a node and opens it again. A crash copies the data
// directory while the node is open (the disk as a power cut leaves it),
// drops the node, and opens the copy.
func (s *sim) restart(crash bool) error {
	i := s.rng.IntN(len(s.nodes))
	sn := s.nodes[i]
	dir := sn.dir
	if crash {
		dir = s.newDir()
		if err := copyDir(sn.dir, dir); err != nil {
			return err
		}
		s.rep.Crashes++
	} else {
		s.rep.Restarts++
	}
	if err := sn.n.Close(); err != nil {
		return err
	}
	sn.n = nil
	n, err := node.Open(s.ctx, dir, pass, s.cfg.Node)
	if err != nil {
		return fmt.Errorf("reopening n%d after a %s: %w", i, map[bool]string{true: "crash", false: "restart"}[crash], err)
	}
	if crash {
		os.RemoveAll(sn.dir)
	}
	sn.n, sn.dir = n, dir
	return nil
}

// copyDir copies a node's directory, leaving out badger's lock file, as
// the disk would hold it at one instant. Badger may compact in the
// background while the node is open, and a copy taken while a compaction
// renames tables would hold a mix no power cut can leave (a manifest naming
// a table the copy lacks), so the copy is retried until no file changed
// while it was taken.
func copyDir(from, to string) error {
	for try := 0; try < 50; try++ {
		before, err := listing(from)
		if err != nil {
			return err
		}
		os.RemoveAll(to)
		if err := copyOnce(from, to); err != nil {
			return err
		}
		after, err := listing(from)
		if err != nil {
			return err
		}
		if before == after {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the node's files kept changing; no consistent copy")
}

// listing names every file with its size and modification time.
func listing(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return b.String(), err
}

func copyOnce(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
}

func (s *sim) partition() {
	for i := range s.group {
		s.group[i] = s.rng.IntN(2)
	}
	s.rep.Partitions++
}

func (s *sim) heal() {
	for i := range s.group {
		s.group[i] = 0
	}
	s.rep.Heals++
}

// finish heals everything, delivers what was held, syncs in rounds until
// every node agrees, and checks the agreed state against the reference.
func (s *sim) finish() error {
	s.heal()
	for len(s.held) > 0 {
		if err := s.deliverHeld(); err != nil {
			return err
		}
	}
	n := len(s.nodes)
	for round := 1; round <= 2*n+2; round++ {
		s.rep.HealRounds = round
		for i := 0; i < n; i++ {
			if _, err := s.sync(i, (i+1)%n, linkemu.Profile{}); err != nil {
				return fmt.Errorf("healing sync n%d-n%d: %w", i, (i+1)%n, err)
			}
		}
		if s.converged() {
			break
		}
	}
	hashes := make([]string, n)
	for i, sn := range s.nodes {
		st, err := sn.n.Status(s.ctx)
		if err != nil {
			return err
		}
		hashes[i] = st.StateHash
		s.rep.Entries = st.Entries
	}
	for i := 1; i < n; i++ {
		if hashes[i] != hashes[0] {
			return fmt.Errorf("nodes did not converge: n0 %.12s, n%d %.12s", hashes[0], i, hashes[i])
		}
	}
	s.rep.StateHash = hashes[0]
	sum, err := s.ref.Summary(s.ctx)
	if err != nil {
		return err
	}
	s.rep.AcknowledgedEntries = sum.Digest.Count
	ref := sum.Digest.StateHash()
	if fmt.Sprintf("%x", ref[:]) != hashes[0] {
		return fmt.Errorf("the nodes agree on a state without every acknowledged write: %d entries, and the merge of all acknowledged writes holds %d", s.rep.Entries, sum.Digest.Count)
	}
	return nil
}

func (s *sim) converged() bool {
	var first string
	for i, sn := range s.nodes {
		st, err := sn.n.Status(s.ctx)
		if err != nil {
			return false
		}
		if i == 0 {
			first = st.StateHash
		} else if st.StateHash != first {
			return false
		}
	}
	return true
}
