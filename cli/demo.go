package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/node/httpapi"
	sp "github.com/floe-north/floe/syncproto"
)

type demoCmd struct {
	keep  bool
	serve string
}

func (*demoCmd) Name() string { return "demo" }
func (*demoCmd) Synopsis() string {
	return "a short tour of a small network on sample data, in a temporary directory"
}
func (*demoCmd) Usage() string {
	return `Usage: floe demo [--dir DIR] [--keep] [--serve ADDR|off]

Walks through a small network on sample data (the public hotlines and
Nunavut communities, plus clearly fictional local services and shelters).
A coordinator's laptop creates the network "kivalliq" and admits a
shelter-staff device and two community laptops. They load, search and
sync records; a conflict is resolved; a shelter's location is revealed on
the shelter device only, and the reveal is audited; then a lost laptop is
revoked and shut out. Needs no set-up: the four devices are four nodes in
one directory, syncing over this machine's loopback interface and by
bundle files.

At the end it keeps two of the nodes running and prints their addresses:
the coordinator's laptop (an admin: devices, packs, reports; outside the
shelter audience, so a reveal is refused there) at ADDR, and the shelter
device (whose reveal works) at the next port. Open them in a browser on
this laptop, unlock with the passphrase below, and click through every
screen; Ctrl-C stops them. --serve off ends the tour without them.

Without --dir it works in a new temporary directory and removes it at the
end. With --dir DIR (which must not exist yet or be empty) it keeps the
nodes in DIR/coordinator, DIR/shelter, DIR/laptop1 and DIR/laptop2 and the
bundles in DIR/usb-stick; the passphrase of each node is "demo passphrase".

Flags:
  --dir DIR   where to put the demo nodes (kept)
  --keep      keep the temporary directory
  --serve ADDR  where to serve the coordinator's web app after the tour
              (loopback; default 127.0.0.1:7421, the shelter device's at
              the next port); off: end the tour without serving
`
}
func (c *demoCmd) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory")
	fs.StringVar(&c.serve, "serve", httpapi.DefaultAddr, "after the tour, serve the coordinator's web app here (and the shelter device's at the next port) until Ctrl-C; off: do not serve")
}

const demoPassphrase = "demo passphrase"

// Areas of the demo's devices.
var (
	demoShelterAreas = []string{"*:*"}
	demoLaptop1Areas = []string{"outreach:qikiqtaaluk", "directory:*"}
	demoLaptop2Areas = []string{"outreach:kivalliq", "directory:*"}
)

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
	d := &demo{ctx: ctx, env: env, dir: dir, usb: filepath.Join(dir, "usb-stick")}
	// Command output inside the tour is indented like the commands.
	d.inner = *env
	d.inner.IO.Out = &indenter{w: env.Out, prefix: "   "}
	defer d.close()
	if err := d.run(); err != nil {
		return err
	}
	if c.serve != "off" && c.serve != "" {
		d.close()
		return d.serve(ctx, c.serve)
	}
	if env.dir != "" || c.keep {
		d.p("\nThe demo nodes are in %s (passphrase %q): coordinator, shelter,\nlaptop1 and laptop2, and the bundles in usb-stick. Try:\n  floe member list --dir %s\n  floe dir list --dir %s\n",
			dir, demoPassphrase, filepath.Join(dir, "coordinator"), filepath.Join(dir, "laptop1"))
	} else {
		d.p("\nThe demo directory is removed now. To keep the four nodes (coordinator,\nshelter, laptop1, laptop2), run 'floe demo --keep' or 'floe demo --dir DIR'.\n")
	}
	return nil
}

// demo is the tour's state: four devices, and the coordinator's listening
// host ('floe node run').
type demo struct {
	ctx   context.Context
	env   *Env
	inner Env
	dir   string
	usb   string // where bundles go

	coord, shelter, lap1, lap2 *node.Node
	names                      map[sp.DeviceID]string
	host                       *node.Host
	addr                       string      // the coordinator's address, as 'floe node run' prints it
	shelterRec                 sp.RecordID // the shelter record steps 4 and 6 show
	closers                    []io.Closer
}

func (d *demo) close() {
	for _, c := range slices.Backward(d.closers) {
		c.Close()
	}
	d.closers = nil
}

func (d *demo) p(format string, a ...any) { d.env.Printf(format, a...) }

// cmd prints a command line as typed on one device.
func (d *demo) cmd(who, format string, a ...any) {
	d.p("   %s$ floe %s\n", who, fmt.Sprintf(format, a...))
}

func (d *demo) run() error {
	ctx, p := d.ctx, d.p
	p("Floe demo. Sample data only: every local service and shelter here is fictional.\n")
	p("Four devices, each a node in %s\n\n", d.dir)

	p("1. The coordinator's laptop creates the network\n")
	d.cmd("coordinator", "init --network kivalliq")
	opts := nodeOptions()
	opts.NetworkName = "kivalliq"
	coord, err := node.Init(ctx, filepath.Join(d.dir, "coordinator"), []byte(demoPassphrase), opts)
	if err != nil {
		return err
	}
	d.coord = coord
	d.closers = append(d.closers, coord)
	d.names = map[sp.DeviceID]string{coord.ID(): "coordinator"}
	p("   node %s, the network's admin: it holds the root key, which signs every\n", coord.ID().Short())
	p("   device's certificate. It is not in the shelter audience, so it cannot read\n   shelter locations.\n")
	d.cmd("coordinator", "node run")
	if err := d.startHost(); err != nil {
		return err
	}
	p("   listening on %s (ADDR below)\n\n", d.addr)

	p("2. It admits three devices: role and areas come from the invite, signed by the root key\n")
	if d.shelter, err = d.join("shelter", node.RoleShelterStaff, demoShelterAreas, false); err != nil {
		return err
	}
	p("   Admitting the first shelter-staff device made the shelter audience's key:\n")
	p("   it is shared with the shelter device only; the coordinator keeps no copy.\n\n")
	if d.lap1, err = d.join("laptop1", node.RoleOutreach, demoLaptop1Areas, true); err != nil {
		return err
	}
	p("\n")
	if d.lap2, err = d.join("laptop2", node.RoleOutreach, demoLaptop2Areas, false); err != nil {
		return err
	}
	p("\n")

	if err := d.load(); err != nil {
		return err
	}
	if err := d.search(); err != nil {
		return err
	}
	if err := d.conflict(); err != nil {
		return err
	}
	if err := d.location(); err != nil {
		return err
	}
	if err := d.revoke(); err != nil {
		return err
	}
	return d.states()
}

// startHost starts the coordinator's listening host: on the same port as
// before when it restarts, as 'floe node run' does on its fixed port.
func (d *demo) startHost() error {
	listen := "/ip4/127.0.0.1/tcp/0"
	if d.addr != "" {
		listen, _, _ = strings.Cut(d.addr, "/p2p/")
	}
	h, err := d.coord.StartHost(d.ctx, []string{listen}, node.SyncOptions{})
	if err != nil {
		return err
	}
	d.host = h
	d.closers = append(d.closers, h)
	if len(h.Addrs()) == 0 {
		return errors.New("bug: the coordinator's host has no address")
	}
	d.addr = h.Addrs()[0]
	return nil
}

// join makes a new device by the steps a person takes: invite, init
// --join, admit, then the certificate by bundle or live sync.
func (d *demo) join(name, role string, areas []string, live bool) (*node.Node, error) {
	ctx := d.ctx
	var flags strings.Builder
	for _, a := range areas {
		if strings.Contains(a, "*") {
			a = "'" + a + "'"
		}
		fmt.Fprintf(&flags, " --area %s", a)
	}
	d.cmd("coordinator", "member invite --role %s%s --addr ADDR --name coordinator --out invite.txt", role, flags.String())
	inv, err := d.coord.MakeInvite(node.InviteOptions{Role: role, Areas: areas, Addrs: []string{d.addr}, Name: "coordinator"})
	if err != nil {
		return nil, err
	}
	d.cmd(name, "init --join invite.txt --out request.txt --name %s", name)
	opts := nodeOptions()
	opts.Join = &inv
	n, err := node.Init(ctx, filepath.Join(d.dir, name), []byte(demoPassphrase), opts)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, n)
	d.names[n.ID()] = name
	req, err := n.MakeJoinRequest(name)
	if err != nil {
		return nil, err
	}
	d.cmd("coordinator", "member admit request.txt")
	cert, err := d.coord.Admit(ctx, req)
	if err != nil {
		return nil, err
	}
	d.p("   admitted %s (%s) as %s in %s\n", cert.Device.Short(), name, cert.Role, strings.Join(cert.Areas, " "))
	if live {
		if _, err := d.sync(n, name); err != nil {
			return nil, err
		}
	} else if _, err := d.bundle(n, name, "to-"+name+".floe"); err != nil {
		return nil, err
	}
	c, ok := n.Cert()
	if !ok {
		return nil, fmt.Errorf("bug: %s did not get its certificate", name)
	}
	aud := "not in the shelter audience"
	if c.InAudience(node.ShelterAudience) {
		aud = "in the shelter audience"
	}
	d.p("   %s holds its certificate now: %s, %s; %s\n", name, c.Role, strings.Join(c.Areas, " "), aud)
	return n, nil
}

// sync runs 'floe sync coordinator' on n: a dial-only host, one session.
func (d *demo) sync(n *node.Node, name string) (node.SyncResult, error) {
	d.cmd(name, "sync coordinator")
	res, err := d.trySync(n, 10*time.Second)
	if err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	d.p("   sent %d entries, received %d\n", res.Stats.Sent, res.Stats.Received)
	return res, nil
}

func (d *demo) trySync(n *node.Node, timeout time.Duration) (node.SyncResult, error) {
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	h, err := n.StartHost(ctx, []string{}, node.SyncOptions{})
	if err != nil {
		return node.SyncResult{}, err
	}
	defer h.Close()
	p, err := n.FindPeer(d.coord.ID().String())
	if err != nil {
		return node.SyncResult{}, err
	}
	return n.SyncPeer(ctx, h, p, node.SyncOptions{})
}

// bundle carries a bundle from the coordinator to n on the USB stick.
func (d *demo) bundle(n *node.Node, name, file string) (node.BundleExport, error) {
	if err := os.MkdirAll(d.usb, 0o700); err != nil {
		return node.BundleExport{}, err
	}
	d.cmd("coordinator", "bundle export --for %s --out %s", name, file)
	d.cmd(name, "bundle import %s", file)
	ex, err := demoBundle(d.ctx, d.coord, n, filepath.Join(d.usb, file))
	if err != nil {
		return ex, err
	}
	d.p("   %d entries, %s, sealed to %s; verified and applied\n", ex.Entries, humanBytes(ex.Bytes), name)
	return ex, nil
}

// load is step 3: the coordinator loads the directory, laptop 1 its
// outreach records, and everyone syncs.
func (d *demo) load() error {
	ctx, p := d.ctx, d.p
	p("3. Records go in; shelter locations are sealed as they are written\n")
	rows, bad, err := fieldkit.ReadServices(bytes.NewReader(fieldkit.SamplePackCSV))
	if err != nil || len(bad) > 0 {
		return errors.Join(errors.New("bug: the sample spreadsheet does not read"), err)
	}
	shelters := 0
	for _, r := range rows {
		if _, ok := r.Fields[fieldkit.FieldLocation]; ok {
			shelters++
		}
	}
	packFile := func(name string, rows []fieldkit.ServiceRow, delta bool) (node.PackBuildReport, string, error) {
		if err := os.MkdirAll(d.usb, 0o700); err != nil {
			return node.PackBuildReport{}, "", err
		}
		path := filepath.Join(d.usb, name)
		f, err := os.Create(path)
		if err != nil {
			return node.PackBuildReport{}, "", err
		}
		rep, err := d.coord.BuildPack(ctx, rows, false, node.PackBuildOptions{Name: "kivalliq-services", Delta: delta}, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return rep, path, err
	}
	d.cmd("coordinator", "pack build --src sample-services --out kivalliq-v1.floepack")
	rep, v1, err := packFile("kivalliq-v1.floepack", rows, false)
	if err != nil {
		return fmt.Errorf("building the sample pack: %w", err)
	}
	p("   a resource pack of %d services (public hotlines and fictional local services),\n", rep.Added)
	p("   %d entries, %s, signed by the coordinator's laptop. The %d shelters'\n", rep.Entries, humanBytes(rep.Bytes), shelters)
	p("   locations are sealed to the shelter audience's key as they are written:\n   the coordinator itself cannot open them, and the pack holds them sealed.\n")
	install := func(path string) (node.PackInstallReport, error) {
		return d.lap1.InstallPack(ctx, func() (io.ReadCloser, error) { return os.Open(path) })
	}
	d.cmd("laptop1", "pack install kivalliq-v1.floepack        (from a USB stick, no network)")
	ir, err := install(v1)
	if err != nil {
		return fmt.Errorf("installing the sample pack: %w", err)
	}
	p("   verified (whole, signed by a certified device of this network) and applied: %d entries\n", ir.New)
	for i := range rows {
		if rows[i].Key == "kamatsiaqtut-help-line" {
			rows[i].Fields["hours"] = "24/7, all languages"
		}
	}
	d.cmd("coordinator", "pack build --src sample-services --out kivalliq-v2.floepack --delta")
	rep2, v2, err := packFile("kivalliq-v2.floepack", rows, true)
	if err != nil {
		return fmt.Errorf("building the update: %w", err)
	}
	p("   one service's hours changed: the update from version 1 to 2 is %s (%d entries)\n", humanBytes(rep2.Bytes), rep2.Entries)
	d.cmd("laptop1", "pack install kivalliq-v2.floepack")
	if _, err := install(v2); err != nil {
		return fmt.Errorf("installing the update: %w", err)
	}
	d.cmd("laptop1", "pack install kivalliq-v1.floepack")
	if _, err := install(v1); !errors.Is(err, node.ErrPackRollback) {
		return fmt.Errorf("bug: the old pack was not refused over the new one: %v", err)
	} else {
		d.wrapped("floe pack: " + oneLine(err.Error()))
	}

	// Laptop 1 writes outreach records in its region only.
	region := map[string]bool{}
	for _, c := range fieldkit.Communities() {
		if strings.EqualFold(c.Region, "qikiqtaaluk") {
			region[c.Name] = true
		}
	}
	all := fieldkit.SampleOutreach(time.Now())
	var outRecs [][]node.Change
	for _, r := range all {
		if c, _ := r.Fields[fieldkit.FieldCommunity].(string); !region[c] {
			continue
		}
		ch, err := node.ChangesFrom(r.Fields)
		if err != nil {
			return err
		}
		outRecs = append(outRecs, ch)
	}
	if _, err := d.lap1.AddBatch(ctx, node.Outreach, outRecs); err != nil {
		return fmt.Errorf("loading sample outreach records: %w", err)
	}
	p("   Laptop 1 loads the %d sample outreach records of its region (of %d), and\n   records a contact (no names: a pseudonymous subject code):\n", len(outRecs), len(all))
	today := time.Now().Format(time.DateOnly)
	follow := time.Now().AddDate(0, 0, 7).Format(time.DateOnly)
	args := []string{"date=" + today, "community=Pangnirtung", "contact=in-person", "subject=S-7K3Q",
		"referred_to=Kamatsiaqtut Help Line", "follow_up=" + follow, "urgent=true"}
	var changes []node.Change
	for _, a := range args {
		ch, err := node.ParseChange(a)
		if err != nil {
			return err
		}
		changes = append(changes, ch)
	}
	d.cmd("laptop1", "outreach add %s", strings.Join(args, " "))
	oid, err := d.lap1.Add(ctx, node.Outreach, changes)
	if err != nil {
		return err
	}
	rec, err := d.lap1.Get(ctx, node.Outreach, oid, node.ReadOptions{})
	if err != nil {
		return err
	}
	printRecord(d.inner.Out, rec, d.inner.Lang())
	p("   Each device syncs with the coordinator's node when it is in reach:\n")
	for _, x := range []struct {
		n    *node.Node
		name string
	}{{d.lap1, "laptop1"}, {d.shelter, "shelter"}, {d.lap2, "laptop2"}} {
		if _, err := d.sync(x.n, x.name); err != nil {
			return err
		}
	}
	p("\n")
	return nil
}

// search is step 4, on laptop 1.
func (d *demo) search() error {
	ctx, p := d.ctx, d.p
	p("4. Searching the directory on laptop 1 (case, accents and syllabics are folded)\n")
	var shelter node.Record
	for _, q := range []string{"help line", "SANTE", "ᐃᓄᐃᑦ", "shelter"} {
		p("\n")
		d.cmd("laptop1", "dir search %s", q)
		rs, err := d.lap1.Search(ctx, q, 5)
		if err != nil {
			return err
		}
		if err := printList(&d.inner, node.Directory, rs); err != nil {
			return err
		}
		for _, r := range rs {
			if r.Get(fieldkit.FieldKind) == fieldkit.KindShelter && shelter.ID == "" {
				shelter = r
			}
		}
	}
	if shelter.ID == "" {
		return errors.New("bug: the sample shelters are missing")
	}
	p("\n")
	d.cmd("laptop1", "dir show %s", shelter.ID[:8])
	id, err := sp.ParseRecordID(shelter.ID)
	if err != nil {
		return err
	}
	d.shelterRec = id
	rec, err := d.lap1.Get(ctx, node.Directory, id, node.ReadOptions{})
	if err != nil {
		return err
	}
	printRecord(d.inner.Out, rec, d.inner.Lang())
	p("   A shelter shows its alias, community and intake phone, and no location:\n")
	p("   laptop 1 holds it only sealed, and has no key to open it.\n\n")
	return nil
}

// conflict is step 5: the coordinator and the shelter device edit one
// field apart, and the coordinator settles it.
func (d *demo) conflict() error {
	ctx, p := d.ctx, d.p
	p("5. The coordinator and the shelter device edit the same service apart\n")
	hits, err := d.coord.Search(ctx, "legal clinic", 1)
	if err != nil || len(hits) == 0 {
		return errors.Join(errors.New("the sample legal clinic is missing"), err)
	}
	sid, _ := sp.ParseRecordID(hits[0].ID)
	d.cmd("shelter", "dir set %s hours=\"Mon-Fri 9-5\"", hits[0].ID[:8])
	if err := d.shelter.Update(ctx, node.Directory, sid, []node.Change{{Field: "hours", Value: "Mon-Fri 9-5"}}); err != nil {
		return err
	}
	d.cmd("coordinator", "dir set %s hours=\"Tue and Thu 10-4\"", hits[0].ID[:8])
	if err := d.coord.Update(ctx, node.Directory, sid, []node.Change{{Field: "hours", Value: "Tue and Thu 10-4"}}); err != nil {
		return err
	}
	if _, err := d.sync(d.shelter, "shelter"); err != nil {
		return err
	}
	p("   Neither edit is lost; both devices show the conflict:\n")
	d.cmd("coordinator", "conflicts")
	cs, err := d.coord.Conflicts(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		for _, v := range c.Values {
			p("   %s %s  %-6s %-18q by %s (%s)  hash %s\n", c.Collection, c.ID[:8], c.Field, fmt.Sprint(v.Value), shortDev(v.Author), d.nameOf(v.Author), v.Hash[:12])
		}
	}
	if len(cs) != 1 || len(cs[0].Values) != 2 {
		return fmt.Errorf("bug: the demo expected one conflict with two values, got %d", len(cs))
	}
	keep := cs[0].Values[1].Hash[:12]
	p("   The coordinator phones the clinic and keeps one value:\n")
	d.cmd("coordinator", "resolve %s hours --keep %s", cs[0].ID[:8], keep)
	if err := d.coord.Resolve(ctx, node.Directory, sid, "hours", keep, ""); err != nil {
		return err
	}
	if _, err := d.sync(d.shelter, "shelter"); err != nil {
		return err
	}
	rec, err := d.shelter.Get(ctx, node.Directory, sid, node.ReadOptions{})
	if err != nil {
		return err
	}
	if rec.Conflicted() {
		return errors.New("bug: the conflict is still there after resolving and syncing")
	}
	p("   Conflict resolved: the shelter device shows hours = %q, with no conflict.\n\n", rec.Get("hours"))
	return nil
}

// location is step 6: who can open a shelter's location, the audit log,
// and a search of every file for it.
func (d *demo) location() error {
	ctx, p := d.ctx, d.p
	p("6. A shelter's location\n")
	id := d.shelterRec
	d.cmd("shelter", "dir show %s --reveal location", id.Short())
	p("   (floe asks for the passphrase again, typed now, before it reveals anything)\n")
	rec, err := d.shelter.Get(ctx, node.Directory, id, node.ReadOptions{Reveal: []string{fieldkit.FieldLocation}})
	if err != nil {
		return fmt.Errorf("the shelter device could not reveal the location: %w", err)
	}
	printRecord(d.inner.Out, rec, d.inner.Lang())
	p("   The location (fictional, with a planted marker) is opened only here, on a\n")
	p("   shelter-staff device, when asked for by name; it is never stored in plaintext.\n")

	d.cmd("coordinator", "dir show %s --reveal location", id.Short())
	_, err = d.coord.Get(ctx, node.Directory, id, node.ReadOptions{Reveal: []string{fieldkit.FieldLocation}})
	if err == nil {
		return errors.New("bug: the coordinator opened a shelter location")
	}
	if !errors.Is(err, node.ErrNotAllowed) {
		return fmt.Errorf("the coordinator's reveal failed for another reason than the audience: %w", err)
	}
	p("   floe dir: %s\n", oneLine(err.Error()))

	if _, err := d.sync(d.shelter, "shelter"); err != nil {
		return err
	}
	p("   The reveal reached the coordinator's audit log: who, which field of which\n")
	p("   record, and when; never the location.\n")
	d.cmd("coordinator", "audit")
	log, err := d.coord.AuditLog(ctx)
	if err != nil {
		return err
	}
	byShelter, byCoord := 0, 0
	for _, a := range log {
		// As floe audit prints it.
		p("   %s  %s revealed %s of %s %s\n", a.Time.Format("2006-01-02 15:04:05"), shortDev(a.Device), a.Field, a.Collection, a.Record[:min(8, len(a.Record))])
		switch a.Device {
		case d.shelter.ID().String():
			byShelter++
		case d.coord.ID().String():
			byCoord++
		}
	}
	if byShelter != 1 {
		return fmt.Errorf("bug: the coordinator's audit log has %d reveals by the shelter device, want 1", byShelter)
	}
	if byCoord > 0 {
		p("   The coordinator's refused attempt is listed too.\n")
	} else {
		p("   The coordinator's refused attempt revealed nothing, so it is not listed.\n")
	}

	files, hitsIn, err := scanForMarker(d.dir)
	if err != nil {
		return err
	}
	p("   Every file under the four devices' directories and the USB stick (%d files),\n", files)
	p("   searched for the location's marker in any case: %d files hold it.\n", len(hitsIn))
	if len(hitsIn) > 0 {
		return fmt.Errorf("a shelter location was found in plaintext in %s", strings.Join(hitsIn, ", "))
	}
	p("   (The stores are encrypted at rest as well; the refusal above is what shows\n")
	p("   that a device outside the shelter audience cannot open a location even with\n")
	p("   its own passphrase.)\n\n")
	return nil
}

// revoke is step 7: laptop 2 is lost.
func (d *demo) revoke() error {
	ctx, p := d.ctx, d.p
	p("7. Laptop 2 is lost\n")
	d.cmd("coordinator", "member revoke laptop2 --reason \"lost in transit\"")
	oldPSK := d.coord.PSK()
	rep, err := d.coord.Revoke(ctx, d.lap2.ID(), "lost in transit")
	if err != nil {
		return err
	}
	rotated := append([]string{"network"}, rep.Audiences...)
	p("   revoked %s; new keys: %s\n", rep.Device.Short(), strings.Join(rotated, ", "))
	if !slices.Contains(rep.Audiences, node.ShelterAudience) {
		p("   Laptop 2 was never in the shelter audience, so the shelter key is unchanged\n")
		p("   (revoking a shelter-staff device would rotate it too).\n")
	}
	p("   The others hear of it at their next sync, where it travels first:\n")
	for _, x := range []struct {
		n    *node.Node
		name string
	}{{d.shelter, "shelter"}, {d.lap1, "laptop1"}} {
		if _, err := d.sync(x.n, x.name); err != nil {
			return err
		}
		if !x.n.Revoked(d.lap2.ID()) {
			return fmt.Errorf("bug: %s did not get the revocation", x.name)
		}
	}
	// Key maintenance ran on the shelter device as the session applied;
	// this run finds what is left.
	m, err := d.shelter.Maintain(ctx)
	if err != nil {
		return err
	}
	epochs, err := sealedEpochs(ctx, d.shelter)
	if err != nil {
		return err
	}
	p("   The shelter device's key maintenance re-sealed %d locations: they stay under\n", m.Resealed)
	p("   shelter key epoch %s, which laptop 2 never held.\n", epochs)
	p("   The new network key came with the revocation. The old one keeps working\n")
	p("   until %s, so that every laptop gets the new one by its\n", time.Now().Add(node.KeyGrace).Format("2006-01-02"))
	p("   ordinary sync; after that only the new key finishes a handshake, and\n")
	p("   laptop 2 never had it.\n")
	p("   Laptop 2 tries to sync with the coordinator's node:\n")
	d.cmd("laptop2", "sync coordinator --timeout 1s")
	if _, err := d.trySync(d.lap2, time.Second); err == nil {
		return errors.New("bug: the revoked laptop synced")
	} else {
		d.wrapped("floe sync: " + oneLine(err.Error()))
	}
	if d.lap2.PSK() != oldPSK {
		return errors.New("bug: the revoked laptop holds the new network key")
	}
	p("   The coordinator's node refuses it right after the handshake: it is no\n")
	p("   longer a member. A bundle from it is refused as well:\n")
	d.cmd("laptop2", "bundle export --for coordinator --out from-laptop2.floe")
	d.cmd("coordinator", "bundle import from-laptop2.floe")
	if _, err := demoBundle(ctx, d.lap2, d.coord, filepath.Join(d.usb, "from-laptop2.floe")); err == nil {
		return errors.New("bug: the coordinator took a bundle from the revoked laptop")
	} else {
		d.wrapped("floe bundle: " + oneLine(err.Error()))
	}
	st, err := d.lap2.Status(ctx)
	if err != nil {
		return err
	}
	p("   Laptop 2 keeps what it already had: %d entries, the members list and the\n", st.Entries)
	p("   directory as of its last sync (the shelter locations sealed to a key it never\n")
	p("   held). Nothing new reaches it, and no member syncs with it or takes its\n")
	p("   bundles any more.\n\n")
	return nil
}

// wrapped prints a long line (an error) indented and wrapped.
func (d *demo) wrapped(s string) {
	line := "  "
	for _, w := range strings.Fields(s) {
		if len(line)+1+len(w) > 80 && len(line) > 5 {
			d.p("%s\n", line)
			line = "    "
		}
		line += " " + w
	}
	d.p("%s\n", line)
}

// states is step 8: each device's state, and what it should be.
func (d *demo) states() error {
	ctx, p := d.ctx, d.p
	p("8. Each device's state\n")
	certs := map[sp.DeviceID]node.Cert{}
	for _, m := range d.coord.Members() {
		certs[m.Device] = m.Cert
	}
	cst, err := d.coord.Status(ctx)
	if err != nil {
		return err
	}
	for _, x := range []struct {
		n    *node.Node
		name string
	}{{d.coord, "coordinator"}, {d.shelter, "shelter"}, {d.lap1, "laptop1"}, {d.lap2, "laptop2"}} {
		st, err := x.n.Status(ctx)
		if err != nil {
			return err
		}
		var note string
		switch x.n {
		case d.coord:
			note = "all of it: the admin may hold every entry"
		case d.lap2:
			note = "revoked: what it had at its last sync"
		default:
			held, hash, left, err := heldBy(ctx, d.coord, certs[x.n.ID()])
			if err != nil {
				return err
			}
			if held != st.Entries || hash != st.StateHash {
				return fmt.Errorf("bug: %s holds %d entries (state hash %s), but %d of the coordinator's are for it (%s)",
					x.name, st.Entries, st.StateHash[:16], held, hash[:16])
			}
			note = "the coordinator's, all of them"
			if len(left) > 0 {
				note = "the coordinator's but " + left + ": not for its role"
			}
		}
		same := ""
		if x.n != d.coord && st.StateHash == cst.StateHash {
			same = " (= coordinator)"
		}
		p("   %-11s %4d entries  state hash %s%s  %s\n", x.name, st.Entries, st.StateHash[:16], same, note)
	}
	p("   Each device holds what its role and areas allow, plus what it wrote. Equal\n")
	p("   state hashes mean the same entries, so they are expected only where those\n")
	p("   allow the same. The shelter device and laptop 1 hold exactly the\n")
	p("   coordinator's entries that their certificates allow (checked entry by entry).\n")
	return nil
}

func (d *demo) nameOf(dev string) string {
	id, err := sp.ParseDeviceID(dev)
	if err != nil {
		return "?"
	}
	if n, ok := d.names[id]; ok {
		return n
	}
	return "?"
}

// heldBy computes the count and state hash of the entries of n that a
// device with certificate c may hold (what a complete sync with n gives
// it), and says what it leaves out, by collection.
func heldBy(ctx context.Context, n *node.Node, c node.Cert) (uint64, string, string, error) {
	var dg sp.Digest
	out := map[string]int{}
	err := n.Entries(ctx, func(e sp.Entry) error {
		if e.Collection == node.Members || e.Author == c.Device || c.CanRead(e.Collection, e.Area) {
			dg.Add(e.Hash())
		} else {
			out[e.Collection]++
		}
		return nil
	})
	var left []string
	for _, coll := range slices.Sorted(maps.Keys(out)) {
		left = append(left, fmt.Sprintf("%d %s", out[coll], coll))
	}
	h := dg.StateHash()
	return dg.Count, fmt.Sprintf("%x", h[:]), strings.Join(left, ", "), err
}

// sealedEpochs lists the key epochs the shelter locations n holds are
// sealed under, e.g. "1" or "1, 2".
func sealedEpochs(ctx context.Context, n *node.Node) (string, error) {
	seen := map[uint32]bool{}
	err := n.Entries(ctx, func(e sp.Entry) error {
		if e.Collection != node.Directory || e.Field != fieldkit.FieldLocation || e.Kind != sp.KindValue {
			return nil
		}
		v, err := sp.DecodeValue(e.Value)
		if err != nil {
			return err
		}
		b, ok := v.([]byte)
		if !ok {
			return errors.New("bug: a location is stored unsealed")
		}
		ep, err := fieldkit.SealedEpoch(b)
		if err != nil {
			return err
		}
		seen[ep] = true
		return nil
	})
	var out []string
	for _, ep := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, fmt.Sprint(ep))
	}
	return strings.Join(out, ", "), err
}

// scanForMarker reads every file under root and lists those that hold
// fieldkit.CanaryMarker in any case.
func scanForMarker(root string) (files int, hits []string, err error) {
	marker := []byte(strings.ToLower(fieldkit.CanaryMarker))
	err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		if bytes.Contains(b, marker) {
			rel, _ := filepath.Rel(root, path)
			hits = append(hits, rel)
		}
		return nil
	})
	return files, hits, err
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

// serve runs the web apps of the coordinator's laptop (at addr) and the
// shelter device (at the next port) until ctx ends or Ctrl-C.
func (d *demo) serve(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("floe demo --serve 127.0.0.1:7421", "--serve %q: %v", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65534 {
		return usagef("floe demo --serve 127.0.0.1:7421", "--serve %q: the port must be a number from 1 to 65534", addr)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	sites := []struct{ who, dir, addr, note string }{
		{"the coordinator's laptop", "coordinator", addr, "an admin: devices, packs, reports; outside the shelter audience, so a reveal is refused"},
		{"the shelter device", "shelter", net.JoinHostPort(host, strconv.Itoa(p+1)), "in the shelter audience: a location reveals here"},
	}
	errs := make(chan error, len(sites))
	urls := make(chan string, len(sites)) // one per app listening
	for _, site := range sites {
		s := httpapi.New(httpapi.Config{Dir: filepath.Join(d.dir, site.dir), Options: nodeOptions()})
		go func() {
			err := s.Serve(ctx, site.addr, func(url string) { urls <- url })
			if err != nil {
				err = fmt.Errorf("serving %s at %s: %w (choose another port with --serve, or --serve off)", site.who, site.addr, err)
			}
			errs <- err
		}()
	}
	var got []string
	for len(got) < len(sites) {
		select {
		case u := <-urls:
			got = append(got, u)
		case err := <-errs:
			stop()
			if err == nil {
				err = errors.New("a demo web app stopped before it started")
			}
			return err
		}
	}
	d.p("\nTwo of the demo's nodes are running with the sample data. Open them in a\nbrowser on this laptop and unlock each with %q:\n", demoPassphrase)
	for _, site := range sites {
		d.p("  http://%s/   %s: %s\n", site.addr, site.who, site.note)
	}
	d.p("Every screen is there to click through. Ctrl-C stops them.\n")
	var first error
	for range sites {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
