// Package incidents reads the incident records the rootcause processor emits
// (log records with event name rca.incident) from the collector's file exporter
// output: OTLP JSON, one ExportLogsServiceRequest per line.
package incidents

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// EventName is the event name of incident records.
const EventName = "rca.incident"

// Record is one incident event (open, update or resolved).
type Record struct {
	ID          string
	Status      string
	Kind        string
	Service     string // rca.culprit.service
	Operation   string // rca.culprit.operation
	Dependency  string // rca.culprit.dependency
	Reason      string
	Confidence  float64
	Candidates  []string
	TraceIDs    []string
	Affected    []string
	Evidence    []string
	WindowStart time.Time
	WindowEnd   time.Time
	TraceCount  int64
	// Time is the record's timestamp.
	Time time.Time
	Body string
	// Attrs holds every attribute, including those not mapped above.
	Attrs map[string]any
}

// Parse extracts the incident records from one line of file exporter output.
// Other log records are skipped.
func Parse(line []byte) ([]Record, error) {
	var req exportLogs
	if err := json.Unmarshal(line, &req); err != nil {
		return nil, fmt.Errorf("parse OTLP JSON logs: %w", err)
	}
	var out []Record
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				attrs := map[string]any{}
				for _, kv := range lr.Attributes {
					attrs[kv.Key] = kv.Value.value()
				}
				if lr.EventName != EventName {
					if _, ok := attrs["rca.incident.id"]; !ok || attrs["rca.incident.status"] == nil {
						continue
					}
				}
				out = append(out, record(lr, attrs))
			}
		}
	}
	return out, nil
}

func record(lr logRecord, a map[string]any) Record {
	r := Record{
		ID: str(a["rca.incident.id"]), Status: str(a["rca.incident.status"]), Kind: str(a["rca.incident.kind"]),
		Service: str(a["rca.culprit.service"]), Operation: str(a["rca.culprit.operation"]),
		Dependency: str(a["rca.culprit.dependency"]), Reason: str(a["rca.reason"]),
		Confidence: num(a["rca.confidence"]), Candidates: strs(a["rca.candidates"]),
		TraceIDs: strs(a["rca.trace_ids"]), Affected: strs(a["rca.affected.services"]),
		Evidence: strs(a["rca.evidence.logs"]), WindowStart: timeOf(a["rca.window.start"]),
		WindowEnd: timeOf(a["rca.window.end"]), TraceCount: int64(num(a["rca.trace_count"])),
		Time: nanos(lr.TimeUnixNano), Body: str(lr.Body.value()), Attrs: a,
	}
	if r.Time.IsZero() {
		r.Time = nanos(lr.ObservedTimeUnixNano)
	}
	if len(r.TraceIDs) == 0 && lr.TraceID != "" {
		r.TraceIDs = []string{lr.TraceID}
	}
	return r
}

// Tail reads complete lines appended to a file since the last call.
type Tail struct {
	path    string
	off     int64
	partial []byte
}

// NewTail tails path from its beginning; the file need not exist yet.
func NewTail(path string) *Tail { return &Tail{path: path} }

// Read returns the incident records in the lines appended since the last call.
// Lines that fail to parse are reported in the error but do not stop reading.
func (t *Tail) Read() ([]Record, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < t.off {
		t.off, t.partial = 0, nil // truncated: start over
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	t.off += int64(len(data))
	data = append(t.partial, data...)
	var (
		out  []Record
		errs []error
	)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(data[:i])
		data = data[i+1:]
		if len(line) == 0 || !bytes.Contains(line, []byte("rca.incident")) {
			continue
		}
		recs, err := Parse(line)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, recs...)
	}
	t.partial = append([]byte(nil), data...)
	return out, errors.Join(errs...)
}

type exportLogs struct {
	ResourceLogs []struct {
		ScopeLogs []struct {
			LogRecords []logRecord `json:"logRecords"`
		} `json:"scopeLogs"`
	} `json:"resourceLogs"`
}

type logRecord struct {
	TimeUnixNano         string     `json:"timeUnixNano"`
	ObservedTimeUnixNano string     `json:"observedTimeUnixNano"`
	EventName            string     `json:"eventName"`
	Body                 anyValue   `json:"body"`
	Attributes           []keyValue `json:"attributes"`
	TraceID              string     `json:"traceId"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

type anyValue struct {
	StringValue *string          `json:"stringValue"`
	BoolValue   *bool            `json:"boolValue"`
	IntValue    *json.RawMessage `json:"intValue"`
	DoubleValue *float64         `json:"doubleValue"`
	ArrayValue  *struct {
		Values []anyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []keyValue `json:"values"`
	} `json:"kvlistValue"`
}

func (v anyValue) value() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.IntValue != nil:
		// proto3 JSON writes int64 as a string, but accept a number too.
		s := strings.Trim(string(*v.IntValue), `"`)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, x := range v.ArrayValue.Values {
			out = append(out, x.value())
		}
		return out
	case v.KvlistValue != nil:
		out := map[string]any{}
		for _, kv := range v.KvlistValue.Values {
			out[kv.Key] = kv.Value.value()
		}
		return out
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

func strs(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, str(e))
		}
		return out
	case string:
		if x == "" {
			return nil
		}
		return strings.Split(x, ",")
	}
	return nil
}

// timeOf reads an RFC 3339 string or a Unix time in s, ms, µs or ns.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return unix(n)
		}
	case int64:
		return unix(x)
	case float64:
		return unix(int64(x))
	}
	return time.Time{}
}

func unix(n int64) time.Time {
	switch {
	case n <= 0:
		return time.Time{}
	case n > 1e17:
		return time.Unix(0, n)
	case n > 1e14:
		return time.UnixMicro(n)
	case n > 1e11:
		return time.UnixMilli(n)
	default:
		return time.Unix(n, 0)
	}
}

func nanos(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
