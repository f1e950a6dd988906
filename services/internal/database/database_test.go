package database

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
)

func TestStore(t *testing.T) {
	env, _ := testutil.Env(t, "database")
	s, err := New(context.Background(), Config{QueryTimeout: time.Second, FaultMaxOpen: 1, FaultQueryDelay: 10 * time.Millisecond},
		testutil.DB(t, 2), env)
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.Serve(t, env, s)
	post := func(path string, body, out any) int {
		t.Helper()
		data, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	u := NewUser{Username: "ada", PasswordHash: "h", Salt: "s", Email: "ada@example.com"}
	if code := post("/users", u, nil); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	if code := post("/users", u, nil); code != http.StatusConflict {
		t.Fatalf("duplicate = %d, want 409", code)
	}
	var c Credentials
	if code := post("/query/credentials", CredentialsRequest{Username: "ada"}, &c); code != http.StatusOK ||
		!c.Complete || c.Email != "ada@example.com" || len(c.Roles) != 1 || c.PasswordHash != "h" {
		t.Fatalf("credentials = %d %+v", code, c)
	}
	if code := post("/query/credentials", CredentialsRequest{Username: "bob"}, nil); code != http.StatusNotFound {
		t.Fatalf("unknown user = %d, want 404", code)
	}
	// Slow queries alone, with a free pool, only slow the lookup down.
	if err := env.Faults.Switch(context.Background(), "slow_queries", true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := post("/query/credentials", CredentialsRequest{Username: "ada"}, nil); code != http.StatusOK {
		t.Fatalf("slow lookup = %d", code)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("two slow queries took %v, want at least 20ms", d)
	}
}
