// Package database is the database service: the user store behind the user
// service. POST /query/credentials reads a user's credentials and profile over the
// service's own connection pool. The faults "small_pool" and "slow_queries" shrink
// the pool and slow every query down, so that under load requests wait for a
// connection and time out: the seed's "database connection pool reached max
// connections" and "database connection timeout while querying user credentials".
package database

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/svcmetrics"
)

const scope = "github.com/otelcol-rca/otelcol-rca/services/internal/database"

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "database",
	Summary:       "Database service: the user store. POST /users, POST /query/credentials.",
	DefaultListen: "127.0.0.1:8086",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// Config is the database service's configuration.
type Config struct {
	DB dbx.Options
	// QueryTimeout bounds each lookup, including the wait for a pooled connection.
	QueryTimeout time.Duration
	// FaultMaxOpen is the pool size while the small_pool fault is on.
	FaultMaxOpen int
	// FaultQueryDelay is how long every query takes in the database server while
	// the slow_queries fault is on.
	FaultQueryDelay time.Duration
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	dbx.RegisterFlags(fs, &c.DB, 10)
	fs.DurationVar(&c.QueryTimeout, "query-timeout", 500*time.Millisecond, "timeout of each lookup, including the wait for a pooled connection")
	fs.IntVar(&c.FaultMaxOpen, "fault-max-open", 2, "pool size while the small_pool fault is on")
	fs.DurationVar(&c.FaultQueryDelay, "fault-query-delay", 250*time.Millisecond, "extra time each query takes while the slow_queries fault is on")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--query-timeout: must be positive, got %v", c.QueryTimeout))
	}
	if c.FaultMaxOpen < 1 {
		errs = append(errs, fmt.Errorf("--fault-max-open: must be at least 1, got %d", c.FaultMaxOpen))
	}
	if c.FaultQueryDelay <= 0 {
		errs = append(errs, fmt.Errorf("--fault-query-delay: must be positive, got %v", c.FaultQueryDelay))
	}
	return errors.Join(errs...)
}

// Build opens the database and starts the service.
func (c *Config) Build(ctx context.Context, env app.Env) (app.Service, error) {
	return app.BuildOnDB(ctx, env, c.DB, func(db *dbx.DB) (*Store, error) { return New(ctx, *c, db, env) })
}

// Store serves the user store.
type Store struct {
	cfg    Config
	db     *dbx.DB
	logger *slog.Logger
	slow   atomic.Bool

	// The login scenario's metric: credential queries by query.outcome.
	queries metric.Int64Counter
}

// New creates the schema and registers the faults. It owns db from then on.
func New(ctx context.Context, cfg Config, db *dbx.DB, env app.Env) (*Store, error) {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS users (id ` + db.Dialect.AutoIDColumn() + `, username TEXT NOT NULL UNIQUE,
			password_hash TEXT NOT NULL, salt TEXT NOT NULL, created_at TIMESTAMP NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS user_profiles (user_id BIGINT PRIMARY KEY, email TEXT NOT NULL, roles TEXT NOT NULL)`,
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	s := &Store{cfg: cfg, db: db, logger: env.Logger}
	var err error
	if s.queries, err = svcmetrics.Counter(env.Inst.Meter(scope), "database.queries", "{query}",
		"Credential queries (POST /query/credentials), by query.outcome: success or failure."); err != nil {
		return nil, err
	}
	env.Faults.Register("small_pool", fmt.Sprintf("connection pool shrunk to %d", cfg.FaultMaxOpen),
		func(_ context.Context, on bool) error {
			if on {
				db.SetMaxOpenConns(cfg.FaultMaxOpen)
			} else {
				db.SetMaxOpenConns(cfg.DB.MaxOpenConns)
			}
			return nil
		})
	env.Faults.Register("slow_queries", fmt.Sprintf("every query takes %v longer in the database", cfg.FaultQueryDelay),
		func(_ context.Context, on bool) error { s.slow.Store(on); return nil })
	return s, nil
}

// Routes registers the endpoints.
func (s *Store) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /users", s.createUser)
	mux.HandleFunc("POST /query/credentials", svcmetrics.Observe(s.credentials, func(ctx context.Context, status int, _ float64) {
		s.queries.Add(ctx, 1, metric.WithAttributes(attribute.String("query.outcome", svcmetrics.Outcome(status))))
	}))
}

// Check pings the database.
func (s *Store) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// NewUser is the body of POST /users.
type NewUser struct {
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Salt         string   `json:"salt"`
	Email        string   `json:"email"`
	Roles        []string `json:"roles"`
}

// CredentialsRequest is the body of POST /query/credentials.
type CredentialsRequest struct {
	Username string `json:"username"`
}

// Credentials answers POST /query/credentials. When the profile lookup times out
// the answer is partial: Complete is false and Email and Roles are empty.
type Credentials struct {
	UserID       int64    `json:"user_id"`
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Salt         string   `json:"salt"`
	Email        string   `json:"email,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Complete     bool     `json:"complete"`
}

func (s *Store) createUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var u NewUser
	if !httpx.DecodeJSON(w, r, &u) {
		return
	}
	if u.Username == "" || u.PasswordHash == "" || u.Salt == "" || u.Email == "" {
		httpx.WriteError(w, http.StatusBadRequest, "username, password_hash, salt and email are required")
		return
	}
	if len(u.Roles) == 0 {
		u.Roles = []string{"customer"}
	}
	var id int64
	err := s.withConn(ctx, "user registration", func(ctx context.Context, c *sql.Conn) error {
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO users (username, password_hash, salt, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id`,
			u.Username, u.PasswordHash, u.Salt, time.Now().UTC()).Scan(&id); err != nil {
			return errors.Join(err, tx.Rollback())
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_profiles (user_id, email, roles) VALUES ($1, $2, $3)`,
			id, u.Email, strings.Join(u.Roles, ",")); err != nil {
			return errors.Join(err, tx.Rollback())
		}
		return tx.Commit()
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		httpx.WriteError(w, http.StatusConflict, "username taken")
	case httpx.IsTimeout(err):
		httpx.WriteError(w, http.StatusGatewayTimeout, "database timeout")
	case err != nil:
		s.logger.ErrorContext(ctx, "User registration failed.", "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, "registration failed")
	default:
		httpx.WriteJSON(w, http.StatusCreated, map[string]int64{"user_id": id})
	}
}

func (s *Store) credentials(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req CredentialsRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.Username == "" {
		httpx.WriteError(w, http.StatusBadRequest, "username is required")
		return
	}
	var c Credentials
	err := s.withConn(ctx, "user credentials", func(ctx context.Context, conn *sql.Conn) error {
		return conn.QueryRowContext(ctx, `SELECT id, username, password_hash, salt FROM users WHERE username = $1`, req.Username).
			Scan(&c.UserID, &c.Username, &c.PasswordHash, &c.Salt)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		httpx.WriteError(w, http.StatusNotFound, "no such user")
		return
	case httpx.IsTimeout(err):
		s.logger.ErrorContext(ctx, "Database connection timeout while querying user credentials.",
			"username", req.Username, "timeout", s.cfg.QueryTimeout.String())
		httpx.WriteError(w, http.StatusGatewayTimeout, "database timeout")
		return
	case err != nil:
		s.logger.ErrorContext(ctx, "Credential query failed.", "username", req.Username, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, "query failed")
		return
	}

	var roles string
	err = s.withConn(ctx, "user profile", func(ctx context.Context, conn *sql.Conn) error {
		return conn.QueryRowContext(ctx, `SELECT email, roles FROM user_profiles WHERE user_id = $1`, c.UserID).Scan(&c.Email, &roles)
	})
	switch {
	case err == nil:
		c.Complete = true
		if roles != "" {
			c.Roles = strings.Split(roles, ",")
		}
	case httpx.IsTimeout(err) || errors.Is(err, sql.ErrNoRows):
		// Degrade rather than fail the login: the credentials alone let the
		// caller check the password.
		s.logger.WarnContext(ctx, "User profile unavailable; returning partial user data.",
			"username", req.Username, "error", err)
	default:
		s.logger.ErrorContext(ctx, "Profile query failed.", "username", req.Username, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, "query failed")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}

// withConn runs fn on a pooled connection within QueryTimeout, logging when it
// has to wait for one, and slows the query down while slow_queries is on.
func (s *Store) withConn(ctx context.Context, what string, fn func(context.Context, *sql.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	if s.db.PoolFull() {
		st := s.db.Stats()
		s.logger.InfoContext(ctx, "Database connection pool reached max connections, waiting.",
			"query", what, "in_use", st.InUse, "max_open", st.MaxOpenConnections, "wait_count", st.WaitCount)
	}
	err := s.query(ctx, fn)
	// A statement cut short by the deadline may report the driver's interruption
	// rather than the deadline; both are a timeout to the caller.
	if err != nil && !httpx.IsTimeout(err) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

func (s *Store) query(ctx context.Context, fn func(context.Context, *sql.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Close()
	if s.slow.Load() {
		if _, err := conn.ExecContext(ctx, s.db.Dialect.SleepSQL(), s.cfg.FaultQueryDelay.Milliseconds()); err != nil {
			return fmt.Errorf("query: %w", err)
		}
	}
	return fn(ctx, conn)
}
