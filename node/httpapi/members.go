package httpapi

import "net/http"

// memberRoutes: the devices and revocation screen and API (admins).
func (s *Server) memberRoutes(mux *http.ServeMux) {}
