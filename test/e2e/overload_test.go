package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// overloadBudgetMiB is the memory of the container the overload benchmark
// imitates (docker-compose.yml's mem_limit): the memory_limiter's limits are
// the shipped percentages of it, GOMEMLIMIT compose's.
const overloadBudgetMiB = 512

// TestOverload floods the shipped configuration with 1 KB spans from
// several clients, as fast as they can send, for RCA_OVERLOAD_DURATION
// (default 1m): far more than the collector can hold for decision_wait in
// its memory. The collector must stay up and under its memory budget,
// refuse what it cannot hold with a retryable status, and count every
// refusal in its own metrics. It is a benchmark (make bench-overload), not
// part of make test: it prints the figures BENCHMARKS.md shows.
func TestOverload(t *testing.T) {
	if os.Getenv("RCA_OVERLOAD") == "" {
		t.Skip("benchmark: make bench-overload")
	}
	duration := time.Minute
	if v := os.Getenv("RCA_OVERLOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		duration = d
	}
	dir := t.TempDir()
	c := newShippedCollector(t, dir, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), filepath.Join(dir, "storage"))
	// The shipped limits as a container of overloadBudgetMiB computes them
	// (80% and 20%; outside a container the percentages are of the host),
	// and the backends replaced by the debug exporter: the collector alone
	// is measured.
	limit, spike := overloadBudgetMiB*80/100, overloadBudgetMiB*20/100
	override := filepath.Join(dir, "overload.yaml")
	require.NoError(t, os.WriteFile(override, []byte(fmt.Sprintf(`
extensions:
  memory_limiter:
    limit_percentage: 0
    spike_limit_percentage: 0
    limit_mib: %[1]d
    spike_limit_mib: %[2]d
processors:
  memory_limiter:
    limit_percentage: 0
    spike_limit_percentage: 0
    limit_mib: %[1]d
    spike_limit_mib: %[2]d
service:
  pipelines:
    traces: {exporters: [debug]}
    metrics: {exporters: [debug]}
    logs: {exporters: [debug]}
`, limit, spike)), 0o600))
	c.args = append(c.args, "--config", override)
	c.env = append(c.env, "GOMEMLIMIT=400MiB")
	collector := c.start(t)

	var offered, accepted, refused, otherStatus atomic.Int64
	var maxRSS atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients, tracesPerRequest, spansPerTrace = 3, 10, 10
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for seq := uint64(0); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				body := overloadRequest(uint64(g)<<48|seq, tracesPerRequest, spansPerTrace)
				resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/traces", c.otlpHTTP), "application/x-protobuf", bytes.NewReader(body))
				n := int64(tracesPerRequest * spansPerTrace)
				offered.Add(n)
				if err != nil {
					otherStatus.Add(n)
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					accepted.Add(n)
				case http.StatusServiceUnavailable, http.StatusTooManyRequests:
					refused.Add(n)
				default:
					otherStatus.Add(n)
				}
			}
		}()
	}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if rss := rssBytes(collector.cmd.Process.Pid); rss > maxRSS.Load() {
					maxRSS.Store(rss)
				}
			}
		}
	}()
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	<-sampled

	// Decided and forwarded once decision_wait passed: the collector recovers.
	time.Sleep(10 * time.Second)
	select {
	case <-collector.exited:
		t.Fatalf("the collector exited under overload; its log: %s", c.log)
	default:
	}
	code, _ := c.healthStatus()
	assert.Equal(t, http.StatusOK, code, "healthy after the overload")
	// Refused at the door (the memory_limiter extension: HTTP 429, before
	// the body is read, so counted by request), or by the memory_limiter
	// processor once decoded (503, counted by span).
	refusedAtDoor := c.httpRequests(t)["429"] * tracesPerRequest * spansPerTrace
	metricRefused := c.counter(t, "otelcol_receiver_refused_spans", `receiver="otlp"`) + refusedAtDoor
	metricAccepted := c.counter(t, "otelcol_receiver_accepted_spans", `receiver="otlp"`)

	secs := duration.Seconds()
	report := fmt.Sprintf("| %s | %d | %.0f | %.0f | %.1f× | %.0f | %.0f%% | %d | %d / %d / 400 | %.0f / %.0f | %d |\n",
		duration, clients, float64(offered.Load())/secs, float64(accepted.Load())/secs,
		float64(offered.Load())/max(1, float64(accepted.Load())), float64(refused.Load())/secs,
		100*refusedAtDoor/max(1, metricRefused),
		maxRSS.Load()>>20, overloadBudgetMiB, limit, metricRefused, float64(refused.Load()), otherStatus.Load())
	t.Logf("overload:\n%s%s", overloadHeader, report)
	if path := os.Getenv("RCA_OVERLOAD_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(overloadHeader+report), 0o644))
	}

	assert.Less(t, maxRSS.Load(), int64(overloadBudgetMiB)<<20, "RSS stays under the memory budget")
	assert.Positive(t, refused.Load(), "the load was more than the collector could hold: some was refused")
	assert.Zero(t, otherStatus.Load(), "refusals are retryable (503/429), never errors or dropped connections")
	assert.Equal(t, refused.Load(), int64(metricRefused), "every refusal is counted by the collector")
	assert.Equal(t, accepted.Load(), int64(metricAccepted), "and every acceptance")
}

const overloadHeader = `| Load for | Clients | Offered spans/s | Accepted spans/s | Offered / accepted | Refused spans/s | Refused at the door | RSS max MiB | Budget / memory_limiter / GOMEMLIMIT MiB | Refused: counted / seen by clients | Other answers |
|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|
`

// overloadRequest is an OTLP/HTTP request of traces traces of spans spans,
// each span with a 1 KB attribute, trace IDs unique to seq.
func overloadRequest(seq uint64, traces, spans int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "overload")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	payload := strings.Repeat("x", 1024)
	now := time.Now()
	for tr := range traces {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], seq)
		binary.BigEndian.PutUint64(tid[8:], uint64(tr)+1)
		for i := range spans {
			s := ss.AppendEmpty()
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{byte(i + 1)})
			if i > 0 {
				s.SetParentSpanID(pcommon.SpanID{1})
			}
			s.SetName(fmt.Sprintf("op-%d", i))
			s.SetKind(ptrace.SpanKindServer)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			s.Attributes().PutStr("payload", payload)
		}
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return body
}

// rssBytes is the resident set size of pid, 0 when it cannot be read.
func rssBytes(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
