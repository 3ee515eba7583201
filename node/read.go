package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// Value is one kept value of a field.
type Value struct {
	Value  any       `json:"value"`
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Hash   string    `json:"hash,omitempty"`
}

// Field is a field as people read it.
type Field struct {
	Path string `json:"field"`
	// Value is the current value; for a set field, the present elements.
	Value any `json:"value"`
	// Siblings are concurrent values that nobody has resolved yet.
	Siblings  []Value `json:"conflicts,omitempty"`
	Current   *Value  `json:"written,omitempty"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

// Record is a record as people read it.
type Record struct {
	Collection string  `json:"collection"`
	ID         string  `json:"id"`
	Deleted    bool    `json:"deleted,omitempty"`
	Fields     []Field `json:"fields"`
}

// Get returns a field value's string form, or "".
func (r *Record) Get(path string) string {
	for _, f := range r.Fields {
		if f.Path == path {
			return fmt.Sprint(f.Value)
		}
	}
	return ""
}

// Conflicted reports whether any field has siblings.
func (r *Record) Conflicted() bool {
	return slices.ContainsFunc(r.Fields, func(f Field) bool { return len(f.Siblings) > 0 })
}

// ReadOptions say what a read may show.
type ReadOptions struct {
	// Reveal names sensitive fields to include. Others are left out.
	Reveal []string
}

func valueOf(e *sp.Entry) Value {
	v, err := sp.DecodeValue(e.Value)
	if err != nil {
		v = fmt.Sprintf("<undecodable value: %v>", err)
	}
	return Value{Value: v, Time: e.Time.Time(), Author: e.Author.String(), Hash: e.Hash().String()}
}

// view turns a folded record into what people read.
func view(rv *sp.RecordView, opts ReadOptions) Record {
	r := Record{Collection: rv.Collection, ID: rv.ID.String(), Deleted: rv.Tombstone != nil, Fields: []Field{}}
	schema, _ := SchemaFor(rv.Collection)
	sets := map[string]bool{}
	for i := range rv.Fields {
		f := &rv.Fields[i]
		top, _, _ := splitPath(f.Field)
		var spec *FieldSpec
		if schema != nil {
			spec, _ = schema.Spec(top)
		}
		if spec != nil && spec.Sensitive && !slices.Contains(opts.Reveal, top) {
			continue
		}
		if spec != nil && spec.Type == Set {
			if !sets[top] {
				sets[top] = true
				r.Fields = append(r.Fields, Field{Path: top, Value: currentSet(rv, top)})
			}
			continue
		}
		cur := valueOf(&f.Current)
		attach := spec != nil && spec.Type == AttachmentRef
		if attach {
			cur.Value = attachmentView(f.Field, cur.Value)
		}
		out := Field{Path: f.Field, Value: cur.Value, Current: &cur, Sensitive: spec != nil && spec.Sensitive}
		if f.Kind == sp.KindTally {
			out.Value = f.Total
		}
		for j := range f.Siblings {
			v := valueOf(&f.Siblings[j])
			if attach {
				v.Value = attachmentView(f.Field, v.Value)
			}
			out.Siblings = append(out.Siblings, v)
		}
		r.Fields = append(r.Fields, out)
	}
	return r
}

// Get reads one record.
func (n *Node) Get(ctx context.Context, coll string, id sp.RecordID, opts ReadOptions) (Record, error) {
	es, err := n.st.Record(ctx, coll, id)
	if errors.Is(err, sp.ErrNotFound) {
		return Record{}, fmt.Errorf("no %s record %s", coll, id.Short())
	}
	if err != nil {
		return Record{}, err
	}
	rv := sp.Fold(coll, id, es)
	r := view(&rv, opts)
	for i := range r.Fields {
		f := &r.Fields[i]
		if a, ok := f.Value.(Attachment); ok {
			// Whether every chunk is here yet.
			var mh store.ChunkHash
			b, _ := hex.DecodeString(a.Manifest)
			copy(mh[:], b)
			miss, err := n.missingChunks(ctx, mh)
			a.Here = err == nil && len(miss) == 0
			f.Value, f.Current.Value = a, a
			continue
		}
		if !f.Sensitive {
			continue
		}
		// Asked for by name (view leaves the others out): open it for a
		// member of its audience, and write the audit record before the
		// value leaves this function.
		fv := rv.Field(f.Path)
		plain, err := n.openValue(coll, id, f.Path, fv.Current.Value)
		if err != nil {
			return Record{}, fmt.Errorf("revealing %s: %w", f.Path, err)
		}
		if err := n.audit(ctx, coll, id, f.Path); err != nil {
			return Record{}, fmt.Errorf("writing the audit record (nothing was revealed): %w", err)
		}
		f.Value = plain
		f.Current.Value = plain
		for j := range f.Siblings {
			if p, err := n.openValue(coll, id, f.Path, fv.Siblings[j].Value); err == nil {
				f.Siblings[j].Value = p
			} else {
				f.Siblings[j].Value = "(sealed: " + err.Error() + ")"
			}
		}
	}
	return r, nil
}

// audit writes an audit record of a reveal: who revealed which field of
// which record, and when (the entry's time). It never holds the value.
func (n *Node) audit(ctx context.Context, coll string, id sp.RecordID, field string) error {
	vals := map[string]string{"action": "reveal", "collection": coll, "record": id.String(), "field": field, "device": n.id.String()}
	return n.write(ctx, Audit, sp.NewRecordID(), "", func([]sp.Entry) ([]sp.Entry, error) {
		var es []sp.Entry
		for _, k := range []string{"action", "collection", "device", "field", "record"} {
			v, err := sp.EncodeValue(vals[k])
			if err != nil {
				return nil, err
			}
			es = append(es, sp.Entry{Field: k, Kind: sp.KindValue, Value: v})
		}
		return es, nil
	})
}

// AuditEntry is one reveal, as the audit log lists it.
type AuditEntry struct {
	Time       time.Time `json:"time"`
	Device     string    `json:"device"`
	Collection string    `json:"collection"`
	Record     string    `json:"record"`
	Field      string    `json:"field"`
	Action     string    `json:"action"`
}

// AuditLog lists the audit records this node holds, oldest first.
func (n *Node) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	var out []AuditEntry
	err := n.st.Records(ctx, Audit, sp.RecordID{}, func(id sp.RecordID, deleted bool) error {
		es, err := n.st.Record(ctx, Audit, id)
		if err != nil || deleted {
			return err
		}
		var a AuditEntry
		for _, e := range es {
			v, _ := sp.DecodeValue(e.Value)
			s, _ := v.(string)
			a.Time = e.Time.Time()
			a.Device = e.Author.String()
			switch e.Field {
			case "action":
				a.Action = s
			case "collection":
				a.Collection = s
			case "device":
				// The signer is who revealed; the field only repeats it.
			case "field":
				a.Field = s
			case "record":
				a.Record = s
			}
		}
		out = append(out, a)
		return nil
	})
	slices.SortFunc(out, func(a, b AuditEntry) int { return a.Time.Compare(b.Time) })
	return out, err
}

// List calls fn for every live record of a collection, in ID order.
func (n *Node) List(ctx context.Context, coll string, fn func(Record) error) error {
	if _, err := SchemaFor(coll); err != nil {
		return err
	}
	return n.st.Records(ctx, coll, sp.RecordID{}, func(id sp.RecordID, deleted bool) error {
		if deleted {
			return nil
		}
		r, err := n.Get(ctx, coll, id, ReadOptions{})
		if err != nil {
			return err
		}
		return fn(r)
	})
}

var errStop = errors.New("stop")

// FindID resolves a record ID or a unique prefix of at least 4 hex digits.
func (n *Node) FindID(ctx context.Context, coll, prefix string) (sp.RecordID, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if len(prefix) == 32 {
		return sp.ParseRecordID(prefix)
	}
	if len(prefix) < 4 || len(prefix) > 32 {
		return sp.RecordID{}, fmt.Errorf("%q: give a record ID or at least its first 4 hex digits", prefix)
	}
	padded := prefix + strings.Repeat("0", 32-len(prefix))
	b, err := hex.DecodeString(padded)
	if err != nil {
		return sp.RecordID{}, fmt.Errorf("%q is not a record ID (hex digits only)", prefix)
	}
	var start, found sp.RecordID
	copy(start[:], b)
	count := 0
	err = n.st.Records(ctx, coll, start, func(id sp.RecordID, deleted bool) error {
		if !strings.HasPrefix(id.String(), prefix) {
			return errStop
		}
		found = id
		count++
		if count > 1 {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return sp.RecordID{}, err
	}
	switch count {
	case 0:
		return sp.RecordID{}, fmt.Errorf("no %s record starts with %q", coll, prefix)
	case 1:
		return found, nil
	}
	return sp.RecordID{}, fmt.Errorf("more than one %s record starts with %q; give more digits", coll, prefix)
}

// Search finds directory records matching a query. Sensitive fields are
// never searched or returned.
func (n *Node) Search(ctx context.Context, query string, limit int) ([]Record, error) {
	ids, err := n.st.Search(ctx, query, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(ids))
	for _, id := range ids {
		r, err := n.Get(ctx, Directory, id, ReadOptions{})
		if err != nil {
			return nil, err
		}
		if !r.Deleted {
			out = append(out, r)
		}
	}
	return out, nil
}

// Conflict is a field with concurrent values.
type Conflict struct {
	Collection string  `json:"collection"`
	ID         string  `json:"id"`
	Name       string  `json:"name,omitempty"`
	Field      string  `json:"field"`
	Values     []Value `json:"values"`
}

// Conflicts lists every field, in every collection, that has concurrent
// values. Sensitive fields are listed by name only, without values or
// entry hashes. It
// reads the store's conflict index, so it costs the number of conflicts,
// not the size of the store.
func (n *Node) Conflicts(ctx context.Context) ([]Conflict, error) {
	var out []Conflict
	var cur *sp.RecordView
	err := n.st.Conflicts(ctx, func(coll string, id sp.RecordID, field string) error {
		schema, err := SchemaFor(coll)
		if err != nil {
			return nil // a collection this version does not show
		}
		top, _, _ := splitPath(field)
		spec, _ := schema.Spec(top)
		if spec == nil || spec.Type == Set {
			return nil // set elements resolve as add-wins
		}
		if cur == nil || cur.Collection != coll || cur.ID != id {
			es, err := n.st.Record(ctx, coll, id)
			if err != nil {
				return err
			}
			rv := sp.Fold(coll, id, es)
			cur = &rv
		}
		f := cur.Field(field)
		if f == nil || !f.Conflict() {
			return nil
		}
		name := ""
		if nf := cur.Field("name/en"); nf != nil {
			v, _ := sp.DecodeValue(nf.Current.Value)
			name, _ = v.(string)
		}
		c := Conflict{Collection: coll, ID: id.String(), Name: name, Field: field}
		for _, e := range f.All() {
			v := valueOf(&e)
			if spec.Sensitive {
				// The entry hash would let anyone who can guess the value
				// (an address) confirm the guess offline: it covers the
				// value. Resolve a sensitive field by writing it anew.
				v.Value = "(sensitive: use show --reveal)"
				v.Hash = ""
			}
			if spec.Type == AttachmentRef {
				v.Value = attachmentView(field, v.Value)
			}
			c.Values = append(c.Values, v)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// Status describes the node.
type Status struct {
	NodeID     string    `json:"node_id"`
	Dir        string    `json:"dir"`
	Entries    uint64    `json:"entries"`
	StoreBytes int64     `json:"store_bytes"`
	LastWrite  time.Time `json:"last_write,omitzero"`
	StateHash  string    `json:"state_hash"`
	Network    string    `json:"network"`
	NetworkID  string    `json:"network_id"`
	// Peers, with the last sync, the bytes each way and the entries each
	// may lack.
	Peers []PeerStatus `json:"peers"`
}

// Status reports the node's state.
func (n *Node) Status(ctx context.Context) (Status, error) {
	sum, err := n.st.Summary(ctx)
	if err != nil {
		return Status{}, err
	}
	size, err := n.st.Size()
	if err != nil {
		return Status{}, err
	}
	h := sum.Digest.StateHash()
	s := Status{NodeID: n.id.String(), Dir: n.st.Dir(), Entries: sum.Digest.Count, StoreBytes: size, StateHash: hex.EncodeToString(h[:]),
		Network: n.net.Name, NetworkID: n.net.ID.String()}
	if s.Peers, err = n.PeerStatuses(ctx); err != nil {
		return Status{}, err
	}
	if s.Peers == nil {
		s.Peers = []PeerStatus{}
	}
	if sum.LastWrite != 0 {
		s.LastWrite = sum.LastWrite.Time()
	}
	return s, nil
}

// attachmentView turns an attachment entry's value into what people read.
func attachmentView(path string, v any) any {
	_, name, _ := splitPath(path)
	if mh, size, typ, ok := parseAttachment(v); ok {
		return Attachment{Name: name, Size: size, Type: typ, Manifest: fmt.Sprintf("%x", mh[:])}
	}
	return "(damaged attachment)"
}
