package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

type demoCmd struct {
	keep bool
}

func (*demoCmd) Name() string     { return "demo" }
func (*demoCmd) Synopsis() string { return "a short tour on sample data, in a temporary directory" }
func (*demoCmd) Usage() string {
	return `Usage: floe demo [--dir DIR] [--keep]

Creates a node on sample data (the public hotlines and Nunavut communities,
plus clearly fictional local services and shelters) and walks through a
search, an outreach record, and a conflict between two laptops that is
resolved. Needs no set-up.

Without --dir it works in a new temporary directory and removes it at the
end. With --dir DIR (which must not exist yet or be empty) it keeps the two
demo nodes in DIR/laptop and DIR/coordinator; their passphrase is
"demo passphrase".

Flags:
  --dir DIR   where to put the demo nodes (kept)
  --keep      keep the temporary directory
`
}
func (c *demoCmd) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory")
}

const demoPassphrase = "demo passphrase"

func (c *demoCmd) Run(ctx context.Context, env *Env, args []string) (err error) {
	if err := wantArgs(args, 0, "no arguments", "demo"); err != nil {
		return err
	}
	if env.JSON {
		return usagef("run 'floe demo' without --json", "the demo is a tour for people; it has no JSON output")
	}
	dir := env.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "floe-demo-"); err != nil {
			return fmt.Errorf("making a temporary directory: %w", err)
		}
		if !c.keep {
			defer os.RemoveAll(dir)
		}
	}
	p := env.Printf
	p("Floe demo. Sample data only: every local service and shelter here is fictional.\n")
	p("Working in %s\n\n", dir)

	p("1. Creating an encrypted node for a community laptop\n")
	laptop, err := node.Init(ctx, filepath.Join(dir, "laptop"), []byte(demoPassphrase), nodeOptions())
	if err != nil {
		return err
	}
	defer laptop.Close()
	p("   node %s, passphrase %q\n\n", laptop.ID().Short(), demoPassphrase)

	p("2. Loading sample data\n")
	byColl := map[string][][]node.Change{}
	dirRecs := fieldkit.SampleDirectory()
	outRecs := fieldkit.SampleOutreach(time.Now())
	for _, r := range append(dirRecs, outRecs...) {
		ch, err := node.ChangesFrom(r.Fields)
		if err != nil {
			return err
		}
		byColl[r.Collection] = append(byColl[r.Collection], ch)
	}
	for _, coll := range []string{node.Directory, node.Outreach} {
		if _, err := laptop.AddBatch(ctx, coll, byColl[coll]); err != nil {
			return fmt.Errorf("loading sample %s: %w", coll, err)
		}
	}
	p("   %d directory services (public hotlines and fictional local services), %d outreach records\n\n", len(dirRecs), len(outRecs))

	p("3. Searching the directory (case, accents and syllabics are folded)\n")
	// Command output inside the tour is indented like the commands.
	inner := *env
	inner.IO.Out = &indenter{w: env.Out, prefix: "   "}
	for _, q := range []string{"help line", "SANTE", "ᐃᓄᐃᑦ", "shelter"} {
		p("\n   $ floe dir search %s\n", q)
		rs, err := laptop.Search(ctx, q, 5)
		if err != nil {
			return err
		}
		if err := printList(&inner, node.Directory, rs); err != nil {
			return err
		}
	}
	p("\n   A shelter shows its alias, community and intake phone. Its location is\n")
	p("   never listed, searched or printed unless asked for by name.\n\n")

	p("4. Recording an outreach contact (no names: a pseudonymous subject code)\n")
	today := time.Now().Format(time.DateOnly)
	follow := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	args4 := []string{"date=" + today, "community=Pangnirtung", "contact=in-person", "subject=S-7K3Q",
		"referred_to=Kamatsiaqtut Help Line", "follow_up=" + follow, "urgent=true"}
	p("   $ floe outreach add")
	var changes []node.Change
	for _, a := range args4 {
		p(" %s", a)
		ch, _ := node.ParseChange(a)
		changes = append(changes, ch)
	}
	p("\n")
	oid, err := laptop.Add(ctx, node.Outreach, changes)
	if err != nil {
		return err
	}
	rec, err := laptop.Get(ctx, node.Outreach, oid, node.ReadOptions{})
	if err != nil {
		return err
	}
	printRecord(inner.Out, rec)
	p("\n")

	p("5. A coordinator's laptop joins, and gets everything on a USB stick\n")
	inv := laptop.Invite(nil, "community laptop")
	copts := nodeOptions()
	copts.Join = &inv
	coord, err := node.Init(ctx, filepath.Join(dir, "coordinator"), []byte(demoPassphrase), copts)
	if err != nil {
		return err
	}
	defer coord.Close()
	if err := laptop.AddPeer(node.Peer{Device: coord.ID(), Name: "coordinator"}); err != nil {
		return err
	}
	bundle := filepath.Join(dir, "to-coordinator.floe")
	p("   $ floe member invite --out invite.txt        (on the community laptop)\n")
	p("   $ floe init --join invite.txt                (on the coordinator's laptop: node %s)\n", coord.ID().Short())
	p("   $ floe bundle export --for coordinator --out %s\n", filepath.Base(bundle))
	ex, err := demoBundle(ctx, laptop, coord, bundle)
	if err != nil {
		return err
	}
	p("   $ floe bundle import %s\n", filepath.Base(bundle))
	p("   %d entries, %s, sealed to the coordinator's laptop; verified frame by frame and applied.\n\n", ex.Entries, humanBytes(ex.Bytes))

	// From here the two laptops sync over the network: libp2p on this
	// machine's loopback, as 'floe node run' and 'floe sync' do.
	host, err := laptop.StartHost(ctx, []string{"/ip4/127.0.0.1/tcp/0"}, node.SyncOptions{})
	if err != nil {
		return err
	}
	defer host.Close()
	if err := coord.AddPeer(node.Peer{Device: laptop.ID(), Name: "community laptop", Addrs: host.Addrs()}); err != nil {
		return err
	}
	chost, err := coord.StartHost(ctx, []string{}, node.SyncOptions{})
	if err != nil {
		return err
	}
	defer chost.Close()
	exchange := func(ctx context.Context, _, _ *node.Node) error {
		_, err := demoSync(ctx, coord, chost)
		return err
	}

	p("6. Two laptops edit the same service while apart, and the conflict is resolved\n")
	hits, err := laptop.Search(ctx, "legal clinic", 1)
	if err != nil || len(hits) == 0 {
		return errors.Join(errors.New("the sample legal clinic is missing"), err)
	}
	sid, _ := sp.ParseRecordID(hits[0].ID)
	p("   Offline, the community laptop sets its hours to \"Mon-Fri 9-5\";\n")
	p("   the coordinator sets them to \"Tue and Thu 10-4\".\n")
	if err := laptop.Update(ctx, node.Directory, sid, []node.Change{{Field: "hours", Value: "Mon-Fri 9-5"}}); err != nil {
		return err
	}
	if err := coord.Update(ctx, node.Directory, sid, []node.Change{{Field: "hours", Value: "Tue and Thu 10-4"}}); err != nil {
		return err
	}
	if err := exchange(ctx, laptop, coord); err != nil {
		return err
	}
	p("   They sync. Neither edit is lost; both laptops show the conflict:\n\n   $ floe conflicts\n")
	cs, err := laptop.Conflicts(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		for _, v := range c.Values {
			p("   %s %s  %-10s %-18q by %s  hash %s\n", c.Collection, c.ID[:8], c.Field, fmt.Sprint(v.Value), shortDev(v.Author), v.Hash[:12])
		}
	}
	if len(cs) != 1 || len(cs[0].Values) != 2 {
		return fmt.Errorf("bug: the demo expected one conflict with two values, got %d", len(cs))
	}
	keep := cs[0].Values[1].Hash[:12]
	p("\n   The coordinator phones the clinic and keeps one value:\n   $ floe resolve %s hours --keep %s\n", cs[0].ID[:8], keep)
	if err := coord.Resolve(ctx, node.Directory, sid, "hours", keep, ""); err != nil {
		return err
	}
	if err := exchange(ctx, laptop, coord); err != nil {
		return err
	}
	rec, err = laptop.Get(ctx, node.Directory, sid, node.ReadOptions{})
	if err != nil {
		return err
	}
	p("   After the next sync the community laptop shows hours = %q, with no conflict.\n\n", rec.Get("hours"))

	p("7. A partition: the laptops are apart for days, then meet over the network\n")
	p("   The community laptop records two contacts; the coordinator adds a service.\n")
	for i, subj := range []string{"S-2M8D", "S-9QX4"} {
		ch := []node.Change{{Field: "date", Value: today}, {Field: "community", Value: "Pangnirtung"},
			{Field: "contact", Value: "phone"}, {Field: "subject", Value: subj}, {Field: "urgent", Value: fmt.Sprint(i == 0)}}
		if _, err := laptop.Add(ctx, node.Outreach, ch); err != nil {
			return err
		}
	}
	if _, err := coord.Add(ctx, node.Directory, []node.Change{{Field: "name", Value: "Fictional Youth Drop-in (sample)"},
		{Field: "kind", Value: "other"}, {Field: "community", Value: "Pangnirtung"}, {Field: "phone", Value: "867-555-0177"}}); err != nil {
		return err
	}
	for _, n := range []*node.Node{laptop, coord} {
		st, err := n.Status(ctx)
		if err != nil {
			return err
		}
		p("   apart:  %s  %d entries  state hash %s\n", st.NodeID[:12], st.Entries, st.StateHash[:16])
	}
	p("   $ floe sync \"community laptop\"              (on the coordinator's laptop)\n")
	res, err := demoSync(ctx, coord, chost)
	if err != nil {
		return err
	}
	st := res.Stats
	p("   sent %d entries, received %d; %s out and %s in, %d reconciliation rounds, %s\n\n",
		st.Sent, st.Received, humanBytes(st.Out.Total()), humanBytes(st.In.Total()), st.RoundsIn+st.RoundsOut, res.Duration.Round(time.Millisecond))

	p("8. Both laptops hold the same state\n")
	for _, n := range []*node.Node{laptop, coord} {
		st, err := n.Status(ctx)
		if err != nil {
			return err
		}
		p("   %s  %d entries  state hash %s\n", st.NodeID[:12], st.Entries, st.StateHash[:16])
	}
	if env.dir != "" || c.keep {
		p("\nThe demo nodes are in %s (passphrase %q). Try:\n  floe dir list --dir %s\n", dir, demoPassphrase, filepath.Join(dir, "laptop"))
	}
	return nil
}

// demoBundle writes a bundle from a for b to path and imports it into b.
func demoBundle(ctx context.Context, a, b *node.Node, path string) (node.BundleExport, error) {
	f, err := os.Create(path)
	if err != nil {
		return node.BundleExport{}, err
	}
	ex, err := a.ExportBundle(ctx, f, b.ID())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ex, err
	}
	f, err = os.Open(path)
	if err != nil {
		return ex, err
	}
	defer f.Close()
	im, err := b.ImportBundle(ctx, f)
	if err == nil && im.Report.Problems() != "" {
		err = errors.New("bug: the demo bundle arrived damaged: " + im.Report.Problems())
	}
	return ex, err
}

// demoSync runs one live session from n to its first peer through h.
func demoSync(ctx context.Context, n *node.Node, h *node.Host) (node.SyncResult, error) {
	ps, err := n.Peers()
	if err != nil || len(ps) == 0 {
		return node.SyncResult{}, errors.Join(errors.New("bug: the demo node has no peer"), err)
	}
	return n.SyncPeer(ctx, h, ps[0], node.SyncOptions{})
}

// indenter puts a prefix at the start of every line written through it.
type indenter struct {
	w       io.Writer
	prefix  string
	midLine bool
}

func (d *indenter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if !d.midLine {
			out = append(out, d.prefix...)
		}
		out = append(out, c)
		d.midLine = c != '\n'
	}
	if _, err := d.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
