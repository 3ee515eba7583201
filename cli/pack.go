package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
)

type packCmd struct {
	src     string
	out     string
	name    string
	delta   bool
	partial bool
}

func (*packCmd) Name() string { return "pack" }
func (*packCmd) Synopsis() string {
	return "resource packs: build, verify, install, list, rm"
}
func (*packCmd) Usage() string {
	return `Usage:
  floe pack build --src FOLDER --out FILE [--name NAME] [--delta] [--partial]
  floe pack verify FILE
  floe pack install FILE
  floe pack list [--json]
  floe pack rm NAME

A resource pack is a trainer's signed, versioned set of directory services,
installed with no network (a USB stick, a laptop prepared before a flight).

build reads FOLDER/services.csv (a spreadsheet saved as CSV UTF-8, one row
a service; the columns are in docs/pack-format.md), writes each row as a
directory record on this laptop (adding, changing or deleting what differs
from the previous build), and writes the pack, signed by this laptop's
device key. It needs a role that writes the directory (trainer). NAME
(default: the folder's name) names the series; each build of a name is
the next version. --delta writes only what changed since the previous
version this laptop built: a few KB for one changed phone number. A row
with a problem is reported by line and column, and nothing is written
unless --partial (then the good rows are).

verify checks a pack with no network and prints what it holds: the file
is whole and unaltered, its signer's certificate is signed by this
network's root key and not revoked, and every entry is signed.

install verifies, then applies. A pack older than the installed version
of its series is refused (an old pack never rolls back a newer one); an
update (delta) needs the version it updates; a damaged or altered pack is
refused and nothing of it is applied. Packs also carry the network's
revocations, so a laptop that only ever gets packs learns of revoked
devices.

rm forgets an installed pack, so any version of it can be installed
again. Its services stay in the directory, which every laptop shares;
remove one with 'floe dir rm'.

Shelter locations in the spreadsheet are sealed as they are written:
a pack holds them only sealed. The spreadsheet itself holds them in plain
text: keep it on an encrypted drive, or leave the location column out and
set locations with 'floe dir set ID location=-'.
`
}
func (c *packCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.src, "src", "", "build: the folder with services.csv")
	fs.StringVar(&c.out, "out", "", "build: the pack file to write")
	fs.StringVar(&c.name, "name", "", "build: the pack's name (default: the folder's name)")
	fs.BoolVar(&c.delta, "delta", false, "build: only what changed since the previous version")
	fs.BoolVar(&c.partial, "partial", false, "build: write the good rows even if some have problems")
}

func (c *packCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("floe pack --help", "give a subcommand: build, verify, install, list or rm")
	}
	switch args[0] {
	case "build":
		return c.build(ctx, env, args[1:])
	case "verify", "install":
		if err := wantArgs(args[1:], 1, "the pack file", "pack "+args[0]); err != nil {
			return err
		}
		return c.check(ctx, env, args[0] == "install", args[1])
	case "list":
		return c.list(ctx, env, args[1:])
	case "rm":
		if err := wantArgs(args[1:], 1, "the pack's name", "pack rm"); err != nil {
			return err
		}
		n, err := env.Open(ctx)
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.RemovePack(args[1]); err != nil {
			return err
		}
		env.Printf("forgot pack %q; its services stay in the directory\n", args[1])
		return nil
	}
	return usagef("floe pack --help", "unknown subcommand %q", args[0])
}

func (c *packCmd) build(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "pack build"); err != nil {
		return err
	}
	if c.src == "" || c.out == "" {
		return usagef("floe pack --help", "build needs --src FOLDER and --out FILE")
	}
	name := c.name
	if name == "" {
		abs, err := filepath.Abs(c.src)
		if err != nil {
			return err
		}
		name = filepath.Base(abs)
	}
	f, err := os.Open(filepath.Join(c.src, "services.csv"))
	if err != nil {
		return fmt.Errorf("reading the spreadsheet: %w (the folder needs a services.csv)", err)
	}
	rows, bad, err := fieldkit.ReadServices(f)
	f.Close()
	if err != nil {
		return err
	}
	if len(bad) > 0 && !c.partial {
		for _, b := range bad {
			fmt.Fprintf(env.Err, "services.csv %s\n", b)
		}
		return fmt.Errorf("%d rows have problems; nothing was written (fix them, or build from the good rows only with --partial)", len(bad))
	}
	if _, err := os.Stat(c.out); err == nil {
		return fmt.Errorf("%s already exists; choose another name or remove it first", c.out)
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	files := func(f string) (io.ReadCloser, error) { return os.Open(filepath.Join(c.src, f)) }
	var rep node.PackBuildReport
	err = writeFileVia(c.out, 0o644, func(out io.Writer) error {
		var err error
		rep, err = n.BuildPack(ctx, rows, c.partial, node.PackBuildOptions{Name: name, Delta: c.delta, Files: files}, out)
		return err
	})
	for _, b := range append(bad, rep.Problems...) {
		fmt.Fprintf(env.Err, "services.csv %s\n", b)
	}
	if err != nil {
		return err
	}
	h := rep.Header
	if env.JSON {
		return printJSON(env.Out, map[string]any{"file": c.out, "name": h.Name, "version": h.Version, "base": h.Base,
			"entries": rep.Entries, "bytes": rep.Bytes, "added": rep.Added, "changed": rep.Changed, "removed": rep.Removed,
			"problems": len(bad) + len(rep.Problems)})
	}
	kind := "full pack"
	if h.Base > 0 {
		kind = fmt.Sprintf("update from version %d", h.Base)
	}
	env.Printf("wrote %s: %q version %d (%s), %d entries, %d attachment chunks, %s\n%d services added, %d changed, %d removed\n",
		c.out, h.Name, h.Version, kind, rep.Entries, rep.Chunks, humanBytes(rep.Bytes), rep.Added, rep.Changed, rep.Removed)
	return nil
}

func (c *packCmd) check(ctx context.Context, env *Env, install bool, path string) error {
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	open := func() (io.ReadCloser, error) { return os.Open(path) }
	var info node.PackInfo
	var rep node.PackInstallReport
	if install {
		rep, err = n.InstallPack(ctx, open)
		info = rep.Info
	} else {
		var f io.ReadCloser
		if f, err = open(); err == nil {
			info, err = n.VerifyPack(f)
			f.Close()
		}
	}
	if errors.Is(err, fieldkit.ErrBadPack) {
		return fmt.Errorf("%s: %w; nothing was applied", path, err)
	}
	if err != nil {
		return err
	}
	h := info.Header
	if env.JSON {
		out := map[string]any{"name": h.Name, "version": h.Version, "base": h.Base, "signer": h.Signer.String(),
			"signer_role": info.SignerCert.Role, "entries": info.Entries, "services": info.Records, "revocations": info.Revocations,
			"installed_before": info.Installed, "verified": true}
		if install {
			out["new"], out["known"], out["refused"], out["held"] = rep.New, rep.Known, rep.Refused, rep.Held
		}
		return printJSON(env.Out, out)
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "pack\t%q version %d", h.Name, h.Version)
	if h.Base > 0 {
		fmt.Fprintf(tw, " (update from version %d)", h.Base)
	}
	fmt.Fprintf(tw, "\nsigned by\t%s (%s, %s), certificate signed by this network's root key\n", h.Signer.Short(), orDash(info.SignerCert.Name), info.SignerCert.Role)
	fmt.Fprintf(tw, "holds\t%d services with entries in it, %d entries, %d revocations, %d attachment chunks (%s)\n", info.Records, info.Entries, info.Revocations, info.Chunks, humanBytes(info.ChunkBytes))
	inst := "none"
	if info.Installed > 0 {
		inst = fmt.Sprintf("version %d", info.Installed)
	}
	fmt.Fprintf(tw, "installed here before\t%s\n", inst)
	if install {
		fmt.Fprintf(tw, "installed\t%d new entries, %d already here", rep.New, rep.Known)
		if rep.Refused > 0 {
			fmt.Fprintf(tw, ", %d refused (their authors were not allowed to write them)", rep.Refused)
		}
		fmt.Fprintln(tw)
	} else {
		fmt.Fprintf(tw, "verified\twhole, unaltered, every entry signed\n")
	}
	return tw.Flush()
}

func (c *packCmd) list(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "pack list"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	ps, err := n.Packs()
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, ps)
	}
	if len(ps) == 0 {
		env.Printf("no packs installed\n")
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSERVICES\tSIGNER\tINSTALLED")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", strings.ReplaceAll(p.Name, "\t", " "), p.Version, p.Services, shortDev(p.Signer), p.Installed.Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
