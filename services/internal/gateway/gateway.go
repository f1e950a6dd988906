// Package gateway is payment-gateway, a stand-in for the external card processor
// the payment service depends on. It is a third party: it exports no telemetry.
// Its latency and error rate are knobs, and the faults "latency" and "errors" add
// to them at runtime.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
)

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "payment-gateway",
	Summary:       "Stand-in for the external payment gateway: POST /v1/auth, POST /v1/charges. Exports no telemetry.",
	DefaultListen: "127.0.0.1:8084",
	NoTelemetry:   true,
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// Config is the gateway's configuration.
type Config struct {
	// APIKey and APISecret are the merchant credentials /v1/auth accepts.
	APIKey, APISecret string
	// Latency is the base delay of every call; Jitter adds up to that much more at random.
	Latency, Jitter time.Duration
	// ErrorRate is the fraction (0..1) of calls answered 503.
	ErrorRate float64
	// FaultLatency is added to every call while the "latency" fault is on.
	FaultLatency time.Duration
	// FaultErrorRate replaces ErrorRate while the "errors" fault is on.
	FaultErrorRate float64
	// SessionTTL is how long an auth session stays valid.
	SessionTTL time.Duration
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.APIKey, "api-key", "rca-demo-merchant", "merchant API key accepted by /v1/auth")
	fs.StringVar(&c.APISecret, "api-secret", "rca-demo-secret", "merchant API secret accepted by /v1/auth")
	fs.DurationVar(&c.Latency, "latency", 20*time.Millisecond, "base latency of every call")
	fs.DurationVar(&c.Jitter, "jitter", 15*time.Millisecond, "random extra latency, up to this much")
	fs.Float64Var(&c.ErrorRate, "error-rate", 0, "fraction of calls answered 503 (0..1)")
	fs.DurationVar(&c.FaultLatency, "fault-latency", 1500*time.Millisecond, "latency added while the latency fault is on")
	fs.Float64Var(&c.FaultErrorRate, "fault-error-rate", 0.5, "fraction of calls answered 503 while the errors fault is on (0..1)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 5*time.Minute, "lifetime of an auth session")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	var errs []error
	if c.APIKey == "" || c.APISecret == "" {
		errs = append(errs, errors.New("--api-key and --api-secret: must not be empty"))
	}
	if c.Latency < 0 || c.Jitter < 0 || c.FaultLatency < 0 {
		errs = append(errs, fmt.Errorf("--latency, --jitter, --fault-latency: must not be negative, got %v, %v, %v",
			c.Latency, c.Jitter, c.FaultLatency))
	}
	for name, r := range map[string]float64{"--error-rate": c.ErrorRate, "--fault-error-rate": c.FaultErrorRate} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s: must be within 0..1, got %v", name, r))
		}
	}
	if c.SessionTTL <= 0 {
		errs = append(errs, fmt.Errorf("--session-ttl: must be positive, got %v", c.SessionTTL))
	}
	return errors.Join(errs...)
}

// Build starts the service.
func (c *Config) Build(_ context.Context, env app.Env) (app.Service, error) {
	g := &Gateway{cfg: *c, sessions: map[string]time.Time{}, now: time.Now}
	env.Faults.Register("latency", fmt.Sprintf("adds %v to every call", c.FaultLatency),
		func(_ context.Context, on bool) error { g.slow.Store(on); return nil })
	env.Faults.Register("errors", fmt.Sprintf("answers %.0f%% of calls 503", c.FaultErrorRate*100),
		func(_ context.Context, on bool) error { g.failing.Store(on); return nil })
	return g, nil
}

// Gateway serves the gateway API.
type Gateway struct {
	cfg           Config
	slow, failing atomic.Bool
	now           func() time.Time

	mu       sync.Mutex
	sessions map[string]time.Time // token -> expiry
}

// Routes registers the endpoints.
func (g *Gateway) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/auth", g.auth)
	mux.HandleFunc("POST /v1/charges", g.charge)
}

// Check always passes: the gateway has no dependencies.
func (g *Gateway) Check(context.Context) error { return nil }

// Close does nothing.
func (g *Gateway) Close() error { return nil }

// AuthRequest is the body of POST /v1/auth.
type AuthRequest struct {
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
}

// AuthResponse answers POST /v1/auth.
type AuthResponse struct {
	Session   string `json:"session"`
	ExpiresIn int    `json:"expires_in"`
}

// ChargeRequest is the body of POST /v1/charges.
type ChargeRequest struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Reference   string `json:"reference"`
}

// ChargeResponse answers POST /v1/charges.
type ChargeResponse struct {
	ChargeID string `json:"charge_id"`
	Status   string `json:"status"`
}

func (g *Gateway) auth(w http.ResponseWriter, r *http.Request) {
	if !g.behave(w, r) {
		return
	}
	var req AuthRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.APIKey), []byte(g.cfg.APIKey)) != 1 ||
		subtle.ConstantTimeCompare([]byte(req.APISecret), []byte(g.cfg.APISecret)) != 1 {
		httpx.WriteError(w, http.StatusUnauthorized, "invalid merchant credentials")
		return
	}
	tok := "sess_" + rand.Text()
	now := g.now()
	g.mu.Lock()
	if len(g.sessions) > 10000 {
		for k, exp := range g.sessions {
			if now.After(exp) {
				delete(g.sessions, k)
			}
		}
	}
	g.sessions[tok] = now.Add(g.cfg.SessionTTL)
	g.mu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, AuthResponse{Session: tok, ExpiresIn: int(g.cfg.SessionTTL.Seconds())})
}

func (g *Gateway) charge(w http.ResponseWriter, r *http.Request) {
	if !g.behave(w, r) {
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	exp, known := g.sessions[tok]
	g.mu.Unlock()
	if !ok || !known || g.now().After(exp) {
		httpx.WriteError(w, http.StatusUnauthorized, "invalid or expired session")
		return
	}
	var req ChargeRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.AmountCents <= 0 {
		httpx.WriteError(w, http.StatusBadRequest, "amount_cents must be positive")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, ChargeResponse{ChargeID: "ch_" + rand.Text()[:16], Status: "succeeded"})
}

// behave applies the latency and error knobs; it reports false when it answered.
func (g *Gateway) behave(w http.ResponseWriter, r *http.Request) bool {
	d := g.cfg.Latency
	if g.cfg.Jitter > 0 {
		d += mrand.N(g.cfg.Jitter)
	}
	if g.slow.Load() {
		d += g.cfg.FaultLatency
	}
	t := time.NewTimer(d)
	select {
	case <-r.Context().Done():
		t.Stop()
		return false
	case <-t.C:
	}
	rate := g.cfg.ErrorRate
	if g.failing.Load() {
		rate = g.cfg.FaultErrorRate
	}
	if rate > 0 && mrand.Float64() < rate {
		httpx.WriteError(w, http.StatusServiceUnavailable, "gateway temporarily unavailable")
		return false
	}
	return true
}
