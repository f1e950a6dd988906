package telemetry

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSetupAndShutdown(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	var stderr bytes.Buffer
	tel, err := Setup(context.Background(), Options{ServiceName: "svc", Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	tel.Logger.Info("hello")
	if !strings.Contains(stderr.String(), "msg=hello") {
		t.Errorf("stderr copy = %q", stderr.String())
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestSetupErrors(t *testing.T) {
	if _, err := Setup(context.Background(), Options{}); err == nil {
		t.Error("no service name accepted")
	}
	t.Setenv("OTEL_SDK_DISABLED", "perhaps")
	if _, err := Setup(context.Background(), Options{ServiceName: "svc"}); err == nil || !strings.Contains(err.Error(), "OTEL_SDK_DISABLED") {
		t.Errorf("bad OTEL_SDK_DISABLED: %v", err)
	}
	t.Setenv("OTEL_SDK_DISABLED", "true")
	tel, err := Setup(context.Background(), Options{ServiceName: "svc", Stderr: &bytes.Buffer{}})
	if err != nil || tel.Shutdown(context.Background()) != nil {
		t.Errorf("disabled SDK: %v", err)
	}
}
