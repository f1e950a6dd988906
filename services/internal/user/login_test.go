package user_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-rca/otelcol-rca/services/internal/database"
	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
	"github.com/otelcol-rca/otelcol-rca/services/internal/token"
	"github.com/otelcol-rca/otelcol-rca/services/internal/user"
)

type stack struct {
	userURL string
	dbEnv   interface {
		Switch(context.Context, string, bool) error
	}
	userLogs, dbLogs *testutil.Logs
	tokenLogs        *testutil.Logs
	userMetrics      *testutil.MetricReader
	dbMetrics        *testutil.MetricReader
}

func newStack(t *testing.T) stack {
	t.Helper()
	dbEnv, dbLogs := testutil.Env(t, "database")
	dbMetrics := testutil.Metrics(t, &dbEnv)
	store, err := database.New(context.Background(), database.Config{
		QueryTimeout: 150 * time.Millisecond, FaultMaxOpen: 1, FaultQueryDelay: 100 * time.Millisecond,
	}, testutil.DB(t, 4), dbEnv)
	if err != nil {
		t.Fatal(err)
	}
	dbSrv := testutil.Serve(t, dbEnv, store)

	tokEnv, tokLogs := testutil.Env(t, "token")
	tokCfg := token.Config{Secret: strings.Repeat("s", token.MinSecretLen), TTL: time.Minute, Issuer: "test"}
	if err := tokCfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tokSrv := testutil.Serve(t, tokEnv, token.New(tokCfg, tokEnv))

	userEnv, userLogs := testutil.Env(t, "user")
	userMetrics := testutil.Metrics(t, &userEnv)
	cfg := user.Config{DatabaseServiceURL: dbSrv.URL, TokenURL: tokSrv.URL, DBTimeout: time.Second, TokenTimeout: time.Second, HashIterations: 10}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	userSrv := testutil.Serve(t, userEnv, user.New(cfg, userEnv))
	return stack{
		userURL: userSrv.URL, dbEnv: dbEnv.Faults, userLogs: userLogs, dbLogs: dbLogs, tokenLogs: tokLogs,
		userMetrics: userMetrics, dbMetrics: dbMetrics,
	}
}

func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestLogin(t *testing.T) {
	s := newStack(t)
	creds := map[string]string{"username": "ada", "password": "lovelace-1815"}
	if code, _ := post(t, s.userURL+"/register", map[string]string{"username": "ada", "password": "lovelace-1815", "email": "ada@example.com"}); code != http.StatusCreated {
		t.Fatalf("register = %d", code)
	}
	if code, _ := post(t, s.userURL+"/register", map[string]string{"username": "ada", "password": "lovelace-1815", "email": "ada@example.com"}); code != http.StatusConflict {
		t.Fatalf("second register = %d, want 409", code)
	}
	code, body := post(t, s.userURL+"/login", creds)
	if code != http.StatusOK || body["token"] == "" {
		t.Fatalf("login = %d %v", code, body)
	}
	if code, _ := post(t, s.userURL+"/login", map[string]string{"username": "ada", "password": "wrong-password"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d, want 401", code)
	}
	loginOK, loginFailed := attribute.String("login.outcome", "success"), attribute.String("login.outcome", "failure")
	if ok, failed := s.userMetrics.Sum("user.login.attempts", loginOK), s.userMetrics.Sum("user.login.attempts", loginFailed); ok != 1 || failed != 1 {
		t.Errorf("user.login.attempts = %d success, %d failure, want 1 and 1", ok, failed)
	}
	if n := s.dbMetrics.Sum("database.queries", attribute.String("query.outcome", "success")); n != 2 {
		t.Errorf("database.queries{query.outcome=success} = %d, want 2", n)
	}

	// Exhaust the database service's pool: one connection, slow queries, and
	// concurrent logins. Some time out (500 "something went wrong").
	ctx := context.Background()
	for _, f := range []string{"small_pool", "slow_queries"} {
		if err := s.dbEnv.Switch(ctx, f, true); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 6 {
		wg.Go(func() {
			code, body := post(t, s.userURL+"/login", creds)
			mu.Lock()
			codes[code]++
			mu.Unlock()
			if code == http.StatusInternalServerError && body["error"] != "something went wrong" {
				t.Errorf("500 body = %v", body)
			}
		})
	}
	wg.Wait()
	if codes[http.StatusInternalServerError] == 0 {
		t.Fatalf("no login failed under pool exhaustion: %v", codes)
	}
	if failed := s.userMetrics.Sum("user.login.attempts", loginFailed); failed < int64(1+codes[http.StatusInternalServerError]) {
		t.Errorf("user.login.attempts{login.outcome=failure} = %d, want at least %d", failed, 1+codes[http.StatusInternalServerError])
	}
	if n := s.dbMetrics.Sum("database.queries", attribute.String("query.outcome", "failure")); n == 0 {
		t.Error("database.queries{query.outcome=failure} = 0 after timeouts")
	}
	for logs, lines := range map[*testutil.Logs][]string{
		s.dbLogs:   {"Database connection pool reached max connections, waiting.", "Database connection timeout while querying user credentials."},
		s.userLogs: {"Database query timed out while validating user credentials.", "User login failed due to timeout during database query."},
	} {
		for _, l := range lines {
			if !logs.Contains(l) {
				t.Errorf("logs lack %q", l)
			}
		}
	}
}
