package httpapi

import "net/http"

// syncRoutes: sync status per peer and the daily budget.
func (s *Server) syncRoutes(mux *http.ServeMux) {}
