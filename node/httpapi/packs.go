package httpapi

import "net/http"

// packRoutes: the resource packs screen and API.
func (s *Server) packRoutes(mux *http.ServeMux) {}
