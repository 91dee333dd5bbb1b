package server

import (
	"context"
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
)

func errNoRoute(r *http.Request) error {
	return latchkey.Errorf(latchkey.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
}

// handleHealthz answers while the process is up.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSONBody(w, http.StatusOK, map[string]any{"status": "ok", "version": s.cfg.Version})
}

// handleReadyz answers 200 when the database responds, 503 otherwise.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "error", err.Error())
		writeJSONBody(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "database": "unreachable"})
		return
	}
	writeJSONBody(w, http.StatusOK, map[string]any{"status": "ready", "database": "ok"})
}
