package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/token"
)

func TestMainFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"bad listen":   {[]string{"--listen", "nope", "--secret", strings.Repeat("k", 32)}, "--listen"},
		"bad schedule": {[]string{"--fault-schedule", "x", "--secret", strings.Repeat("k", 32)}, "NAME@START+DURATION"},
		"own flags":    {[]string{"--secret", "short"}, "TOKEN_SECRET"},
		"bad level":    {[]string{"--log-level", "loud", "--secret", strings.Repeat("k", 32)}, "--log-level"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := app.Main(context.Background(), token.Spec, tc.args, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestMainRunsAndStops(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- app.Main(ctx, token.Spec, []string{"--listen", "127.0.0.1:0", "--secret", strings.Repeat("k", 32)}, &stderr)
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("service did not stop")
	}
	if !strings.Contains(stderr.String(), "flushing telemetry") {
		t.Errorf("no shutdown log: %s", stderr.String())
	}
}
