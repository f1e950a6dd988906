// Package dbx opens a service's database/sql pool, instrumented with otelsql
// (spans per statement and pool metrics): embedded SQLite by default, PostgreSQL
// through pgx when a URL is given. It hides the few SQL differences the services meet.
package dbx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/XSAM/otelsql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
)

// Options configures Open.
type Options struct {
	// URL is a PostgreSQL URL (postgres://...). Empty means embedded SQLite.
	URL string
	// SQLitePath is the SQLite database file. Empty means a file in a fresh temporary
	// directory that Close removes.
	SQLitePath string
	// MaxOpenConns is the pool size. Must be positive.
	MaxOpenConns int
	// MaxIdleConns is the number of idle connections kept. Zero means MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime closes connections older than this. Zero means never.
	ConnMaxLifetime time.Duration
	// TracerProvider and MeterProvider instrument the pool. Nil means the globals.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
}

// Validate checks the options, naming the flag a user would fix.
func (o Options) Validate() error {
	var errs []error
	if o.MaxOpenConns <= 0 {
		errs = append(errs, fmt.Errorf("--db-max-open: must be positive, got %d", o.MaxOpenConns))
	}
	if o.MaxIdleConns < 0 {
		errs = append(errs, fmt.Errorf("--db-max-idle: must not be negative, got %d", o.MaxIdleConns))
	}
	if o.ConnMaxLifetime < 0 {
		errs = append(errs, fmt.Errorf("--db-conn-max-lifetime: must not be negative, got %v", o.ConnMaxLifetime))
	}
	if o.URL != "" && !strings.HasPrefix(o.URL, "postgres://") && !strings.HasPrefix(o.URL, "postgresql://") {
		errs = append(errs, fmt.Errorf("DATABASE_URL: want postgres://..., got %q", redact(o.URL)))
	}
	return errors.Join(errs...)
}

// DB is an instrumented pool plus the SQL dialect it speaks.
type DB struct {
	*sql.DB
	Dialect Dialect

	maxOpen atomic.Int64
	reg     metric.Registration
	tmpDir  string
}

// Open opens and pings the pool.
func Open(ctx context.Context, o Options) (*DB, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var (
		driverName, dsn string
		d               Dialect
		tmpDir          string
		system          string
	)
	if o.URL != "" {
		driverName, dsn, d, system = "pgx", o.URL, postgres{}, "postgresql"
	} else {
		registerSQLiteFuncs()
		path := o.SQLitePath
		if path == "" {
			dir, err := os.MkdirTemp("", "rca-services-*")
			if err != nil {
				return nil, fmt.Errorf("sqlite temp dir: %w", err)
			}
			tmpDir, path = dir, filepath.Join(dir, "data.db")
		}
		driverName, d, system = "sqlite", sqliteDialect{}, "sqlite"
		dsn = "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)"
	}
	otelOpts := []otelsql.Option{
		otelsql.WithAttributes(attribute.String("db.system.name", system)),
		otelsql.WithSpanNameFormatter(spanName),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			OmitConnResetSession: true,
			OmitConnPrepare:      true,
			OmitRows:             true,
			DisableErrSkip:       true,
		}),
	}
	if o.TracerProvider != nil {
		otelOpts = append(otelOpts, otelsql.WithTracerProvider(o.TracerProvider))
	}
	if o.MeterProvider != nil {
		otelOpts = append(otelOpts, otelsql.WithMeterProvider(o.MeterProvider))
	}
	cleanup := func() {
		if tmpDir != "" {
			_ = os.RemoveAll(tmpDir)
		}
	}
	db, err := otelsql.Open(driverName, dsn, otelOpts...)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("open %s: %w", system, err)
	}
	idle := o.MaxIdleConns
	if idle == 0 {
		idle = o.MaxOpenConns
	}
	db.SetMaxOpenConns(o.MaxOpenConns)
	db.SetMaxIdleConns(idle)
	db.SetConnMaxLifetime(o.ConnMaxLifetime)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		cleanup()
		return nil, fmt.Errorf("ping %s: %w", system, err)
	}
	reg, err := otelsql.RegisterDBStatsMetrics(db, otelOpts...)
	if err != nil {
		_ = db.Close()
		cleanup()
		return nil, fmt.Errorf("pool metrics: %w", err)
	}
	out := &DB{DB: db, Dialect: d, reg: reg, tmpDir: tmpDir}
	out.maxOpen.Store(int64(o.MaxOpenConns))
	return out, nil
}

// SetMaxOpenConns resizes the pool and remembers the size for PoolFull.
func (db *DB) SetMaxOpenConns(n int) {
	db.maxOpen.Store(int64(n))
	db.DB.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
}

// PoolFull reports whether every connection of the pool is in use, so that a
// caller is about to wait for one.
func (db *DB) PoolFull() bool {
	return int64(db.Stats().InUse) >= db.maxOpen.Load()
}

// Close closes the pool and removes a temporary SQLite file.
func (db *DB) Close() error {
	errs := []error{db.reg.Unregister(), db.DB.Close()}
	if db.tmpDir != "" {
		errs = append(errs, os.RemoveAll(db.tmpDir))
	}
	return errors.Join(errs...)
}

// Dialect covers the SQL differences between SQLite and PostgreSQL that the
// services meet. Placeholders are written $1, $2..., which both accept.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// AutoIDColumn is the column definition of an auto-increment integer primary key.
	AutoIDColumn() string
	// SleepSQL is a statement taking one argument, milliseconds, that occupies its
	// connection for that long: the server itself is slow, not the client.
	SleepSQL() string
	// SeriesSQL is a SELECT producing one column n = 1..$1.
	SeriesSQL() string
}

type sqliteDialect struct{}

func (sqliteDialect) Name() string         { return "sqlite" }
func (sqliteDialect) AutoIDColumn() string { return "INTEGER PRIMARY KEY AUTOINCREMENT" }
func (sqliteDialect) SleepSQL() string     { return "SELECT rca_sleep($1)" }
func (sqliteDialect) SeriesSQL() string {
	return "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM seq WHERE n < $1) SELECT n FROM seq"
}

type postgres struct{}

func (postgres) Name() string         { return "postgres" }
func (postgres) AutoIDColumn() string { return "BIGSERIAL PRIMARY KEY" }
func (postgres) SleepSQL() string     { return "SELECT pg_sleep($1::float8 / 1000)" }
func (postgres) SeriesSQL() string    { return "SELECT generate_series(1, $1::bigint) AS n" }

var sqliteFuncsOnce sync.Once

// registerSQLiteFuncs adds rca_sleep(ms), SQLite's missing counterpart of pg_sleep.
func registerSQLiteFuncs() {
	sqliteFuncsOnce.Do(func() {
		sqlite.MustRegisterScalarFunction("rca_sleep", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			ms, ok := args[0].(int64)
			if !ok {
				return nil, fmt.Errorf("rca_sleep: want integer milliseconds, got %T", args[0])
			}
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return int64(0), nil
		})
	})
}

// spanName names statement spans "<VERB> <table>" as the database semantic
// conventions suggest, and other pool operations after their method.
func spanName(_ context.Context, method otelsql.Method, query string) string {
	if query == "" {
		return string(method)
	}
	f := slices.DeleteFunc(strings.Fields(query), func(w string) bool {
		switch strings.ToUpper(w) {
		case "IF", "NOT", "EXISTS":
			return true
		}
		return false
	})
	if len(f) == 0 {
		return string(method)
	}
	verb := strings.ToUpper(f[0])
	target := ""
	for i := 0; i < len(f)-1; i++ {
		switch strings.ToUpper(f[i]) {
		case "FROM", "INTO", "UPDATE", "TABLE", "INDEX":
			if verb != "WITH" {
				target = f[i+1]
			}
		}
		if target != "" {
			break
		}
	}
	if verb == "UPDATE" && len(f) > 1 {
		target = f[1]
	}
	if target == "" {
		return verb
	}
	return verb + " " + strings.Trim(target, "(),;")
}

func redact(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}
