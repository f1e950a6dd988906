package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
)

func TestGateway(t *testing.T) {
	env, _ := testutil.Env(t, "payment-gateway")
	cfg := &Config{APIKey: "k", APISecret: "s", SessionTTL: time.Minute, FaultLatency: 200 * time.Millisecond, FaultErrorRate: 1}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := cfg.Build(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	srv := testutil.Serve(t, env, svc)
	call := func(path, session string, body any, out any) int {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(data))
		if session != "" {
			req.Header.Set("Authorization", "Bearer "+session)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}

	if code := call("/v1/auth", "", AuthRequest{APIKey: "k", APISecret: "wrong"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("bad credentials = %d", code)
	}
	var auth AuthResponse
	if code := call("/v1/auth", "", AuthRequest{APIKey: "k", APISecret: "s"}, &auth); code != http.StatusOK || auth.Session == "" {
		t.Fatalf("auth = %d %+v", code, auth)
	}
	if code := call("/v1/charges", "nope", ChargeRequest{AmountCents: 100}, nil); code != http.StatusUnauthorized {
		t.Fatalf("charge without session = %d", code)
	}
	var ch ChargeResponse
	if code := call("/v1/charges", auth.Session, ChargeRequest{AmountCents: 100}, &ch); code != http.StatusOK || ch.Status != "succeeded" {
		t.Fatalf("charge = %d %+v", code, ch)
	}

	ctx := context.Background()
	if err := env.Faults.Switch(ctx, "latency", true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	call("/v1/charges", auth.Session, ChargeRequest{AmountCents: 100}, nil)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("call under the latency fault took %v, want at least 200ms", d)
	}
	if err := env.Faults.Switch(ctx, "latency", false); err != nil {
		t.Fatal(err)
	}
	if err := env.Faults.Switch(ctx, "errors", true); err != nil {
		t.Fatal(err)
	}
	if code := call("/v1/charges", auth.Session, ChargeRequest{AmountCents: 100}, nil); code != http.StatusServiceUnavailable {
		t.Errorf("charge under the errors fault = %d, want 503", code)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{
		{APIKey: "", APISecret: "s", SessionTTL: time.Minute},
		{APIKey: "k", APISecret: "s", SessionTTL: time.Minute, ErrorRate: 2},
		{APIKey: "k", APISecret: "s", SessionTTL: time.Minute, Latency: -time.Second},
		{APIKey: "k", APISecret: "s"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
}
