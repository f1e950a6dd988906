package order_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-rca/otelcol-rca/services/internal/gateway"
	"github.com/otelcol-rca/otelcol-rca/services/internal/inventory"
	"github.com/otelcol-rca/otelcol-rca/services/internal/order"
	"github.com/otelcol-rca/otelcol-rca/services/internal/payment"
	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
)

func TestCheckout(t *testing.T) {
	ctx := context.Background()
	gwEnv, _ := testutil.Env(t, "payment-gateway")
	gw, err := (&gateway.Config{APIKey: "k", APISecret: "s", SessionTTL: time.Minute}).Build(ctx, gwEnv)
	if err != nil {
		t.Fatal(err)
	}
	gwSrv := testutil.Serve(t, gwEnv, gw)

	payEnv, payLogs := testutil.Env(t, "payment")
	pay, err := payment.New(ctx, payment.Config{
		GatewayURL: gwSrv.URL, GatewayKey: "k", GatewaySecret: "s", GatewayTimeout: time.Second,
		AuthTimeout: 100 * time.Millisecond, MaxAttempts: 3, RetryBackoff: 50 * time.Millisecond,
		ThrottleConns: 1, ThrottleHold: 800 * time.Millisecond,
	}, testutil.DB(t, 4), payEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pay.Close() })
	paySrv := testutil.Serve(t, payEnv, pay)

	invEnv, _ := testutil.Env(t, "inventory")
	inv, err := inventory.New(ctx, inventory.Config{SKUs: 10, InitialStock: 5}, testutil.DB(t, 2), invEnv)
	if err != nil {
		t.Fatal(err)
	}
	invSrv := testutil.Serve(t, invEnv, inv)

	ordEnv, ordLogs := testutil.Env(t, "order")
	metrics := testutil.Metrics(t, &ordEnv)
	cfg := order.Config{PaymentURL: paySrv.URL, InventoryURL: invSrv.URL, PaymentTimeout: 250 * time.Millisecond, PaymentAttempts: 2, InventoryTimeout: time.Second}
	cfg.DB.MaxOpenConns = 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ord, err := order.New(ctx, cfg, testutil.DB(t, 2), ordEnv)
	if err != nil {
		t.Fatal(err)
	}
	ordSrv := testutil.Serve(t, ordEnv, ord)

	place := func(qty int64) (int, order.Response) {
		t.Helper()
		body, _ := json.Marshal(order.CreateRequest{Customer: "ada", Items: []order.Line{{SKU: "SKU-3", Qty: qty, UnitPriceCents: 250}}})
		resp, err := http.Post(ordSrv.URL+"/orders", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out order.Response
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	if code, res := place(2); code != http.StatusCreated || res.State != order.StateCompleted || res.AmountCents != 500 {
		t.Fatalf("order = %d %+v, want 201 completed 500", code, res)
	}
	if code, res := place(10); code != http.StatusBadGateway || res.State != order.StateStockFailed {
		t.Fatalf("order beyond stock = %d %+v, want 502 %s", code, res, order.StateStockFailed)
	}
	success, failure := attribute.String("order.outcome", "success"), attribute.String("order.outcome", "failure")
	if ok, failed := metrics.Sum("order.orders", success), metrics.Sum("order.orders", failure); ok != 1 || failed != 1 {
		t.Errorf("order.orders = %d success, %d failure, want 1 and 1", ok, failed)
	}
	if n := metrics.HistogramCount("order.processing.duration"); n != 2 {
		t.Errorf("order.processing.duration count = %d, want 2", n)
	}
	if m, _ := metrics.Metric("order.orders"); m.Unit != "{order}" {
		t.Errorf("order.orders unit = %q, want {order}", m.Unit)
	}

	// The seed's incident: payment's pool is starved, payment times out, the
	// order stays processing.
	if err := payEnv.Faults.Switch(ctx, "db_pool_throttle", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	code, res := place(1)
	if code != http.StatusAccepted || res.State != order.StateProcessing {
		t.Fatalf("order under db_pool_throttle = %d %+v, want 202 processing", code, res)
	}
	// The delayed order answered 202: a success, as the scenario counts it
	// (status below 400), but one that took both payment attempts.
	if n := metrics.Sum("order.orders", success); n != 2 {
		t.Errorf("order.orders{order.outcome=success} after the delayed order = %d, want 2", n)
	}
	var slowest float64
	for _, dp := range metrics.Histogram("order.processing.duration") {
		if v, ok := dp.Max.Value(); ok {
			slowest = max(slowest, v)
		}
	}
	if want := 2 * cfg.PaymentTimeout.Seconds(); slowest < want {
		t.Errorf("slowest order.processing.duration = %gs, want at least %gs", slowest, want)
	}
	for logs, lines := range map[*testutil.Logs][]string{
		ordLogs: {"Payment service timeout, retrying.", "Order processing delayed due to payment timeout."},
		payLogs: {"Database connection timeout during payment gateway authentication.", "Retrying payment gateway request due to connection timeout."},
	} {
		for _, l := range lines {
			if !logs.Contains(l) {
				t.Errorf("logs lack %q", l)
			}
		}
	}
	resp, err := http.Get(ordSrv.URL + "/orders/" + jsonInt(res.OrderID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got order.Response
	_ = json.NewDecoder(resp.Body).Decode(&got)
	if got.State != order.StateProcessing {
		t.Errorf("stored state = %q, want processing", got.State)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
