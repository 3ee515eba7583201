package syncproto_test

// Interaction tests: golden scripts that drive several nodes through
// writes, sessions and bundles, in the style of etcd-io/raft's interaction
// tests. Each file in testdata/interaction is a list of cases:
//
//	# comments, kept as they are
//	command arg key=value ...    # a comment after the command is kept too
//	----
//	the output the command printed
//	<blank line>
//
// The test runs every command, prints its output, and checks that the
// transcript equals the file byte for byte. go test ./syncproto -run
// Interaction -rewrite writes the transcripts back instead.
//
// Commands (NODE is n1, n2, ...; RECORD is any name, mapped to a fixed ID):
//
//	add-nodes N                          add N nodes, seeded by their number
//	write NODE COLL N [field=F]          N new records of COLL, one field each
//	edit NODE... record=R field=F [value=V] [coll=C]
//	                                     each node sets the field, having seen
//	                                     what its own store holds of it
//	delete NODE record=R [coll=C]        a tombstone for the record
//	show NODE... record=R [coll=C]       the record as a document (Fold)
//	sync A B [cut=BYTES] [leaf=N] [batch=BYTES]
//	                                     one session, A initiating, in Lockstep
//	bundle A B [drop] [dup] [hold=NAME]  a non-interactive transfer (below)
//	deliver NAME [dup]                   deliver a held bundle (again)
//	tick NODE... DURATION                move the nodes' wall clocks on
//	state                                every node's state hash
//	check-converged                      whether all nodes hold the same state
//
// A bundle from A to B carries every entry that A's stored summary of B (the
// last one B sent A in a bundle) says B may lack, and A's own summary. B
// verifies and applies the entries and keeps A's summary if it is newer
// than the one it has. Sessions do not touch stored summaries.
//
// Everything is deterministic: device keys come from fixed seeds, clocks are
// simulated (each write ticks its device's clock by a millisecond), salts,
// record IDs and bundle IDs are derived from counters and names.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sp "github.com/floe-north/floe/syncproto"
	"github.com/floe-north/floe/syncproto/storetest"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden scripts in testdata/interaction with the output they give now")

func TestInteraction(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "interaction", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/interaction")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runInteractionScript(t, f)
		})
	}
}

// runInteractionScript runs one script and checks or rewrites its
// transcript.
func runInteractionScript(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	h := newIxHarness()
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line + "\n")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		res, err := h.run(line)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, i+1, line, err)
		}
		out.WriteString("----\n")
		out.WriteString(res)
		// Skip the recorded output: "----" and the lines up to a blank one.
		if i+1 < len(lines) && lines[i+1] == "----" {
			i++
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				i++
			}
		}
		if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			out.WriteString("\n")
		}
	}
	got := out.String()
	if *rewrite {
		if got != string(raw) {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if got != string(raw) {
		t.Errorf("%s: the transcript differs from the recorded one\n%s\nIf the change is intended, run: go test ./syncproto -run Interaction -rewrite", path, firstDiffLines(path, string(raw), got))
	}
}

// firstDiffLines describes where two transcripts first differ, with a few
// lines of each from there.
func firstDiffLines(path, want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at %s:%d\n", path, i+1)
	show := func(label string, ls []string) {
		for j := i; j < len(ls) && j < i+8; j++ {
			fmt.Fprintf(&b, "%s %4d | %s\n", label, j+1, ls[j])
		}
		if i >= len(ls) {
			fmt.Fprintf(&b, "%s      | (end of file)\n", label)
		}
	}
	show("-want", w)
	show("+got ", g)
	return b.String()
}

// ixNet is the network every scripted node is on.
var ixNet = sp.NetworkID{0xf1, 0x0e}

// ixNode is one scripted node: a simulated device and its store.
type ixNode struct {
	name string
	dev  *storetest.Device
	// acks holds, by peer name, the newest summary that peer sent this
	// node in a bundle: what the peer held then.
	acks map[string]*sp.SetSummary
}

func (n *ixNode) LoadEntry(k sp.SyncKey) ([]byte, sp.Lane, error) {
	e, err := n.dev.View.Get(context.Background(), k.Hash())
	if err != nil {
		return nil, 0, err
	}
	return e.Encode(), ixLane(e.Collection), nil
}

func ixLane(coll string) sp.Lane {
	switch coll {
	case "members":
		return sp.LaneMembers
	case "urgent":
		return sp.LaneUrgent
	case "directory":
		return sp.LaneDirectory
	case "bulk":
		return sp.LaneBulk
	}
	return sp.LaneOther
}

func (n *ixNode) keys() ([]sp.SyncKey, error) {
	var ks []sp.SyncKey
	err := n.dev.View.ScanSyncOrder(context.Background(), nil, func(k sp.SyncKey, _ sp.Entry) error {
		ks = append(ks, k)
		return nil
	})
	return ks, err
}

func (n *ixNode) digest() sp.Digest {
	s, err := n.dev.View.Summary(context.Background())
	if err != nil {
		panic(err)
	}
	return s.Digest
}

// stateStr is the first 8 hex digits of the node's state hash.
func (n *ixNode) stateStr() string {
	h := n.digest().StateHash()
	return hex.EncodeToString(h[:4])
}

// ixApplied tallies what a node applied during one command.
type ixApplied struct {
	n     int
	colls []string // collections in arrival order, run-length encoded
	runs  []int
	res   sp.ApplyResult
}

func (a *ixApplied) note(coll string) {
	if k := len(a.colls); k > 0 && a.colls[k-1] == coll {
		a.runs[k-1]++
		return
	}
	a.colls = append(a.colls, coll)
	a.runs = append(a.runs, 1)
}

func (a *ixApplied) String() string {
	var arrived []string
	if len(a.colls) <= 6 {
		for i, c := range a.colls {
			arrived = append(arrived, fmt.Sprintf("%s %d", c, a.runs[i]))
		}
	} else {
		// Interleaved: totals by collection, in order of first arrival.
		var order []string
		total := map[string]int{}
		for i, c := range a.colls {
			if total[c] == 0 {
				order = append(order, c)
			}
			total[c] += a.runs[i]
		}
		for _, c := range order {
			arrived = append(arrived, fmt.Sprintf("%s %d", c, total[c]))
		}
		arrived = append(arrived, fmt.Sprintf("interleaved in %d runs", len(a.colls)))
	}
	s := fmt.Sprintf("%d (%s): added %d, pruned %d", a.n, strings.Join(arrived, ", "), a.res.Added, a.res.Pruned)
	for r := sp.Duplicate; r <= sp.RecordDeleted; r++ {
		if k := a.res.Dropped[r]; k > 0 {
			s += fmt.Sprintf(", dropped %d (%s)", k, r)
		}
	}
	return s
}

// ixHarness holds the nodes of one script and runs its commands.
type ixHarness struct {
	nodes   []*ixNode
	byName  map[string]*ixNode
	byDev   map[sp.DeviceID]string
	salts   uint64 // salts handed out
	bundles uint64 // bundles made
	autoRec int    // records made by write
	held    map[string]*ixBundle
}

func newIxHarness() *ixHarness {
	return &ixHarness{byName: map[string]*ixNode{}, byDev: map[sp.DeviceID]string{}, held: map[string]*ixBundle{}}
}

// nextSalt derives a fresh salt from a counter.
func (h *ixHarness) nextSalt() sp.Salt {
	h.salts++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.salts)
	sum := sha256.Sum256(append([]byte("floe/interaction/salt\x00"), b[:]...))
	var s sp.Salt
	copy(s[:], sum[:])
	return s
}

// ixRecordID maps a record name to a fixed ID.
func ixRecordID(name string) sp.RecordID {
	sum := sha256.Sum256([]byte("floe/interaction/record\x00" + name))
	var id sp.RecordID
	copy(id[:], sum[:])
	return id
}

// ixSplit splits a command line into words. A double-quoted stretch
// (value="two words") belongs to its word and loses its quotes; a # outside
// quotes starts a comment.
func ixSplit(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case quoted:
			cur.WriteRune(r)
		case r == '#':
			if inWord {
				words = append(words, cur.String())
			}
			return words, nil
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// ixArgs is a command's arguments: positional words, key=value pairs and
// bare flags (words among the options that are not node names).
type ixArgs struct {
	pos  []string
	kv   map[string]string
	used map[string]bool
}

func parseIxArgs(words []string) *ixArgs {
	a := &ixArgs{kv: map[string]string{}, used: map[string]bool{}}
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, w)
		}
	}
	return a
}

func (a *ixArgs) str(key, def string) string {
	a.used[key] = true
	if v, ok := a.kv[key]; ok {
		return v
	}
	return def
}

func (a *ixArgs) num(key string, def int) (int, error) {
	v := a.str(key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a count", key, v)
	}
	return n, nil
}

// flag reports whether the bare word w was given, and removes it from the
// positional words.
func (a *ixArgs) flag(w string) bool {
	for i, p := range a.pos {
		if p == w {
			a.pos = append(a.pos[:i], a.pos[i+1:]...)
			return true
		}
	}
	return false
}

// done refuses options the command did not read.
func (a *ixArgs) done() error {
	for k := range a.kv {
		if !a.used[k] {
			return fmt.Errorf("unknown option %s=", k)
		}
	}
	return nil
}

func (h *ixHarness) node(name string) (*ixNode, error) {
	n, ok := h.byName[name]
	if !ok {
		return nil, fmt.Errorf("no node %q", name)
	}
	return n, nil
}

func (h *ixHarness) nodesOf(names []string) ([]*ixNode, error) {
	if len(names) == 0 {
		return nil, errors.New("name at least one node")
	}
	var out []*ixNode
	for _, s := range names {
		n, err := h.node(s)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// run runs one command line and returns its output. An error means the
// script itself is wrong.
func (h *ixHarness) run(line string) (string, error) {
	words, err := ixSplit(line)
	if err != nil {
		return "", err
	}
	cmd, a := words[0], parseIxArgs(words[1:])
	var b strings.Builder
	switch cmd {
	case "add-nodes":
		err = h.addNodes(&b, a)
	case "write":
		err = h.write(&b, a)
	case "edit":
		err = h.edit(&b, a)
	case "delete":
		err = h.delete(&b, a)
	case "show":
		err = h.show(&b, a)
	case "sync":
		err = h.sync(&b, a)
	case "bundle":
		err = h.bundle(&b, a)
	case "deliver":
		err = h.deliverCmd(&b, a)
	case "tick":
		err = h.tick(&b, a)
	case "state":
		err = h.state(&b)
	case "check-converged":
		err = h.checkConverged(&b)
	default:
		return "", fmt.Errorf("unknown command %q", cmd)
	}
	if err == nil {
		err = a.done()
	}
	return b.String(), err
}

func (h *ixHarness) addNodes(b *strings.Builder, a *ixArgs) error {
	if len(a.pos) != 1 {
		return errors.New("usage: add-nodes N")
	}
	k, err := strconv.Atoi(a.pos[0])
	if err != nil || k < 1 || len(h.nodes)+k > 200 {
		return fmt.Errorf("add-nodes %q: want 1 to 200 nodes", a.pos[0])
	}
	var names []string
	for range k {
		seed := len(h.nodes) + 1
		n := &ixNode{name: fmt.Sprintf("n%d", seed), dev: storetest.NewDevice(byte(seed)), acks: map[string]*sp.SetSummary{}}
		h.nodes = append(h.nodes, n)
		h.byName[n.name] = n
		h.byDev[n.dev.ID] = n.name
		names = append(names, n.name)
	}
	fmt.Fprintln(b, strings.Join(names, " "))
	return nil
}

func (h *ixHarness) write(b *strings.Builder, a *ixArgs) error {
	if len(a.pos) != 3 {
		return errors.New("usage: write NODE COLL N [field=F]")
	}
	n, err := h.node(a.pos[0])
	if err != nil {
		return err
	}
	coll := a.pos[1]
	k, err := strconv.Atoi(a.pos[2])
	if err != nil || k < 1 {
		return fmt.Errorf("write: %q is not a count", a.pos[2])
	}
	field := a.str("field", "name/en")
	for i := range k {
		h.autoRec++
		n.dev.Tick(time.Millisecond)
		n.dev.Set(coll, ixRecordID(fmt.Sprintf("auto-%d", h.autoRec)), field, fmt.Sprintf("%s %d from %s", coll, i+1, n.name))
	}
	fmt.Fprintf(b, "%s: wrote %d entries to %s; now %d entries\n", n.name, k, coll, n.digest().Count)
	return nil
}

// fieldEntries is what a node's store keeps of one field of a record.
func fieldEntries(n *ixNode, coll string, id sp.RecordID, field string) []sp.Entry {
	es, _ := n.dev.View.Record(context.Background(), coll, id)
	var out []sp.Entry
	for _, e := range es {
		if e.Field == field && e.Kind != sp.KindTombstone {
			out = append(out, e)
		}
	}
	return out
}

func (h *ixHarness) edit(b *strings.Builder, a *ixArgs) error {
	ns, err := h.nodesOf(a.pos)
	if err != nil {
		return err
	}
	rec, field := a.str("record", ""), a.str("field", "")
	if rec == "" || field == "" {
		return errors.New("usage: edit NODE... record=R field=F [value=V] [coll=C]")
	}
	coll, value := a.str("coll", "directory"), a.str("value", "")
	id := ixRecordID(rec)
	for _, n := range ns {
		v := value
		if v == "" {
			v = field + " from " + n.name
		}
		seen := len(fieldEntries(n, coll, id, field))
		n.dev.Tick(time.Millisecond)
		e := n.dev.Set(coll, id, field, v)
		fmt.Fprintf(b, "%s: %s.%s = %q, over %d seen", n.name, rec, field, v, seen)
		if _, err := n.dev.View.Get(context.Background(), e.Hash()); errors.Is(err, sp.ErrNotFound) {
			b.WriteString("; not kept: the record is deleted here")
		}
		b.WriteString("\n")
	}
	return nil
}

func (h *ixHarness) delete(b *strings.Builder, a *ixArgs) error {
	if len(a.pos) != 1 {
		return errors.New("usage: delete NODE record=R [coll=C]")
	}
	n, err := h.node(a.pos[0])
	if err != nil {
		return err
	}
	rec := a.str("record", "")
	if rec == "" {
		return errors.New("usage: delete NODE record=R [coll=C]")
	}
	coll := a.str("coll", "directory")
	id := ixRecordID(rec)
	before, _ := n.dev.View.Record(context.Background(), coll, id)
	n.dev.Tick(time.Millisecond)
	n.dev.Delete(coll, id)
	fmt.Fprintf(b, "%s: deleted %s, which held %d entries here\n", n.name, rec, len(before))
	return nil
}

func (h *ixHarness) author(d sp.DeviceID) string {
	if s, ok := h.byDev[d]; ok {
		return s
	}
	return d.Short()
}

func ixValue(e *sp.Entry) string {
	v, err := sp.DecodeValue(e.Value)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

func (h *ixHarness) show(b *strings.Builder, a *ixArgs) error {
	ns, err := h.nodesOf(a.pos)
	if err != nil {
		return err
	}
	rec := a.str("record", "")
	if rec == "" {
		return errors.New("usage: show NODE... record=R [coll=C]")
	}
	coll := a.str("coll", "directory")
	id := ixRecordID(rec)
	for _, n := range ns {
		es, err := n.dev.View.Record(context.Background(), coll, id)
		if errors.Is(err, sp.ErrNotFound) {
			fmt.Fprintf(b, "%s %s: not held\n", n.name, rec)
			continue
		}
		if err != nil {
			return err
		}
		rv := sp.Fold(coll, id, es)
		if rv.Tombstone != nil {
			fmt.Fprintf(b, "%s %s: deleted by %s\n", n.name, rec, h.author(rv.Tombstone.Author))
			continue
		}
		fmt.Fprintf(b, "%s %s:\n", n.name, rec)
		for _, f := range rv.Fields {
			if f.Kind == sp.KindTally {
				var parts []string
				for _, p := range f.Parts {
					parts = append(parts, h.author(p.Author)+" "+ixValue(&p))
				}
				fmt.Fprintf(b, "  %s = %d (%s)\n", f.Field, f.Total, strings.Join(parts, ", "))
				continue
			}
			fmt.Fprintf(b, "  %s = %s by %s", f.Field, ixValue(&f.Current), h.author(f.Current.Author))
			for _, s := range f.Siblings {
				fmt.Fprintf(b, "; sibling %s by %s", ixValue(&s), h.author(s.Author))
			}
			b.WriteString("\n")
		}
	}
	return nil
}

// applier verifies and applies entries that arrived at n, as a carrier
// does, and tallies them.
func (h *ixHarness) applier(n *ixNode, tally *ixApplied) func([]sp.Entry) error {
	return func(es []sp.Entry) error {
		for i := range es {
			if err := es[i].Verify(); err != nil {
				return err
			}
			if err := n.dev.Clock.Check(es[i].Time, es[i].Author, n.dev.Now); err != nil {
				return err
			}
		}
		for i := range es {
			n.dev.Clock.Observe(es[i].Time)
			tally.note(es[i].Collection)
		}
		tally.n += len(es)
		res, err := n.dev.View.ApplyVerified(context.Background(), es)
		tally.res.Add(res)
		return err
	}
}

func (h *ixHarness) session(n, peer *ixNode, initiator bool, salt sp.Salt, leaf, batch int) *sp.Session {
	return sp.NewSession(sp.SessionConfig{
		Initiator: initiator, Network: ixNet, Local: n.dev.ID, Peer: peer.dev.ID,
		Salt: salt, Digest: n.digest(), Keys: n.keys, Source: n,
		Leaf: leaf, BatchBytes: batch,
	})
}

func ixTraffic(t sp.Traffic) string {
	return fmt.Sprintf("%d B (payload %d, ids %d, proto %d) in %d frames", t.Total(), t.Payload, t.IDs, t.Protocol, t.Frames)
}

func (h *ixHarness) sync(b *strings.Builder, a *ixArgs) error {
	if len(a.pos) != 2 || a.pos[0] == a.pos[1] {
		return errors.New("usage: sync A B [cut=BYTES] [leaf=N] [batch=BYTES]")
	}
	na, err := h.node(a.pos[0])
	if err != nil {
		return err
	}
	nb, err := h.node(a.pos[1])
	if err != nil {
		return err
	}
	cut, err := a.num("cut", 0)
	if err != nil {
		return err
	}
	leaf, err := a.num("leaf", 0)
	if err != nil {
		return err
	}
	batch, err := a.num("batch", 0)
	if err != nil {
		return err
	}
	sa := h.session(na, nb, true, h.nextSalt(), leaf, batch)
	sb := h.session(nb, na, false, sp.Salt{}, leaf, batch)
	var ta, tb ixApplied
	sa.Start()
	res, err := sp.Lockstep(sa, sb, h.applier(na, &ta), h.applier(nb, &tb), sp.LockstepOptions{CutAfterBytes: int64(cut)})
	pair := na.name + "<->" + nb.name
	switch {
	case err == nil && sa.Stats().Complete && sb.Stats().Complete:
		fmt.Fprintf(b, "%s: complete in %d round trips (%d steps)\n", pair, res.RoundTrips(), res.Steps)
	case err == nil:
		fmt.Fprintf(b, "%s: ended incomplete after %d steps\n", pair, res.Steps)
	case errors.Is(err, sp.ErrLinkCut):
		fmt.Fprintf(b, "%s: link cut after %d steps, %d of %d bytes delivered\n", pair, res.Steps, res.Delivered, cut)
	default:
		fmt.Fprintf(b, "%s: failed after %d steps: %v\n", pair, res.Steps, err)
	}
	dir := func(from, to *ixNode, sf, st *sp.Session) {
		f, r := sf.Stats(), st.Stats()
		sent := fmt.Sprintf("%d entries", f.Sent)
		if f.ToSend != f.Sent {
			sent = fmt.Sprintf("%d of %d entries", f.Sent, f.ToSend)
		}
		fmt.Fprintf(b, "  %s->%s: %s, rounds %d, %s\n", from.name, to.name, sent, f.RoundsOut, ixTraffic(f.Out))
		if f.Out != r.In || uint64(f.Sent) != r.Received {
			fmt.Fprintf(b, "    arrived: %d entries, %s\n", r.Received, ixTraffic(r.In))
		}
	}
	dir(na, nb, sa, sb)
	dir(nb, na, sb, sa)
	for _, x := range []struct {
		n *ixNode
		t *ixApplied
	}{{na, &ta}, {nb, &tb}} {
		if x.t.n > 0 {
			fmt.Fprintf(b, "  %s applied %s\n", x.n.name, x.t)
		}
	}
	h.pairState(b, na, nb)
	return nil
}

// pairState prints whether two nodes now hold the same state.
func (h *ixHarness) pairState(b *strings.Builder, x, y *ixNode) {
	if x.digest() == y.digest() && bytes.Equal(x.dev.View.Dump(), y.dev.View.Dump()) {
		fmt.Fprintf(b, "  now %s = %s: %s, %d entries\n", x.name, y.name, x.stateStr(), x.digest().Count)
		return
	}
	fmt.Fprintf(b, "  now %s %s (%d entries), %s %s (%d entries)\n", x.name, x.stateStr(), x.digest().Count, y.name, y.stateStr(), y.digest().Count)
}

// ixBundle is a bundle in transit: the frames a carrier would put in a file.
type ixBundle struct {
	from, to *ixNode
	frames   [][]byte
}

func (h *ixHarness) bundle(b *strings.Builder, a *ixArgs) error {
	drop, dup := a.flag("drop"), a.flag("dup")
	if len(a.pos) != 2 || a.pos[0] == a.pos[1] {
		return errors.New("usage: bundle A B [drop] [dup] [hold=NAME]")
	}
	from, err := h.node(a.pos[0])
	if err != nil {
		return err
	}
	to, err := h.node(a.pos[1])
	if err != nil {
		return err
	}
	hold := a.str("hold", "")
	if (hold != "") && (drop || dup) {
		return errors.New("bundle: hold goes alone; deliver dup it later")
	}
	bu, line, err := h.makeBundle(from, to)
	if err != nil {
		return err
	}
	fmt.Fprintln(b, line)
	switch {
	case drop:
		b.WriteString("  dropped on the way\n")
	case hold != "":
		h.held[hold] = bu
		fmt.Fprintf(b, "  held as %s\n", hold)
	default:
		h.deliver(b, bu)
		if dup {
			b.WriteString("  delivered again:\n")
			h.deliver(b, bu)
		}
	}
	return nil
}

func (h *ixHarness) deliverCmd(b *strings.Builder, a *ixArgs) error {
	dup := a.flag("dup")
	if len(a.pos) != 1 {
		return errors.New("usage: deliver NAME [dup]")
	}
	bu, ok := h.held[a.pos[0]]
	if !ok {
		return fmt.Errorf("no held bundle %q", a.pos[0])
	}
	fmt.Fprintf(b, "%s: %s->%s\n", a.pos[0], bu.from.name, bu.to.name)
	h.deliver(b, bu)
	if dup {
		b.WriteString("  delivered again:\n")
		h.deliver(b, bu)
	}
	return nil
}

// makeBundle builds the frames of a bundle from one node to another.
func (h *ixHarness) makeBundle(from, to *ixNode) (*ixBundle, string, error) {
	keys, err := from.keys()
	if err != nil {
		return nil, "", err
	}
	known := from.acks[to.name]
	miss := known.Missing(keys)
	h.bundles++
	created := from.dev.Clock.Now(from.dev.Now)
	hdr := sp.BundleHeader{Network: ixNet, From: from.dev.ID, To: to.dev.ID, Created: created}
	binary.BigEndian.PutUint64(hdr.ID[:], h.bundles)
	bu := &ixBundle{from: from, to: to}
	var tr sp.Traffic
	add := func(kind sp.MsgKind, body any, payload int) {
		p := sp.EncodeMsg(kind, body)
		bu.frames = append(bu.frames, sp.AppendFrame(nil, p))
		tr.Frames++
		tr.Payload += int64(payload)
		tr.Protocol += int64(len(p)+sp.FrameOverhead) - int64(payload)
	}
	add(sp.MsgBundleHeader, hdr, 0)
	var batch sp.Entries
	size, payload := 16, 0
	flush := func() {
		if len(batch.List) > 0 {
			add(sp.MsgEntries, batch, payload)
		}
		batch, size, payload = sp.Entries{}, 16, 0
	}
	for _, i := range miss {
		e, err := from.dev.View.Get(context.Background(), keys[i].Hash())
		if err != nil {
			return nil, "", err
		}
		enc := e.Encode()
		if len(batch.List) > 0 && (size+len(enc)+5 > sp.MaxFrameLen-64 || len(batch.List) >= sp.MaxItems) {
			flush()
		}
		batch.List = append(batch.List, enc)
		size += len(enc) + 5
		payload += len(enc)
	}
	flush()
	sum := sp.Summarize(keys, from.digest(), created, h.nextSalt())
	for _, p := range sum.Parts() {
		add(sp.MsgAck, p, 0)
	}
	basis := "no summary from " + to.name
	if known != nil {
		basis = fmt.Sprintf("%s's summary of %d", to.name, known.Count)
	}
	line := fmt.Sprintf("%s->%s bundle: %d of %d entries (%s), summary of %d in %d ranges; %s",
		from.name, to.name, len(miss), len(keys), basis, sum.Count, len(sum.Ranges), ixTraffic(tr))
	return bu, line, nil
}

// deliver reads a bundle's frames at the receiving node as an importer
// does: every frame checked, entries verified before they are applied.
func (h *ixHarness) deliver(b *strings.Builder, bu *ixBundle) {
	to := bu.to
	var tally ixApplied
	apply := h.applier(to, &tally)
	var sb sp.SummaryBuilder
	var sum *sp.SetSummary
	fail := func(err error) { fmt.Fprintf(b, "  %s refused the bundle: %v\n", to.name, err) }
	for _, f := range bu.frames {
		p, _, err := sp.NextFrame(f)
		if err != nil {
			fail(err)
			return
		}
		kind, body, err := sp.DecodeMsg(p)
		if err != nil {
			fail(err)
			return
		}
		switch kind {
		case sp.MsgBundleHeader:
			var hdr sp.BundleHeader
			if err := sp.DecodeBody(kind, body, &hdr); err != nil {
				fail(err)
				return
			}
			if hdr.Network != ixNet || hdr.To != to.dev.ID || hdr.From != bu.from.dev.ID {
				fail(errors.New("header names another network or device"))
				return
			}
		case sp.MsgEntries:
			var m sp.Entries
			if err := sp.DecodeBody(kind, body, &m); err != nil {
				fail(err)
				return
			}
			es := make([]sp.Entry, 0, len(m.List))
			for _, raw := range m.List {
				e, err := sp.DecodeEntry(raw)
				if err != nil {
					fail(err)
					return
				}
				es = append(es, e)
			}
			if err := apply(es); err != nil {
				fail(err)
				return
			}
		case sp.MsgAck:
			var part sp.AckPart
			if err := sp.DecodeBody(kind, body, &part); err != nil {
				fail(err)
				return
			}
			s, err := sb.Add(part)
			if err != nil {
				fail(err)
				return
			}
			if s != nil {
				sum = s
			}
		}
	}
	if tally.n > 0 {
		fmt.Fprintf(b, "  %s applied %s\n", to.name, &tally)
	} else {
		fmt.Fprintf(b, "  %s applied nothing\n", to.name)
	}
	from := bu.from.name
	switch prev := to.acks[from]; {
	case sum == nil:
		fmt.Fprintf(b, "  no summary from %s in the bundle\n", from)
	case prev == nil || sum.Created > prev.Created:
		to.acks[from] = sum
		fmt.Fprintf(b, "  %s keeps %s's summary of %d entries\n", to.name, from, sum.Count)
	case sum.Created == prev.Created:
		fmt.Fprintf(b, "  %s already holds this summary from %s\n", to.name, from)
	default:
		fmt.Fprintf(b, "  %s keeps the newer summary it holds from %s (%d entries), not this one (%d)\n", to.name, from, prev.Count, sum.Count)
	}
	h.pairState(b, bu.from, to)
}

func (h *ixHarness) tick(b *strings.Builder, a *ixArgs) error {
	if len(a.pos) < 2 {
		return errors.New("usage: tick NODE... DURATION")
	}
	d, err := time.ParseDuration(a.pos[len(a.pos)-1])
	if err != nil || d < 0 {
		return fmt.Errorf("tick: %q is not a duration", a.pos[len(a.pos)-1])
	}
	ns, err := h.nodesOf(a.pos[:len(a.pos)-1])
	if err != nil {
		return err
	}
	for _, n := range ns {
		n.dev.Tick(d)
		fmt.Fprintf(b, "%s: clock at %s\n", n.name, n.dev.Now.Format("15:04:05.000"))
	}
	return nil
}

func (h *ixHarness) state(b *strings.Builder) error {
	states := map[string]bool{}
	for _, n := range h.nodes {
		s := n.stateStr()
		states[s] = true
		fmt.Fprintf(b, "%s %s %d entries\n", n.name, s, n.digest().Count)
	}
	if len(states) == 1 {
		b.WriteString("converged\n")
	} else {
		fmt.Fprintf(b, "differ: %d states\n", len(states))
	}
	return nil
}

func (h *ixHarness) checkConverged(b *strings.Builder) error {
	if len(h.nodes) == 0 {
		return errors.New("no nodes")
	}
	first := h.nodes[0]
	dump := first.dev.View.Dump()
	var off []string
	for _, n := range h.nodes[1:] {
		if n.digest() != first.digest() || !bytes.Equal(n.dev.View.Dump(), dump) {
			off = append(off, fmt.Sprintf("%s %s (%d entries)", n.name, n.stateStr(), n.digest().Count))
		}
	}
	if len(off) == 0 {
		fmt.Fprintf(b, "ok: %d nodes, state %s, %d entries\n", len(h.nodes), first.stateStr(), first.digest().Count)
		return nil
	}
	fmt.Fprintf(b, "NOT converged: %s %s (%d entries) vs %s\n", first.name, first.stateStr(), first.digest().Count, strings.Join(off, ", "))
	return nil
}
