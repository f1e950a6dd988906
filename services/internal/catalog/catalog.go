// Package catalog is the catalog service, the Go counterpart of the seed's Flask
// app: GET / renders an HTML product list from a database query. The products
// table is large; the "missing_index" fault really drops the index the query
// relies on, so that it becomes a full scan.
package catalog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/dbx"
)

// Spec describes the service to the runner.
var Spec = app.Spec{
	Name:          "catalog",
	Summary:       "Catalog service: GET /?category=cat-N renders an HTML product list from a database query.",
	DefaultListen: "127.0.0.1:8088",
	Flags: func(fs *flag.FlagSet) app.Config {
		c := &Config{}
		c.RegisterFlags(fs)
		return c
	},
}

const indexName = "idx_products_category_price"

// Config is the catalog service's configuration.
type Config struct {
	DB dbx.Options
	// Products is how many products the table holds; it is filled at start when empty.
	Products int
	// Categories is how many categories (cat-0...) the products spread over.
	Categories int
	// PageSize is how many products a page lists.
	PageSize int
	// QueryTimeout bounds the product query.
	QueryTimeout time.Duration
}

// RegisterFlags binds the config to flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	dbx.RegisterFlags(fs, &c.DB, 8)
	fs.IntVar(&c.Products, "products", 200_000, "products in the table (filled at start when empty)")
	fs.IntVar(&c.Categories, "categories", 200, "categories the products spread over (cat-0...)")
	fs.IntVar(&c.PageSize, "page-size", 50, "products listed per page")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", 5*time.Second, "timeout of the product query")
}

// Validate reports bad values.
func (c *Config) Validate() error {
	errs := []error{c.DB.Validate()}
	if c.Products < 1 {
		errs = append(errs, fmt.Errorf("--products: must be at least 1, got %d", c.Products))
	}
	if c.Categories < 1 {
		errs = append(errs, fmt.Errorf("--categories: must be at least 1, got %d", c.Categories))
	}
	if c.PageSize < 1 {
		errs = append(errs, fmt.Errorf("--page-size: must be at least 1, got %d", c.PageSize))
	}
	if c.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--query-timeout: must be positive, got %v", c.QueryTimeout))
	}
	return errors.Join(errs...)
}

// Build opens the database, fills it and starts the service.
func (c *Config) Build(ctx context.Context, env app.Env) (app.Service, error) {
	return app.BuildOnDB(ctx, env, c.DB, func(db *dbx.DB) (*Catalog, error) { return New(ctx, *c, db, env) })
}

// Catalog serves the product pages.
type Catalog struct {
	cfg    Config
	db     *dbx.DB
	logger *slog.Logger
}

// New creates, fills and indexes the products table and registers the fault.
// It owns db from then on.
func New(ctx context.Context, cfg Config, db *dbx.DB, env app.Env) (*Catalog, error) {
	s := &Catalog{cfg: cfg, db: db, logger: env.Logger}
	if err := s.fill(ctx); err != nil {
		return nil, err
	}
	if err := s.index(ctx, true); err != nil {
		return nil, err
	}
	env.Faults.Register("missing_index", "drops "+indexName+": the product query scans the whole table",
		func(ctx context.Context, on bool) error { return s.index(ctx, !on) })
	return s, nil
}

func (s *Catalog) fill(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS products (id `+s.db.Dialect.AutoIDColumn()+`,
		sku TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, price_cents BIGINT NOT NULL, description TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM products`).Scan(&n); err != nil {
		return fmt.Errorf("count products: %w", err)
	}
	if n > 0 {
		return nil
	}
	start := time.Now()
	// Multiplying by primes spreads each category and the prices over the whole
	// table, as real inserts over time would.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO products (sku, name, category, price_cents, description)
		SELECT 'SKU-' || CAST(n AS TEXT), 'Product ' || CAST(n AS TEXT), 'cat-' || CAST((n * 7919) % $2 AS TEXT),
			100 + (n * 104729) % 99900, 'A fine product, number ' || CAST(n AS TEXT) || ', made to last.'
		FROM (`+s.db.Dialect.SeriesSQL()+`) s`, s.cfg.Products, s.cfg.Categories); err != nil {
		return fmt.Errorf("fill products: %w", err)
	}
	s.logger.InfoContext(ctx, "Products table filled.", "products", s.cfg.Products, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// index creates (present) or drops the index the product query relies on.
func (s *Catalog) index(ctx context.Context, present bool) error {
	q := `DROP INDEX IF EXISTS ` + indexName
	if present {
		q = `CREATE INDEX IF NOT EXISTS ` + indexName + ` ON products (category, price_cents)`
	}
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("index %s: %w", indexName, err)
	}
	return nil
}

// Routes registers the endpoints.
func (s *Catalog) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.list)
}

// Check pings the database.
func (s *Catalog) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Catalog) Close() error { return s.db.Close() }

// Product is one line of the list.
type Product struct {
	ID         int64
	SKU, Name  string
	PriceCents int64
}

// Price formats the price.
func (p Product) Price() string { return fmt.Sprintf("%d.%02d", p.PriceCents/100, p.PriceCents%100) }

var page = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html>
<head><title>Product List</title></head>
<body>
<h1>Product List: {{.Category}}</h1>
<p>{{.Total}} products, cheapest first.</p>
<ul>
{{- range .Products}}
<li data-sku="{{.SKU}}">{{.Name}}: {{.Price}}</li>
{{- end}}
</ul>
</body>
</html>
`))

func (s *Catalog) list(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	category := r.URL.Query().Get("category")
	if category == "" {
		category = "cat-0"
	}
	products, total, err := s.products(ctx, category)
	if err != nil {
		s.logger.ErrorContext(ctx, "Product query failed.", "category", category, "error", err)
		http.Error(w, "could not load products", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, map[string]any{"Category": category, "Products": products, "Total": total}); err != nil {
		s.logger.WarnContext(ctx, "Rendering the product list failed.", "error", err)
	}
}

// products returns the first page of a category and the category's size. Both
// queries rely on the (category, price_cents) index.
func (s *Catalog) products(ctx context.Context, category string) ([]Product, int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	start := time.Now()
	s.logger.InfoContext(ctx, "Product query started.", "category", category)
	rows, err := s.db.QueryContext(ctx, `SELECT id, sku, name, price_cents FROM products
		WHERE category = $1 ORDER BY price_cents LIMIT $2`, category, s.cfg.PageSize)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Product
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.SKU, &p.Name, &p.PriceCents); err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM products WHERE category = $1`, category).Scan(&total); err != nil {
		return nil, 0, err
	}
	s.logger.InfoContext(ctx, "Product query finished.", "category", category, "rows", len(out), "total", total,
		"duration_ms", float64(time.Since(start).Microseconds())/1000)
	return out, total, nil
}
