package dbx

import (
	"context"
	"testing"
	"time"
)

func TestSpanName(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT id FROM products WHERE category = $1": "SELECT products",
		"INSERT INTO orders (a) VALUES ($1)":          "INSERT orders",
		"UPDATE inventory_stock SET qty = qty - $1":   "UPDATE inventory_stock",
		"SELECT rca_sleep($1)":                        "SELECT",
		"DROP INDEX IF EXISTS idx":                    "DROP idx",
		"":                                            "sql.conn.query",
	} {
		if got := spanName(context.Background(), "sql.conn.query", q); got != want {
			t.Errorf("spanName(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestOpenSQLiteAndSleep(t *testing.T) {
	db, err := Open(context.Background(), Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	start := time.Now()
	if _, err := db.ExecContext(context.Background(), db.Dialect.SleepSQL(), 50); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("sleep statement took %v, want at least 50ms", d)
	}
	if db.PoolFull() {
		t.Error("idle pool reported full")
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !db.PoolFull() {
		t.Error("pool of 1 with its connection taken not reported full")
	}
	conn.Close()
}

func TestValidate(t *testing.T) {
	for _, o := range []Options{{MaxOpenConns: 0}, {MaxOpenConns: 1, MaxIdleConns: -1}, {MaxOpenConns: 1, URL: "mysql://x"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", o)
		}
	}
	if got := redact("postgres://user:secret@host/db"); got != "postgres://***@host/db" {
		t.Errorf("redact = %q", got)
	}
}
