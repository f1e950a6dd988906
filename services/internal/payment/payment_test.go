package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-rca/otelcol-rca/services/internal/gateway"
	"github.com/otelcol-rca/otelcol-rca/services/internal/svcmetrics"
	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
)

func newGateway(t *testing.T) *httptest.Server {
	t.Helper()
	env, _ := testutil.Env(t, "payment-gateway")
	cfg := &gateway.Config{APIKey: "k", APISecret: "s", SessionTTL: time.Minute}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := cfg.Build(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.Serve(t, env, svc)
}

func testConfig(gatewayURL string) Config {
	return Config{
		GatewayURL: gatewayURL, GatewayKey: "k", GatewaySecret: "s",
		GatewayTimeout: time.Second, AuthTimeout: 100 * time.Millisecond,
		MaxAttempts: 2, RetryBackoff: 10 * time.Millisecond,
		ThrottleConns: 1, ThrottleHold: 600 * time.Millisecond,
	}
}

func pay(t *testing.T, url string) (int, PayResponse) {
	t.Helper()
	body, _ := json.Marshal(PayRequest{OrderID: "o-1", AmountCents: 1299})
	resp, err := http.Post(url+"/pay", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out PayResponse
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestPay(t *testing.T) {
	gw := newGateway(t)
	env, logs := testutil.Env(t, "payment")
	metrics := testutil.Metrics(t, &env)
	cfg := testConfig(gw.URL)
	cfg.DB.MaxOpenConns = 4
	p, err := New(context.Background(), cfg, testutil.DB(t, 4), env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	srv := testutil.Serve(t, env, p)

	code, res := pay(t, srv.URL)
	if code != http.StatusOK || res.Status != "captured" || res.ChargeID == "" || res.Attempts != 1 {
		t.Fatalf("pay = %d %+v, want 200 captured after 1 attempt", code, res)
	}
	success := attribute.String("payment.outcome", "success")
	failure := attribute.String("payment.outcome", "failure")
	if n := metrics.Sum("payment.requests", success); n != 1 {
		t.Errorf("payment.requests{payment.outcome=success} = %d, want 1", n)
	}
	if n := metrics.HistogramCount("payment.processing.duration"); n != 1 {
		t.Errorf("payment.processing.duration count = %d, want 1", n)
	}
	if n := metrics.Sum("payment.retries") + metrics.Sum("payment.timeouts"); n != 0 {
		t.Errorf("retries + timeouts after a clean payment = %d, want 0", n)
	}

	// The fault starves the pool: the credentials lookup times out waiting for a
	// connection, the service logs the seed's lines, retries, and gives up.
	if err := env.Faults.Switch(context.Background(), "db_pool_throttle", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the settlement batch take the connection
	code, _ = pay(t, srv.URL)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("pay under db_pool_throttle = %d, want 503", code)
	}
	if n := metrics.Sum("payment.requests", failure); n != 1 {
		t.Errorf("payment.requests{payment.outcome=failure} = %d, want 1", n)
	}
	// MaxAttempts 2: the credential lookups time out (both, normally), with one
	// retry between the attempts.
	if n := metrics.Sum("payment.timeouts"); n < 1 || n > 2 {
		t.Errorf("payment.timeouts = %d, want 1 or 2", n)
	}
	if n := metrics.Sum("payment.retries"); n != 1 {
		t.Errorf("payment.retries = %d, want 1", n)
	}
	for _, want := range []string{
		"Database connection timeout during payment gateway authentication.",
		"Retrying payment gateway request due to connection timeout.",
	} {
		if !logs.Contains(want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	if err := env.Faults.Switch(context.Background(), "db_pool_throttle", false); err != nil {
		t.Fatal(err)
	}
	if code, _ := pay(t, srv.URL); code != http.StatusOK {
		t.Fatalf("pay after the fault = %d, want 200", code)
	}
	if ok, failed := metrics.Sum("payment.requests", success), metrics.Sum("payment.requests", failure); ok != 2 || failed != 1 {
		t.Errorf("payment.requests = %d success, %d failure, want 2 and 1", ok, failed)
	}
	m, _ := metrics.Metric("payment.processing.duration")
	if m.Unit != "s" {
		t.Errorf("payment.processing.duration unit = %q, want s", m.Unit)
	}
	dps := metrics.Histogram("payment.processing.duration")
	if len(dps) != 1 || dps[0].Count != 3 || dps[0].Attributes.Len() != 0 {
		t.Fatalf("payment.processing.duration = %+v, want one series without attributes, 3 payments", dps)
	}
	if !slices.Equal(dps[0].Bounds, svcmetrics.Bounds) || !slices.Contains(dps[0].Bounds, 30) {
		t.Errorf("payment.processing.duration bounds = %v, want %v", dps[0].Bounds, svcmetrics.Bounds)
	}
	// Under the fault the payment waited for the credential lookup at least twice.
	if dps[0].Sum < 2*cfg.AuthTimeout.Seconds() {
		t.Errorf("payment.processing.duration sum = %gs, want at least %gs", dps[0].Sum, 2*cfg.AuthTimeout.Seconds())
	}
	for name, unit := range map[string]string{"payment.requests": "{payment}", "payment.retries": "{retry}", "payment.timeouts": "{timeout}"} {
		if m, _ := metrics.Metric(name); m.Unit != unit {
			t.Errorf("%s unit = %q, want %q", name, m.Unit, unit)
		}
	}
}

func TestValidate(t *testing.T) {
	good := testConfig("http://127.0.0.1:1")
	good.DB.MaxOpenConns = 1
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := map[string]func(c *Config){
		"no gateway":    func(c *Config) { c.GatewayURL = "" },
		"zero attempts": func(c *Config) { c.MaxAttempts = 0 },
		"auth timeout":  func(c *Config) { c.AuthTimeout = 0 },
		"pool size":     func(c *Config) { c.DB.MaxOpenConns = 0 },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			mutate(&c)
			if err := c.Validate(); err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
		})
	}
}
