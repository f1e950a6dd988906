package services_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
func TestEndToEnd(t *testing.T) { runEndToEnd(t, 0) }

// TestEndToEndCluster runs the same demo through the cluster `make
// run-cluster` runs: a gateway with the loadbalancing exporter routing by
// trace ID to three rootcause shards, and the incident stage. It asserts what
// TestEndToEnd does, on the incidents the stage publishes.
func TestEndToEndCluster(t *testing.T) { runEndToEnd(t, 3) }

func runEndToEnd(t *testing.T, shards int) {
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
	if shards > 0 {
		base += 100 // its own ports, should the two runs ever overlap
	}

	dir := t.TempDir()
	services := filepath.Join(dir, "rca-services")
	build := exec.Command("go", "build", "-o", services, "./cmd/rca-services")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build rca-services: %v\n%s", err, out)
	}

	// A real Alertmanager, where one is installed (.ci/run installs it):
	// the incidents must page as alerts too.
	alertmanager := startAlertmanager(t, fmt.Sprintf("127.0.0.1:%d", base+30))

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out := &testWriter{t: t}
	res, err := demo.Run(ctx, demo.Options{
		Collector: collector, Services: services, OutDir: filepath.Join(dir, "out"),
		Incidents: demo.DefaultIncidents,
		Duration:  100 * time.Second, Warmup: 25 * time.Second, FaultDuration: 15 * time.Second, Gap: 10 * time.Second,
		Drain: 10 * time.Second, BasePort: base, Rate: 12, Rootcause: "{decision_wait: 2s}",
		Alertmanager: alertmanager, Stdout: out, StartTimeout: 2 * time.Minute, Shards: shards,
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
	// The collector's incident page shows every incident, with a sample
	// trace whose culprit span is marked.
	page := map[string]demo.PageIncident{}
	for _, in := range res.Page {
		page[in.ID] = in
	}
	for _, in := range res.Incidents {
		p, ok := page[in.ID]
		switch {
		case !ok:
			t.Errorf("incident %s (culprit %s) is not on the incident page: %+v", in.ID, in.Culprit, res.Page)
		case p.Culprit != in.Culprit:
			t.Errorf("incident %s: the page names %s, the incident %s", in.ID, p.Culprit, in.Culprit)
		case p.Marked == 0:
			t.Errorf("incident %s: no sample trace with its culprit span marked on the page: %+v", in.ID, p)
		}
	}
	if alertmanager != "" {
		// Every incident the demo saw pages: one firing alert each, naming
		// its culprit.
		firing := firingAlerts(t, alertmanager)
		for _, in := range res.Incidents {
			if got, ok := firing[in.ID]; !ok {
				t.Errorf("incident %s (culprit %s) is not firing in Alertmanager; firing: %v", in.ID, in.Culprit, firing)
			} else if got != in.Culprit {
				t.Errorf("incident %s: Alertmanager's alert names %s, the incident %s", in.ID, got, in.Culprit)
			}
		}
		if len(firing) != len(res.Incidents) {
			t.Errorf("%d alerts firing for %d incidents: %v", len(firing), len(res.Incidents), firing)
		}
	}
}

// startAlertmanager runs a real Alertmanager on addr until the test ends and
// returns its URL; "" where none is installed.
func startAlertmanager(t *testing.T, addr string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Log("no Alertmanager installed (apt-get install prometheus-alertmanager): alerts not checked")
		return ""
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager did not get ready on %s", addr)
		}
	}
}

// firingAlerts are Alertmanager's active alerts: culprit service by incident ID.
func firingAlerts(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url + "/api/v2/alerts?active=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		EndsAt time.Time         `json:"endsAt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range alerts {
		if a.EndsAt.After(time.Now()) {
			out[a.Labels["incident_id"]] = a.Labels["service"]
		}
	}
	return out
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
