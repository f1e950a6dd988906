// Package order is the order service: POST /orders stores the order as
// "processing", calls payment, then inventory, and completes it. When payment
// keeps timing out the order stays "processing": the seed's stuck checkout.
package order

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/inventory"
	"github.com/otelcol-rca/otelcol-rca/services/internal/payment"
	"github.com/otelcol-rca/otelcol-rca/services/internal/svcmetrics"
)

const scope = "github.com/otelcol-rca/otelcol-rca/services/internal/order"

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "order",
	Summary:       "Order service: POST /orders calls payment then inventory; GET /orders/{id}.",
	DefaultListen: "127.0.0.1:8081",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// Order states.
const (
	StateProcessing    = "processing"
	StateCompleted     = "completed"
	StatePaymentFailed = "payment_failed"
	StateStockFailed   = "stock_failed"
)

// Config is the order service's configuration.
type Config struct {
	DB dbx.Options
	// PaymentURL and InventoryURL are the base URLs of those services.
	PaymentURL, InventoryURL string
	// PaymentTimeout bounds each call to payment.
	PaymentTimeout time.Duration
	// PaymentAttempts is how many times payment is called before the order is
	// left "processing" (1 = no retry).
	PaymentAttempts int
	// InventoryTimeout bounds the call to inventory.
	InventoryTimeout time.Duration
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	dbx.RegisterFlags(fs, &c.DB, 8)
	fs.StringVar(&c.PaymentURL, "payment-url", "http://127.0.0.1:8082", "payment service base URL")
	fs.StringVar(&c.InventoryURL, "inventory-url", "http://127.0.0.1:8083", "inventory service base URL")
	fs.DurationVar(&c.PaymentTimeout, "payment-timeout", 800*time.Millisecond, "timeout of each call to payment")
	fs.IntVar(&c.PaymentAttempts, "payment-attempts", 2, "calls to payment before the order is left processing")
	fs.DurationVar(&c.InventoryTimeout, "inventory-timeout", time.Second, "timeout of the call to inventory")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.PaymentURL == "" || c.InventoryURL == "" {
		errs = append(errs, errors.New("--payment-url and --inventory-url: must not be empty"))
	}
	if c.PaymentTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--payment-timeout: must be positive, got %v", c.PaymentTimeout))
	}
	if c.InventoryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--inventory-timeout: must be positive, got %v", c.InventoryTimeout))
	}
	if c.PaymentAttempts < 1 {
		errs = append(errs, fmt.Errorf("--payment-attempts: must be at least 1, got %d", c.PaymentAttempts))
	}
	return errors.Join(errs...)
}

// Build opens the database and starts the service.
func (c *Config) Build(ctx context.Context, env app.Env) (app.Service, error) {
	return app.BuildOnDB(ctx, env, c.DB, func(db *dbx.DB) (*Orders, error) { return New(ctx, *c, db, env) })
}

// Orders serves the order endpoints.
type Orders struct {
	cfg                 Config
	db                  *dbx.DB
	payments, inventory *http.Client
	logger              *slog.Logger

	// The checkout scenario's metrics: orders (by order.outcome) and their duration.
	orders   metric.Int64Counter
	duration metric.Float64Histogram
}

// New creates the schema. It owns db from then on.
func New(ctx context.Context, cfg Config, db *dbx.DB, env app.Env) (*Orders, error) {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS orders (id ` + db.Dialect.AutoIDColumn() + `, customer TEXT NOT NULL,
			amount_cents BIGINT NOT NULL, state TEXT NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS order_items (order_id BIGINT NOT NULL, sku TEXT NOT NULL, qty BIGINT NOT NULL,
			unit_price_cents BIGINT NOT NULL)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	s := &Orders{
		cfg: cfg, db: db, logger: env.Logger,
		payments: env.Inst.Client("payment", 0), inventory: env.Inst.Client("inventory", 0),
	}
	m := env.Inst.Meter(scope)
	var errD, errO error
	s.duration, errD = svcmetrics.Duration(m, "order.processing.duration", "Time to process an order")
	s.orders, errO = svcmetrics.Counter(m, "order.orders", "{order}", "Orders placed (POST /orders), by order.outcome: success or failure.")
	if err := errors.Join(errD, errO); err != nil {
		return nil, err
	}
	return s, nil
}

// Routes registers the endpoints.
func (s *Orders) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /orders", svcmetrics.Observe(s.create, func(ctx context.Context, status int, seconds float64) {
		s.orders.Add(ctx, 1, metric.WithAttributes(attribute.String("order.outcome", svcmetrics.Outcome(status))))
		s.duration.Record(ctx, seconds)
	}))
	mux.HandleFunc("GET /orders/{id}", s.get)
}

// Check pings the database.
func (s *Orders) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Orders) Close() error { return s.db.Close() }

// Line is one line of an order.
type Line struct {
	SKU            string `json:"sku"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// CreateRequest is the body of POST /orders.
type CreateRequest struct {
	Customer string `json:"customer"`
	Currency string `json:"currency"`
	Items    []Line `json:"items"`
}

// Response describes an order.
type Response struct {
	OrderID     int64  `json:"order_id"`
	State       string `json:"state"`
	AmountCents int64  `json:"amount_cents"`
	Message     string `json:"message,omitempty"`
}

func (s *Orders) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req CreateRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.Customer == "" || len(req.Items) == 0 {
		httpx.WriteError(w, http.StatusBadRequest, "customer and items are required")
		return
	}
	var amount int64
	for _, l := range req.Items {
		if l.SKU == "" || l.Qty <= 0 || l.UnitPriceCents <= 0 {
			httpx.WriteError(w, http.StatusBadRequest, "every item needs a sku, a positive qty and a positive unit_price_cents")
			return
		}
		amount += l.Qty * l.UnitPriceCents
	}
	id, err := s.insert(ctx, req, amount)
	if err != nil {
		s.logger.ErrorContext(ctx, "Failed to store order.", "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, "could not store the order")
		return
	}
	res := Response{OrderID: id, State: StateProcessing, AmountCents: amount}
	orderID := strconv.FormatInt(id, 10)

	timedOut, err := s.pay(ctx, orderID, amount, req.Currency)
	switch {
	case err != nil && timedOut:
		s.logger.WarnContext(ctx, "Order processing delayed due to payment timeout.", "order_id", id, "state", StateProcessing)
		res.Message = "payment is taking longer than expected; the order is still processing"
		httpx.WriteJSON(w, http.StatusAccepted, res)
		return
	case err != nil:
		s.logger.ErrorContext(ctx, "Payment failed.", "order_id", id, "error", err)
		s.finish(ctx, w, res, StatePaymentFailed, http.StatusBadGateway, "payment failed")
		return
	case timedOut:
		s.logger.WarnContext(ctx, "Order processing delayed due to payment timeout.", "order_id", id, "state", StateProcessing)
	}

	ictx, cancel := context.WithTimeout(ctx, s.cfg.InventoryTimeout)
	defer cancel()
	items := make([]inventory.Item, 0, len(req.Items))
	for _, l := range req.Items {
		items = append(items, inventory.Item{SKU: l.SKU, Qty: l.Qty})
	}
	if err := httpx.PostJSON(ictx, s.inventory, s.cfg.InventoryURL+"/reserve", nil,
		inventory.ReserveRequest{OrderID: orderID, Items: items}, nil); err != nil {
		s.logger.ErrorContext(ctx, "Inventory update failed after payment.", "order_id", id, "error", err)
		s.finish(ctx, w, res, StateStockFailed, http.StatusBadGateway, "inventory update failed")
		return
	}
	s.logger.InfoContext(ctx, "Order completed.", "order_id", id, "amount_cents", amount)
	s.finish(ctx, w, res, StateCompleted, http.StatusCreated, "")
}

// pay calls payment, retrying on timeouts. timedOut reports whether any call timed out.
func (s *Orders) pay(ctx context.Context, orderID string, amount int64, currency string) (timedOut bool, err error) {
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PaymentTimeout)
		err = httpx.PostJSON(pctx, s.payments, s.cfg.PaymentURL+"/pay", nil,
			payment.PayRequest{OrderID: orderID, AmountCents: amount, Currency: currency}, nil)
		cancel()
		if err == nil || ctx.Err() != nil || !httpx.IsTimeout(err) {
			return timedOut, err
		}
		timedOut = true
		if attempt >= s.cfg.PaymentAttempts {
			return true, err
		}
		s.logger.InfoContext(ctx, "Payment service timeout, retrying.", "order_id", orderID, "attempt", attempt+1,
			"timeout", s.cfg.PaymentTimeout.String())
	}
}

func (s *Orders) finish(ctx context.Context, w http.ResponseWriter, res Response, state string, code int, msg string) {
	res.State, res.Message = state, msg
	if _, err := s.db.ExecContext(ctx, `UPDATE orders SET state = $1, updated_at = $2 WHERE id = $3`,
		state, time.Now().UTC(), res.OrderID); err != nil {
		s.logger.ErrorContext(ctx, "Failed to update order state.", "order_id", res.OrderID, "state", state, "error", err)
	}
	httpx.WriteJSON(w, code, res)
}

func (s *Orders) insert(ctx context.Context, req CreateRequest, amount int64) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO orders (customer, amount_cents, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING id`, req.Customer, amount, StateProcessing, now).Scan(&id); err != nil {
		return 0, errors.Join(err, tx.Rollback())
	}
	for _, l := range req.Items {
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_items (order_id, sku, qty, unit_price_cents) VALUES ($1, $2, $3, $4)`,
			id, l.SKU, l.Qty, l.UnitPriceCents); err != nil {
			return 0, errors.Join(err, tx.Rollback())
		}
	}
	return id, tx.Commit()
}

func (s *Orders) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "order id must be an integer")
		return
	}
	res := Response{OrderID: id}
	err = s.db.QueryRowContext(r.Context(), `SELECT state, amount_cents FROM orders WHERE id = $1`, id).Scan(&res.State, &res.AmountCents)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		httpx.WriteError(w, http.StatusNotFound, "no such order")
	case err != nil:
		httpx.WriteError(w, http.StatusInternalServerError, err.Error())
	default:
		httpx.WriteJSON(w, http.StatusOK, res)
	}
}
