package catalog

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
)

func TestListAndMissingIndex(t *testing.T) {
	env, logs := testutil.Env(t, "catalog")
	db := testutil.DB(t, 2)
	c, err := New(context.Background(), Config{Products: 5000, Categories: 10, PageSize: 5, QueryTimeout: 5 * time.Second}, db, env)
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.Serve(t, env, c)

	resp, err := http.Get(srv.URL + "/?category=cat-3")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), "<li") != 5 || !strings.Contains(string(body), "Product List: cat-3") ||
		!strings.Contains(string(body), "500 products") {
		t.Fatalf("GET / = %d\n%s", resp.StatusCode, body)
	}
	for _, l := range []string{"Product query started.", "Product query finished."} {
		if !logs.Contains(l) {
			t.Errorf("logs lack %q", l)
		}
	}

	if db.Dialect.Name() != "sqlite" {
		if err := env.Faults.Switch(context.Background(), "missing_index", true); err != nil {
			t.Fatal(err)
		}
		return // the plan checks below read SQLite's EXPLAIN QUERY PLAN
	}
	plan := func() string {
		rows, err := db.QueryContext(context.Background(),
			`EXPLAIN QUERY PLAN SELECT id FROM products WHERE category = 'cat-3' ORDER BY price_cents LIMIT 5`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	if p := plan(); !strings.Contains(p, indexName) {
		t.Fatalf("plan without the fault does not use %s:\n%s", indexName, p)
	}
	if err := env.Faults.Switch(context.Background(), "missing_index", true); err != nil {
		t.Fatal(err)
	}
	if p := plan(); strings.Contains(p, indexName) || !strings.Contains(p, "SCAN") {
		t.Fatalf("plan with missing_index still avoids a full scan:\n%s", p)
	}
	if err := env.Faults.Switch(context.Background(), "missing_index", false); err != nil {
		t.Fatal(err)
	}
	if p := plan(); !strings.Contains(p, indexName) {
		t.Fatalf("index not rebuilt:\n%s", p)
	}
}
