package server

// Placeholders for the verification issue (#3); replaced by check.go, forward.go and
// introspect.go. Nothing here may ship.

import "net/http"

func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) error { return errNotYet }
func (s *Server) handleForwardAuth(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errNotYet)
}
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, errNotYet)
}
