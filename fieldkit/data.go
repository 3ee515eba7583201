package fieldkit

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// The public data files, as copied from the project's shared data folder.
const (
	communitiesFile = "nunavut-communities.csv"
	hotlinesFile    = "national-hotlines.csv"
)

//go:embed sampledata/nunavut-communities.csv
var communitiesCSV []byte

//go:embed sampledata/national-hotlines.csv
var hotlinesCSV []byte

// Community is one community of Nunavut.
type Community struct {
	Name      string // e.g. "Iqaluit"
	Region    string // e.g. "Qikiqtaaluk"
	Territory string // e.g. "NU"
}

// Hotline is one public crisis or support line.
type Hotline struct {
	Name  string
	Phone string // as dialled, e.g. "1-800-265-3333" or "988"
	Hours string // e.g. "24/7"
	Scope string // who it serves, e.g. "Canada" or "Nunavut and Nunavik"
	Notes string // may be empty
}

var (
	communitiesHeader = []string{"community", "region", "territory"}
	hotlinesHeader    = []string{"name", "phone", "hours", "scope", "notes"}
)

// loadCommunities and loadHotlines parse the embedded files once. The files
// are part of the binary, so a parse error is a broken invariant.
var (
	loadCommunities = sync.OnceValue(func() []Community {
		cs, err := parseCommunities(bytes.NewReader(communitiesCSV))
		if err != nil {
			panic("bug: embedded " + err.Error())
		}
		return cs
	})
	loadHotlines = sync.OnceValue(func() []Hotline {
		hs, err := parseHotlines(bytes.NewReader(hotlinesCSV))
		if err != nil {
			panic("bug: embedded " + err.Error())
		}
		return hs
	})
)

// Communities returns the communities of Nunavut in file order. The slice is
// the caller's to keep.
func Communities() []Community { return slices.Clone(loadCommunities()) }

// Hotlines returns the public hotlines in file order. The slice is the
// caller's to keep.
func Hotlines() []Hotline { return slices.Clone(loadHotlines()) }

// communityByName finds an embedded community.
func communityByName(name string) (Community, bool) {
	for _, c := range loadCommunities() {
		if c.Name == name {
			return c, true
		}
	}
	return Community{}, false
}

func parseCommunities(r io.Reader) ([]Community, error) {
	var out []Community
	seen := map[string]bool{}
	err := readCSV(communitiesFile, r, communitiesHeader, func(rec []string) error {
		c := Community{Name: rec[0], Region: rec[1], Territory: rec[2]}
		for i, v := range rec {
			if err := checkText(communitiesHeader[i], v, true); err != nil {
				return err
			}
		}
		if len(c.Territory) != 2 || strings.ToUpper(c.Territory) != c.Territory {
			return fmt.Errorf("territory %q is not a two-letter code such as NU", c.Territory)
		}
		if seen[c.Name] {
			return fmt.Errorf("community %q is listed twice", c.Name)
		}
		seen[c.Name] = true
		out = append(out, c)
		return nil
	})
	return out, err
}

func parseHotlines(r io.Reader) ([]Hotline, error) {
	var out []Hotline
	seen := map[string]bool{}
	err := readCSV(hotlinesFile, r, hotlinesHeader, func(rec []string) error {
		h := Hotline{Name: rec[0], Phone: rec[1], Hours: rec[2], Scope: rec[3], Notes: rec[4]}
		for i, v := range rec {
			// Notes may be empty; every other column is required.
			if err := checkText(hotlinesHeader[i], v, i != 4); err != nil {
				return err
			}
		}
		if !validPhone(h.Phone) {
			return fmt.Errorf("phone %q: use digits and single hyphens only, e.g. 1-800-265-3333", h.Phone)
		}
		if seen[h.Name] {
			return fmt.Errorf("hotline %q is listed twice", h.Name)
		}
		seen[h.Name] = true
		out = append(out, h)
		return nil
	})
	return out, err
}

// readCSV reads a CSV file with a required header and calls row for each
// data row. Every error names the file and, where there is one, the line.
func readCSV(name string, r io.Reader, header []string, row func(rec []string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(header)
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the file is empty; it needs the header %s", name, strings.Join(header, ","))
	}
	if err != nil && (head == nil || !errors.Is(err, csv.ErrFieldCount)) {
		return fmt.Errorf("%s: %w", name, err)
	}
	// A header with the wrong number of columns is reported below, by name.
	// Spreadsheets often save a byte order mark before the header.
	head[0] = strings.TrimPrefix(head[0], "\uFEFF")
	if !slices.Equal(head, header) {
		return fmt.Errorf("%s line 1: header is %s, want %s", name, strings.Join(head, ","), strings.Join(header, ","))
	}
	rows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// csv.ParseError names the line.
			return fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if err := row(rec); err != nil {
			return fmt.Errorf("%s line %d: %w", name, line, err)
		}
		rows++
	}
	if rows == 0 {
		return fmt.Errorf("%s: the file has a header but no rows", name)
	}
	return nil
}

// checkText checks one CSV cell.
func checkText(column, v string, required bool) error {
	switch {
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8; save the file as UTF-8", column)
	case required && v == "":
		return fmt.Errorf("%s is empty", column)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s %q has spaces at the start or end", column, v)
	}
	return nil
}

// validPhone accepts digits in groups joined by single hyphens.
func validPhone(p string) bool {
	if p == "" || len(p) > 20 || p[0] == '-' || p[len(p)-1] == '-' || strings.Contains(p, "--") {
		return false
	}
	for _, c := range p {
		if (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// SamplePackCSV is the sample folder's spreadsheet
// (sampledata/pack/services.csv): the public hotlines and clearly
// fictional services and shelters, whose locations carry CanaryMarker.
//
//go:embed sampledata/pack/services.csv
var SamplePackCSV []byte
