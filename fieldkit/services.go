package fieldkit

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// A services spreadsheet (CSV, UTF-8, one row a service) is what a trainer
// keeps the directory in: `floe pack build` reads it. The columns are in
// docs/pack-format.md; the header row names them, in any order.

// ServiceColumns are the columns a services spreadsheet may have. "id" is
// required: a short key for the service that stays the same from one
// version of the spreadsheet to the next (so an update changes the same
// service rather than adding a new one).
var ServiceColumns = []string{
	"id", "area", "kind",
	"name/en", "name/fr", "name/iu",
	"community", "region", "phone", "hours", "languages",
	"intake/en", "intake/fr", "intake/iu",
	"notes/en", "notes/fr", "notes/iu",
	"tags", "attachments", "location",
}

// columnAliases are header names read as another column: a field given
// without a language is in English.
var columnAliases = map[string]string{"name": "name/en", "intake": "intake/en", "notes": "notes/en"}

// RequiredServiceColumns must be in the header.
var RequiredServiceColumns = []string{"id", "kind", "name/en"}

// ServiceRow is one row: its line in the file, its key and area, and the
// field values it gives (empty cells left out).
type ServiceRow struct {
	Line   int
	Key    string
	Area   string
	Fields map[string]string
}

// RowError is what is wrong with one row.
type RowError struct {
	Line   int
	Column string
	Reason string
}

func (e RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Reason)
}

// ErrBadSpreadsheet means a spreadsheet cannot be read at all (not
// UTF-8 CSV, or its header is wrong).
var ErrBadSpreadsheet = errors.New("the spreadsheet cannot be read")

// MaxServiceRows caps the rows of one spreadsheet.
const MaxServiceRows = 100_000

// ReadServices reads a services spreadsheet. Row problems are returned
// one per row, with the line number; the whole file fails only when it
// cannot be read as such a spreadsheet. Values are checked against the
// directory's rules by the node, which adds its own RowErrors.
func ReadServices(r io.Reader) ([]ServiceRow, []RowError, error) {
	data, err := io.ReadAll(io.LimitReader(r, 256<<20+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > 256<<20 {
		return nil, nil, fmt.Errorf("%w: it is over 256 MiB", ErrBadSpreadsheet)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // Excel's byte-order mark
	if !utf8.Valid(data) {
		return nil, nil, fmt.Errorf("%w: it is not UTF-8 text; save it as \"CSV UTF-8\"", ErrBadSpreadsheet)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: no header row (%v)", ErrBadSpreadsheet, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if a, ok := columnAliases[h]; ok {
			h = a
		}
		if !slices.Contains(ServiceColumns, h) {
			return nil, nil, fmt.Errorf("%w: unknown column %q (known: %s)", ErrBadSpreadsheet, h, strings.Join(ServiceColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("%w: column %q appears twice", ErrBadSpreadsheet, h)
		}
		col[h] = i
	}
	for _, c := range RequiredServiceColumns {
		if _, ok := col[c]; !ok {
			return nil, nil, fmt.Errorf("%w: the header has no %q column", ErrBadSpreadsheet, c)
		}
	}
	var rows []ServiceRow
	var bad []RowError
	keys := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return rows, append(bad, RowError{Line: max(pe.StartLine, 1), Reason: "the CSV is malformed here (" + pe.Err.Error() + "); nothing after it was read"}), nil
			}
			return rows, bad, err
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+len(bad) >= MaxServiceRows {
			return nil, nil, fmt.Errorf("%w: over %d rows", ErrBadSpreadsheet, MaxServiceRows)
		}
		if len(rec) != len(header) {
			if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
				continue // a blank line
			}
			bad = append(bad, RowError{Line: line, Reason: fmt.Sprintf("it has %d cells and the header %d", len(rec), len(header))})
			continue
		}
		row := ServiceRow{Line: line, Fields: map[string]string{}}
		for name, i := range col {
			v := strings.TrimSpace(rec[i])
			switch name {
			case "id":
				row.Key = v
			case "area":
				row.Area = strings.ToLower(v)
			default:
				if v != "" {
					row.Fields[name] = v
				}
			}
		}
		switch {
		case row.Key == "":
			bad = append(bad, RowError{Line: line, Column: "id", Reason: "empty: every service needs a short key that stays the same between versions"})
			continue
		case len(row.Key) > 64 || strings.ContainsFunc(row.Key, func(r rune) bool { return r < 0x20 }):
			bad = append(bad, RowError{Line: line, Column: "id", Reason: "a key is at most 64 bytes of printable text"})
			continue
		}
		if first, dup := keys[row.Key]; dup {
			bad = append(bad, RowError{Line: line, Column: "id", Reason: fmt.Sprintf("%q is also the key of line %d", row.Key, first)})
			continue
		}
		keys[row.Key] = line
		rows = append(rows, row)
	}
	return rows, bad, nil
}

// WriteServices writes rows as a services spreadsheet (UTF-8 with the
// byte-order mark spreadsheet programs look for), with the columns given
// (ServiceColumns without "location" for an export: a sealed field never
// goes into a spreadsheet).
func WriteServices(w io.Writer, cols []string, rows []ServiceRow) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	rec := make([]string, len(cols))
	for _, r := range rows {
		for i, c := range cols {
			switch c {
			case "id":
				rec[i] = r.Key
			case "area":
				rec[i] = r.Area
			default:
				rec[i] = r.Fields[c]
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
