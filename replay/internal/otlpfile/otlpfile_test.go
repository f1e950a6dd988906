package otlpfile

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var t0 = time.Date(2023, 1, 30, 12, 0, 0, 0, time.UTC)

func traces(end time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1})
	s.SetSpanID(pcommon.SpanID{1})
	s.SetName("GET /")
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Second)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	return td
}

func logs(at time.Time) plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
	lr.Body().SetStr("payment timed out")
	return ld
}

func TestReadJSON(t *testing.T) {
	tb, err := (&ptrace.JSONMarshaler{}).MarshalTraces(traces(t0))
	require.NoError(t, err)
	lb, err := (&plog.JSONMarshaler{}).MarshalLogs(logs(t0.Add(time.Second)))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	require.NoError(t, os.WriteFile(path, append(append(append(tb, '\n'), '\n'), append(lb, '\n')...), 0o600))

	got, err := ReadJSON(path)
	require.NoError(t, err)
	require.Len(t, got, 2, "the empty line is skipped")
	assert.Equal(t, 1, got[0].Traces.SpanCount())
	assert.Equal(t, t0, got[0].Time, "a batch is dated by its latest span end")
	assert.Equal(t, 1, got[1].Logs.LogRecordCount())
	assert.Equal(t, t0.Add(time.Second), got[1].Time)
}

func TestReadJSONNamesTheBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	tb, err := (&ptrace.JSONMarshaler{}).MarshalTraces(traces(t0))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(append(tb, '\n'), []byte(`{"hello": 1}`+"\n")...), 0o600))
	_, err = ReadJSON(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.jsonl:2: not an OTLP export request")
}

func TestReadProto(t *testing.T) {
	var file []byte
	for _, end := range []time.Time{t0, t0.Add(time.Minute)} {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(traces(end))
		require.NoError(t, err)
		file = binary.BigEndian.AppendUint32(file, uint32(len(b)))
		file = append(file, b...)
	}
	path := filepath.Join(t.TempDir(), "spans.pb")
	require.NoError(t, os.WriteFile(path, file, 0o600))
	got, err := ReadProto(path, Traces)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, t0.Add(time.Minute), got[1].Time)

	require.NoError(t, os.WriteFile(path, file[:len(file)-3], 0o600))
	_, err = ReadProto(path, Traces)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "message 2: truncated")

	_, err = ReadProto(path, Signal("profiles"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown signal "profiles"`)
}
