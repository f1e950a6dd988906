package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// request is one trace: frontend → backend, the backend failing when faulty.
func request(n uint64, end time.Time, faulty bool) ptrace.Traces {
	td := ptrace.NewTraces()
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[8:], n)
	add := func(service, name string, kind ptrace.SpanKind, id, parent byte, start, stop time.Time) ptrace.Span {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{id})
		if parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{parent})
		}
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(stop))
		return s
	}
	start := end.Add(-30 * time.Millisecond)
	add("frontend", "GET /cart", ptrace.SpanKindServer, 1, 0, start, end)
	add("frontend", "GET", ptrace.SpanKindClient, 2, 1, start.Add(time.Millisecond), end.Add(-time.Millisecond))
	b := add("backend", "GET /items", ptrace.SpanKindServer, 3, 2, start.Add(2*time.Millisecond), end.Add(-2*time.Millisecond))
	if faulty {
		b.Status().SetCode(ptrace.StatusCodeError)
		b.Status().SetMessage("items table locked")
	}
	return td
}

// TestReplayOTLPJSON: a recording of the file exporter, replayed, names the
// backend that failed, with the incident's window in the recording's time.
func TestReplayOTLPJSON(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	var file bytes.Buffer
	for i := range 900 {
		end := t0.Add(time.Duration(i) * 200 * time.Millisecond)
		faulty := i >= 600 && i < 750
		b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(request(uint64(i+1), end, faulty))
		require.NoError(t, err)
		file.Write(append(b, '\n'))
	}
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	require.NoError(t, os.WriteFile(path, file.Bytes(), 0o600))

	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--otlp-json", path}, &stdout, &stderr))
	out := stdout.String()
	assert.Contains(t, out, "open", stderr.String())
	assert.Contains(t, out, `backend "GET /items" (error`)
	assert.Contains(t, out, "items table locked")
	assert.Contains(t, out, "2024-05-01T09:02:0", "the record is dated in the recording's time")
	assert.Contains(t, stderr.String(), "replayed 2700 spans")
}

func TestReplayRefusesBadArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), nil, &stdout, &stderr)
	require.ErrorContains(t, err, "no input")
	err = run(context.Background(), []string{"--otlp-proto", "spans.pb"}, &stdout, &stderr)
	require.ErrorContains(t, err, "want SIGNAL:FILE")
	err = run(context.Background(), []string{"--trainticket", "x@12:00"}, &stdout, &stderr)
	require.ErrorContains(t, err, "HH:MM-HH:MM")
	err = run(context.Background(), []string{"--otlp-json", filepath.Join(t.TempDir(), "missing.jsonl")}, &stdout, &stderr)
	require.ErrorContains(t, err, "missing.jsonl")
}
