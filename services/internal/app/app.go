// Package app runs one service: common flags, telemetry, the fault set and its
// admin endpoint, the health endpoint, serving, and a shutdown that flushes telemetry.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/faults"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/telemetry"
)

// Env is what the runner gives a service.
type Env struct {
	// Name is the service name, also its default service.name.
	Name   string
	Logger *slog.Logger
	// Inst instruments HTTP servers, clients and database pools.
	Inst httpx.Instrumentation
	// Faults is where the service registers its fault switches.
	Faults *faults.Set
}

// Service is one running service.
type Service interface {
	// Routes registers the service's endpoints. /healthz and /admin/ are taken.
	Routes(mux *http.ServeMux)
	// Check reports whether the service can serve (its database answers).
	Check(ctx context.Context) error
	// Close stops background work and releases resources.
	Close() error
}

// Config is a service's parsed flags.
type Config interface {
	// Validate reports bad values, naming the flag.
	Validate() error
	// Build starts the service.
	Build(ctx context.Context, env Env) (Service, error)
}

// Spec describes a service to the runner.
type Spec struct {
	Name    string
	Summary string
	// DefaultListen is the --listen default.
	DefaultListen string
	// NoTelemetry disables export: the service is a third party whose telemetry we never see.
	NoTelemetry bool
	// Flags registers the service's own flags on fs and returns the config they fill.
	Flags func(fs *flag.FlagSet) Config
}

// Main runs the service described by spec with args (without the service name)
// until ctx is done. It returns the process exit code: 0 after a clean shutdown,
// 2 on bad flags, 1 on any other failure.
func Main(ctx context.Context, spec Spec, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("rca-services "+spec.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", spec.DefaultListen, "address to serve on (host:port)")
	schedule := fs.String("fault-schedule", "", "faults to switch by time: NAME@START+DURATION,... (e.g. missing_index@30s+40s)")
	initial := fs.String("faults", "", "comma-separated faults to switch on at start")
	grace := fs.Duration("shutdown-timeout", 10*time.Second, "how long shutdown waits for in-flight requests and the telemetry flush")
	level := fs.String("log-level", "info", "minimum level of the stderr log copy: debug, info, warn, error")
	cfg := spec.Flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rca-services %s [flags]\n\n%s\n\nflags:\n", spec.Name, spec.Summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "rca-services %s: %v\n", spec.Name, err)
		return code
	}
	if fs.NArg() > 0 {
		return fail(2, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	var lvl slog.Level
	windows, err := faults.ParseSchedule(*schedule)
	errs := []error{err, validateListen(*listen), cfg.Validate()}
	if *grace <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: must be positive, got %v", *grace))
	}
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fail(2, err)
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{
		ServiceName: spec.Name, Stderr: stderr, Level: lvl, Disabled: spec.NoTelemetry,
	})
	if err != nil {
		return fail(1, err)
	}
	logger := tel.Logger
	if err := run(ctx, spec, cfg, tel, *listen, *initial, windows, *grace, stderr); err != nil {
		logger.Error("service failed", "error", err)
		code := fail(1, err)
		_ = flushTelemetry(tel, *grace, stderr, spec.Name) // reports its own error on stderr
		return code
	}
	if err := flushTelemetry(tel, *grace, stderr, spec.Name); err != nil {
		return 1
	}
	return 0
}

func run(ctx context.Context, spec Spec, cfg Config, tel *telemetry.Telemetry, listen, initial string,
	windows []faults.Window, grace time.Duration, stderr io.Writer,
) (err error) {
	set := faults.NewSet(tel.Logger)
	env := Env{
		Name:   spec.Name,
		Logger: tel.Logger,
		Inst: httpx.Instrumentation{
			TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider, Propagator: tel.Propagator,
		},
		Faults: set,
	}
	svc, err := cfg.Build(ctx, env)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer func() {
		if cerr := svc.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close: %w", cerr))
		}
	}()
	if err := set.Validate(windows); err != nil {
		return err
	}
	for name := range strings.SplitSeq(initial, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if err := set.Switch(ctx, name, true); err != nil {
			return fmt.Errorf("--faults: %w", err)
		}
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("GET /healthz", httpx.Health(svc.Check))
	token := os.Getenv(faults.TokenEnv)
	if token == "" {
		token = faults.NewToken()
		// On the console only: the logger's records are telemetry, and a
		// secret in telemetry is readable wherever logs are.
		fmt.Fprintf(stderr, "rca-services %s: fault switch token made up (set %s to choose it): %s\n", spec.Name, faults.TokenEnv, token)
		tel.Logger.Info("fault switch token made up (set " + faults.TokenEnv + " to choose it); printed on stderr only")
	}
	mux.Handle("/admin/faults", set.Handler(token))

	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	if len(windows) > 0 {
		go set.RunSchedule(schedCtx, windows)
	}
	tel.Logger.Info("service starting", "faults", strings.Join(set.Names(), ","))
	return httpx.Serve(ctx, tel.Logger, listen, env.Inst.Handler(spec.Name, mux), grace)
}

func flushTelemetry(tel *telemetry.Telemetry, grace time.Duration, stderr io.Writer, name string) error {
	tel.Logger.Info("service stopped; flushing telemetry")
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		fmt.Fprintf(stderr, "rca-services %s: flush telemetry: %v\n", name, err)
		return err
	}
	return nil
}

func validateListen(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--listen: want host:port, got %q: %w", addr, err)
	}
	return nil
}

// NewEnv returns an Env with the global OTel providers and an empty fault set,
// for tests and for embedding a service in another program.
func NewEnv(name string, logger *slog.Logger) Env {
	return Env{Name: name, Logger: logger, Faults: faults.NewSet(logger)}
}

// BuildOnDB opens a service's database, instrumented with env's tracer and
// meter providers, and builds the service on it; the database is closed when
// the service cannot be built.
func BuildOnDB[S Service](ctx context.Context, env Env, o dbx.Options, build func(*dbx.DB) (S, error)) (Service, error) {
	o.TracerProvider, o.MeterProvider = env.Inst.TracerProvider, env.Inst.MeterProvider
	db, err := dbx.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	s, err := build(db)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}
