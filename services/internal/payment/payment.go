// Package payment is the payment service: POST /pay authenticates with the
// external gateway using credentials from its own database, then charges, retrying
// on timeouts. The "db_pool_throttle" fault shrinks its pool and starts a settlement
// batch that holds connections, so that the credentials lookup times out waiting
// for a connection: the seed's "database connection timeout during payment gateway
// authentication".
package payment

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/gateway"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/svcmetrics"
)

const scope = "github.com/otelcol-rca/otelcol-rca/services/internal/payment"

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "payment",
	Summary:       "Payment service: POST /pay authenticates with the payment gateway (credentials from its own database) and charges.",
	DefaultListen: "127.0.0.1:8082",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// Config is the payment service's configuration.
type Config struct {
	DB dbx.Options
	// GatewayURL is the payment gateway's base URL.
	GatewayURL string
	// GatewayKey and GatewaySecret are stored in the credentials table at start.
	GatewayKey, GatewaySecret string
	// GatewayTimeout bounds each call to the gateway.
	GatewayTimeout time.Duration
	// AuthTimeout bounds the credentials lookup, including the wait for a pooled connection.
	AuthTimeout time.Duration
	// MaxAttempts is how many times a payment is tried before giving up (1 = no retry).
	MaxAttempts int
	// RetryBackoff is the pause before a retry.
	RetryBackoff time.Duration
	// ThrottleConns is the pool size while db_pool_throttle is on.
	ThrottleConns int
	// ThrottleHold is how long the settlement batch holds a connection per transaction
	// while db_pool_throttle is on.
	ThrottleHold time.Duration
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	dbx.RegisterFlags(fs, &c.DB, 4)
	fs.StringVar(&c.GatewayURL, "gateway-url", "http://127.0.0.1:8084", "payment gateway base URL")
	fs.StringVar(&c.GatewayKey, "gateway-api-key", "rca-demo-merchant", "merchant API key stored in the credentials table")
	fs.StringVar(&c.GatewaySecret, "gateway-api-secret", "rca-demo-secret", "merchant API secret stored in the credentials table")
	fs.DurationVar(&c.GatewayTimeout, "gateway-timeout", 800*time.Millisecond, "timeout of each gateway call")
	fs.DurationVar(&c.AuthTimeout, "auth-timeout", 250*time.Millisecond, "timeout of the credentials lookup, including the wait for a pooled connection")
	fs.IntVar(&c.MaxAttempts, "max-attempts", 3, "attempts per payment (1 = no retry)")
	fs.DurationVar(&c.RetryBackoff, "retry-backoff", 100*time.Millisecond, "pause before a retry")
	fs.IntVar(&c.ThrottleConns, "throttle-conns", 1, "pool size while the db_pool_throttle fault is on")
	fs.DurationVar(&c.ThrottleHold, "throttle-hold", 900*time.Millisecond, "how long the settlement batch holds a connection per transaction while db_pool_throttle is on")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.GatewayURL == "" {
		errs = append(errs, errors.New("--gateway-url: must not be empty"))
	}
	if c.GatewayKey == "" || c.GatewaySecret == "" {
		errs = append(errs, errors.New("--gateway-api-key and --gateway-api-secret: must not be empty"))
	}
	for name, d := range map[string]time.Duration{
		"--gateway-timeout": c.GatewayTimeout, "--auth-timeout": c.AuthTimeout, "--throttle-hold": c.ThrottleHold,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", name, d))
		}
	}
	if c.RetryBackoff < 0 {
		errs = append(errs, fmt.Errorf("--retry-backoff: must not be negative, got %v", c.RetryBackoff))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("--max-attempts: must be at least 1, got %d", c.MaxAttempts))
	}
	if c.ThrottleConns < 1 {
		errs = append(errs, fmt.Errorf("--throttle-conns: must be at least 1, got %d", c.ThrottleConns))
	}
	return errors.Join(errs...)
}

// Build opens the database and starts the service.
func (c *Config) Build(ctx context.Context, env app.Env) (app.Service, error) {
	return app.BuildOnDB(ctx, env, c.DB, func(db *dbx.DB) (*Payment, error) { return New(ctx, *c, db, env) })
}

// Payment serves POST /pay.
type Payment struct {
	cfg    Config
	db     *dbx.DB
	client *http.Client
	logger *slog.Logger
	tracer trace.Tracer

	// The checkout scenario's metrics: requests (by payment.outcome), their
	// duration, retries and timeouts.
	requests, retries, timeouts metric.Int64Counter
	duration                    metric.Float64Histogram

	mu        sync.Mutex
	stopBatch context.CancelFunc
	batchDone chan struct{}
}

// New creates the schema and registers the fault. It owns db from then on.
func New(ctx context.Context, cfg Config, db *dbx.DB, env app.Env) (*Payment, error) {
	p := &Payment{
		cfg: cfg, db: db, client: env.Inst.Client("payment-gateway", 0), logger: env.Logger,
		tracer: env.Inst.Tracer(scope),
	}
	if err := p.initMetrics(env.Inst.Meter(scope)); err != nil {
		return nil, err
	}
	if err := p.migrate(ctx); err != nil {
		return nil, err
	}
	env.Faults.Register("db_pool_throttle",
		fmt.Sprintf("pool shrunk to %d and a settlement batch holds connections for %v", cfg.ThrottleConns, cfg.ThrottleHold),
		p.throttle)
	return p, nil
}

func (p *Payment) migrate(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS payment_credentials (gateway TEXT PRIMARY KEY, api_key TEXT NOT NULL, api_secret TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS payments (id ` + p.db.Dialect.AutoIDColumn() + `, order_id TEXT NOT NULL,
			amount_cents BIGINT NOT NULL, charge_id TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
			created_at TIMESTAMP NOT NULL)`,
	}
	for _, s := range stmts {
		if _, err := p.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	_, err := p.db.ExecContext(ctx, `INSERT INTO payment_credentials (gateway, api_key, api_secret) VALUES ($1, $2, $3)
		ON CONFLICT (gateway) DO UPDATE SET api_key = excluded.api_key, api_secret = excluded.api_secret`,
		"default", p.cfg.GatewayKey, p.cfg.GatewaySecret)
	if err != nil {
		return fmt.Errorf("store gateway credentials: %w", err)
	}
	return nil
}

// Routes registers the endpoints.
func (p *Payment) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /pay", svcmetrics.Observe(p.pay, func(ctx context.Context, status int, seconds float64) {
		p.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("payment.outcome", svcmetrics.Outcome(status))))
		p.duration.Record(ctx, seconds)
	}))
}

// Check pings the database.
func (p *Payment) Check(ctx context.Context) error { return p.db.PingContext(ctx) }

// Close stops the settlement batch and closes the database.
func (p *Payment) Close() error {
	p.stopSettlement()
	return p.db.Close()
}

// PayRequest is the body of POST /pay.
type PayRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// PayResponse answers POST /pay.
type PayResponse struct {
	PaymentID int64  `json:"payment_id"`
	ChargeID  string `json:"charge_id"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
}

// failure classifies why an attempt failed, which decides the logs and the retry.
type failure int

const (
	dbTimeout failure = iota + 1
	gatewayTimeout
	gatewayError
	rejected
	aborted
	internal
)

func (p *Payment) pay(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req PayRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.OrderID == "" || req.AmountCents <= 0 {
		httpx.WriteError(w, http.StatusBadRequest, "order_id and a positive amount_cents are required")
		return
	}
	if req.Currency == "" {
		req.Currency = "EUR"
	}
	for attempt := 1; ; attempt++ {
		chargeID, kind, err := p.attempt(ctx, req)
		if err == nil {
			id, err := p.record(ctx, req, chargeID, attempt)
			if err != nil {
				p.logger.ErrorContext(ctx, "Failed to record captured payment.", "order_id", req.OrderID, "error", err)
				httpx.WriteError(w, http.StatusInternalServerError, "payment captured but not recorded")
				return
			}
			p.logger.InfoContext(ctx, "Payment captured.", "order_id", req.OrderID, "charge_id", chargeID, "attempts", attempt)
			httpx.WriteJSON(w, http.StatusOK, PayResponse{PaymentID: id, ChargeID: chargeID, Status: "captured", Attempts: attempt})
			return
		}
		switch kind {
		case aborted:
			p.logger.WarnContext(ctx, "Payment abandoned: the caller went away.", "order_id", req.OrderID, "attempts", attempt)
			httpx.WriteError(w, http.StatusServiceUnavailable, "request cancelled")
			return
		case rejected:
			httpx.WriteError(w, http.StatusBadGateway, "payment gateway rejected the payment: "+err.Error())
			return
		case internal:
			httpx.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if attempt >= p.cfg.MaxAttempts {
			p.logger.ErrorContext(ctx, "Payment failed after retries.", "order_id", req.OrderID, "attempts", attempt, "error", err)
			httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("payment gateway unavailable after %d attempts", attempt))
			return
		}
		p.retries.Add(ctx, 1)
		switch kind {
		case dbTimeout:
			p.logger.InfoContext(ctx, "Retrying payment gateway request due to connection timeout.", "order_id", req.OrderID, "attempt", attempt+1)
		case gatewayTimeout:
			p.logger.InfoContext(ctx, "Retrying payment gateway request due to gateway timeout.", "order_id", req.OrderID, "attempt", attempt+1)
		default:
			p.logger.InfoContext(ctx, "Retrying payment gateway request due to gateway error.", "order_id", req.OrderID, "attempt", attempt+1)
		}
		t := time.NewTimer(p.cfg.RetryBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			p.logger.WarnContext(ctx, "Payment abandoned: the caller went away.", "order_id", req.OrderID, "attempts", attempt)
			httpx.WriteError(w, http.StatusServiceUnavailable, "request cancelled")
			return
		case <-t.C:
		}
	}
}

// attempt authenticates with the gateway and charges once.
func (p *Payment) attempt(ctx context.Context, req PayRequest) (string, failure, error) {
	session, kind, err := p.authenticate(ctx)
	if err != nil {
		return "", kind, err
	}
	var res gateway.ChargeResponse
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.GatewayTimeout)
	defer cancel()
	err = httpx.PostJSON(callCtx, p.client, p.cfg.GatewayURL+"/v1/charges",
		http.Header{"Authorization": {"Bearer " + session}},
		gateway.ChargeRequest{AmountCents: req.AmountCents, Currency: req.Currency, Reference: req.OrderID}, &res)
	if err != nil {
		kind := p.gatewayFailure(ctx, err)
		return "", kind, fmt.Errorf("charge: %w", err)
	}
	return res.ChargeID, 0, nil
}

// authenticate reads the merchant credentials from the database and opens a
// gateway session with them.
func (p *Payment) authenticate(ctx context.Context) (string, failure, error) {
	ctx, span := p.tracer.Start(ctx, "gateway.authenticate")
	defer span.End()
	fail := func(kind failure, err error) (string, failure, error) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return "", kind, err
	}

	qctx, cancel := context.WithTimeout(ctx, p.cfg.AuthTimeout)
	var key, secret string
	err := p.db.QueryRowContext(qctx, `SELECT api_key, api_secret FROM payment_credentials WHERE gateway = $1`, "default").
		Scan(&key, &secret)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fail(aborted, ctx.Err())
	case httpx.IsTimeout(err) || errors.Is(qctx.Err(), context.DeadlineExceeded):
		p.timeouts.Add(ctx, 1)
		p.logger.ErrorContext(ctx, "Database connection timeout during payment gateway authentication.",
			"timeout", p.cfg.AuthTimeout.String(), "pool_in_use", p.db.Stats().InUse, "pool_wait_count", p.db.Stats().WaitCount)
		return fail(dbTimeout, fmt.Errorf("credentials lookup: %w", err))
	case errors.Is(err, sql.ErrNoRows):
		return fail(internal, errors.New("no gateway credentials configured"))
	default:
		p.logger.ErrorContext(ctx, "Failed to read payment gateway credentials.", "error", err)
		return fail(internal, fmt.Errorf("credentials lookup: %w", err))
	}

	var res gateway.AuthResponse
	callCtx, cancelCall := context.WithTimeout(ctx, p.cfg.GatewayTimeout)
	defer cancelCall()
	if err := httpx.PostJSON(callCtx, p.client, p.cfg.GatewayURL+"/v1/auth", nil,
		gateway.AuthRequest{APIKey: key, APISecret: secret}, &res); err != nil {
		return fail(p.gatewayFailure(ctx, err), fmt.Errorf("gateway auth: %w", err))
	}
	return res.Session, 0, nil
}

func (p *Payment) gatewayFailure(ctx context.Context, err error) failure {
	var se *httpx.StatusError
	switch {
	case ctx.Err() != nil:
		return aborted
	case httpx.IsTimeout(err):
		p.timeouts.Add(ctx, 1)
		p.logger.ErrorContext(ctx, "Payment gateway request timed out.", "timeout", p.cfg.GatewayTimeout.String())
		return gatewayTimeout
	case errors.As(err, &se) && se.Code < 500:
		p.logger.ErrorContext(ctx, "Payment gateway rejected the request.", "status", se.Code, "error", err)
		return rejected
	default:
		p.logger.ErrorContext(ctx, "Payment gateway returned an error.", "error", err)
		return gatewayError
	}
}

func (p *Payment) record(ctx context.Context, req PayRequest, chargeID string, attempts int) (int64, error) {
	var id int64
	err := p.db.QueryRowContext(ctx, `INSERT INTO payments (order_id, amount_cents, charge_id, status, attempts, created_at)
		VALUES ($1, $2, $3, 'captured', $4, $5) RETURNING id`,
		req.OrderID, req.AmountCents, chargeID, attempts, time.Now().UTC()).Scan(&id)
	return id, err
}

// initMetrics creates the instruments with the names, units and attributes of
// the checkout_payment_timeout scenario's built-in.
func (p *Payment) initMetrics(m metric.Meter) error {
	var errs [4]error
	p.requests, errs[0] = svcmetrics.Counter(m, "payment.requests", "{payment}",
		"Payment requests (POST /pay), by payment.outcome: success or failure.")
	p.duration, errs[1] = svcmetrics.Duration(m, "payment.processing.duration", "Payment processing latency")
	p.retries, errs[2] = svcmetrics.Counter(m, "payment.retries", "{retry}",
		"Payment attempts retried after a timeout or gateway error.")
	p.timeouts, errs[3] = svcmetrics.Counter(m, "payment.timeouts", "{timeout}",
		"Timeouts of the gateway credentials lookup and of gateway calls.")
	return errors.Join(errs[:]...)
}

// throttle applies the db_pool_throttle fault: the pool shrinks and a settlement
// batch starts that keeps a connection busy in long transactions.
func (p *Payment) throttle(_ context.Context, on bool) error {
	if !on {
		p.stopSettlement()
		p.db.SetMaxOpenConns(p.cfg.DB.MaxOpenConns)
		return nil
	}
	p.db.SetMaxOpenConns(p.cfg.ThrottleConns)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopBatch != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.stopBatch, p.batchDone = cancel, done
	go func() {
		defer close(done)
		p.settle(ctx)
	}()
	return nil
}

func (p *Payment) stopSettlement() {
	p.mu.Lock()
	cancel, done := p.stopBatch, p.batchDone
	p.stopBatch, p.batchDone = nil, nil
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// settle runs settlement batches back to back until ctx is done. Each batch
// reconciles captured payments inside one transaction that stays open for
// ThrottleHold, which is what starves the small pool.
func (p *Payment) settle(ctx context.Context) {
	for ctx.Err() == nil {
		if err := p.settleOnce(ctx); err != nil && ctx.Err() == nil {
			p.logger.WarnContext(ctx, "Settlement batch failed.", "error", err)
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func (p *Payment) settleOnce(ctx context.Context) (err error) {
	ctx, span := p.tracer.Start(ctx, "settlement.batch", trace.WithNewRoot())
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n, total int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(amount_cents), 0) FROM payments WHERE status = 'captured'`).
		Scan(&n, &total); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if _, err := tx.ExecContext(ctx, p.db.Dialect.SleepSQL(), p.cfg.ThrottleHold.Milliseconds()); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	span.SetAttributes(attribute.Int64("settlement.payments", n))
	return tx.Commit()
}
