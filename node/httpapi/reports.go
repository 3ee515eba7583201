package httpapi

import "net/http"

// reportRoutes: aggregate, de-identified reports and their CSV.
func (s *Server) reportRoutes(mux *http.ServeMux) {}
