// Package user is the user service: registration and login. Login asks the
// database service for the user's credentials, checks the password, then asks the
// token service for a JWT. Any failure behind it is a 500 "something went wrong"
// to the client, as in the seed; the logs say what went wrong.
package user

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/database"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/svcmetrics"
	"github.com/otelcol-rca/otelcol-rca/services/internal/token"
)

const scope = "github.com/otelcol-rca/otelcol-rca/services/internal/user"

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "user",
	Summary:       "User service: POST /register, POST /login (database service for credentials, token service for the JWT).",
	DefaultListen: "127.0.0.1:8085",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// Config is the user service's configuration.
type Config struct {
	// DatabaseServiceURL and TokenURL are the base URLs of those services.
	DatabaseServiceURL, TokenURL string
	// DBTimeout bounds calls to the database service; TokenTimeout calls to the token service.
	DBTimeout, TokenTimeout time.Duration
	// HashIterations is the PBKDF2-SHA256 iteration count for new passwords.
	HashIterations int
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseServiceURL, "database-service-url", "http://127.0.0.1:8086", "database service base URL")
	fs.StringVar(&c.TokenURL, "token-url", "http://127.0.0.1:8087", "token service base URL")
	fs.DurationVar(&c.DBTimeout, "db-timeout", time.Second, "timeout of calls to the database service")
	fs.DurationVar(&c.TokenTimeout, "token-timeout", time.Second, "timeout of calls to the token service")
	fs.IntVar(&c.HashIterations, "hash-iterations", 4096, "PBKDF2-SHA256 iterations for new passwords")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	var errs []error
	if c.DatabaseServiceURL == "" || c.TokenURL == "" {
		errs = append(errs, errors.New("--database-service-url and --token-url: must not be empty"))
	}
	if c.DBTimeout <= 0 || c.TokenTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--db-timeout and --token-timeout: must be positive, got %v and %v", c.DBTimeout, c.TokenTimeout))
	}
	if c.HashIterations < 1 {
		errs = append(errs, fmt.Errorf("--hash-iterations: must be at least 1, got %d", c.HashIterations))
	}
	return errors.Join(errs...)
}

// Build starts the service.
func (c *Config) Build(_ context.Context, env app.Env) (app.Service, error) {
	return New(*c, env), nil
}

// Users serves registration and login.
type Users struct {
	cfg           Config
	store, tokens *http.Client
	logger        *slog.Logger

	// The login scenario's metric: login attempts by login.outcome.
	attempts metric.Int64Counter
}

// New returns the service.
func New(cfg Config, env app.Env) *Users {
	s := &Users{
		cfg: cfg, logger: env.Logger,
		store: env.Inst.Client("database", 0), tokens: env.Inst.Client("token", 0),
	}
	var err error
	// The counter works even when creating it reports an error.
	if s.attempts, err = svcmetrics.Counter(env.Inst.Meter(scope), "user.login.attempts", "{attempt}",
		"Login attempts (POST /login), by login.outcome: success or failure."); err != nil {
		env.Logger.Warn("user.login.attempts instrument", "error", err)
	}
	return s
}

// Routes registers the endpoints.
func (s *Users) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /register", s.register)
	mux.HandleFunc("POST /login", svcmetrics.Observe(s.login, func(ctx context.Context, status int, _ float64) {
		s.attempts.Add(ctx, 1, metric.WithAttributes(attribute.String("login.outcome", svcmetrics.Outcome(status))))
	}))
}

// Check always passes: the service keeps no state of its own.
func (s *Users) Check(context.Context) error { return nil }

// Close does nothing.
func (s *Users) Close() error { return nil }

// RegisterRequest is the body of POST /register.
type RegisterRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Email    string `json:"email"`
}

// LoginRequest is the body of POST /login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginResponse answers a successful POST /login.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

const somethingWentWrong = "something went wrong"

func (s *Users) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req RegisterRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.Username == "" || len(req.Password) < 8 || req.Email == "" {
		httpx.WriteError(w, http.StatusBadRequest, "username, email and a password of at least 8 characters are required")
		return
	}
	salt := rand.Text()
	hash, err := s.hash(req.Password, salt, s.cfg.HashIterations)
	if err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, somethingWentWrong)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DBTimeout)
	defer cancel()
	var out map[string]int64
	err = httpx.PostJSON(dctx, s.store, s.cfg.DatabaseServiceURL+"/users", nil, database.NewUser{
		Username: req.Username, PasswordHash: hash, Salt: salt, Email: req.Email, Roles: []string{"customer"},
	}, &out)
	var se *httpx.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusConflict:
		httpx.WriteError(w, http.StatusConflict, "username taken")
	case err != nil:
		s.logger.ErrorContext(ctx, "User registration failed.", "username", req.Username, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, somethingWentWrong)
	default:
		httpx.WriteJSON(w, http.StatusCreated, out)
	}
}

func (s *Users) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req LoginRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.Username == "" || req.Password == "" {
		httpx.WriteError(w, http.StatusBadRequest, "username and password are required")
		return
	}
	creds, err := s.credentials(ctx, req.Username)
	var se *httpx.StatusError
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		httpx.WriteError(w, http.StatusUnauthorized, "invalid username or password")
		return
	case httpx.IsTimeout(err) || errors.As(err, &se) && se.Code == http.StatusGatewayTimeout:
		s.logger.ErrorContext(ctx, "Database query timed out while validating user credentials.", "username", req.Username, "error", err)
		s.logger.InfoContext(ctx, "User login failed due to timeout during database query.", "username", req.Username)
		httpx.WriteError(w, http.StatusInternalServerError, somethingWentWrong)
		return
	default:
		s.logger.ErrorContext(ctx, "Credential lookup failed.", "username", req.Username, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, somethingWentWrong)
		return
	}
	if !s.passwordMatches(req.Password, creds) {
		httpx.WriteError(w, http.StatusUnauthorized, "invalid username or password")
		return
	}

	tctx, cancel := context.WithTimeout(ctx, s.cfg.TokenTimeout)
	defer cancel()
	var tok token.IssueResponse
	err = httpx.PostJSON(tctx, s.tokens, s.cfg.TokenURL+"/token", nil, token.IssueRequest{
		UserID: creds.UserID, Username: creds.Username, Email: creds.Email, Roles: creds.Roles,
	}, &tok)
	if err != nil {
		s.logger.ErrorContext(ctx, "Login failed: token service did not issue a token.", "username", req.Username, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, somethingWentWrong)
		return
	}
	s.logger.InfoContext(ctx, "User logged in.", "username", req.Username)
	httpx.WriteJSON(w, http.StatusOK, LoginResponse{Token: tok.Token, ExpiresAt: tok.ExpiresAt})
}

func (s *Users) credentials(ctx context.Context, username string) (database.Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DBTimeout)
	defer cancel()
	var c database.Credentials
	err := httpx.PostJSON(ctx, s.store, s.cfg.DatabaseServiceURL+"/query/credentials", nil,
		database.CredentialsRequest{Username: username}, &c)
	return c, err
}

// hashFormat records the iteration count with the hash so that it can change.
const hashFormat = "pbkdf2-sha256$%d$%s"

func (s *Users) hash(password, salt string, iter int) (string, error) {
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), iter, 32)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(hashFormat, iter, hex.EncodeToString(key)), nil
}

func (s *Users) passwordMatches(password string, c database.Credentials) bool {
	var iter int
	var stored string
	if _, err := fmt.Sscanf(c.PasswordHash, "pbkdf2-sha256$%d$%s", &iter, &stored); err != nil || iter < 1 {
		return false
	}
	got, err := s.hash(password, c.Salt, iter)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.PasswordHash)) == 1
}
