// Package faults holds a service's named fault switches. A fault changes how the
// service really behaves (pool sizes, dropped indexes, added latency); switching it
// runs the service's apply function. Faults are switched at runtime through a
// loopback-only admin endpoint or by a schedule.
package faults

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ApplyFunc makes a fault take effect (on) or undoes it (off).
type ApplyFunc func(ctx context.Context, on bool) error

type fault struct {
	description string
	apply       ApplyFunc
	on          bool
	since       time.Time
}

// Set is the collection of faults of one service. The zero value is not usable; use NewSet.
type Set struct {
	logger *slog.Logger

	// mu serializes switching, so that a slow apply (rebuilding an index) is never
	// interleaved with another.
	mu     sync.Mutex
	faults map[string]*fault
}

// NewSet returns an empty set that logs switches to logger.
func NewSet(logger *slog.Logger) *Set {
	return &Set{logger: logger, faults: map[string]*fault{}}
}

// Register adds a fault. It panics on a duplicate name: that is a programming error.
func (s *Set) Register(name, description string, apply ApplyFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.faults[name]; dup {
		panic("faults: duplicate fault " + name)
	}
	s.faults[name] = &fault{description: description, apply: apply}
}

// Names returns the registered fault names, sorted.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.faults))
	for n := range s.faults {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Switch turns a fault on or off. Switching to the current state does nothing.
func (s *Set) Switch(ctx context.Context, name string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.faults[name]
	if !ok {
		return fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(s.namesLocked(), ", "))
	}
	if f.on == on {
		return nil
	}
	if f.apply != nil {
		if err := f.apply(ctx, on); err != nil {
			return fmt.Errorf("switch fault %s on=%t: %w", name, on, err)
		}
	}
	f.on, f.since = on, time.Now()
	s.logger.Warn("fault switched", "fault", name, "on", on)
	return nil
}

// Status is the state of one fault as the admin endpoint reports it.
type Status struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	On          bool      `json:"on"`
	Since       time.Time `json:"since,omitzero"`
}

// Statuses returns the state of every fault, sorted by name.
func (s *Set) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.faults))
	for _, n := range s.namesLocked() {
		f := s.faults[n]
		out = append(out, Status{Name: n, Description: f.description, On: f.on, Since: f.since})
	}
	return out
}

func (s *Set) namesLocked() []string {
	names := make([]string, 0, len(s.faults))
	for n := range s.faults {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TokenEnv names the environment variable that holds the token of the fault
// switch; a service started without it makes one up and logs it.
const TokenEnv = "RCA_FAULT_TOKEN"

// Handler serves GET /admin/faults (list) and POST /admin/faults?name=N&on=true|false,
// to loopback clients only. Switching needs the token (Authorization: Bearer
// TOKEN). A page in a browser on the same host cannot switch a fault: a
// cross-origin request with that header needs a CORS preflight, which is
// never granted, and any request a browser marks as coming from another
// site (Origin, Sec-Fetch-Site) is refused. An empty token disables switching.
func (s *Set) Handler(token string) http.Handler {
	return LoopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") == "cross-site" || r.Header.Get("Sec-Fetch-Site") == "same-site" {
			http.Error(w, "the fault switch refuses requests from web pages", http.StatusForbidden)
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.Statuses())
		case http.MethodPost:
			if token == "" {
				http.Error(w, "fault switching is disabled: the service has no token ("+TokenEnv+")", http.StatusForbidden)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="fault switch"`)
				http.Error(w, "switching a fault needs the service's token: Authorization: Bearer TOKEN ("+TokenEnv+")", http.StatusUnauthorized)
				return
			}
			name := r.URL.Query().Get("name")
			on, err := strconv.ParseBool(r.URL.Query().Get("on"))
			if name == "" || err != nil {
				http.Error(w, "want ?name=FAULT&on=true|false", http.StatusBadRequest)
				return
			}
			if err := s.Switch(r.Context(), name, on); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			writeJSON(w, http.StatusOK, s.Statuses())
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}))
}

// NewToken makes up a token for the fault switch.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// LoopbackOnly rejects requests whose peer is not a loopback address.
func LoopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			http.Error(w, "admin endpoints are served to loopback clients only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
