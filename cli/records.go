package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
	sp "github.com/floe-north/floe/syncproto"
)

// collCmd is `floe dir` and `floe outreach`: one collection's records.
type collCmd struct {
	coll     string
	name     string
	synopsis string
	subs     []string
	reveal   multiFlag
	limit    int
	kind     string
	comm     string
	area     string
	areaSet  bool
	partial  bool
	attName  string
	out      string
}

func newDirCmd() *collCmd {
	return &collCmd{coll: node.Directory, name: "dir",
		synopsis: "the service directory: add, set, show, list, search, rm, import, export, attach, attachment",
		subs:     []string{"add", "set", "show", "list", "search", "rm", "import", "export", "attach", "attachment"}}
}

func newOutreachCmd() *collCmd {
	return &collCmd{coll: node.Outreach, name: "outreach",
		synopsis: "outreach contacts and referrals: add, set, show, list, rm",
		subs:     []string{"add", "set", "show", "list", "rm"}}
}

func (c *collCmd) Name() string     { return c.name }
func (c *collCmd) Synopsis() string { return c.synopsis }

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (c *collCmd) Flags(fs *flag.FlagSet) {
	fs.Var(&c.reveal, "reveal", "show: also print this sensitive field (e.g. location); may repeat")
	fs.IntVar(&c.limit, "limit", 20, "search: at most this many results")
	if c.coll == node.Directory {
		fs.StringVar(&c.kind, "kind", "", "list: only services of this kind")
	}
	fs.StringVar(&c.comm, "community", "", "list: only records of this community")
	if c.coll == node.Directory {
		fs.BoolVar(&c.partial, "partial", false, "import: import the good rows even if some have problems")
		fs.StringVar(&c.attName, "name", "", "attach: the attachment's name (default: the file's name)")
		fs.StringVar(&c.out, "out", "", "attachment: the file to write")
	}
	fs.Func("area", "add: the record's area, e.g. kivalliq/arviat (\"\" for the whole network); fixed for the record's life", func(v string) error {
		c.area, c.areaSet = v, true
		return nil
	})
}

func (c *collCmd) Usage() string {
	schema, _ := node.SchemaFor(c.coll)
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n")
	for _, s := range c.subs {
		switch s {
		case "add":
			fmt.Fprintf(&b, "  floe %s add FIELD=VALUE... [--area AREA]  create a record; prints its ID\n", c.name)
		case "set":
			fmt.Fprintf(&b, "  floe %s set ID FIELD=VALUE...     change fields (sets: FIELD+=X, FIELD-=X)\n", c.name)
		case "show":
			fmt.Fprintf(&b, "  floe %s show ID [--reveal FIELD]  every field, its value and any conflicts\n", c.name)
		case "list":
			fmt.Fprintf(&b, "  floe %s list [--community C]%s\n", c.name, map[bool]string{true: " [--kind K]", false: ""}[c.coll == node.Directory])
		case "search":
			fmt.Fprintf(&b, "  floe %s search WORDS... [--limit N] find services; folds case and accents, works on syllabics\n", c.name)
		case "rm":
			fmt.Fprintf(&b, "  floe %s rm ID                     delete the record for good, on every node that syncs\n", c.name)
		case "import":
			fmt.Fprintf(&b, "  floe %s import FILE.csv [--partial]  add or update services from a spreadsheet\n", c.name)
		case "export":
			fmt.Fprintf(&b, "  floe %s export FILE.csv             write the directory as a spreadsheet (never a location)\n", c.name)
		case "attach":
			fmt.Fprintf(&b, "  floe %s attach ID FILE [--name NAME]  attach a file (poster, PDF, audio) to a service\n", c.name)
		case "attachment":
			fmt.Fprintf(&b, "  floe %s attachment ID NAME --out FILE  save an attachment (\"not yet here\" until its chunks arrive)\n", c.name)
		}
	}
	fmt.Fprintf(&b, "\nID is a record ID or its first 4 or more hex digits.\n\nA new record belongs to an area (a region or region/community, such as\nkivalliq/arviat; none means the whole network), fixed for its life: who may\nread and write it follows from that. Without --area it is the only area\nthis laptop's certificate lets it write, or the whole network if it may\nwrite everywhere.\n\nFields of %s:\n", c.coll)
	for _, f := range schema.Fields {
		req := ""
		if f.Required {
			req = " (required)"
		}
		fmt.Fprintf(&b, "  %-12s %s%s\n", f.Name, f.Help, req)
	}
	fmt.Fprintf(&b, "\nFlags:\n  --dir, --passphrase-file, --json as for every command\n  --reveal FIELD, --limit N, --community C")
	if c.coll == node.Directory {
		fmt.Fprintf(&b, ", --kind K")
		fmt.Fprintf(&b, "\n\nThe location field is never listed, searched or printed unless asked for\nwith show --reveal location. Give it as location=- and type it at the\nprompt (or pipe it in): floe refuses it on the command line, where shell\nhistory would keep it.")
	}
	fmt.Fprintln(&b)
	return b.String()
}

func (c *collCmd) Run(ctx context.Context, env *Env, args []string) error {
	hint := "run 'floe " + c.name + " --help'"
	if len(args) == 0 {
		return usagef(hint, "say what to do: %s", strings.Join(c.subs, ", "))
	}
	if l := env.Lang(); l != "" && !slices.Contains(node.Languages, l) {
		return usagef(hint, "--lang %q: the directory's languages are %s", l, strings.Join(node.Languages, ", "))
	}
	sub, args := args[0], args[1:]
	known := false
	for _, s := range c.subs {
		known = known || s == sub
	}
	if !known {
		return usagef(hint, "unknown subcommand %q; want one of: %s", sub, strings.Join(c.subs, ", "))
	}
	var changes []node.Change
	if sub == "add" || sub == "set" {
		rest := args
		if sub == "set" {
			if len(args) < 2 {
				return usagef(hint, "want an ID and at least one FIELD=VALUE")
			}
			rest = args[1:]
		} else if len(args) == 0 {
			return usagef(hint, "want at least one FIELD=VALUE")
		}
		for _, a := range rest {
			ch, err := node.ParseChange(a)
			if err != nil {
				return usagef(hint, "%v", err)
			}
			changes = append(changes, ch)
		}
	}
	switch sub {
	case "show", "rm":
		if err := wantArgs(args, 1, "one record ID", c.name+" "+sub); err != nil {
			return err
		}
	case "import", "export":
		if err := wantArgs(args, 1, "one spreadsheet file (.csv)", c.name+" "+sub); err != nil {
			return err
		}
		return c.spreadsheet(ctx, env, sub, args[0])
	case "attach", "attachment":
		if err := wantArgs(args, 2, "a record ID and a file (attach) or an attachment name (attachment)", c.name+" "+sub); err != nil {
			return err
		}
		return c.attachment(ctx, env, sub, args[0], args[1])
	case "list":
		if err := wantArgs(args, 0, "no arguments", c.name+" list"); err != nil {
			return err
		}
	case "search":
		if len(args) == 0 {
			return usagef(hint, "want words to search for")
		}
	}
	if err := checkSensitiveArgs(c.coll, changes); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := readSensitiveValues(env, c.coll, changes); err != nil {
		return err
	}
	switch sub {
	case "add":
		area := n.DefaultArea(c.coll)
		if c.areaSet {
			area = c.area
		}
		id, err := n.AddIn(ctx, c.coll, area, changes)
		if err != nil {
			return err
		}
		if env.JSON {
			return printJSON(env.Out, map[string]string{"id": id.String()})
		}
		env.Printf("%s\n", id)
		return nil
	case "set":
		id, err := n.FindID(ctx, c.coll, args[0])
		if err != nil {
			return err
		}
		if err := n.Update(ctx, c.coll, id, changes); err != nil {
			return err
		}
		if env.JSON {
			return printJSON(env.Out, map[string]string{"id": id.String()})
		}
		env.Printf("updated %s\n", id.Short())
		return nil
	case "show":
		id, err := n.FindID(ctx, c.coll, args[0])
		if err != nil {
			return err
		}
		if len(c.reveal) > 0 {
			if err := freshPassphrase(env, strings.Join(c.reveal, ", ")); err != nil {
				return err
			}
		}
		r, err := n.Get(ctx, c.coll, id, node.ReadOptions{Reveal: c.reveal})
		if err != nil {
			return err
		}
		if env.JSON {
			return printJSON(env.Out, r)
		}
		printRecord(env.Out, r, env.Lang())
		return nil
	case "rm":
		id, err := n.FindID(ctx, c.coll, args[0])
		if err != nil {
			return err
		}
		if err := n.Delete(ctx, c.coll, id); err != nil {
			return err
		}
		if env.JSON {
			return printJSON(env.Out, map[string]any{"id": id.String(), "deleted": true})
		}
		env.Printf("deleted %s\n", id.Short())
		return nil
	case "list":
		var rs []node.Record
		err := n.List(ctx, c.coll, func(r node.Record) error {
			if c.kind != "" && r.Get("kind") != c.kind || c.comm != "" && !strings.EqualFold(r.Get("community"), c.comm) {
				return nil
			}
			rs = append(rs, r)
			return nil
		})
		if err != nil {
			return err
		}
		return printList(env, c.coll, rs)
	case "search":
		rs, err := n.Search(ctx, strings.Join(args, " "), c.limit)
		if err != nil {
			return err
		}
		return printList(env, c.coll, rs)
	}
	panic("bug: unhandled subcommand " + sub)
}

func printList(env *Env, coll string, rs []node.Record) error {
	if env.JSON {
		if rs == nil {
			rs = []node.Record{}
		}
		return printJSON(env.Out, rs)
	}
	if len(rs) == 0 {
		env.Printf("nothing found\n")
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	if coll == node.Directory {
		fmt.Fprintln(tw, "ID\tKIND\tCOMMUNITY\tPHONE\tNAME")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", r.ID[:8], r.Get("kind"), r.Get("community"), r.Get("phone"), displayName(r, env.Lang()), conflictMark(r))
		}
	} else {
		fmt.Fprintln(tw, "ID\tDATE\tCOMMUNITY\tCONTACT\tSUBJECT\tREFERRED TO\tFOLLOW-UP")
		for _, r := range rs {
			urgent := ""
			if r.Get("urgent") == "true" {
				urgent = " (urgent)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s%s\t%s%s\n", r.ID[:8], r.Get("date"), r.Get("community"), r.Get("contact"), r.Get("subject"), r.Get("referred_to"), urgent, r.Get("follow_up"), conflictMark(r))
		}
	}
	return tw.Flush()
}

func conflictMark(r node.Record) string {
	if r.Conflicted() {
		return "  [conflict]"
	}
	return ""
}

// displayName is a service's name in lang, or in the first fallback
// language that has one, marked with that language so a reader sees that
// it is not theirs.
func displayName(r node.Record, lang string) string {
	v, l := r.Text("name", lang)
	switch {
	case v == "":
		return "(no name)"
	case lang != "" && l != lang:
		return v + " [" + l + "]"
	}
	return v
}

func printRecord(w io.Writer, r node.Record, lang string) {
	title := r.Collection + " record"
	if r.Collection == node.Directory {
		title = displayName(r, lang)
	}
	fmt.Fprintf(w, "%s\n  id  %s\n", title, r.ID)
	if r.Deleted {
		fmt.Fprintf(w, "  (deleted)\n")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range r.Fields {
		fmt.Fprintf(tw, "  %s\t%s\n", f.Path, formatValue(f.Value))
		for _, s := range f.Siblings {
			fmt.Fprintf(tw, "  \t  conflict: also %s (by %s, %s, hash %s)\n", formatValue(s.Value), shortDev(s.Author), s.Time.Format("2006-01-02 15:04"), s.Hash[:12])
		}
	}
	tw.Flush()
	if r.Conflicted() {
		fmt.Fprintf(w, "\nThis record has conflicting values. Keep one with\n  floe resolve %s FIELD --keep HASH\nor write a new value with floe resolve %s FIELD VALUE.\n", r.ID[:8], r.ID[:8])
	}
}

func shortDev(s string) string {
	if d, err := sp.ParseDeviceID(s); err == nil {
		return d.Short()
	}
	return s
}

func formatValue(v any) string {
	switch x := v.(type) {
	case []string:
		if len(x) == 0 {
			return "(none)"
		}
		return strings.Join(x, ", ")
	case string:
		return x
	case nil:
		return "(empty)"
	case node.Attachment:
		here := ""
		if !x.Here {
			here = ", not yet here"
		}
		return fmt.Sprintf("%s (%s, %s%s)", x.Name, humanBytes(int64(x.Size)), x.Type, here)
	}
	return fmt.Sprint(v)
}

// isSensitive reports whether a typed field path names a sensitive field.
func isSensitive(coll, field string) bool {
	schema, err := node.SchemaFor(coll)
	if err != nil {
		return false
	}
	top, _, _ := strings.Cut(field, "/")
	spec, ok := schema.Spec(top)
	return ok && spec.Sensitive
}

// checkSensitiveArgs refuses a sensitive value typed on the command line,
// where shell history and the process list would keep it. It is given as
// FIELD=- and read at a prompt or from standard input instead.
func checkSensitiveArgs(coll string, changes []node.Change) error {
	for _, c := range changes {
		if isSensitive(coll, c.Field) && c.Value != "-" {
			return usagef("e.g. floe dir set ID "+c.Field+"=-", "%s is sensitive: give it as %s=- and type it at the prompt (or pipe it in), so that it stays out of shell history", c.Field, c.Field)
		}
	}
	return nil
}

// readSensitiveValues reads each FIELD=- value of a sensitive field.
func readSensitiveValues(env *Env, coll string, changes []node.Change) error {
	for i := range changes {
		if isSensitive(coll, changes[i].Field) && changes[i].Value == "-" {
			v, err := env.ReadSecretValue(changes[i].Field)
			if err != nil {
				return err
			}
			changes[i].Value = v
		}
	}
	return nil
}

// freshPassphrase asks for the passphrase again before a sealed field is
// revealed, typed now (at the prompt, or one line on standard input for
// a screen reader or script): never from FLOE_PASSPHRASE or a file, which
// someone at an unlocked laptop could use.
func freshPassphrase(env *Env, what string) error {
	dir, err := env.Dir()
	if err != nil {
		return err
	}
	pass, err := env.prompt("Passphrase again to reveal "+what, false)
	if err != nil {
		return errors.New("revealing needs the passphrase typed again, at the prompt or as one line on standard input (FLOE_PASSPHRASE and --passphrase-file do not count); nothing was revealed")
	}
	defer clear(pass)
	if err := store.CheckPassphrase(dir, pass); err != nil {
		return fmt.Errorf("nothing was revealed: %w", err)
	}
	return nil
}

type auditCmd struct{}

func (*auditCmd) Name() string     { return "audit" }
func (*auditCmd) Synopsis() string { return "who revealed which sealed field, and when" }
func (*auditCmd) Usage() string {
	return `Usage: floe audit [--dir DIR] [--json]

Lists the audit records this laptop holds: each reveal of a sealed field
(a shelter's location) with the device, the record, the field and the
time. The records never hold the value revealed. They sync like other
records; admins and coordinators receive everyone's, other roles keep
their own.
`
}
func (*auditCmd) Flags(*flag.FlagSet) {}
func (*auditCmd) Run(ctx context.Context, env *Env, args []string) error {
	if err := wantArgs(args, 0, "no arguments", "audit"); err != nil {
		return err
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	log, err := n.AuditLog(ctx)
	if err != nil {
		return err
	}
	if env.JSON {
		if log == nil {
			log = []node.AuditEntry{}
		}
		return printJSON(env.Out, log)
	}
	if len(log) == 0 {
		env.Printf("no reveals recorded here\n")
		return nil
	}
	for _, a := range log {
		env.Printf("%s  %s revealed %s of %s %s\n", a.Time.Format("2006-01-02 15:04:05"), shortDev(a.Device), a.Field, a.Collection, a.Record[:min(8, len(a.Record))])
	}
	return nil
}

// spreadsheet is dir import and dir export. The columns are those of a
// pack's services.csv (docs/pack-format.md); an export's id column holds
// record IDs, so the same sheet imported back updates the same records.
func (c *collCmd) spreadsheet(ctx context.Context, env *Env, sub, path string) error {
	if sub == "export" {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s already exists; choose another name or remove it first", path)
		}
		n, err := env.Open(ctx)
		if err != nil {
			return err
		}
		defer n.Close()
		var buf bytes.Buffer
		count, err := n.ExportDirectory(ctx, &buf)
		if err != nil {
			return err
		}
		if err := writeFileNew(path, buf.Bytes(), 0o600); err != nil {
			return err
		}
		if env.JSON {
			return printJSON(env.Out, map[string]any{"file": path, "services": count})
		}
		env.Printf("wrote %d services to %s (locations are never exported)\n", count, path)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	rows, bad, err := fieldkit.ReadServices(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, b := range bad {
		fmt.Fprintf(env.Err, "%s %s\n", filepath.Base(path), b)
	}
	if len(bad) > 0 && !c.partial {
		return fmt.Errorf("%d rows have problems; nothing was imported (fix them, or import the good rows only with --partial)", len(bad))
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.ImportDirectory(ctx, rows, c.partial)
	for _, b := range rep.Problems {
		fmt.Fprintf(env.Err, "%s %s\n", filepath.Base(path), b)
	}
	if err != nil {
		return err
	}
	if env.JSON {
		return printJSON(env.Out, map[string]any{"added": rep.Added, "changed": rep.Changed, "problems": len(bad) + len(rep.Problems)})
	}
	env.Printf("imported %s: %d services added, %d changed", path, rep.Added, rep.Changed)
	if p := len(bad) + len(rep.Problems); p > 0 {
		env.Printf(", %d rows skipped", p)
	}
	env.Printf("\n")
	return nil
}

// attachment is dir attach and dir attachment.
func (c *collCmd) attachment(ctx context.Context, env *Env, sub, idArg, arg string) error {
	if sub == "attachment" && c.out == "" {
		return usagef("floe dir --help", "attachment needs --out FILE")
	}
	n, err := env.Open(ctx)
	if err != nil {
		return err
	}
	defer n.Close()
	id, err := n.FindID(ctx, c.coll, idArg)
	if err != nil {
		return err
	}
	if sub == "attach" {
		name := c.attName
		if name == "" {
			name = filepath.Base(arg)
		}
		f, err := os.Open(arg)
		if err != nil {
			return err
		}
		defer f.Close()
		a, err := n.Attach(ctx, id, name, f)
		if err != nil {
			return err
		}
		if env.JSON {
			return printJSON(env.Out, a)
		}
		env.Printf("attached %s (%s, %s) to %s\n", a.Name, humanBytes(int64(a.Size)), a.Type, id.Short())
		return nil
	}
	var a node.Attachment
	err = writeFileVia(c.out, 0o600, func(w io.Writer) error {
		var err error
		a, err = n.ReadAttachment(ctx, id, arg, w)
		return err
	})
	if err != nil {
		return err
	}
	env.Printf("wrote %s (%s, %s)\n", c.out, humanBytes(int64(a.Size)), a.Type)
	return nil
}
