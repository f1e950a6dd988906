package services_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/demo"
)

// TestEndToEnd runs a short demo: the real services and the built collector,
// load, and the three seed faults in sequence. It asserts an incident naming the
// right culprit for each fault, no other incident for it, and none during the
// fault-free warm-up.
//
// It takes about two minutes and needs the collector built with the rootcause
// processor, so it runs only when asked:
//
//	RCA_E2E=1 go test -run TestEndToEnd -timeout 10m -v .
//
// RCA_COLLECTOR overrides the collector path (default ../bin/otelcol-rca) and
// RCA_E2E_BASE_PORT the first loopback port (default 15300).
func TestEndToEnd(t *testing.T) {
	if os.Getenv("RCA_E2E") != "1" {
		t.Skip("end-to-end test skipped: set RCA_E2E=1 (needs ../bin/otelcol-rca, takes ~2 minutes)")
	}
	collector := os.Getenv("RCA_COLLECTOR")
	if collector == "" {
		collector = filepath.Join("..", "bin", "otelcol-rca")
	}
	if _, err := os.Stat(collector); err != nil {
		t.Skipf("end-to-end test skipped: no collector binary at %s (run make build first)", collector)
	}
	base := 15300
	if v := os.Getenv("RCA_E2E_BASE_PORT"); v != "" {
		var err error
		if base, err = strconv.Atoi(v); err != nil {
			t.Fatalf("RCA_E2E_BASE_PORT: %v", err)
		}
	}

	dir := t.TempDir()
	services := filepath.Join(dir, "rca-services")
	build := exec.Command("go", "build", "-o", services, "./cmd/rca-services")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build rca-services: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out := &testWriter{t: t}
	res, err := demo.Run(ctx, demo.Options{
		Collector: collector, Services: services, OutDir: filepath.Join(dir, "out"),
		Incidents: demo.DefaultIncidents,
		Duration:  100 * time.Second, Warmup: 25 * time.Second, FaultDuration: 15 * time.Second, Gap: 10 * time.Second,
		Drain: 10 * time.Second, BasePort: base, Rate: 12, Rootcause: "{decision_wait: 2s}",
		Stdout: out, StartTimeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interrupted {
		t.Fatal("demo interrupted; see the log above")
	}
	if len(res.Warmup) > 0 {
		t.Errorf("%d incident(s) during the fault-free warm-up: %+v", len(res.Warmup), res.Warmup)
	}
	if len(res.Between) > 0 {
		t.Errorf("%d incident(s) started while the faults were off: %+v", len(res.Between), res.Between)
	}
	for _, f := range res.Faults {
		if !f.Ran {
			t.Errorf("fault %s never switched on", f.Incident)
			continue
		}
		if !f.Detected {
			t.Errorf("fault %s (%s/%s): no incident naming %s; culprits reported: %v",
				f.Incident, f.Service, strings.Join(f.Faults, "+"), f.Expected, f.Culprits)
		}
		if len(f.Others) > 0 {
			t.Errorf("fault %s: one fault, one incident; also reported %v besides %s", f.Incident, f.Others, f.Expected)
		}
	}
}

// testWriter sends the demo's report to the test log, line by line.
type testWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
