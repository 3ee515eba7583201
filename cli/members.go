package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// memberCmd is `floe member invite|admit|list|revoke|request`.
type memberCmd struct {
	out      string
	addr     multiFlag
	name     string
	role     string
	area     multiFlag
	audience multiFlag
	reason   string
}

func (*memberCmd) Name() string { return "member" }
func (*memberCmd) Synopsis() string {
	return "devices of the network: invite, admit, list, revoke, request"
}
func (*memberCmd) Usage() string {
	return `Usage:
  floe member invite --role ROLE --area AREA... --out FILE [--audience A] [--addr ADDR]... [--name NAME]
  floe member admit FILE
  floe member list [--json]
  floe member revoke DEVICE [--reason TEXT]
  floe member request --out FILE [--name NAME]

How a laptop joins (the admin's laptop is the one that ran 'floe init'
for the network; it holds the network's root key):
  1. admin:      floe member invite --role outreach-worker --area outreach:kivalliq/arviat --area directory:* --out invite.txt
  2. new laptop: floe init --join invite.txt --out request.txt
  3. admin:      floe member admit request.txt
  4. either:     floe sync (or a bundle) carries the certificate to the new laptop.
Until its certificate arrives, a new laptop can sync with the admin's
laptop only, and writes nothing.

Roles:
  admin            admits and revokes devices; reads and writes everything in its areas
  coordinator      reads and writes the directory and outreach records, reads the audit log
  shelter-staff    reads and writes the directory and outreach records; reads shelter locations
  trainer          reads and writes the directory (resource packs)
  outreach-worker  reads the directory; reads and writes outreach records

Areas are COLLECTION:AREA, where COLLECTION is directory, outreach or *, and
AREA is a region or region/community in lower case (kivalliq,
kivalliq/arviat) or * for everywhere. A grant for a region covers its
communities. Records for the whole network (territorial hotlines) are
readable by anyone who may read the collection.

--audience shelter lets a device of another role read shelter locations;
shelter-staff devices are in it already.

revoke cuts a device off: its revocation travels first in every sync and
bundle, every peer refuses it after the handshake, and its entries stamped
after the revocation are refused. The key of every audience it belonged
to rotates, and shelter-staff devices re-seal locations under the new key
at their next sync. The network key rotates too; the old one keeps
working for 7 days while the new one reaches every laptop by sync, then
only the new one does. A revoked device keeps everything it held before;
see docs/threat-model.md.

invite files carry the network key: carry them in person and delete them
once used. An invite can be admitted once, within 14 days.
`
}
func (c *memberCmd) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.out, "out", "", "invite, request: the file to write")
	fs.Var(&c.addr, "addr", "invite: an address where this node listens (from 'floe node run'); may repeat")
	fs.StringVar(&c.name, "name", "", "invite: what the new laptop calls this node; request: what the admin sees")
	fs.StringVar(&c.role, "role", "", "invite: the new device's role")
	fs.Var(&c.area, "area", "invite: an area grant COLLECTION:AREA; may repeat")
	fs.Var(&c.audience, "audience", "invite: a sealed-field audience (shelter); may repeat")
	fs.StringVar(&c.reason, "reason", "", "revoke: why, for the record (one line; no personal details)")
}

func (c *memberCmd) Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("floe member --help", "give a subcommand: invite, admit, list, revoke or request")
	}
	switch args[0] {
	case "invite":
		return c.invite(ctx, env, args[1:])
	case "admit":
		return c.admit(ctx, env, args[1:])
	case "list":
		return c.list(ctx, env, args[1:])
	case "revoke":
		return c.revoke(ctx, env, args[1:])
	case "request":
		return c.request(ctx, env, args[1:])
	}
	return usagef("floe member --help", "unknown subcommand %q: give invite, admit, list, revoke or request", args[0])
}

func (c *memberCmd) invite(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "member invite"); err != nil {
		return err
	}
	if c.out == "" {
		return usagef("floe member --help", "--out is required")
	}
	if c.role == "" {
		return usagef("floe member --help", "--role is required (%s)", strings.Join(node.Roles, ", "))
	}
	if _, err := node.CheckGrants(c.role, c.area); err != nil {
		return usagef("floe member --help", "%v", err)
	}
	var addrs []string
	for _, a := range c.addr {
		t, _, err := node.ParseAddr(a)
		if err != nil {
			if !strings.HasPrefix(a, "/") {
				return usagef("floe member --help", "%v", err)
			}
			t = a
		}
		addrs = append(addrs, t)
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	inv, err := n.MakeInvite(node.InviteOptions{Role: c.role, Areas: c.area, Audiences: c.audience, Addrs: addrs, Name: c.name})
	if err != nil {
		return err
	}
	if err := writeFileNew(c.out, node.EncodeInvite(inv), 0o600); err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"file": c.out, "role": inv.Role, "areas": inv.Areas, "network": inv.Network.Name})
	}
	env.Printf("wrote an invite to network %q for a %s (%s) to %s\ncarry it in person and delete it once used; on the new laptop run 'floe init --join %s'\n",
		inv.Network.Name, inv.Role, strings.Join(inv.Areas, " "), c.out, c.out)
	return nil
}

func (c *memberCmd) admit(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 1, "the join request file", "member admit"); err != nil {
		return err
	}
	b, err := readSmallFile(args[0], node.MaxInviteLen)
	if err != nil {
		return err
	}
	req, err := node.DecodeJoinRequest(b)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	cert, err := n.Admit(ctx, req)
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"id": cert.Device.String(), "name": cert.Name, "role": cert.Role, "areas": cert.Areas, "audiences": cert.Audiences})
	}
	env.Printf("admitted %s (%s) as %s in %s\nits certificate reaches it at the next sync, or in a bundle: floe bundle export --for %s --out FILE\n",
		cert.Device, orDash(cert.Name), cert.Role, strings.Join(cert.Areas, " "), cert.Device.Short())
	return nil
}

func (c *memberCmd) list(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "member list"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	ms := n.Members()
	if env.JSON {
		if ms == nil {
			ms = []node.MemberInfo{}
		}
		return printJSON(env.Out, ms)
	}
	if len(ms) == 0 {
		env.Printf("no certificates here yet: this laptop waits for its own (sync with the admin's laptop)\n")
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tNAME\tROLE\tAREAS\tSINCE\tSTATE")
	for _, m := range ms {
		state := "current"
		if m.Revoked {
			state = "revoked " + m.RevokedAt.Format("2006-01-02 15:04")
		}
		if m.Device == n.ID() {
			state += " (this laptop)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Device.Short(), orDash(m.Name), m.Role, strings.Join(m.Areas, " "), m.Since.Format("2006-01-02"), state)
	}
	return tw.Flush()
}

func (c *memberCmd) revoke(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 1, "the device to revoke (ID, prefix or peer name)", "member revoke"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	d, err := findMember(n, args[0])
	if err != nil {
		return err
	}
	rep, err := n.Revoke(ctx, d, c.reason)
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"device": rep.Device.String(), "at": rep.At, "rotated": append(rep.Audiences, node.NetworkGroup)})
	}
	env.Printf("revoked %s at %s\nnew keys: network", rep.Device, rep.At.Format("2006-01-02 15:04:05 MST"))
	for _, a := range rep.Audiences {
		env.Printf(", %s audience", a)
	}
	env.Printf("\nthe revocation goes first in every sync and bundle; sync with every laptop soon\n")
	return nil
}

// findMember resolves a device by peer name, full ID or an ID prefix of at
// least 8 characters among the certificates.
func findMember(n *node.Node, q string) (sp.DeviceID, error) {
	if p, err := n.FindPeer(q); err == nil {
		return p.Device, nil
	}
	if d, err := sp.ParseDeviceID(q); err == nil {
		return d, nil
	}
	q = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(q), "dev:"))
	if len(q) < 8 {
		return sp.DeviceID{}, fmt.Errorf("%q: give a peer name, a device ID, or at least 8 characters of one (floe member list)", q)
	}
	var found []sp.DeviceID
	for _, m := range n.Members() {
		if strings.HasPrefix(strings.TrimPrefix(m.Device.String(), "dev:"), q) {
			found = append(found, m.Device)
		}
	}
	switch len(found) {
	case 0:
		return sp.DeviceID{}, fmt.Errorf("no member device starts with %q (floe member list)", q)
	case 1:
		return found[0], nil
	}
	return sp.DeviceID{}, errors.New("more than one device matches; give more of the ID")
}

func (c *memberCmd) request(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "member request"); err != nil {
		return err
	}
	if c.out == "" {
		return usagef("floe member --help", "--out is required")
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	return writeJoinRequest(env, n, c.name, c.out)
}

func writeJoinRequest(env *Env, n *node.Node, name, out string) error {
	req, err := n.MakeJoinRequest(name)
	if err != nil {
		return err
	}
	if err := writeFileNew(out, node.EncodeJoinRequest(req), 0o600); err != nil {
		return err
	}
	env.Printf("wrote a join request to %s: give it to the admin, who runs 'floe member admit %s'\n", out, out)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
