package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
)

// bundleCmd is `floe bundle export|import`: sync by file.
type bundleCmd struct {
	forPeer string
	out     string
}

func (*bundleCmd) Name() string     { return "bundle" }
func (*bundleCmd) Synopsis() string { return "sync by file, for a USB stick: export, import" }
func (*bundleCmd) Usage() string {
	return `Usage:
  floe bundle export --for PEER --out FILE   write what PEER lacks, or may lack
  floe bundle import FILE                    apply a bundle made for this node

A bundle carries entries from one node to one peer on a USB stick or any
other way. export writes every entry the peer has not acknowledged (all of
them the first time), membership first, then urgent referrals and the
directory. Each bundle also carries its maker's acknowledgement of what it
holds, so once a bundle goes back the other way, the next export is small.

import checks every frame and applies what verifies, even from a bundle
that was cut short or damaged; it says what was lost, and a whole copy
imported later completes it. Importing twice, or out of order, changes
nothing the second time. A bundle for another network or another device
is refused, and nothing of it is applied.

A bundle is sealed to the peer's device: the file holds nothing readable,
not even a sign that it is a Floe bundle, and only that laptop opens it.
Every frame in it is signed by this node. It holds only what both this
node and the recipient may hold by their certificates (role and areas);
shelter locations in it stay sealed to their audience. No bundle is made
for a revoked device.
`
}
func (c *bundleCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.forPeer, "for", "", "export: the peer the bundle is for (name or device ID)")
	fs.StringVar(&c.out, "out", "", "export: the file to write")
}
func (c *bundleCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "import") {
		return usagef("floe bundle export|import", "want a subcommand: export or import")
	}
	if args[0] == "export" {
		if len(args) != 1 || c.forPeer == "" || c.out == "" {
			return usagef("floe bundle export --for PEER --out FILE", "export needs --for and --out")
		}
		return c.export(ctx, env)
	}
	if len(args) != 2 {
		return usagef("floe bundle import FILE", "import needs one file")
	}
	return importBundle(ctx, env, args[1])
}

func (c *bundleCmd) export(ctx context.Context, env *Env) error {
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	p, err := n.FindPeer(c.forPeer)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("%s already exists; choose another name or remove it first", c.out)
		}
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	ex, err := n.ExportBundle(ctx, bw, p.Device)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(c.out)
		return fmt.Errorf("writing the bundle: %w; nothing was written", err)
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"peer": p.Device.String(), "file": c.out, "entries": ex.Entries, "bytes": ex.Bytes, "everything": ex.Everything})
	}
	what := "the entries it has not acknowledged"
	if ex.Everything {
		what = "everything (it has acknowledged nothing yet)"
	}
	env.Printf("wrote %s for %s: %d entries, %s: %s\n", c.out, peerLabel(p), ex.Entries, humanBytes(ex.Bytes), what)
	return nil
}

func importBundle(ctx context.Context, env *Env, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	im, err := n.ImportBundle(ctx, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep := im.Report
	if env.JSON {
		return printJSON(env.Out, map[string]any{"from": im.From.String(), "new": im.New, "known": im.Known,
			"held_back": im.HeldBack, "refused": im.Refused, "frames": rep.Frames, "damaged": rep.Damaged,
			"truncated": rep.Truncated, "signed": rep.Signed, "ack_kept": im.AckKept, "problems": rep.Problems()})
	}
	env.Printf("imported %s from %s: %d new entries, %d already here\n", path, im.From.Short(), im.New, im.Known)
	if im.HeldBack > 0 {
		env.Printf("held back %d entries stamped too far in the future or by a device whose certificate has not arrived; a later bundle or sync brings them\n", im.HeldBack)
	}
	if im.Refused > 0 {
		env.Printf("refused %d entries: forged, damaged, or written by a device not allowed to (revoked, or outside its role or area)\n", im.Refused)
	}
	if p := rep.Problems(); p != "" {
		env.Printf("%s\n", p)
	}
	return nil
}
