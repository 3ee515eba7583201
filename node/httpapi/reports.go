package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/floe-north/floe/node"
)

// Reports: contacts and referrals by community, month and kind of
// service, with small counts suppressed (node.Report), as JSON, as CSV
// and as a screen, for coordinators and admins to send to funders.

// reportRoutes: aggregate, de-identified reports and their CSV.
func (s *Server) reportRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/reports", s.wrap(true, guard(permReports, s.report)))
	mux.HandleFunc("GET /api/v1/reports.csv", s.reportCSV)
	mux.HandleFunc("GET /reports", s.webGuard(permReports, s.webReports))
	mux.HandleFunc("GET /reports.csv", s.webGuard(permReports, s.webReportCSV))
}

// reportOf runs the report the query asks for: from, to (YYYY-MM) and
// community.
func reportOf(ctx context.Context, n *node.Node, r *http.Request) (node.Report, error) {
	q := r.URL.Query()
	rep, err := n.Report(ctx, node.ReportOptions{From: q.Get("from"), To: q.Get("to"), Community: q.Get("community")})
	var qe *node.ReportQueryError
	if errors.As(err, &qe) {
		return rep, fail(http.StatusBadRequest, "bad_query", "%s", qe.Msg)
	}
	return rep, err
}

func (s *Server) report(ctx context.Context, n *node.Node, r *http.Request) (int, any, error) {
	rep, err := reportOf(ctx, n, r)
	return http.StatusOK, rep, err
}

// reportCSV is the API's CSV: the session and role checks of wrap, and
// errors as JSON, but the report as a file.
func (s *Server) reportCSV(w http.ResponseWriter, r *http.Request) {
	n, c, ae := s.session(r)
	if ae != nil {
		writeErr(w, ae)
		return
	}
	ctx := withCaller(r.Context(), c)
	if err := c.check(permReports); err != nil {
		writeErr(w, reportAPIError(err))
		return
	}
	rep, err := reportOf(ctx, n, r)
	if err != nil {
		writeErr(w, reportAPIError(err))
		return
	}
	writeReportCSV(w, rep)
}

func reportAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return classify(err)
}

// reportFileName is floe-report-FROM-TO.csv.
func reportFileName(rep node.Report) string {
	if rep.From == "" && rep.To == "" {
		return "floe-report.csv"
	}
	from, to := rep.From, rep.To
	if from == "" {
		from = "start"
	}
	if to == "" {
		to = "end"
	}
	return "floe-report-" + from + "-" + to + ".csv"
}

// writeReportCSV writes the columns community, month, contacts,
// referrals, then one per kind of service (the JSON's kinds), one line
// per row, with the cells as the JSON has them.
func writeReportCSV(w http.ResponseWriter, rep node.Report) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+reportFileName(rep)+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"community", "month", "contacts", "referrals"}, rep.Kinds...))
	for _, row := range rep.Rows {
		cw.Write(append([]string{csvText(row.Community), row.Month}, row.Cells(rep.Kinds)...))
	}
	cw.Flush()
}

// csvText keeps a typed name from being taken as a formula by a
// spreadsheet (=, +, -, @ at the start).
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// reportView is the reports screen's Data.
type reportView struct {
	// The form's values as typed.
	From, To, Community string
	Communities         []string
	Kinds               []template.HTML
	Rows                []reportRowView
	// CSV is the link to the same report as a file.
	CSV string
}

type reportRowView struct {
	Community, Month string
	Cells            []string
}

func (s *Server) reportPage(r *http.Request, n *node.Node) (page, int) {
	q := r.URL.Query()
	v := &reportView{From: q.Get("from"), To: q.Get("to"), Community: q.Get("community")}
	p := page{Data: v}
	rep, err := reportOf(r.Context(), n, r)
	status := http.StatusOK
	if err != nil {
		ae := reportAPIError(err)
		p.Error, status = ae.Message, ae.Status
		// The form still offers every community.
		rep, _ = n.Report(r.Context(), node.ReportOptions{})
		rep.Rows = nil
	}
	if rep.Community != "" {
		v.Community = rep.Community
	}
	v.Communities = rep.Communities
	lang := langOf(r)
	for _, k := range rep.Kinds {
		if k == node.ReportUnknownKind {
			v.Kinds = append(v.Kinds, translate(lang, "report.unknown"))
		} else {
			v.Kinds = append(v.Kinds, kindLabel(lang, k))
		}
	}
	for _, row := range rep.Rows {
		v.Rows = append(v.Rows, reportRowView{row.Community, row.Month, row.Cells(rep.Kinds)})
	}
	link := url.Values{}
	for _, k := range []string{"from", "to", "community"} {
		if x := q.Get(k); x != "" {
			link.Set(k, x)
		}
	}
	v.CSV = "/reports.csv"
	if len(link) > 0 {
		v.CSV += "?" + link.Encode()
	}
	return p, status
}

func (s *Server) webReports(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p, status := s.reportPage(r, n)
	if status >= http.StatusInternalServerError {
		http.Error(w, p.Error, status)
		return
	}
	s.renderStatus(w, r, status, "reports.html", p)
}

// webReportCSV is the screen's "Download CSV": a bad query shows the
// screen with the reason.
func (s *Server) webReportCSV(w http.ResponseWriter, r *http.Request, n *node.Node) {
	rep, err := reportOf(r.Context(), n, r)
	if err != nil {
		s.webReports(w, r, n)
		return
	}
	writeReportCSV(w, rep)
}
