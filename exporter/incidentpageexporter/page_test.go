package incidentpageexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
)

const incidentID = "99bde86d8f1e4c2a9d3b5a7c6e0f1a2b"

var t0 = time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)

// record is an incident record as the rootcause processor writes it.
func record(id, status string, traces int64, at time.Time) plog.Logs {
	ld := plog.NewLogs()
	incidentrecord.Record{
		ID: id, Status: status, Kind: "error", Service: "payment", Operation: "gateway.authenticate",
		Reason: "database connection timeout during payment gateway authentication", At: at,
		Confidence: 0.97, TraceCount: traces, Share: 0.4,
		Candidates: []incidentrecord.Candidate{{Name: "payment", Score: 0.91}, {Name: "order", Score: 0.2}},
		Evidence:   []string{"payment: Database connection timeout during payment gateway authentication."},
		Affected:   []string{"order"}, WindowStart: t0, WindowEnd: at,
		TraceIDs: []string{pcommon.TraceID{9}.String()}, // decided before the record
	}.Write(ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	return ld
}

// checkout is a decided trace of the incident: order → payment, whose
// gateway.authenticate span is the culprit.
func checkout(trace byte, id string) ptrace.Traces {
	td := ptrace.NewTraces()
	add := func(service string, span, parent byte, name string, start, end time.Duration, tag func(ptrace.Span)) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{trace})
		sp.SetSpanID(pcommon.SpanID{span})
		if parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{parent})
		}
		sp.SetName(name)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(start)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(end)))
		if tag != nil {
			tag(sp)
		}
	}
	add("order", 1, 0, "POST /orders", 0, 1600*time.Millisecond, func(sp ptrace.Span) {
		if id != "" { // a trace decided before its incident was published names the culprit only
			sp.Attributes().PutStr(incidentrecord.AttrID, id)
		}
		sp.Attributes().PutStr(incidentrecord.AttrCulpritService, "payment")
	})
	add("payment", 2, 1, "POST /pay", 10*time.Millisecond, 1590*time.Millisecond, nil)
	add("payment", 3, 2, "gateway.authenticate", 20*time.Millisecond, 1580*time.Millisecond+669279, func(sp ptrace.Span) {
		sp.Attributes().PutBool(incidentrecord.AttrCulprit, true)
		sp.Status().SetCode(ptrace.StatusCodeError)
	})
	return td
}

// startPage starts the exporter's traces and logs sides on a free loopback
// port and returns them with the page's base URL.
func startPage(t *testing.T, edit func(*Config)) (exporter.Traces, exporter.Logs, string) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.TraceURL = "http://jaeger:16686/trace/{{.TraceID}}"
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(NewFactory().Type())
	ctx := context.Background()
	tr, err := NewFactory().CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	lg, err := NewFactory().CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, tr.Start(ctx, host))
	require.NoError(t, lg.Start(ctx, host))
	t.Cleanup(func() {
		require.NoError(t, tr.Shutdown(ctx))
		require.NoError(t, lg.Shutdown(ctx))
	})
	pagesMu.Lock()
	p := pages[set.ID]
	pagesMu.Unlock()
	require.NotNil(t, p)
	return tr, lg, "http://" + p.addr()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestThePageShowsAnIncidentAndItsTrace: what a person paged needs on one
// page: the culprit and the reason, the evidence and the candidates, the
// timeline, and a sample trace's waterfall with the culprit span marked.
func TestThePageShowsAnIncidentAndItsTrace(t *testing.T) {
	tr, lg, base := startPage(t, nil)
	ctx := context.Background()
	require.NoError(t, lg.ConsumeLogs(ctx, record(incidentID, "open", 5, t0.Add(8*time.Second))))
	require.NoError(t, tr.ConsumeTraces(ctx, checkout(1, incidentID)))
	require.NoError(t, lg.ConsumeLogs(ctx, record(incidentID, "update", 49, t0.Add(38*time.Second))))

	code, list := get(t, base+"/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, list, `href="incidents/`+incidentID+`"`)
	assert.Contains(t, list, "database connection timeout during payment gateway authentication")

	code, page := get(t, base+"/incidents/"+incidentID)
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`<td id="culprit">payment “gateway.authenticate”</td>`,
		"database connection timeout during payment gateway authentication",
		"payment: Database connection timeout during payment gateway authentication.",
		"<td>order</td><td>0.20</td>",
		`<td class="open">open</td><td>5</td>`, `<td class="update">update</td><td>49</td>`,
		`id="culprit-span"`, "gateway.authenticate ← culprit",
		`href="http://jaeger:16686/trace/01000000000000000000000000000000"`,
		"<code>01000000000000000000000000000000</code>, 1.6s", "<td>1.58s</td>",
		"gateway.authenticate ← culprit</td><td>1.56s</td>", // 1.560669279s
		"14:00:38 UTC (38s)",
	} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "1.560669279s", "durations are rounded")

	code, body := get(t, base+"/api/incidents/"+incidentID)
	require.Equal(t, http.StatusOK, code)
	var in Incident
	require.NoError(t, json.Unmarshal([]byte(body), &in))
	assert.Equal(t, int64(49), in.TraceCount)
	require.Len(t, in.Samples, 1)
	spans := in.Samples[0].Spans
	require.Len(t, spans, 3)
	assert.Equal(t, []int{0, 1, 2}, []int{spans[0].Depth, spans[1].Depth, spans[2].Depth}, "the waterfall runs root to culprit")
	assert.True(t, spans[2].Culprit)

	code, _ = get(t, base+"/incidents/nope")
	assert.Equal(t, http.StatusNotFound, code)
}

// TestThePageIsBounded: incidents beyond max_incidents are forgotten oldest
// first, and an incident keeps at most `samples` traces.
func TestThePageIsBounded(t *testing.T) {
	tr, lg, base := startPage(t, func(c *Config) { c.MaxIncidents, c.Samples = 2, 1 })
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, lg.ConsumeLogs(ctx, record(fmt.Sprintf("%032d", i), "open", 3, t0)))
	}
	require.NoError(t, tr.ConsumeTraces(ctx, checkout(1, fmt.Sprintf("%032d", 2))))
	require.NoError(t, tr.ConsumeTraces(ctx, checkout(2, fmt.Sprintf("%032d", 2))))
	_, body := get(t, base+"/api/incidents")
	var list []Incident
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list, 2)
	assert.Equal(t, fmt.Sprintf("%032d", 2), list[0].ID, "newest first")
	assert.Equal(t, fmt.Sprintf("%032d", 1), list[1].ID, "the oldest was forgotten")
	assert.Len(t, list[0].Samples, 1)
}

// TestThePageInChromium loads the incident page in headless Chromium and
// checks what a person sees: the culprit, the reason, the marked span. It
// keeps a screenshot (RCA_ARTIFACTS, default a temporary directory). It is
// skipped where no Chromium is installed (.ci/run installs Debian's).
func TestThePageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no Chromium installed (apt-get install chromium)")
	}
	tr, lg, base := startPage(t, nil)
	ctx := context.Background()
	require.NoError(t, lg.ConsumeLogs(ctx, record(incidentID, "open", 5, t0.Add(8*time.Second))))
	require.NoError(t, tr.ConsumeTraces(ctx, checkout(1, incidentID)))
	url := base + "/incidents/" + incidentID

	chromium := func(args ...string) string {
		profile := t.TempDir()
		base := []string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
		require.NoError(t, err)
		return string(out)
	}
	dom := chromium("--dump-dom", url)
	assert.Contains(t, dom, "payment “gateway.authenticate”")
	assert.Contains(t, dom, "database connection timeout during payment gateway authentication")
	assert.Contains(t, dom, `id="culprit-span"`)
	assert.Contains(t, dom, "gateway.authenticate ← culprit", "the culprit span is marked")
	assert.Contains(t, dom, "<td>1.56s</td>", "its duration, rounded")

	dir := os.Getenv("RCA_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "incident-page.png")
	chromium("--screenshot="+shot, "--window-size=1200,900", url)
	info, err := os.Stat(shot)
	require.NoError(t, err, "no screenshot")
	assert.Positive(t, info.Size())
	t.Logf("screenshot of the incident page: %s", shot)
}

// TestThePageSaysWhatAStandingConditionIs: a service failing since the
// collector started is listed, marked standing, with why it pages no one.
func TestThePageSaysWhatAStandingConditionIs(t *testing.T) {
	_, lg, base := startPage(t, nil)
	ld := record(incidentID, "open", 5, t0.Add(8*time.Second))
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutBool(incidentrecord.AttrStanding, true)
	require.NoError(t, lg.ConsumeLogs(context.Background(), ld))
	_, list := get(t, base+"/")
	assert.Contains(t, list, `<td class="open">open (standing)</td>`)
	_, page := get(t, base+"/incidents/"+incidentID)
	assert.Contains(t, page, "A standing condition: payment has failed this way since the collector started")
}

// TestAnIncidentHasASampleInAnyOrder: an incident's records and its
// traces leave the processor in two pipelines and come in any order. Its
// sample is a trace tagged with its ID or one its record lists, whichever
// came first and whatever culprit it names; an incident published late,
// whose listed traces came long before, takes the newest trace naming its
// culprit, not another culprit's.
func TestAnIncidentHasASampleInAnyOrder(t *testing.T) {
	open := func(listed byte) plog.Logs {
		ld := record(incidentID, "open", 5, t0.Add(8*time.Second))
		ids := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutEmptySlice(incidentrecord.AttrTraceIDs)
		ids.AppendEmpty().SetStr(pcommon.TraceID{listed}.String())
		return ld
	}
	naming := func(culprit string, td ptrace.Traces) ptrace.Traces {
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr(incidentrecord.AttrCulpritService, culprit)
		return td
	}
	for _, c := range []struct {
		name  string
		comes []any // ptrace.Traces and plog.Logs, in order
		want  byte
	}{
		{"the traces it lists came first", []any{checkout(9, ""), checkout(8, ""), open(9)}, 9},
		{"the traces it lists come after it", []any{open(9), checkout(8, ""), checkout(9, "")}, 9},
		// Before, dropped as traces of an unknown incident: a published
		// incident with no trace decided before it waiting (min_traces: 1, a
		// collector restarted mid-incident) had none.
		{"traces tagged with its ID came first", []any{checkout(1, incidentID), open(42)}, 1},
		// A symptom folded into it, or a trace slowed by its culprit that
		// failed in another service; before, it waited under the other name.
		{"a trace it lists names another culprit", []any{naming("order", checkout(9, "")), open(9)}, 9},
		{"published late", []any{checkout(7, ""), naming("inventory", checkout(6, "")), open(42)}, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, lg, base := startPage(t, nil)
			ctx := context.Background()
			for _, x := range c.comes {
				switch x := x.(type) {
				case ptrace.Traces:
					require.NoError(t, tr.ConsumeTraces(ctx, x))
				case plog.Logs:
					require.NoError(t, lg.ConsumeLogs(ctx, x))
				}
			}
			oneSample(t, base, pcommon.TraceID{c.want})
		})
	}
}

// TestATraceWithoutItsRootIsASample: a trace decided before its root span
// came (a late root, or an upstream that exports nowhere here) has its top
// span tagged, which has a parent: it is a sample, with its culprit span
// marked, and its root joins it when it comes late in a batch of its own.
func TestATraceWithoutItsRootIsASample(t *testing.T) {
	tr, lg, base := startPage(t, nil)
	ctx := context.Background()
	require.NoError(t, lg.ConsumeLogs(ctx, record(incidentID, "open", 5, t0.Add(8*time.Second))))
	decided, late := checkout(1, incidentID), ptrace.NewTraces()
	decided.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if rs.ScopeSpans().At(0).Spans().At(0).ParentSpanID().IsEmpty() {
			rs.MoveTo(late.ResourceSpans().AppendEmpty()) // tagged as a late root, as the processor does
			return true
		}
		return false
	})
	top := decided.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	require.Equal(t, "POST /pay", top.Name())
	top.Attributes().PutStr(incidentrecord.AttrID, incidentID)
	top.Attributes().PutStr(incidentrecord.AttrCulpritService, "payment")

	require.NoError(t, tr.ConsumeTraces(ctx, decided))
	in := apiIncident(t, base, incidentID)
	require.Len(t, in.Samples, 1)
	require.Len(t, in.Samples[0].Spans, 2)
	assert.True(t, in.Samples[0].Spans[1].Culprit)

	require.NoError(t, tr.ConsumeTraces(ctx, late))
	in = apiIncident(t, base, incidentID)
	require.Len(t, in.Samples, 1, "the late root is the same trace")
	spans := in.Samples[0].Spans
	require.Len(t, spans, 3)
	assert.Equal(t, []string{"POST /orders", "POST /pay", "gateway.authenticate"}, []string{spans[0].Name, spans[1].Name, spans[2].Name})
	assert.Equal(t, []int{0, 1, 2}, []int{spans[0].Depth, spans[1].Depth, spans[2].Depth})
	assert.True(t, spans[2].Culprit)
}

func apiIncident(t *testing.T, base, id string) Incident {
	t.Helper()
	code, body := get(t, base+"/api/incidents/"+id)
	require.Equal(t, http.StatusOK, code)
	var in Incident
	require.NoError(t, json.Unmarshal([]byte(body), &in))
	return in
}

// oneSample checks that the incident has one sample, the trace want, whole,
// with its culprit span marked.
func oneSample(t *testing.T, base string, want pcommon.TraceID) {
	t.Helper()
	in := apiIncident(t, base, incidentID)
	require.Len(t, in.Samples, 1)
	assert.Equal(t, want.String(), in.Samples[0].TraceID)
	require.Len(t, in.Samples[0].Spans, 3)
	assert.True(t, in.Samples[0].Spans[2].Culprit)
}

// TestDurationsReadAsJaegerShowsThem: two decimals in the largest unit
// below a minute, whole microseconds (Jaeger's resolution) below a
// millisecond, minutes and seconds above; rounding that reaches the next
// unit reads in it.
func TestDurationsReadAsJaegerShowsThem(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1602113290 * time.Nanosecond:  "1.6s",
		800669279 * time.Nanosecond:   "800.67ms",
		24156 * time.Nanosecond:       "24µs",
		24656 * time.Nanosecond:       "25µs",
		2 * time.Second:               "2s",
		59994 * time.Millisecond:      "59.99s",
		59996 * time.Millisecond:      "1m",
		75500 * time.Millisecond:      "1m 16s",
		3599600 * time.Millisecond:    "1h",
		26*time.Hour + 31*time.Minute: "1d 3h",
		999996 * time.Microsecond:     "1s",
		999600 * time.Nanosecond:      "1ms",
		512 * time.Nanosecond:         "512ns",
		0:                             "0s",
		-1602113290:                   "-1.6s",
	} {
		assert.Equal(t, want, readableDuration(d), "%d ns", int64(d))
	}
}
