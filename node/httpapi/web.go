package httpapi

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/floe-north/floe/node"
	"github.com/floe-north/floe/store"
)

// The web app: server-rendered pages, every asset embedded, no script but
// the one that hides a revealed location again. The same session as the
// API, carried in a cookie the browser sends to this laptop only.

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static/*
var staticFS embed.FS

//go:embed web/i18n/*.json
var i18nFS embed.FS

// Languages the web app speaks; English is the fallback.
var webLangs = []string{"en", "fr", "iu"}

type catalog map[string]map[string]string

// loadCatalog reads the translation files: LANG.json and SCREEN.LANG.json
// (one file per screen and language, so a translator can take a screen
// at a time). A key given twice for one language is a bug.
func loadCatalog() catalog {
	c := catalog{}
	for _, l := range webLangs {
		c[l] = map[string]string{}
	}
	files, err := fs.Glob(i18nFS, "web/i18n/*.json")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".json")
		l := base[strings.LastIndex(base, ".")+1:]
		m, ok := c[l]
		if !ok {
			panic("bug: translation file " + f + " is for no language the app speaks")
		}
		b, err := i18nFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		var add map[string]string
		if err := json.Unmarshal(b, &add); err != nil {
			panic("bug: translation file " + f + ": " + err.Error())
		}
		for k, v := range add {
			if _, dup := m[k]; dup {
				panic("bug: " + k + " is translated twice into " + l + " (" + f + ")")
			}
			m[k] = v
		}
	}
	if len(c["en"]) == 0 {
		panic("bug: no English strings")
	}
	return c
}

var translations = loadCatalog()

// translate is a UI string in lang; a string missing there shows in
// English, marked, so a translator sees what is left.
func translate(lang, key string) template.HTML {
	if v, ok := translations[lang][key]; ok && v != "" {
		return template.HTML(template.HTMLEscapeString(v))
	}
	en, ok := translations["en"][key]
	if !ok {
		en = key
	}
	if lang == "en" {
		return template.HTML(template.HTMLEscapeString(en))
	}
	return template.HTML(`<span class="missing" lang="en" title="not translated yet">` + template.HTMLEscapeString(en) + `</span>`)
}

var pages = template.Must(template.New("").Funcs(template.FuncMap{"t": translate}).ParseFS(templateFS, "web/templates/*.html"))

const cookieName = "floe_session"

type page struct {
	Path           string // this page's address, for the language links
	Lang           string
	Unlocked       bool
	RefreshSeconds int
	Error          string
	Query          string
	Records        any
	Saved          bool
	Today          string
	Form           map[string]string
	ContactKinds   []string
	// a service
	ID, Name, Phone string
	Shelter         bool
	Fields          []fieldRow
	HasLocation     bool
	Revealed        string
	RevealError     template.HTML
	// ErrorText is Error in the reader's language, where it is known.
	ErrorText template.HTML
	// Nav says which screens the caller reaches, for the menu.
	Nav navLinks
	// Data is a screen's own content.
	Data any
}

// navLinks are the menu's optional screens.
type navLinks struct{ Outreach, NewOutreach, Packs, Devices, Reports, Pairing bool }

// fieldRow is one field as a service page shows it: its label in the
// reader's language (with the language of a per-language field), and its
// value.
type fieldRow struct {
	Label template.HTML
	Text  template.HTML // escaped
}

// fieldLabel translates a field path: name/fr is "Nom (fr)" in French.
func fieldLabel(lang, path string) template.HTML {
	top, elem, _ := strings.Cut(path, "/")
	label := translate(lang, "field."+top)
	if elem != "" {
		label += template.HTML(" (" + template.HTMLEscapeString(elem) + ")")
	}
	return label
}

// kindLabel translates a service kind.
func kindLabel(lang, kind string) template.HTML {
	if kind == "" {
		return ""
	}
	return translate(lang, "kind."+kind)
}

func (s *Server) webRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "web")
	mux.Handle("GET /static/", http.FileServer(http.FS(static)))
	mux.HandleFunc("GET /{$}", s.webHome)
	mux.HandleFunc("GET /lang", s.webLang)
	mux.HandleFunc("POST /unlock", s.webUnlock)
	mux.HandleFunc("POST /lock", s.webLock)
	mux.HandleFunc("GET /directory", s.webGuard(permRead, s.webDirectory))
	mux.HandleFunc("GET /directory/{id}", s.webGuard(permRead, s.webService))
	mux.HandleFunc("POST /directory/{id}/reveal", s.webGuard(permReveal, s.webReveal))
	mux.HandleFunc("GET /outreach", s.webGuard(permReadOutreach, s.webOutreach))
	mux.HandleFunc("GET /outreach/new", s.webGuard(permWriteOutreach, s.webOutreachNew))
	mux.HandleFunc("POST /outreach", s.webGuard(permWriteOutreach, s.webOutreachAdd))
	mux.HandleFunc("GET /conflicts", s.webGuard(permRead, s.webConflicts))
	mux.HandleFunc("POST /conflicts/resolve", s.webGuard(permResolve, s.webResolve))
}

type conflictView struct {
	Collection, ID, Name, Field string
	Values                      []conflictValue
}

type conflictValue struct{ Text, When, Author, Hash string }

func (s *Server) conflictPage(r *http.Request, n *node.Node) (page, error) {
	cs, err := n.Conflicts(r.Context())
	if err != nil {
		return page{}, err
	}
	var out []conflictView
	for _, c := range cs {
		v := conflictView{Collection: c.Collection, ID: c.ID, Name: c.Name, Field: c.Field}
		if v.Name == "" {
			v.Name = c.Collection + " " + c.ID[:8]
		}
		for _, x := range c.Values {
			v.Values = append(v.Values, conflictValue{Text: fmt.Sprint(x.Value), When: x.Time.Format("2006-01-02 15:04"), Author: shortID(x.Author), Hash: x.Hash})
		}
		out = append(out, v)
	}
	p := page{Saved: r.URL.Query().Get("resolved") == "1"}
	if len(out) > 0 {
		p.Records = out
	}
	return p, nil
}

func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func (s *Server) webConflicts(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, err := s.conflictPage(r, n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, r, "conflicts.html", p)
}

// webResolve keeps one of a field's concurrent values: the node writes a
// value that has seen every sibling.
func (s *Server) webResolve(w http.ResponseWriter, r *http.Request, n *node.Node) {
	coll, field, keep := r.PostFormValue("collection"), r.PostFormValue("field"), r.PostFormValue("keep")
	err := resolve(r, n, coll, r.PostFormValue("id"), field, keep, "")
	if err != nil {
		p, _ := s.conflictPage(r, n)
		p.Error = err.Error()
		s.renderStatus(w, r, http.StatusBadRequest, "conflicts.html", p)
		return
	}
	http.Redirect(w, r, "/conflicts?resolved=1", http.StatusSeeOther)
}

func resolve(r *http.Request, n *node.Node, coll, idArg, field, keep, value string) error {
	if _, err := node.SchemaFor(coll); err != nil {
		return err
	}
	id, err := n.FindID(r.Context(), coll, idArg)
	if err != nil {
		return err
	}
	if keep == "" && value == "" {
		return errors.New("say which value to keep, or give a new one")
	}
	return n.Resolve(r.Context(), coll, id, field, keep, value)
}

func langOf(r *http.Request) string {
	if c, err := r.Cookie("floe_lang"); err == nil {
		for _, l := range webLangs {
			if c.Value == l {
				return l
			}
		}
	}
	return "en"
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	s.renderStatus(w, r, http.StatusOK, name, p)
}

// renderStatus renders a page with another status than 200 (an error
// shown on the form), with the same headers.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Lang = langOf(r)
	p.Unlocked = s.Unlocked()
	if c := callerOf(r.Context()); p.Unlocked {
		p.Nav = navLinks{Outreach: c.allows(permReadOutreach), NewOutreach: c.allows(permWriteOutreach),
			Packs: c.allows(permRead), Devices: c.allows(permMembersRead), Reports: c.allows(permReports), Pairing: c.allows(permLaptop)}
	}
	p.Path = "/"
	if r.Method == http.MethodGet {
		p.Path = r.URL.RequestURI()
	}
	p.RefreshSeconds = int(s.cfg.IdleLock.Seconds()) + 5
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		s.log.Warn("rendering a page", "page", name, "err", err)
	}
}

func (s *Server) webHome(w http.ResponseWriter, r *http.Request) {
	if _, _, err := s.cookieSession(r); err == nil {
		http.Redirect(w, r, "/directory", http.StatusSeeOther)
		return
	}
	s.render(w, r, "unlock.html", page{})
}

func (s *Server) webLang(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("l")
	ok := false
	for _, x := range webLangs {
		ok = ok || x == l
	}
	if ok {
		http.SetCookie(w, &http.Cookie{Name: "floe_lang", Value: l, Path: "/", SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	}
	// Back to the page the link was on: a path on this server only.
	back := r.URL.Query().Get("next")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.Contains(back, "\\") {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (s *Server) webUnlock(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	pass := r.PostFormValue("passphrase")
	tok, err := s.openSession(r, pass)
	if err != nil {
		s.renderStatus(w, r, http.StatusUnauthorized, "unlock.html", page{Error: "wrong"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/directory", http.StatusSeeOther)
}

func (s *Server) webLock(w http.ResponseWriter, r *http.Request) {
	s.Close()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// cookieSession checks the session cookie as session checks the header.
func (s *Server) cookieSession(r *http.Request) (*node.Node, caller, *apiError) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, caller{}, fail(http.StatusUnauthorized, "bad_token", "no session")
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+c.Value)
	return s.session(r2)
}

func (s *Server) webAuth(h func(http.ResponseWriter, *http.Request, *node.Node)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, c, err := s.cookieSession(r)
		if err != nil {
			// Locked (by hand or after idle): back to the unlock page.
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		h(w, r.WithContext(withCaller(r.Context(), c)), n)
	}
}

type serviceRow struct {
	ID, Name, Community, Phone string
	Kind                       string
	KindLabel                  template.HTML
}

func serviceRowOf(rec node.Record, lang string) serviceRow {
	name, _ := rec.Text("name", lang)
	kind := rec.Get("kind")
	return serviceRow{ID: rec.ID, Name: name, Kind: kind, KindLabel: kindLabel(lang, kind), Community: rec.Get("community"), Phone: rec.Get("phone")}
}

func (s *Server) webDirectory(w http.ResponseWriter, r *http.Request, n *node.Node) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var recs []node.Record
	var err error
	if q == "" {
		err = n.List(r.Context(), node.Directory, func(rec node.Record) error { recs = append(recs, rec); return nil })
	} else {
		recs, err = n.Search(r.Context(), q, 100)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var rows []serviceRow
	for _, rec := range recs {
		rows = append(rows, serviceRowOf(rec, langOf(r)))
	}
	p := page{Query: q}
	if len(rows) > 0 {
		p.Records = rows
	}
	s.render(w, r, "directory.html", p)
}

func (s *Server) servicePage(r *http.Request, n *node.Node) (page, error) {
	id, err := n.FindID(r.Context(), node.Directory, r.PathValue("id"))
	if err != nil {
		return page{}, err
	}
	rec, err := n.Get(r.Context(), node.Directory, id, node.ReadOptions{})
	if err != nil {
		return page{}, err
	}
	row := serviceRowOf(rec, langOf(r))
	p := page{ID: rec.ID, Name: row.Name, Phone: row.Phone, Shelter: row.Kind == "shelter"}
	lang := langOf(r)
	for _, f := range rec.Fields {
		text := template.HTML(template.HTMLEscapeString(fmt.Sprint(f.Value)))
		if f.Path == "kind" {
			text = kindLabel(lang, fmt.Sprint(f.Value))
		}
		p.Fields = append(p.Fields, fieldRow{fieldLabel(lang, f.Path), text})
	}
	// The location's field is listed by the node only when revealed; a
	// shelter always has one to ask for.
	p.HasLocation = p.Shelter
	return p, nil
}

func (s *Server) webService(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, err := s.servicePage(r, n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	s.render(w, r, "service.html", p)
}

func (s *Server) webReveal(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, err := s.servicePage(r, n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err := store.CheckPassphrase(s.cfg.Dir, []byte(r.PostFormValue("passphrase"))); err != nil {
		p.RevealError = errorText(langOf(r), err)
		s.renderStatus(w, r, http.StatusUnauthorized, "service.html", p)
		return
	}
	id, _ := n.FindID(r.Context(), node.Directory, p.ID)
	rec, err := n.Get(r.Context(), node.Directory, id, node.ReadOptions{Reveal: []string{"location"}})
	if err != nil {
		p.RevealError = errorText(langOf(r), err)
		status := http.StatusOK
		if errors.Is(err, node.ErrNotAllowed) {
			status = http.StatusForbidden
		}
		s.renderStatus(w, r, status, "service.html", p)
		return
	}
	p.Revealed = rec.Get("location")
	if p.Revealed == "" {
		p.RevealError = translate(langOf(r), "service.no_location")
	}
	s.render(w, r, "service.html", p)
}

type outreachRow struct {
	Date, Community, Contact, Subject, ReferredTo string
	Urgent                                        bool
}

func (s *Server) webOutreach(w http.ResponseWriter, r *http.Request, n *node.Node) {
	var rows []outreachRow
	err := n.List(r.Context(), node.Outreach, func(rec node.Record) error {
		rows = append(rows, outreachRow{rec.Get("date"), rec.Get("community"), rec.Get("contact"), rec.Get("subject"), rec.Get("referred_to"), rec.Get("urgent") == "true"})
		return nil
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := page{Saved: r.URL.Query().Get("saved") == "1"}
	if len(rows) > 0 {
		p.Records = rows
	}
	s.render(w, r, "outreach.html", p)
}

func (s *Server) newOutreachPage(form map[string]string) page {
	return page{Today: s.cfg.Now().Format(time.DateOnly), Form: form, ContactKinds: node.ContactKinds}
}

func (s *Server) webOutreachNew(w http.ResponseWriter, r *http.Request, n *node.Node) {
	s.render(w, r, "outreach_new.html", s.newOutreachPage(map[string]string{}))
}

func (s *Server) webOutreachAdd(w http.ResponseWriter, r *http.Request, n *node.Node) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form is too large or malformed", http.StatusBadRequest)
		return
	}
	form := map[string]string{}
	var changes []node.Change
	for _, f := range []string{"date", "community", "contact", "subject", "referred_to", "urgent"} {
		v := strings.TrimSpace(r.PostFormValue(f))
		form[f] = v
		if v != "" {
			changes = append(changes, node.Change{Field: f, Value: v})
		}
	}
	if _, err := n.Add(r.Context(), node.Outreach, changes); err != nil {
		p := s.newOutreachPage(form)
		p.Error = err.Error()
		p.ErrorText = errorText(langOf(r), err)
		s.renderStatus(w, r, http.StatusBadRequest, "outreach_new.html", p)
		return
	}
	http.Redirect(w, r, "/outreach?saved=1", http.StatusSeeOther)
}
