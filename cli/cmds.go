package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
)

type initCmd struct {
	network  string
	join     string
	out      string
	name     string
	audience string
}

func (*initCmd) Name() string     { return "init" }
func (*initCmd) Synopsis() string { return "create a new, encrypted node" }
func (*initCmd) Usage() string {
	return `Usage: floe init [--network NAME] [--audience LIST] [--dir DIR] [--passphrase-file FILE] [--json]
       floe init --join INVITE --out REQUEST [--name NAME] [--dir DIR]

Creates a node in DIR: an encrypted store and a new device key. The
passphrase (at least 8 characters) unlocks it; there is no way to recover
it, so keep it somewhere safe. init never overwrites: it refuses a directory
that already holds a node or anything else.

Without --join the node starts a new network and holds its root key: it is
the network's admin device, which invites and admits the others ('floe
member --help'). --audience shelter also makes it a reader of shelter
locations; that is the default for a laptop that works alone (no
--network), and off with --network, so that the admin's laptop cannot read
them. --audience none turns it off.

With --join INVITE it joins the network of an invite made by 'floe member
invite', with the inviting laptop as its first peer, and writes a join
request to REQUEST (default floe-join-request.txt). The admin admits it
with 'floe member admit REQUEST'; the certificate arrives at the next sync.
`
}
func (c *initCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.network, "network", "", "the name of the new network")
	fs.StringVar(&c.join, "join", "", "an invite file from 'floe member invite'")
	fs.StringVar(&c.out, "out", "floe-join-request.txt", "with --join: where to write the join request")
	fs.StringVar(&c.name, "name", "", "with --join: what to call this laptop (the admin sees it)")
	fs.StringVar(&c.audience, "audience", "", "audiences of a new network's first device: shelter or none")
}
func (c *initCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "init"); err != nil {
		return err
	}
	if c.network != "" && c.join != "" {
		return usagef("floe init --help", "give --network or --join, not both")
	}
	opts := nodeOptions()
	opts.NetworkName = c.network
	switch c.audience {
	case "":
		if c.network == "" {
			opts.Audiences = []string{node.ShelterAudience}
		}
	case "none":
	case node.ShelterAudience:
		opts.Audiences = []string{node.ShelterAudience}
	default:
		return usagef("floe init --help", "--audience is shelter or none")
	}
	if c.join != "" {
		inv, err := readJoin(c.join, c.out, "created")
		if err != nil {
			return err
		}
		opts.Join = inv
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	pass, err := env.Passphrase("New passphrase for "+dir, true)
	if err != nil {
		return err
	}
	if len([]rune(string(pass))) < MinPassphrase {
		return fmt.Errorf("the passphrase must be at least %d characters; nothing was created", MinPassphrase)
	}
	n, err := node.Init(ctx, dir, pass, opts)
	if err != nil {
		return err
	}
	defer n.Close()
	net := n.Network()
	if opts.Join != nil {
		if err := writeJoinRequest(env, n, c.name, c.out); err != nil {
			return fmt.Errorf("the node was created, but the join request was not: %w; make it with 'floe member request --out FILE'", err)
		}
	}
	if env.JSON {
		return printJSON(env.Out, map[string]string{"node_id": n.ID().String(), "dir": dir, "network": net.Name, "network_id": net.ID.String()})
	}
	env.Printf("created a node in %s\nnode ID %s\nnetwork %q (%s)\n", dir, n.ID(), net.Name, net.ID)
	if opts.Join != nil {
		env.Printf("joined as a %s (%s); waiting for the admin to admit it\n", opts.Join.Role, strings.Join(opts.Join.Areas, " "))
	} else {
		env.Printf("this laptop holds the network's root key: it admits and revokes devices (floe member --help)\n")
	}
	return nil
}

type statusCmd struct{}

func (*statusCmd) Name() string     { return "status" }
func (*statusCmd) Synopsis() string { return "node ID, entries, store size, last write and state hash" }
func (*statusCmd) Usage() string {
	return `Usage: floe status [--dir DIR] [--json]

Shows the node ID, the number of entries, the store's size on disk, the time
of the last write, and the state hash. Two nodes that hold the same merged
state show the same state hash (JSON field state_hash).
`
}
func (*statusCmd) Flags(*flag.FlagSet) {}
func (*statusCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "status"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := n.Status(ctx)
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, st)
	}
	printStatus(env, st)
	return nil
}

func printStatus(env *Env, st node.Status) {
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	last := "never"
	if !st.LastWrite.IsZero() {
		last = st.LastWrite.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(tw, "node\t%s\t\ndir\t%s\t\nentries\t%d\t\nstore size\t%s\t\nlast write\t%s\t\nstate hash\t%s\n",
		st.NodeID, st.Dir, st.Entries, humanBytes(st.StoreBytes), last, st.StateHash)
	tw.Flush()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type conflictsCmd struct{}

func (*conflictsCmd) Name() string     { return "conflicts" }
func (*conflictsCmd) Synopsis() string { return "list fields with concurrent values" }
func (*conflictsCmd) Usage() string {
	return `Usage: floe conflicts [--dir DIR] [--json]

Lists every field that two people changed at the same time without seeing
each other's change. Nothing is lost: both values are kept until someone
resolves the field with 'floe resolve'. The newest value is shown as the
field's value meanwhile. Sensitive fields are listed without their values.
`
}
func (*conflictsCmd) Flags(*flag.FlagSet) {}
func (*conflictsCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "conflicts"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	cs, err := n.Conflicts(ctx)
	if err != nil {
		return err
	}
	if env.JSON {
		if cs == nil {
			cs = []node.Conflict{}
		}
		return printJSON(env.Out, cs)
	}
	if len(cs) == 0 {
		env.Printf("no conflicts\n")
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tFIELD\tVALUE\tBY\tWHEN\tHASH")
	for _, c := range cs {
		label := c.Collection + " " + c.ID[:8]
		if c.Name != "" {
			label += " (" + c.Name + ")"
		}
		for i, v := range c.Values {
			if i > 0 {
				label = ""
			}
			h := "-"
			if len(v.Hash) >= 12 {
				h = v.Hash[:12]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", label, c.Field, formatValue(v.Value), shortDev(v.Author), v.Time.Local().Format("2006-01-02 15:04"), h)
		}
	}
	tw.Flush()
	env.Printf("\nResolve with: floe resolve ID FIELD --keep HASH   (or: floe resolve ID FIELD NEW-VALUE;\na sensitive field shows no hash: floe resolve ID location -, and type the value)\n")
	return nil
}

type resolveCmd struct {
	keep, coll string
}

func (*resolveCmd) Name() string { return "resolve" }
func (*resolveCmd) Synopsis() string {
	return "settle a conflict by keeping one value or writing a new one"
}
func (*resolveCmd) Usage() string {
	return `Usage: floe resolve ID FIELD --keep HASH   keep one of the conflicting values
       floe resolve ID FIELD VALUE         write a new value over all of them

ID is a record ID or its first hex digits; HASH is the start of the value's
hash as 'floe conflicts' shows it. The resolving write has seen every value,
so every node that syncs it stops reporting the conflict.

Flags:
  --keep HASH          the value to keep
  --collection NAME    directory (default) or outreach
  --dir, --passphrase-file, --json as for every command
`
}
func (c *resolveCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.keep, "keep", "", "hash prefix of the value to keep")
	fs.StringVar(&c.coll, "collection", node.Directory, "collection of the record")
}
func (c *resolveCmd) Run(ctx context.Context, env *Env, args []string) error {
	hint := "run 'floe resolve --help'"
	if c.keep == "" && len(args) != 3 || c.keep != "" && len(args) != 2 {
		return usagef(hint, "want ID FIELD and either --keep HASH or a new VALUE")
	}
	value := ""
	if len(args) == 3 {
		value = args[2]
		if isSensitive(c.coll, args[1]) && value != "-" {
			return usagef("floe resolve ID "+args[1]+" -", "%s is sensitive: give the new value as - and type it at the prompt (or pipe it in), so that it stays out of shell history", args[1])
		}
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	id, err := n.FindID(ctx, c.coll, args[0])
	if err != nil {
		return err
	}
	if value == "-" && isSensitive(c.coll, args[1]) {
		if value, err = env.ReadSecretValue(args[1]); err != nil {
			return err
		}
	}
	if err := n.Resolve(ctx, c.coll, id, args[1], c.keep, value); err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"id": id.String(), "field": args[1], "resolved": true})
	}
	env.Printf("resolved %s on %s\n", args[1], id.Short())
	return nil
}

type verifyCmd struct{}

func (*verifyCmd) Name() string     { return "verify" }
func (*verifyCmd) Synopsis() string { return "check the whole store for damage" }
func (*verifyCmd) Usage() string {
	return `Usage: floe verify [--dir DIR] [--json]

Reads every row of the store and checks it: each entry against its hash,
each index row against its tag and its entry, and the state digest. Exits
non-zero, saying where, if anything is damaged.
`
}
func (*verifyCmd) Flags(*flag.FlagSet) {}
func (*verifyCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "verify"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.Store().Verify(ctx)
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, rep)
	}
	env.Printf("store is intact: %+v\n", rep)
	return nil
}

type passphraseCmd struct {
	newFile string
}

func (*passphraseCmd) Name() string { return "passphrase" }
func (*passphraseCmd) Synopsis() string {
	return "change the passphrase (re-wraps the key; rewrites no data)"
}
func (*passphraseCmd) Usage() string {
	return `Usage: floe passphrase [--dir DIR] [--passphrase-file OLD] [--new-passphrase-file NEW]

Changes the passphrase. Only the wrapped key in DIR/floe.key is rewritten;
the data stays as it is. Without files, floe asks for both.
`
}
func (c *passphraseCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.newFile, "new-passphrase-file", "", "read the new passphrase from this file")
}
func (c *passphraseCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "passphrase"); err != nil {
		return err
	}
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	old, err := env.Passphrase("Current passphrase for "+dir, false)
	if err != nil {
		return err
	}
	var neu []byte
	if c.newFile != "" {
		b, err := os.ReadFile(c.newFile)
		if err != nil {
			return fmt.Errorf("reading the new passphrase file: %w", err)
		}
		neu = trimNewline(b)
	} else {
		if neu, err = env.prompt("New passphrase", true); err != nil {
			return err
		}
	}
	if len([]rune(string(neu))) < MinPassphrase {
		return fmt.Errorf("the new passphrase must be at least %d characters; nothing was changed", MinPassphrase)
	}
	if err := store.ChangePassphrase(dir, old, neu); err != nil {
		return err
	}
	env.Printf("passphrase changed for %s\n", dir)
	return nil
}

// readJoin reads the invite a new device joins with, and checks that the
// join request's file (out) is not there yet; what says what a refusal
// leaves undone ("created", "restored").
func readJoin(invite, out, what string) (*node.Invite, error) {
	b, err := readSmallFile(invite, node.MaxInviteLen)
	if err != nil {
		return nil, err
	}
	inv, err := node.DecodeInvite(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", invite, err)
	}
	if _, err := os.Stat(out); err == nil {
		return nil, fmt.Errorf("%s already exists; give another --out; nothing was %s", out, what)
	}
	return &inv, nil
}
