package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	sp "github.com/floe-north/floe/syncproto"
)

// Op is how a change applies to a field.
type Op int

const (
	OpSet    Op = iota // field=value; for a set field, the whole set
	OpAdd              // set+=element
	OpRemove           // set-=element
)

// Change is one field change as a person typed it.
type Change struct {
	Field string
	Op    Op
	Value string
}

// ParseChange parses "field=value", "field+=element" or "field-=element".
func ParseChange(arg string) (Change, error) {
	i := strings.IndexByte(arg, '=')
	if i <= 0 {
		// Only what could be a field name is echoed: the rest may be a
		// sensitive value typed in the wrong place.
		name := arg
		if len(name) > 24 || strings.ContainsAny(name, " \t") {
			name = "the argument"
		} else {
			name = fmt.Sprintf("%q", name)
		}
		return Change{}, fmt.Errorf("%s is not a change: a change is field=value (or set+=element, set-=element)", name)
	}
	c := Change{Field: arg[:i], Value: arg[i+1:]}
	switch {
	case strings.HasSuffix(c.Field, "+"):
		c.Op, c.Field = OpAdd, strings.TrimSuffix(c.Field, "+")
	case strings.HasSuffix(c.Field, "-"):
		c.Op, c.Field = OpRemove, strings.TrimSuffix(c.Field, "-")
	}
	return c, nil
}

// MaxSetElements caps a set field. It keeps every record small enough that
// deleting it (which prunes all its entries in one transaction) always fits.
const MaxSetElements = 64

// ErrDeleted means a write named a deleted record.
var ErrDeleted = errors.New("the record was deleted")

// fieldWrites turns changes into (path, value) writes against the record's
// current state.
func fieldWrites(schema *Schema, cur *sp.RecordView, changes []Change) ([]sp.Entry, error) {
	var out []sp.Entry
	seen := map[string]bool{}
	put := func(path string, v any) error {
		if seen[path] {
			return &FieldError{schema.Collection, path, "given twice"}
		}
		seen[path] = true
		b, err := sp.EncodeValue(v)
		if err != nil {
			return err
		}
		out = append(out, sp.Entry{Field: path, Kind: sp.KindValue, Value: b})
		return nil
	}
	for _, c := range changes {
		top, _, hasElem := splitPath(c.Field)
		spec, ok := schema.Spec(top)
		if ok && spec.Type == Set && !hasElem {
			elems := splitList(c.Value)
			size := len(elems)
			if c.Op == OpAdd {
				for _, el := range currentSet(cur, top) {
					if !slices.Contains(elems, el) {
						size++
					}
				}
			}
			if c.Op != OpRemove && size > MaxSetElements {
				return nil, &FieldError{schema.Collection, top, fmt.Sprintf("a set holds at most %d elements (this change would make %d)", MaxSetElements, size)}
			}
			if c.Op == OpSet {
				// The whole set: add the listed elements, remove the rest.
				for _, el := range currentSet(cur, top) {
					if !slices.Contains(elems, el) {
						if err := put(top+"/"+el, false); err != nil {
							return nil, err
						}
					}
				}
			}
			for _, el := range elems {
				path, _, err := schema.ResolvePath(top + "/" + el)
				if err != nil {
					return nil, err
				}
				if err := put(path, c.Op != OpRemove); err != nil {
					return nil, err
				}
			}
			continue
		}
		path, spec, err := schema.ResolvePath(c.Field)
		if err != nil {
			return nil, err
		}
		if c.Op != OpSet {
			return nil, &FieldError{schema.Collection, c.Field, "+= and -= work only on set fields"}
		}
		var v any
		if spec.Type == Set {
			v, err = spec.CheckValue(schema.Collection, path, orTrue(c.Value))
		} else {
			v, err = spec.CheckValue(schema.Collection, path, c.Value)
		}
		if err != nil {
			return nil, err
		}
		if err := put(path, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func orTrue(s string) string {
	if s == "" {
		return "true"
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// currentSet lists the present elements of a set field: an element is
// present if any of its kept values is true (add wins).
func currentSet(rv *sp.RecordView, top string) []string {
	var out []string
	if rv == nil {
		return nil
	}
	for i := range rv.Fields {
		f := &rv.Fields[i]
		t, elem, ok := splitPath(f.Field)
		if !ok || t != top {
			continue
		}
		for _, e := range f.All() {
			if v, err := sp.DecodeValue(e.Value); err == nil && v == true {
				out = append(out, elem)
				break
			}
		}
	}
	return out
}

// Add creates a record from changes in this device's default area for the
// collection (DefaultArea) and returns its ID.
func (n *Node) Add(ctx context.Context, coll string, changes []Change) (sp.RecordID, error) {
	return n.AddIn(ctx, coll, n.DefaultArea(coll), changes)
}

// DefaultArea is the area new records of coll get when none is given:
// the only area this device may write there, or the whole network ("")
// when it may write everywhere or in several areas.
func (n *Node) DefaultArea(coll string) string {
	c, ok := n.trust.cert(n.id)
	if !ok {
		return ""
	}
	var areas []string
	for _, g := range c.grants() {
		if g.Collection == "*" || g.Collection == coll {
			if g.Area == "*" {
				return ""
			}
			areas = append(areas, g.Area)
		}
	}
	if len(areas) == 1 {
		return areas[0]
	}
	return ""
}

// AddIn creates a record of coll in area (a community or region, "" for
// the whole network) and returns its ID. The area is fixed for the
// record's life and bound to its ID.
func (n *Node) AddIn(ctx context.Context, coll, area string, changes []Change) (sp.RecordID, error) {
	schema, err := SchemaFor(coll)
	if err != nil {
		return sp.RecordID{}, err
	}
	if err := sp.ValidateArea(area); err != nil {
		return sp.RecordID{}, fmt.Errorf("--area: %w", err)
	}
	id := sp.NewRecordIDIn(coll, area)
	err = n.write(ctx, coll, id, area, func([]sp.Entry) ([]sp.Entry, error) {
		es, err := fieldWrites(schema, nil, changes)
		if err != nil {
			return nil, err
		}
		return es, checkRequired(schema, es)
	})
	return id, err
}

// Update changes fields of an existing record.
func (n *Node) Update(ctx context.Context, coll string, id sp.RecordID, changes []Change) error {
	schema, err := SchemaFor(coll)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return errors.New("nothing to change: give field=value pairs")
	}
	return n.write(ctx, coll, id, "", func(cur []sp.Entry) ([]sp.Entry, error) {
		if len(cur) == 0 {
			return nil, fmt.Errorf("no %s record %s", coll, id.Short())
		}
		rv := sp.Fold(coll, id, cur)
		return fieldWrites(schema, &rv, changes)
	})
}

// Delete destroys a record: every entry of it goes, on every node that
// syncs, and later writes to it are dropped.
func (n *Node) Delete(ctx context.Context, coll string, id sp.RecordID) error {
	if _, err := SchemaFor(coll); err != nil {
		return err
	}
	return n.write(ctx, coll, id, "", func(cur []sp.Entry) ([]sp.Entry, error) {
		if len(cur) == 0 {
			return nil, fmt.Errorf("no %s record %s", coll, id.Short())
		}
		return []sp.Entry{{Kind: sp.KindTombstone}}, nil
	})
}

// Resolve settles a conflict on one field by writing a value that has seen
// every sibling. keep, if set, picks the value of one sibling (by hash
// prefix); otherwise value is written.
func (n *Node) Resolve(ctx context.Context, coll string, id sp.RecordID, field, keep, value string) error {
	schema, err := SchemaFor(coll)
	if err != nil {
		return err
	}
	path, spec, err := schema.ResolvePath(field)
	if err != nil {
		return err
	}
	return n.write(ctx, coll, id, "", func(cur []sp.Entry) ([]sp.Entry, error) {
		rv := sp.Fold(coll, id, cur)
		f := rv.Field(path)
		if f == nil {
			return nil, fmt.Errorf("record %s has no field %q", id.Short(), path)
		}
		var b []byte
		if keep != "" {
			for _, e := range f.All() {
				if h := e.Hash(); strings.HasPrefix(h.String(), strings.ToLower(keep)) {
					if b != nil {
						return nil, fmt.Errorf("%q matches more than one value; give more of the hash", keep)
					}
					b = e.Value
				}
			}
			if b == nil {
				return nil, fmt.Errorf("no value of %q has a hash starting %q; `floe conflicts` lists them", path, keep)
			}
		} else {
			v, err := spec.CheckValue(coll, path, value)
			if err != nil {
				return nil, err
			}
			if b, err = sp.EncodeValue(v); err != nil {
				return nil, err
			}
		}
		return []sp.Entry{{Field: path, Kind: sp.KindValue, Value: b}}, nil
	})
}
