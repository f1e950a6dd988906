// Package token is the token service: POST /token issues a JWT (HS256, with
// github.com/golang-jwt/jwt/v5) for a logged-in user; POST /verify checks one.
// It refuses incomplete user data, which is how a login degraded upstream ends
// here: the seed's "token generation failed because user data was incomplete".
package token

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/svcmetrics"
)

const scope = "github.com/otelcol-rca/otelcol-rca/services/internal/token"

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "token",
	Summary:       "Token service: POST /token issues a JWT for a user, POST /verify checks one.",
	DefaultListen: "127.0.0.1:8087",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// MinSecretLen is the shortest HS256 signing secret accepted, in bytes.
const MinSecretLen = 32

// Config is the token service's configuration.
type Config struct {
	// Secret signs the tokens (HS256).
	Secret string
	// SecretFile, when set, holds the secret (a mounted Docker or
	// Kubernetes secret), so that it never sits in the environment.
	SecretFile string
	// TTL is the lifetime of an issued token.
	TTL time.Duration
	// Issuer is the iss claim.
	Issuer string
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Secret, "secret", os.Getenv("TOKEN_SECRET"),
		fmt.Sprintf("HS256 signing secret, at least %d bytes (default $TOKEN_SECRET)", MinSecretLen))
	fs.StringVar(&c.SecretFile, "secret-file", os.Getenv("TOKEN_SECRET_FILE"),
		"file holding the signing secret, instead of --secret (default $TOKEN_SECRET_FILE)")
	fs.DurationVar(&c.TTL, "ttl", 15*time.Minute, "lifetime of issued tokens")
	fs.StringVar(&c.Issuer, "issuer", "otelcol-rca-token", "iss claim of issued tokens")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	var errs []error
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return fmt.Errorf("--secret-file (or TOKEN_SECRET_FILE): %w", err)
		}
		c.Secret = strings.TrimRight(string(b), "\r\n")
	}
	if len(c.Secret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("--secret (or TOKEN_SECRET): must be at least %d bytes, got %d", MinSecretLen, len(c.Secret)))
	}
	if c.TTL <= 0 {
		errs = append(errs, fmt.Errorf("--ttl: must be positive, got %v", c.TTL))
	}
	return errors.Join(errs...)
}

// Build starts the service.
func (c *Config) Build(_ context.Context, env app.Env) (app.Service, error) {
	return New(*c, env), nil
}

// Tokens serves the token endpoints.
type Tokens struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	// The login scenario's metrics: POST /token durations and failures.
	duration metric.Float64Histogram
	failures metric.Int64Counter
}

// New returns the service.
func New(cfg Config, env app.Env) *Tokens {
	s := &Tokens{cfg: cfg, logger: env.Logger, now: time.Now}
	m := env.Inst.Meter(scope)
	var err error
	// The instruments work even when creating them reports an error.
	if s.duration, err = svcmetrics.Duration(m, "token.generation.duration", "JWT generation time"); err != nil {
		env.Logger.Warn("token.generation.duration instrument", "error", err)
	}
	if s.failures, err = svcmetrics.Counter(m, "token.generation.failures", "{failure}",
		"Token requests (POST /token) that failed, incomplete user data included."); err != nil {
		env.Logger.Warn("token.generation.failures instrument", "error", err)
	}
	return s
}

// Routes registers the endpoints.
func (s *Tokens) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /token", svcmetrics.Observe(s.issue, func(ctx context.Context, status int, seconds float64) {
		s.duration.Record(ctx, seconds)
		if svcmetrics.Outcome(status) == svcmetrics.Failure {
			s.failures.Add(ctx, 1)
		}
	}))
	mux.HandleFunc("POST /verify", s.verify)
}

// Check always passes: the service has no dependencies.
func (s *Tokens) Check(context.Context) error { return nil }

// Close does nothing.
func (s *Tokens) Close() error { return nil }

// IssueRequest is the body of POST /token: the user the token is for.
type IssueRequest struct {
	UserID   int64    `json:"user_id"`
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// Missing lists the fields a token needs that the request lacks.
func (r IssueRequest) Missing() []string {
	var m []string
	if r.UserID == 0 {
		m = append(m, "user_id")
	}
	if r.Username == "" {
		m = append(m, "username")
	}
	if r.Email == "" {
		m = append(m, "email")
	}
	if len(r.Roles) == 0 {
		m = append(m, "roles")
	}
	return m
}

// IssueResponse answers POST /token.
type IssueResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Claims are the claims of an issued token.
type Claims struct {
	Username string   `json:"name"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	jwt.RegisteredClaims
}

func (s *Tokens) issue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req IssueRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if missing := req.Missing(); len(missing) > 0 {
		s.logger.ErrorContext(ctx, "Token generation failed because user data was incomplete.",
			"missing", strings.Join(missing, ","), "username", req.Username)
		s.logger.InfoContext(ctx, "User login failed, skipping token generation.", "username", req.Username)
		httpx.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "incomplete user data", "missing": missing})
		return
	}
	now := s.now()
	exp := now.Add(s.cfg.TTL)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{
		Username: req.Username, Email: req.Email, Roles: req.Roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: fmt.Sprint(req.UserID),
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
	}).SignedString([]byte(s.cfg.Secret))
	if err != nil {
		s.logger.ErrorContext(ctx, "Token signing failed.", "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, "token signing failed")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, IssueResponse{Token: tok, ExpiresAt: exp.UTC()})
}

// VerifyRequest is the body of POST /verify.
type VerifyRequest struct {
	Token string `json:"token"`
}

func (s *Tokens) verify(w http.ResponseWriter, r *http.Request) {
	var req VerifyRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	var c Claims
	_, err := jwt.ParseWithClaims(req.Token, &c, func(*jwt.Token) (any, error) { return []byte(s.cfg.Secret), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(s.cfg.Issuer),
		jwt.WithTimeFunc(s.now))
	if err != nil {
		httpx.WriteError(w, http.StatusUnauthorized, "invalid token: "+err.Error())
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}
