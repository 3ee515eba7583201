package node

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Resource packs. A trainer builds a pack from a services spreadsheet:
// each row becomes (or updates) one directory record, written and signed
// by the trainer's device as any write is, and the pack carries those
// records' entries, the certificates of their authors and the network's
// revocations, signed as a whole by the trainer's device key. A laptop
// installs it with no network: it checks the signature, the chain from
// the trainer's certificate to the network's root key, and every entry,
// before it applies anything.

// PackBuildOptions say what to build.
type PackBuildOptions struct {
	// Name names the pack series; later builds with the same name make
	// the next version.
	Name string
	// Delta makes the pack carry only what changed since the previous
	// version this device built (a full pack otherwise).
	Delta bool
	// Files opens a file of the source folder by name: the attachments
	// column lists such names (separated by ';').
	Files func(name string) (io.ReadCloser, error)
}

// PackBuildReport says what a build did.
type PackBuildReport struct {
	Header  fieldkit.PackHeader
	Added   int // services new in this version
	Changed int // services whose fields changed
	Removed int // services no longer in the spreadsheet (deleted)
	Entries int
	Chunks  int // attachment chunks
	Bytes   int64
	// Problems are the rows refused, by line; when there are any, nothing
	// is written unless Partial was asked for.
	Problems []fieldkit.RowError
}

// packBuild is what a device keeps of the packs it builds, under
// "packbuild/NAME": no plaintext, only keyed digests of sealed values.
type packBuild struct {
	Series  [16]byte                `cbor:"1,keyasint"`
	Version uint64                  `cbor:"2,keyasint"`
	Rows    map[string]packBuildRow `cbor:"3,keyasint"`
	Hashes  []sp.EntryHash          `cbor:"4,keyasint"` // every entry of the last version
}

type packBuildRow struct {
	Record sp.RecordID `cbor:"1,keyasint"`
	// Sealed is an HMAC (under a key derived from this device's key) of
	// the sealed values last written from the row, so an unchanged
	// location is not written again: the device may not be able to open
	// the sealed value to compare.
	Sealed []byte `cbor:"2,keyasint,omitempty"`
	// Removed is set once the row left the spreadsheet and its service
	// was deleted (its tombstone still goes in full packs).
	Removed bool `cbor:"3,keyasint,omitempty"`
}

func packBuildMeta(name string) string { return "packbuild/" + name }

// ErrPackInstalled means the same version of a pack is installed already.
var ErrPackInstalled = errors.New("this version of the pack is installed already")

// ErrPackRollback means a pack is older than the installed version.
var ErrPackRollback = errors.New("the pack is older than the installed version")

// BuildPack writes the rows as directory records (adding, changing or
// deleting what differs from the previous version) and a pack of them to
// w. With problem rows and partial false, nothing is written.
func (n *Node) BuildPack(ctx context.Context, rows []fieldkit.ServiceRow, partial bool, opts PackBuildOptions, w io.Writer) (PackBuildReport, error) {
	var rep PackBuildReport
	if opts.Name == "" || len(opts.Name) > fieldkit.MaxPackName {
		return rep, fmt.Errorf("a pack's name is 1 to %d bytes", fieldkit.MaxPackName)
	}
	me, ok := n.trust.current(n.id)
	if !ok {
		return rep, fmt.Errorf("%w: this laptop has no certificate", ErrNotAllowed)
	}
	if !slices.ContainsFunc(rolePerms[me.Role].write, func(c string) bool { return c == Directory }) {
		return rep, fmt.Errorf("%w: a %s may not build packs: that needs a role that writes the directory (trainer)", ErrNotAllowed, me.Role)
	}
	var st packBuild
	b, err := n.st.GetMeta(packBuildMeta(opts.Name))
	switch {
	case errors.Is(err, sp.ErrNotFound):
		rand.Read(st.Series[:])
		st.Rows = map[string]packBuildRow{}
	case err != nil:
		return rep, err
	default:
		if err := sp.UnmarshalLocal(b, &st); err != nil {
			return rep, fmt.Errorf("reading what this laptop built before: %w", err)
		}
		if st.Rows == nil {
			st.Rows = map[string]packBuildRow{}
		}
	}
	// Check every row before writing anything.
	plans, problems := n.planRows(me, rows, func(r fieldkit.ServiceRow) (sp.RecordID, error) {
		id := sp.RecordIDFrom(Directory, r.Area, append(st.Series[:], r.Key...))
		if old, ok := st.Rows[r.Key]; ok && old.Record != id {
			return id, errors.New("a service's area cannot change; give it a new id")
		}
		return id, nil
	})
	rep.Problems = problems
	if len(rep.Problems) > 0 && !partial {
		return rep, fmt.Errorf("%d rows have problems; nothing was written (fix them, or build from the good rows only with --partial)", len(rep.Problems))
	}
	// A sealed value can be written only once its audience has a key.
	for _, p := range plans {
		if _, ok := p.row.Fields["location"]; ok {
			if _, has := n.trust.latestEpoch(audienceOf(Directory, "location")); !has {
				return rep, fmt.Errorf("line %d: nobody may read locations yet: an admin must admit a shelter-staff device before a pack with locations can be built; nothing was written", p.row.Line)
			}
		}
	}
	// The series is kept before anything is written, so a build that
	// fails part way is finished by the next one, never duplicated.
	if st.Version == 0 {
		sb, err := sp.Marshal(st)
		if err == nil {
			err = n.st.PutMeta(packBuildMeta(opts.Name), sb)
		}
		if err != nil {
			return rep, err
		}
	}
	// Every key in the spreadsheet stays, refused rows too: only a row
	// that left it deletes its service.
	keep := map[string]bool{}
	for _, r := range rows {
		keep[r.Key] = true
	}
	for _, p := range plans {
		old, known := st.Rows[p.row.Key]
		if v, ok := p.row.Fields["location"]; ok {
			p.sealed = n.sealedDigest(opts.Name, p.row.Key, v)
			if known && hmac.Equal(old.Sealed, p.sealed) {
				p.changes = slices.DeleteFunc(slices.Clone(p.changes), func(c Change) bool { return isSealedField(Directory, c.Field) })
			}
		}
		wrote, err := n.writeRow(ctx, p)
		if err != nil {
			return rep, err
		}
		for _, name := range p.attach {
			if opts.Files == nil {
				return rep, fmt.Errorf("line %d: attachments need the pack's folder", p.row.Line)
			}
			f, err := opts.Files(name)
			if err != nil {
				return rep, fmt.Errorf("line %d: attachment %s: %w", p.row.Line, name, err)
			}
			before, _ := n.st.Record(ctx, Directory, p.id)
			_, err = n.Attach(ctx, p.id, name, f)
			f.Close()
			if err != nil {
				return rep, fmt.Errorf("line %d: attachment %s: %w", p.row.Line, name, err)
			}
			if after, _ := n.st.Record(ctx, Directory, p.id); len(after) != len(before) || !sameEntries(before, after) {
				wrote = true
			}
		}
		switch {
		case !known:
			rep.Added++
		case wrote:
			rep.Changed++
		}
		st.Rows[p.row.Key] = packBuildRow{Record: p.id, Sealed: p.sealed}
	}
	for key, r := range st.Rows {
		// A partial build deletes nothing: a row the reader could not
		// parse has no key to keep, and a typo is not a removal. The next
		// clean build deletes what left the spreadsheet.
		if keep[key] || r.Removed || partial {
			continue
		}
		if err := n.Delete(ctx, Directory, r.Record); err != nil && !errors.Is(err, ErrDeleted) {
			return rep, fmt.Errorf("deleting service %q, which left the spreadsheet: %w", key, err)
		}
		r.Removed = true
		st.Rows[key] = r
		rep.Removed++
	}
	// The pack: the services' entries (a delta: those not in the previous
	// version), then their authors' certificates and every revocation.
	prev := map[sp.EntryHash]bool{}
	for _, h := range st.Hashes {
		prev[h] = true
	}
	var all, out []sp.Entry
	authors := map[sp.DeviceID]bool{n.id: true}
	for _, r := range st.Rows {
		es, err := n.st.Record(ctx, Directory, r.Record)
		if err != nil && !errors.Is(err, sp.ErrNotFound) {
			return rep, err
		}
		for _, e := range es {
			all = append(all, e)
			authors[e.Author] = true
		}
	}
	members, err := n.packMembers(ctx, authors)
	if err != nil {
		return rep, err
	}
	delta := opts.Delta && st.Version > 0
	for _, e := range all {
		if !delta || !prev[e.Hash()] {
			out = append(out, e)
		}
	}
	h := fieldkit.PackHeader{Network: n.net.ID, Series: st.Series, Name: opts.Name, Version: st.Version + 1,
		Created: n.now().UnixMilli(), Signer: n.id, Records: uint64(len(plans))}
	if delta {
		h.Base = st.Version
	}
	pw, err := fieldkit.NewPackWriter(w, h, n.key)
	if err != nil {
		return rep, err
	}
	for _, e := range append(members, out...) {
		if err := pw.Entry(e.Encode()); err != nil {
			return rep, err
		}
	}
	// The chunks of the attachments the pack's entries name.
	sent := map[store.ChunkHash]bool{}
	for _, e := range out {
		if top, _, _ := splitPath(e.Field); e.Kind != sp.KindValue || top != "attachments" {
			continue
		}
		v, _ := sp.DecodeValue(e.Value)
		mh, _, _, ok := parseAttachment(v)
		if !ok || sent[mh] {
			continue
		}
		hs, err := n.blobChunks(ctx, mh)
		if err != nil {
			return rep, fmt.Errorf("an attachment of the pack: %w", err)
		}
		for _, h := range append([]store.ChunkHash{mh}, hs...) {
			if sent[h] {
				continue
			}
			sent[h] = true
			c, err := n.st.GetChunk(ctx, h)
			if err != nil {
				return rep, fmt.Errorf("an attachment of the pack is not all here (%w); sync until it is, then build again", err)
			}
			if err := pw.Chunk(c); err != nil {
				return rep, err
			}
			rep.Chunks++
		}
	}
	if err := pw.Close(); err != nil {
		return rep, err
	}
	rep.Header = h
	rep.Entries, rep.Bytes = pw.Stats()
	st.Version = h.Version
	st.Hashes = st.Hashes[:0]
	for _, e := range all {
		st.Hashes = append(st.Hashes, e.Hash())
	}
	sb, err := sp.Marshal(st)
	if err != nil {
		return rep, err
	}
	if err := n.st.PutMeta(packBuildMeta(opts.Name), sb); err != nil {
		return rep, fmt.Errorf("the pack was written, but recording it failed (the next build will be a full pack): %w", err)
	}
	n.log.Info("pack built", "name", opts.Name, "version", h.Version, "base", h.Base, "entries", rep.Entries, "bytes", rep.Bytes)
	return rep, nil
}

// sealedDigest is a keyed digest of a sealed value as last written, so a
// later build can tell it unchanged without keeping it.
func (n *Node) sealedDigest(pack, key, v string) []byte {
	k := sha256.Sum256(append([]byte("floe pack sealed digest v1\x00"), n.key.Seed()...))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(pack + "\x00" + key + "\x00" + v))
	return m.Sum(nil)
}

// packMembers is what a laptop that only ever gets packs needs to check
// one: the certificates of the entries' authors and every revocation.
func (n *Node) packMembers(ctx context.Context, authors map[sp.DeviceID]bool) ([]sp.Entry, error) {
	var out []sp.Entry
	err := n.st.Records(ctx, Members, sp.RecordID{}, func(id sp.RecordID, _ bool) error {
		es, err := n.st.Record(ctx, Members, id)
		if err != nil {
			return err
		}
		for _, e := range es {
			switch e.Field {
			case stmtRevoked:
				out = append(out, e)
			case stmtCert:
				st, err := n.checkMembersEntry(&e)
				if c, ok := st.(Cert); err == nil && ok && authors[c.Device] {
					out = append(out, e)
				}
			}
		}
		return nil
	})
	return out, err
}

// PackInfo is what a pack holds, checked.
type PackInfo struct {
	Header      fieldkit.PackHeader
	SignerCert  Cert
	Entries     int
	Records     int // directory records with entries in it
	Revocations int
	Chunks      int // attachment chunks
	ChunkBytes  int64
	// Installed is the version of this series installed here (0: none).
	Installed uint64
}

// installedPack is what a laptop keeps of an installed pack, in the
// "packs" meta value.
type installedPack struct {
	Name      string      `cbor:"1,keyasint"`
	Version   uint64      `cbor:"2,keyasint"`
	Signer    sp.DeviceID `cbor:"3,keyasint"`
	Installed int64       `cbor:"4,keyasint"`
	Records   uint64      `cbor:"5,keyasint,omitempty"`
}

const metaPacks = "packs"

func (n *Node) installedPacks() (map[string]installedPack, error) {
	m := map[string]installedPack{}
	b, err := n.st.GetMeta(metaPacks)
	if errors.Is(err, sp.ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := sp.UnmarshalLocal(b, &m); err != nil {
		return nil, fmt.Errorf("reading the installed packs: %w", err)
	}
	return m, nil
}

// VerifyPack reads a whole pack and checks it with no network: the file
// is whole and signed by its signer; the signer's certificate (from the
// pack or this laptop) is signed by this network's root key, not revoked,
// and lets it write the directory; every entry's own signature holds. It
// applies nothing.
func (n *Node) VerifyPack(r io.Reader) (PackInfo, error) {
	var info PackInfo
	var certs []sp.Entry
	revoked := map[sp.DeviceID]bool{}
	records := map[sp.RecordID]bool{}
	h, err := fieldkit.ReadPack(r, func(h fieldkit.PackHeader) error {
		if h.Network != n.net.ID {
			return fmt.Errorf("%w: it is for network %s, and this laptop is in %q (%s)", fieldkit.ErrBadPack, h.Network, n.net.Name, n.net.ID)
		}
		return nil
	}, func(e sp.Entry) error {
		if err := e.Verify(); err != nil {
			return fmt.Errorf("%w: entry %s: %v", fieldkit.ErrBadPack, e.Hash().Short(), err)
		}
		info.Entries++
		switch {
		case e.Collection == Members && e.Field == stmtCert:
			certs = append(certs, e)
		case e.Collection == Members && e.Field == stmtRevoked:
			st, err := n.checkMembersEntry(&e)
			if err != nil {
				return fmt.Errorf("%w: a revocation in it: %v", fieldkit.ErrBadPack, err)
			}
			revoked[st.(Revocation).Device] = true
			info.Revocations++
		case e.Collection == Directory:
			records[e.Record] = true
		case e.Collection != Members:
			return fmt.Errorf("%w: it holds %s records; a pack holds the directory only", fieldkit.ErrBadPack, e.Collection)
		}
		return nil
	}, func(c []byte) error {
		info.Chunks++
		info.ChunkBytes += int64(len(c))
		return nil
	})
	info.Header = h
	if err != nil {
		return info, err
	}
	info.Records = len(records)
	signer, ok := n.trust.cert(h.Signer)
	for i := range certs {
		st, err := n.checkMembersEntry(&certs[i])
		if err != nil {
			return info, fmt.Errorf("%w: a certificate in it: %v", fieldkit.ErrBadPack, err)
		}
		if c := st.(Cert); c.Device == h.Signer && !ok {
			signer, ok = c, true
		}
	}
	if !ok {
		return info, fmt.Errorf("%w: it carries no certificate for its signer %s, and this laptop knows none", fieldkit.ErrBadPack, h.Signer.Short())
	}
	if revoked[h.Signer] || n.Revoked(h.Signer) {
		return info, fmt.Errorf("%w: its signer %s has been revoked", ErrRevoked, h.Signer.Short())
	}
	if !slices.Contains(rolePerms[signer.Role].write, Directory) {
		return info, fmt.Errorf("%w: its signer is a %s, who may not write the directory", ErrNotAllowed, signer.Role)
	}
	info.SignerCert = signer
	if ps, err := n.installedPacks(); err == nil {
		info.Installed = ps[hex.EncodeToString(h.Series[:])].Version
	}
	return info, nil
}

// PackInstallReport says what an install did.
type PackInstallReport struct {
	Info    PackInfo
	New     int // entries this laptop did not have
	Known   int
	Refused int // entries their authors were not allowed to write
	Held    int
	Skipped int // entries outside this laptop's role and areas
}

// InstallPack checks a pack (VerifyPack) and, if it is whole, signed
// within this network and not older than what is installed, applies it.
// open is called twice: the pack is read once to check it and once to
// apply it, so nothing of a bad pack is ever applied.
func (n *Node) InstallPack(ctx context.Context, open func() (io.ReadCloser, error)) (PackInstallReport, error) {
	var rep PackInstallReport
	r, err := open()
	if err != nil {
		return rep, err
	}
	info, err := n.VerifyPack(r)
	r.Close()
	rep.Info = info
	if err != nil {
		return rep, err
	}
	h := info.Header
	switch {
	case info.Installed > h.Version:
		return rep, fmt.Errorf("%w: %q version %d is installed, and this is version %d; an older pack never replaces a newer one", ErrPackRollback, h.Name, info.Installed, h.Version)
	case info.Installed == h.Version:
		return rep, fmt.Errorf("%w: %q version %d", ErrPackInstalled, h.Name, h.Version)
	case h.Base > 0 && info.Installed != h.Base:
		have := "no version"
		if info.Installed > 0 {
			have = fmt.Sprintf("version %d", info.Installed)
		}
		return rep, fmt.Errorf("this is an update of %q from version %d to %d, and this laptop has %s of it: install the full pack (or the updates in between) first; nothing was applied", h.Name, h.Base, h.Version, have)
	}
	r, err = open()
	if err != nil {
		return rep, err
	}
	defer r.Close()
	var batch []sp.Entry
	mine := n.holdRuleOf(n.id)
	skipped := 0
	flush := func() error {
		// Only what this laptop may hold, by its own role and areas.
		kept := batch[:0]
		for _, e := range batch {
			if mine.holds(&e) {
				kept = append(kept, e)
			} else {
				skipped++
			}
		}
		batch = kept
		if len(batch) == 0 {
			return nil
		}
		res, held, refused, bad, err := n.mergeFromPeer(ctx, batch)
		rep.New += res.Added
		rep.Held += held
		rep.Refused += refused + bad
		rep.Known += len(batch) - held - refused - bad - res.Added
		batch = batch[:0]
		return err
	}
	var chunks [][]byte
	flushChunks := func() error {
		if len(chunks) == 0 {
			return nil
		}
		_, err := n.st.PutChunks(ctx, chunks)
		chunks = chunks[:0]
		return err
	}
	_, err = fieldkit.ReadPack(r, nil, func(e sp.Entry) error {
		batch = append(batch, e)
		if len(batch) == 1000 {
			return flush()
		}
		return nil
	}, func(c []byte) error {
		chunks = append(chunks, c)
		if len(chunks) == 16 {
			return flushChunks()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = flushChunks()
	}
	if err != nil {
		return rep, fmt.Errorf("applying the pack (what was applied stays, and installing it again finishes): %w", err)
	}
	rep.Skipped = skipped
	if rep.Held > 0 {
		return rep, fmt.Errorf("%d entries of the pack are stamped ahead of this laptop's clock (or by a device whose certificate is not in it) and were held back: check the date and time here, then install it again; the rest was applied", rep.Held)
	}
	ps, err := n.installedPacks()
	if err != nil {
		return rep, err
	}
	ps[hex.EncodeToString(h.Series[:])] = installedPack{Name: h.Name, Version: h.Version, Signer: h.Signer, Installed: n.now().UnixMilli(), Records: h.Records}
	b, err := sp.Marshal(ps)
	if err == nil {
		err = n.st.PutMeta(metaPacks, b)
	}
	if err != nil {
		return rep, fmt.Errorf("the pack was applied, but recording it failed: %w", err)
	}
	n.log.Info("pack installed", "name", h.Name, "version", h.Version, "new", rep.New, "refused", rep.Refused)
	return rep, nil
}

// InstalledPack is a pack as listed.
type InstalledPack struct {
	Name      string    `json:"name"`
	Series    string    `json:"series"`
	Version   uint64    `json:"version"`
	Signer    string    `json:"signer"`
	Installed time.Time `json:"installed"`
	Services  uint64    `json:"services"`
}

// Packs lists the installed packs.
func (n *Node) Packs() ([]InstalledPack, error) {
	ps, err := n.installedPacks()
	if err != nil {
		return nil, err
	}
	out := []InstalledPack{}
	for s, p := range ps {
		out = append(out, InstalledPack{Name: p.Name, Series: s, Version: p.Version, Signer: p.Signer.String(), Installed: time.UnixMilli(p.Installed).UTC(), Services: p.Records})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemovePack forgets an installed pack by name, so that any version of
// it may be installed again. Its services stay in the directory: they are
// shared with every laptop that syncs (remove one with dir rm).
func (n *Node) RemovePack(name string) error {
	ps, err := n.installedPacks()
	if err != nil {
		return err
	}
	found := false
	for s, p := range ps {
		if p.Name == name {
			delete(ps, s)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("no pack named %q is installed (floe pack list)", name)
	}
	b, err := sp.Marshal(ps)
	if err != nil {
		return err
	}
	return n.st.PutMeta(metaPacks, b)
}

// rowPlan is one spreadsheet row checked and ready to write.
type rowPlan struct {
	row     fieldkit.ServiceRow
	id      sp.RecordID
	changes []Change
	sealed  []byte
	attach  []string // files to attach, by name
}

// planRows checks rows as writes would be checked (area, certificate,
// field values, required fields) and names each row's record with idFor.
// Problems are returned by line.
func (n *Node) planRows(me Cert, rows []fieldkit.ServiceRow, idFor func(fieldkit.ServiceRow) (sp.RecordID, error)) ([]rowPlan, []fieldkit.RowError) {
	var plans []rowPlan
	var problems []fieldkit.RowError
	for _, r := range rows {
		if err := sp.ValidateArea(r.Area); err != nil {
			problems = append(problems, fieldkit.RowError{Line: r.Line, Column: "area", Reason: err.Error()})
			continue
		}
		if !me.CanWrite(Directory, r.Area) {
			problems = append(problems, fieldkit.RowError{Line: r.Line, Column: "area", Reason: fmt.Sprintf("this laptop's certificate does not let it write the directory in %q", r.Area)})
			continue
		}
		id, err := idFor(r)
		if err != nil {
			problems = append(problems, fieldkit.RowError{Line: r.Line, Column: "id", Reason: err.Error()})
			continue
		}
		p := rowPlan{row: r, id: id}
		keys := make([]string, 0, len(r.Fields))
		var attachErr error
		for k := range r.Fields {
			if k == "attachments" {
				for _, name := range strings.Split(r.Fields[k], ";") {
					if name = strings.TrimSpace(name); name == "" {
						continue
					}
					if _, _, err := DirectorySchema.ResolvePath("attachments/" + name); err != nil {
						attachErr = fmt.Errorf("%q is not an attachment name: at most 32 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
					}
					p.attach = append(p.attach, name)
				}
				continue
			}
			keys = append(keys, k)
		}
		if attachErr != nil {
			problems = append(problems, fieldkit.RowError{Line: r.Line, Column: "attachments", Reason: attachErr.Error()})
			continue
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.changes = append(p.changes, Change{Field: k, Value: r.Fields[k]})
		}
		es, err := fieldWrites(&DirectorySchema, nil, p.changes)
		if err == nil {
			err = checkRequired(&DirectorySchema, es)
		}
		if err == nil && len(r.Fields["location"]) > fieldkit.MaxSealedValue {
			err = &FieldError{Directory, "location", fmt.Sprintf("at most %d bytes", fieldkit.MaxSealedValue)}
		}
		if err != nil {
			var fe *FieldError
			col := ""
			if errors.As(err, &fe) {
				col = fe.Field
			}
			problems = append(problems, fieldkit.RowError{Line: r.Line, Column: col, Reason: err.Error()})
			continue
		}
		plans = append(plans, p)
	}
	return plans, problems
}

// writeRow writes what a row changes in its record, leaving out what is
// already so. A sealed value is left out when this device can open the
// current one and it is the same; otherwise it is written again.
func (n *Node) writeRow(ctx context.Context, p rowPlan) (wrote bool, err error) {
	err = n.write(ctx, Directory, p.id, p.row.Area, func(cur []sp.Entry) ([]sp.Entry, error) {
		if len(cur) == 1 && cur[0].Kind == sp.KindTombstone {
			return nil, fmt.Errorf("line %d: service %q was deleted; give it a new id", p.row.Line, p.row.Key)
		}
		var rv *sp.RecordView
		if len(cur) > 0 {
			v := sp.Fold(Directory, p.id, cur)
			rv = &v
		}
		es, err := fieldWrites(&DirectorySchema, rv, p.changes)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", p.row.Line, err)
		}
		es = slices.DeleteFunc(es, func(e sp.Entry) bool {
			if rv == nil {
				return false
			}
			f := rv.Field(e.Field)
			if f == nil || len(f.Siblings) > 0 {
				return false
			}
			if isSealedField(Directory, e.Field) {
				plain, err := n.openValue(Directory, p.id, e.Field, f.Current.Value)
				v, _ := sp.DecodeValue(e.Value)
				return err == nil && v == plain
			}
			return string(f.Current.Value) == string(e.Value)
		})
		wrote = len(es) > 0
		return es, nil
	})
	return wrote, err
}

// DirImportReport says what a spreadsheet import did.
type DirImportReport struct {
	Added, Changed int
	Problems       []fieldkit.RowError
}

// ImportDirectory writes spreadsheet rows as directory records. A row
// whose id is a record ID (32 hex digits, as an export writes) updates
// that record; any other id names a record of this network by that key,
// so importing the same sheet again updates rather than adds. With
// problem rows and partial false nothing is written.
func (n *Node) ImportDirectory(ctx context.Context, rows []fieldkit.ServiceRow, partial bool) (DirImportReport, error) {
	var rep DirImportReport
	me, ok := n.trust.current(n.id)
	if !ok {
		return rep, fmt.Errorf("%w: this laptop has no certificate", ErrNotAllowed)
	}
	plans, problems := n.planRows(me, rows, func(r fieldkit.ServiceRow) (sp.RecordID, error) {
		if id, err := sp.ParseRecordID(r.Key); err == nil && len(r.Key) == 32 {
			if !sp.RecordInArea(Directory, r.Area, id) {
				return id, fmt.Errorf("record %s is not in area %q: a record's area cannot change", id.Short(), r.Area)
			}
			return id, nil
		}
		return sp.RecordIDFrom(Directory, r.Area, append(append([]byte("import\x00"), n.net.ID[:]...), r.Key...)), nil
	})
	plans = slices.DeleteFunc(plans, func(p rowPlan) bool {
		if len(p.attach) > 0 {
			problems = append(problems, fieldkit.RowError{Line: p.row.Line, Column: "attachments", Reason: "files are attached with 'floe dir attach' (or come in a pack), not imported"})
			return true
		}
		return false
	})
	rep.Problems = problems
	if len(problems) > 0 && !partial {
		return rep, fmt.Errorf("%d rows have problems; nothing was imported (fix them, or import the good rows only with --partial)", len(problems))
	}
	for _, p := range plans {
		_, err := n.st.Record(ctx, Directory, p.id)
		known := err == nil
		wrote, err := n.writeRow(ctx, p)
		if err != nil {
			return rep, err
		}
		switch {
		case !known:
			rep.Added++
		case wrote:
			rep.Changed++
		}
	}
	return rep, nil
}

// ExportDirectory writes the directory as a services spreadsheet: one row
// a live record, its record ID in the id column and its area. Sealed
// fields are never written.
func (n *Node) ExportDirectory(ctx context.Context, w io.Writer) (int, error) {
	cols := slices.DeleteFunc(slices.Clone(fieldkit.ServiceColumns), func(c string) bool { return isSealedField(Directory, c) || c == "attachments" })
	var rows []fieldkit.ServiceRow
	err := n.st.Records(ctx, Directory, sp.RecordID{}, func(id sp.RecordID, deleted bool) error {
		if deleted {
			return nil
		}
		es, err := n.st.Record(ctx, Directory, id)
		if err != nil {
			return err
		}
		rv := sp.Fold(Directory, id, es)
		r := fieldkit.ServiceRow{Key: id.String(), Fields: map[string]string{}}
		for _, e := range es {
			r.Area = e.Area
			break
		}
		for _, c := range cols {
			top, _, _ := splitPath(c)
			spec, ok := DirectorySchema.Spec(top)
			if !ok || spec.Sensitive {
				continue
			}
			if spec.Type == Set {
				r.Fields[c] = strings.Join(currentSet(&rv, top), ",")
				continue
			}
			if f := rv.Field(c); f != nil && f.Current.Kind == sp.KindValue {
				if v, err := sp.DecodeValue(f.Current.Value); err == nil {
					r.Fields[c] = fmt.Sprint(v)
				}
			}
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(rows), fieldkit.WriteServices(w, cols, rows)
}

func sameEntries(a, b []sp.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Hash() != b[i].Hash() {
			return false
		}
	}
	return true
}
