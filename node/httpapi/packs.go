package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/floe-north/floe/fieldkit"
	"github.com/floe-north/floe/node"
	sp "github.com/floe-north/floe/syncproto"
)

// Resource packs: the list of installed packs, an upload that verifies a
// pack and installs it (nothing of a bad pack is applied), a check
// without installing, and forgetting a pack so any version of it can be
// installed again. The same as `floe pack list|verify|install|rm`.

// maxPack caps a pack upload, on the API and the page (a var so the
// tests can lower it).
var maxPack int64 = 1 << 30

// packUploadTime is how long a pack upload may take to arrive; the
// server's own read timeout is meant for small requests.
const packUploadTime = 30 * time.Minute

// packTempPattern names an upload on its way to the node, in the node's
// directory (so it is on the same disk, and a wipe removes it too).
const packTempPattern = "pack-upload-*.tmp"

// packRoutes: the resource packs screen and API.
func (s *Server) packRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/packs", s.wrap(true, guard(permRead, s.packList)))
	mux.HandleFunc("POST /api/v1/packs", s.packUpload(guard(permPacks, s.packInstall)))
	mux.HandleFunc("POST /api/v1/packs/verify", s.packUpload(guard(permRead, s.packVerify)))
	mux.HandleFunc("DELETE /api/v1/packs/{name}", s.wrap(true, guard(permPacks, s.packRemove)))
	mux.HandleFunc("GET /packs", s.webGuard(permRead, s.webPacks))
	mux.HandleFunc("POST /packs", s.webPackUpload)
	mux.HandleFunc("POST /packs/remove", s.webGuard(permPacks, s.webPackRemove))
}

// packUpload is wrap for a request whose body is a pack: capped at
// maxPack rather than MaxBody, with time for it to arrive.
func (s *Server) packUpload(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Not every ResponseWriter can (a test recorder cannot); the
		// server's timeout then stands.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(packUploadTime))
		s.wrapLimit(true, maxPack, h)(w, r)
	}
}

// packInfoView is a checked pack, as the API answers and the page shows.
type packInfoView struct {
	Name        string    `json:"name"`
	Series      string    `json:"series"`
	Version     uint64    `json:"version"`
	Base        uint64    `json:"base,omitempty"`
	Created     time.Time `json:"created"`
	Signer      string    `json:"signer"`
	SignerName  string    `json:"signer_name,omitempty"`
	SignerRole  string    `json:"signer_role"`
	Entries     int       `json:"entries"`
	Services    int       `json:"services"`
	Revocations int       `json:"revocations"`
	Chunks      int       `json:"chunks"`
	ChunkBytes  int64     `json:"chunk_bytes"`
	// InstalledBefore is the version of this pack installed here before
	// (0: none).
	InstalledBefore uint64 `json:"installed_before"`
	Verified        bool   `json:"verified"`
}

func packInfoOf(info node.PackInfo) packInfoView {
	h := info.Header
	return packInfoView{Name: h.Name, Series: fmt.Sprintf("%x", h.Series[:]), Version: h.Version, Base: h.Base,
		Created: time.UnixMilli(h.Created).UTC(), Signer: h.Signer.String(), SignerName: info.SignerCert.Name,
		SignerRole: info.SignerCert.Role, Entries: info.Entries, Services: info.Records, Revocations: info.Revocations,
		Chunks: info.Chunks, ChunkBytes: info.ChunkBytes, InstalledBefore: info.Installed, Verified: true}
}

// packInstallView is what an install did.
type packInstallView struct {
	packInfoView
	New     int `json:"new"`     // entries this laptop did not have
	Known   int `json:"known"`   // entries it had already
	Refused int `json:"refused"` // entries their authors were not allowed to write
	Skipped int `json:"skipped"` // entries outside this laptop's role and areas
}

func (s *Server) packList(_ context.Context, n *node.Node, _ *http.Request) (int, any, error) {
	ps, err := n.Packs()
	return http.StatusOK, ps, err
}

func (s *Server) packInstall(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	path, err := s.receivePack(r.Body)
	if err != nil {
		return 0, nil, err
	}
	defer os.Remove(path)
	v, err := installPack(ctx, n, path)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func installPack(ctx context.Context, n *node.Node, path string) (packInstallView, error) {
	rep, err := n.InstallPack(ctx, func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return packInstallView{}, packError(n, rep, err)
	}
	return packInstallView{packInfoView: packInfoOf(rep.Info), New: rep.New, Known: rep.Known, Refused: rep.Refused, Skipped: rep.Skipped}, nil
}

func (s *Server) packVerify(_ context.Context, n *node.Node, r *http.Request) (int, any, error) {
	v, err := verifyPack(n, r.Body)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func verifyPack(n *node.Node, r io.Reader) (packInfoView, error) {
	src := &readErr{r: r}
	info, err := n.VerifyPack(src)
	if src.err != nil {
		// The reader's own failure (too large, cut off) says more than
		// what the pack reader made of it.
		err = uploadError(src.err)
	}
	if err != nil {
		return packInfoView{}, packError(n, node.PackInstallReport{Info: info}, err)
	}
	return packInfoOf(info), nil
}

// readErr remembers the first error of a reader other than its end.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// uploadError is the answer to an upload that could not be read whole.
func uploadError(err error) *apiError {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return fail(http.StatusRequestEntityTooLarge, "too_large", "the pack is over %d bytes, the most this laptop takes in one upload", mb.Limit)
	}
	return fail(http.StatusBadRequest, "bad_pack", "the upload did not arrive whole (%v); nothing was applied", err)
}

// receivePack copies an uploaded pack to a file in the node's directory:
// an install reads it twice (to check it, then to apply it). The caller
// removes the file.
func (s *Server) receivePack(body io.Reader) (string, error) {
	f, err := os.CreateTemp(s.cfg.Dir, packTempPattern)
	if err != nil {
		return "", fmt.Errorf("making room for the upload: %w", err)
	}
	src := &readErr{r: body}
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		if src.err != nil {
			return "", uploadError(src.err)
		}
		return "", fmt.Errorf("saving the upload: %w", err)
	}
	return f.Name(), nil
}

// packError says why a pack was refused. Nothing of it was applied,
// except for entries held back (the node's message says so).
func packError(n *node.Node, rep node.PackInstallReport, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	h := rep.Info.Header
	switch {
	case errors.Is(err, fieldkit.ErrBadPack) && h.Network != (sp.NetworkID{}) && h.Network != n.Network().ID:
		return fail(http.StatusBadRequest, "wrong_network", "%v; nothing was applied", err)
	case errors.Is(err, fieldkit.ErrBadPack):
		return fail(http.StatusBadRequest, "bad_pack", "%v; nothing was applied", err)
	case errors.Is(err, node.ErrRevoked), errors.Is(err, node.ErrNotAllowed):
		return fail(http.StatusBadRequest, "bad_signer", "the pack's signer may not publish it (%v); nothing was applied", err)
	case errors.Is(err, node.ErrPackRollback):
		return fail(http.StatusConflict, "old_pack", "%v; nothing was applied", err)
	case errors.Is(err, node.ErrPackInstalled):
		return fail(http.StatusConflict, "already_installed", "%v; nothing was applied", err)
	case rep.Held > 0:
		return fail(http.StatusConflict, "held_back", "%v", err)
	case h.Base > 0 && rep.Info.Installed < h.Version && rep.Info.Installed != h.Base && rep.New+rep.Known == 0:
		return fail(http.StatusConflict, "needs_base", "%v", err)
	}
	return classify(err)
}

func (s *Server) packRemove(_ context.Context, n *node.Node, r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	if err := removePack(n, name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"removed": name}, nil
}

// removePack forgets an installed pack; its services stay.
func removePack(n *node.Node, name string) error {
	ps, err := n.Packs()
	if err != nil {
		return err
	}
	found := false
	for _, p := range ps {
		found = found || p.Name == name
	}
	if !found {
		return fail(http.StatusNotFound, "not_found", "no pack named %q is installed", name)
	}
	return n.RemovePack(name)
}

// The page.

type packsData struct {
	Packs     []packRow
	CanManage bool // install and forget
	// What the last upload did: a check, or an install.
	Verified  *packInfoView
	Installed *packInstallView
	// Standing says how a checked pack stands to what is installed:
	// none, update, same, newer or base (see packStanding).
	Standing string
	File     string
	Removed  string
}

// packStanding says what installing a checked pack would do.
func packStanding(v packInfoView) string {
	switch {
	case v.InstalledBefore == v.Version:
		return "same"
	case v.InstalledBefore > v.Version:
		return "newer"
	case v.Base > 0 && v.InstalledBefore != v.Base:
		return "base"
	case v.InstalledBefore == 0:
		return "none"
	}
	return "update"
}

type packRow struct {
	Name, Version, Services, Signer, Installed string
}

func (s *Server) packsPage(r *http.Request, n *node.Node) (page, *packsData) {
	d := &packsData{CanManage: callerOf(r.Context()).allows(permPacks)}
	p := page{Data: d}
	ps, err := n.Packs()
	if err != nil {
		p.Error = err.Error()
	}
	for _, x := range ps {
		d.Packs = append(d.Packs, packRow{Name: x.Name, Version: fmt.Sprint(x.Version), Services: fmt.Sprint(x.Services),
			Signer: shortID(x.Signer), Installed: x.Installed.Local().Format("2006-01-02 15:04")})
	}
	return p, d
}

func (s *Server) webPacks(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, d := s.packsPage(r, n)
	d.Removed = r.URL.Query().Get("removed")
	s.render(w, r, "packs.html", p)
}

// webPackUpload takes a pack from the page's form (multipart, the file
// streamed to disk, never held in memory) and checks or installs it.
func (s *Server) webPackUpload(w http.ResponseWriter, r *http.Request) {
	// webAuth caps every page's body at MaxBody; a pack may be far
	// larger, so the cap is set again on the request's own body.
	body := r.Body
	s.webGuard(permPacks, func(w http.ResponseWriter, r *http.Request, n *node.Node) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(packUploadTime))
		r.Body = http.MaxBytesReader(w, body, maxPack)
		path, name, action, err := s.readPackForm(r)
		if path != "" {
			defer os.Remove(path)
		}
		if err == nil && path == "" {
			err = fail(http.StatusBadRequest, "no_file", "choose a pack file first")
		}
		var v *packInstallView
		var info *packInfoView
		if err == nil {
			if action == "verify" {
				var x packInfoView
				var f *os.File
				if f, err = os.Open(path); err == nil {
					x, err = verifyPack(n, f)
					f.Close()
				}
				info = &x
			} else {
				var x packInstallView
				x, err = installPack(r.Context(), n, path)
				v = &x
			}
		}
		p, d := s.packsPage(r, n)
		d.File = trimName(name)
		if err != nil {
			s.webFail(w, r, "packs.html", p, err)
			return
		}
		d.Verified, d.Installed = info, v
		if info != nil {
			d.Standing = packStanding(*info)
		}
		s.render(w, r, "packs.html", p)
	})(w, r)
}

// readPackForm reads the upload form: the pack (to a file in the node's
// directory) and which button was pressed.
func (s *Server) readPackForm(r *http.Request) (path, name, action string, err error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", "", "", fail(http.StatusBadRequest, "bad_form", "send the pack with the page's upload form (%v)", err)
	}
	for {
		var part *multipart.Part
		part, err = mr.NextPart()
		if err == io.EOF {
			return path, name, action, nil
		}
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return path, name, action, uploadError(err)
			}
			return path, name, action, fail(http.StatusBadRequest, "bad_form", "the upload did not arrive whole (%v); nothing was applied", err)
		}
		switch part.FormName() {
		case "file":
			if path != "" || part.FileName() == "" {
				continue // no file chosen; or a second, ignored
			}
			name = part.FileName()
			if path, err = s.receivePack(part); err != nil {
				return "", name, action, err
			}
		case "action":
			b, _ := io.ReadAll(io.LimitReader(part, 16))
			action = string(b)
		}
	}
}

func (s *Server) webPackRemove(w http.ResponseWriter, r *http.Request, n *node.Node) {
	name := r.PostFormValue("name")
	if err := removePack(n, name); err != nil {
		p, _ := s.packsPage(r, n)
		s.webFail(w, r, "packs.html", p, err)
		return
	}
	http.Redirect(w, r, "/packs?removed="+url.QueryEscape(name), http.StatusSeeOther)
}

// trimName keeps a file name short for the page.
func trimName(s string) string {
	if r := []rune(strings.ToValidUTF8(s, "?")); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// asAPIError is err as the API answers it.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return classify(err)
}
