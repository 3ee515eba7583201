package httpapi

import "net/http"

// pairingRoutes: pairing phones on the LAN and their device tokens.
func (s *Server) pairingRoutes(mux *http.ServeMux) {}
