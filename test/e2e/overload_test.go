package e2e

import (
	"bytes"
	"context"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
)

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
	duration := loadDuration(t, "RCA_OVERLOAD_DURATION")
	dir := t.TempDir()
	c := newShippedCollector(t, dir, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), filepath.Join(dir, "storage"))
	// The memory compose gives the collector (the memory_limiter's shipped
	// percentages of its mem_limit, as in a container; outside one they
	// are of the host), and the backends replaced by the debug exporter:
	// the collector alone is measured.
	budget := composeCollectorMemory(t)
	budgetMiB := int(budget.limit >> 20)
	limiter, limit := memoryLimiterOverride(t, dir, budgetMiB)
	debugOnly := filepath.Join(dir, "debug-only.yaml")
	require.NoError(t, os.WriteFile(debugOnly, []byte(`
service:
  pipelines:
    traces: {exporters: [debug]}
    metrics: {exporters: [debug]}
    logs: {exporters: [debug]}
`), 0o600))
	c.args = append(c.args, "--config", limiter, "--config", debugOnly)
	c.env = append(c.env, "GOMEMLIMIT="+budget.goMemLimit)
	collector := c.start(t)

	const clients = 3
	mem := sampleMemory(collector.cmd.Process.Pid)
	load := generateLoad(t, c, loadSpec{clients: clients, spanBytes: 1 << 10}, duration)
	peak := mem.stop()

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
	refusedAtDoor := c.httpRequests(t)["429"] * spansPerRequest
	metricRefused := c.counter(t, "otelcol_receiver_refused_spans", `receiver="otlp"`) + refusedAtDoor
	metricAccepted := c.counter(t, "otelcol_receiver_accepted_spans", `receiver="otlp"`)

	secs := duration.Seconds()
	offered, accepted, refused, other := load.offered.Load(), load.accepted.Load(), load.refused.Load(), load.other.Load()
	report := fmt.Sprintf("| %s | %d | %.0f | %.0f | %.1f× | %.0f | %.0f%% | %d | %d / %d / %s | %.0f / %.0f | %d |\n",
		duration, clients, float64(offered)/secs, float64(accepted)/secs,
		float64(offered)/max(1, float64(accepted)), float64(refused)/secs,
		100*refusedAtDoor/max(1, metricRefused),
		peak.rss>>20, budgetMiB, limit, budget.goMemLimit, metricRefused, float64(refused), other)
	t.Logf("overload:\n%s%s", overloadHeader, report)
	if path := os.Getenv("RCA_OVERLOAD_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(overloadHeader+report), 0o644))
	}

	assert.Less(t, peak.rss, budget.limit, "RSS stays under the memory budget")
	assert.Positive(t, refused, "the load was more than the collector could hold: some was refused")
	assert.Zero(t, other, "refusals are retryable (503/429), never errors or dropped connections")
	assert.Equal(t, refused, int64(metricRefused), "every refusal is counted by the collector")
	assert.Equal(t, accepted, int64(metricAccepted), "and every acceptance")
}

const overloadHeader = `| Load for | Clients | Offered spans/s | Accepted spans/s | Offered / accepted | Refused spans/s | Refused at the door | RSS max MiB | Budget / memory_limiter MiB / GOMEMLIMIT | Refused: counted / seen by clients | Other answers |
|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|
`

// loadDuration is how long a benchmark loads the collector: the duration
// in the environment variable key, a minute when it is not set.
func loadDuration(t *testing.T, key string) time.Duration {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, key)
	return d
}

// The load generator's requests: 10 traces of 10 spans each.
const (
	tracesPerRequest, spansPerTrace = 10, 10
	spansPerRequest                 = tracesPerRequest * spansPerTrace
)

// loadSpec is the load generateLoad sends.
type loadSpec struct {
	clients        int  // concurrent clients, one request in flight each
	spansPerSecond int  // the rate they share; 0: as fast as they can send
	spanBytes      int  // each span's payload attribute
	grpc           bool // OTLP/gRPC, else OTLP/HTTP (protobuf)
}

// loadCounts are the spans the clients offered and how the collector
// answered: accepted, refused with a retryable status (OTLP/HTTP 429 or
// 503, gRPC UNAVAILABLE), or anything else (other errors, broken
// connections).
type loadCounts struct {
	offered, accepted, refused, other atomic.Int64
}

// generateLoad sends requests of spansPerRequest spans to the collector for
// duration from spec.clients clients, each request's trace IDs its own. A
// paced load schedules request k at k/rate after the start; a client that
// falls behind sends at once, so the rate achieved is what the clients and
// the collector managed, not more. Refused requests are not retried.
func generateLoad(t *testing.T, c *shippedCollector, spec loadSpec, duration time.Duration) *loadCounts {
	t.Helper()
	var counts loadCounts
	var interval time.Duration
	if spec.spansPerSecond > 0 {
		interval = time.Second * spansPerRequest / time.Duration(spec.spansPerSecond)
	}
	var scheduled atomic.Int64
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for g := range spec.clients {
		send := httpSender(c)
		if spec.grpc {
			conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", c.otlpGRPC), grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			send = grpcSender(ptraceotlp.NewGRPCClient(conn))
		}
		wg.Go(func() {
			for seq := uint64(0); ; seq++ {
				if interval > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(scheduled.Add(1)-1) * interval)))
				}
				if time.Now().After(deadline) {
					return
				}
				counts.offered.Add(spansPerRequest)
				switch send(overloadTraces(uint64(g)<<48|seq, spec.spanBytes)) {
				case answerAccepted:
					counts.accepted.Add(spansPerRequest)
				case answerRefused:
					counts.refused.Add(spansPerRequest)
				default:
					counts.other.Add(spansPerRequest)
				}
			}
		})
	}
	wg.Wait()
	return &counts
}

type answer int

const (
	answerAccepted answer = iota
	answerRefused         // retryable: the client may send it again later
	answerOther
)

func httpSender(c *shippedCollector) func(ptrace.Traces) answer {
	client := &http.Client{Timeout: 10 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/traces", c.otlpHTTP)
	return func(td ptrace.Traces) answer {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			panic(err)
		}
		resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			return answerOther
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return answerAccepted
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			return answerRefused
		}
		return answerOther
	}
}

func grpcSender(client ptraceotlp.GRPCClient) func(ptrace.Traces) answer {
	return func(td ptrace.Traces) answer {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		switch grpcstatus.Code(err) {
		case codes.OK:
			return answerAccepted
		case codes.Unavailable:
			return answerRefused
		}
		return answerOther
	}
}

// overloadTraces are tracesPerRequest traces of spansPerTrace spans, each
// span with an attribute of payloadBytes bytes, trace IDs unique to seq.
func overloadTraces(seq uint64, payloadBytes int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "overload")
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	payload := strings.Repeat("x", payloadBytes)
	now := time.Now()
	for tr := range tracesPerRequest {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], seq)
		binary.BigEndian.PutUint64(tid[8:], uint64(tr)+1)
		for i := range spansPerTrace {
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
	return td
}

// memoryPeak is the most a process held resident: all of it (RSS), its
// anonymous memory (heap, stacks: what a container's limit cannot reclaim)
// and the pages of files it maps (its binary, the queues' database), which
// are page cache the kernel can drop.
type memoryPeak struct {
	rss, anon, file, shmem int64
}

// peakSampler folds a sample into its peak every 250 ms until stopped.
type peakSampler[T any] struct {
	done chan struct{}
	out  chan T
}

// samplePeak starts folding: fold takes the peak so far and returns it
// with the sample it takes now.
func samplePeak[T any](fold func(peak T) T) *peakSampler[T] {
	s := &peakSampler[T]{done: make(chan struct{}), out: make(chan T, 1)}
	go func() {
		var peak T
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = fold(peak)
			select {
			case <-s.done:
				s.out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling, with a last sample, and returns the peak.
func (s *peakSampler[T]) stop() T {
	close(s.done)
	return <-s.out
}

// sampleMemory samples pid's memory every 250 ms until stop.
func sampleMemory(pid int) *peakSampler[memoryPeak] {
	return samplePeak(func(peak memoryPeak) memoryPeak {
		s := procStatus(pid)
		peak.rss = max(peak.rss, s["VmRSS"], s["VmHWM"])
		peak.anon = max(peak.anon, s["RssAnon"])
		peak.file = max(peak.file, s["RssFile"])
		peak.shmem = max(peak.shmem, s["RssShmem"])
		return peak
	})
}

// procStatus reads the sizes of /proc/<pid>/status (VmRSS, VmHWM,
// RssAnon, ...) in bytes; none when it cannot be read.
func procStatus(pid int) map[string]int64 {
	out := map[string]int64{}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[strings.TrimSuffix(f[0], ":")] = kb << 10
		}
	}
	return out
}
