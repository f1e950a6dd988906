// Package inventory is the inventory service: POST /reserve takes stock for a paid
// order, in one transaction.
package inventory

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
	"github.com/otelcol-rca/otelcol-rca/services/internal/httpx"
)

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "inventory",
	Summary:       "Inventory service: POST /reserve updates stock after payment; GET /stock/{sku}.",
	DefaultListen: "127.0.0.1:8083",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

// Config is the inventory service's configuration.
type Config struct {
	DB dbx.Options
	// SKUs is how many SKUs (SKU-1...) are stocked at start.
	SKUs int
	// InitialStock is the quantity of each SKU stocked at start.
	InitialStock int64
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	dbx.RegisterFlags(fs, &c.DB, 4)
	fs.IntVar(&c.SKUs, "skus", 10000, "SKUs stocked at start (SKU-1...)")
	fs.Int64Var(&c.InitialStock, "initial-stock", 1_000_000, "quantity of each SKU stocked at start")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.SKUs < 1 {
		errs = append(errs, fmt.Errorf("--skus: must be at least 1, got %d", c.SKUs))
	}
	if c.InitialStock < 0 {
		errs = append(errs, fmt.Errorf("--initial-stock: must not be negative, got %d", c.InitialStock))
	}
	return errors.Join(errs...)
}

// Build opens the database and starts the service.
func (c *Config) Build(ctx context.Context, env app.Env) (app.Service, error) {
	return app.BuildOnDB(ctx, env, c.DB, func(db *dbx.DB) (*Inventory, error) { return New(ctx, *c, db, env) })
}

// Inventory serves the stock endpoints.
type Inventory struct {
	db     *dbx.DB
	logger *slog.Logger
}

// New creates and stocks the table. It owns db from then on.
func New(ctx context.Context, cfg Config, db *dbx.DB, env app.Env) (*Inventory, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS inventory_stock (sku TEXT PRIMARY KEY, qty BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO inventory_stock (sku, qty)
		SELECT 'SKU-' || CAST(n AS TEXT), CAST($2 AS BIGINT) FROM (`+db.Dialect.SeriesSQL()+`) s WHERE true
		ON CONFLICT (sku) DO NOTHING`, cfg.SKUs, cfg.InitialStock); err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	return &Inventory{db: db, logger: env.Logger}, nil
}

// Routes registers the endpoints.
func (s *Inventory) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /reserve", s.reserve)
	mux.HandleFunc("GET /stock/{sku}", s.stock)
}

// Check pings the database.
func (s *Inventory) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Inventory) Close() error { return s.db.Close() }

// Item is a quantity of one SKU.
type Item struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// ReserveRequest is the body of POST /reserve.
type ReserveRequest struct {
	OrderID string `json:"order_id"`
	Items   []Item `json:"items"`
}

var errNoStock = errors.New("insufficient stock")

func (s *Inventory) reserve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req ReserveRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.OrderID == "" || len(req.Items) == 0 {
		httpx.WriteError(w, http.StatusBadRequest, "order_id and items are required")
		return
	}
	for _, it := range req.Items {
		if it.SKU == "" || it.Qty <= 0 {
			httpx.WriteError(w, http.StatusBadRequest, "every item needs a sku and a positive qty")
			return
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, it := range req.Items {
			res, err := tx.ExecContext(ctx, `UPDATE inventory_stock SET qty = qty - $1 WHERE sku = $2 AND qty >= $1`, it.Qty, it.SKU)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return fmt.Errorf("%w for %s", errNoStock, it.SKU)
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errNoStock):
		s.logger.WarnContext(ctx, "Stock reservation refused.", "order_id", req.OrderID, "reason", err.Error())
		httpx.WriteError(w, http.StatusConflict, err.Error())
	case err != nil:
		s.logger.ErrorContext(ctx, "Stock reservation failed.", "order_id", req.OrderID, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, "stock update failed")
	default:
		s.logger.InfoContext(ctx, "Stock reserved.", "order_id", req.OrderID, "items", len(req.Items))
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"order_id": req.OrderID, "reserved": true})
	}
}

func (s *Inventory) stock(w http.ResponseWriter, r *http.Request) {
	var qty int64
	err := s.db.QueryRowContext(r.Context(), `SELECT qty FROM inventory_stock WHERE sku = $1`, r.PathValue("sku")).Scan(&qty)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		httpx.WriteError(w, http.StatusNotFound, "unknown sku")
	case err != nil:
		httpx.WriteError(w, http.StatusInternalServerError, err.Error())
	default:
		httpx.WriteJSON(w, http.StatusOK, Item{SKU: r.PathValue("sku"), Qty: qty})
	}
}

func (s *Inventory) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}
