package rootcauseprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/incidentrecord"
	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
)

// recordsOf returns the (incident ID, status) of the incident records h emitted.
func recordsOf(t *testing.T, h *harness) [][2]string {
	var out [][2]string
	for _, lr := range h.incidentRecords() {
		out = append(out, [2]string{mustStr(t, lr.Attributes(), attrIncidentID), mustStr(t, lr.Attributes(), incidentrecord.AttrStatus)})
	}
	return out
}

func shutdownHarness(t *testing.T, h *harness) {
	for _, c := range []component.Component{h.traces, h.metrics, h.logs} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
}

// storageFixture returns a config whose storage is a file-backed extension
// in a temporary directory, and a host serving it to each run.
func storageFixture(t *testing.T) (*Config, func() component.Host) {
	dir := t.TempDir()
	id := storagetest.NewStorageID("state")
	cfg := testConfig()
	cfg.Storage = &id
	return cfg, func() component.Host {
		return storagetest.NewStorageHost().WithFileBackedStorageExtension("state", dir)
	}
}

// sendPayTraces sends n failed payment traces of 1.5 s, advancing the
// clock by step after each.
func sendPayTraces(h *harness, n int, step time.Duration) {
	for i := range n {
		b := payTrace(uint64(i+1), h.clock.Now().Add(-1500*time.Millisecond), 1500)
		h.consume(b.td, b.ld)
		if step > 0 {
			h.advance(step)
		}
	}
}

// TestOpenIncidentsOutliveARestart: with `storage`, a collector restarted
// during a fault goes on with the fault's incident (same ID, updated, not
// opened again), and one restarted after the fault ended publishes the
// incident's resolved record.
func TestOpenIncidentsOutliveARestart(t *testing.T) {
	cfg, host := storageFixture(t)

	first := newHarnessOn(t, cfg, host())
	sendPayTraces(first, 3, 100*time.Millisecond)
	first.advance(cfg.DecisionWait + time.Second)
	recs := recordsOf(t, first)
	require.Len(t, recs, 1)
	incidentID := recs[0][0]
	require.Equal(t, "open", recs[0][1])
	shutdownHarness(t, first)

	t.Run("restarted during the fault", func(t *testing.T) {
		h := newHarnessOn(t, cfg, host())
		h.clock.Advance(3 * time.Second)
		b := payTrace(4, h.clock.Now().Add(-1500*time.Millisecond), 1500)
		h.consume(b.td, b.ld)
		h.advance(cfg.DecisionWait + cfg.UpdateInterval + time.Second)
		recs := recordsOf(t, h)
		require.NotEmpty(t, recs)
		assert.Equal(t, [2]string{incidentID, "update"}, recs[0], "the same incident goes on")
		shutdownHarness(t, h)
	})
	t.Run("restarted after the fault ended", func(t *testing.T) {
		h := newHarnessOn(t, cfg, host())
		h.clock.Advance(cfg.ResolveAfter + time.Minute)
		h.advance(time.Second)
		assert.Equal(t, [][2]string{{incidentID, "resolved"}}, recordsOf(t, h))
		shutdownHarness(t, h)
	})
}

// TestStorageThatIsNotThereIsAClearError: a `storage` naming a missing or
// wrong extension fails the start, and so the collector's, with an error
// that names the key, the ID and, for a missing one, the extensions there
// are: Validate cannot see them, so a typo passes `validate`.
func TestStorageThatIsNotThereIsAClearError(t *testing.T) {
	fileStorage := component.MustNewID("file_storage")
	tests := []struct {
		name    string
		host    component.Host
		storage component.ID
		want    string
	}{
		{
			name:    "no extensions",
			host:    componenttest.NewNopHost(),
			storage: fileStorage,
			want:    `storage: no extension "file_storage"; the collector has none: define it under extensions and list it in service::extensions`,
		},
		{
			name:    "a typo",
			host:    storagetest.NewStorageHost().WithExtension(fileStorage, storagetest.NewInMemoryStorageExtension("")).WithNonStorageExtension("health"),
			storage: component.MustNewID("file_storag"),
			want:    `storage: no extension "file_storag"; the collector's extensions (service::extensions) are: file_storage, non_storage/health`,
		},
		{
			name:    "not a storage one",
			host:    storagetest.NewStorageHost().WithNonStorageExtension("state"),
			storage: storagetest.NewNonStorageID("state"),
			want:    `storage: extension "non_storage/state" is not a storage extension (e.g. file_storage)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Storage = &tt.storage
			f := &factory{instances: map[component.ID]*sharedProcessor{}}
			p, err := f.instance(processortest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			err = p.logsProcessor(new(consumertest.LogsSink)).Start(context.Background(), tt.host)
			require.EqualError(t, err, tt.want)
		})
	}
}

// shopTraceOf builds a successful request frontend → catalog whose catalog
// server span lasts ms.
func shopTraceOf(n uint64, start time.Time, ms float64) *traceBuilder {
	b := newTrace(n, start)
	root := b.span(nil, "frontend", "GET /shop", server, 0, ms+4)
	c := b.span(&root, "frontend", "GET /items", client, 1, ms+3, attr("server.address", "catalog"))
	b.span(&c, "catalog", "GET /items", server, 2, ms+2, attr("http.route", "/items"))
	return b
}

// TestIncidentsOfTheTracesFlushedAtShutdownAreSaved: the traces still
// buffered at shutdown are decided before the state is saved.
func TestIncidentsOfTheTracesFlushedAtShutdownAreSaved(t *testing.T) {
	cfg, host := storageFixture(t)
	first := newHarnessOn(t, cfg, host())
	sendPayTraces(first, 3, 0)
	require.Empty(t, recordsOf(t, first), "still waiting for decision_wait")
	// The logs pipeline stops first: it decides the buffered traces, so that
	// their incident's record leaves through it, before the state is saved.
	for _, c := range []component.Component{first.logs, first.metrics, first.traces} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
	recs := recordsOf(t, first)
	require.Len(t, recs, 1, "the incident opened at shutdown is recorded")
	assert.Equal(t, "open", recs[0][1])
	ids := map[string]bool{}
	for _, td := range first.tsink.AllTraces() {
		forEachSpan(td, func(_ string, s ptrace.Span) {
			if v, ok := s.Attributes().Get(attrCulpritService); ok && v.Str() == "payment" {
				ids[s.TraceID().String()] = true
			}
		})
	}
	require.Len(t, ids, 3, "decided at shutdown")

	h := newHarnessOn(t, cfg, host())
	h.clock.Advance(cfg.ResolveAfter + time.Minute)
	h.advance(time.Second)
	got := recordsOf(t, h)
	require.Len(t, got, 1, "the incident opened at shutdown was saved")
	assert.Equal(t, "resolved", got[0][1])
	shutdownHarness(t, h)
}

// TestBaselinesOutliveARestart: a collector restarted with `storage` judges
// a slow request against what it learned before, with no warm-up; without
// it, the same request passes unjudged.
func TestBaselinesOutliveARestart(t *testing.T) {
	cfg, host := storageFixture(t)

	first := newHarnessOn(t, cfg, host())
	for i := range 3 * cfg.Baseline.Warmup {
		b := shopTraceOf(uint64(i+1), first.clock.Now().Add(-30*time.Millisecond), 20+float64(i%5))
		first.consume(b.td, b.ld)
		first.advance(100 * time.Millisecond)
	}
	first.advance(cfg.DecisionWait + time.Second)
	require.Empty(t, recordsOf(t, first))
	shutdownHarness(t, first)

	slow := func(h *harness) {
		for i := range 3 {
			b := shopTraceOf(uint64(1000+i), h.clock.Now().Add(-500*time.Millisecond), 400)
			h.consume(b.td, b.ld)
			h.advance(100 * time.Millisecond)
		}
		h.advance(cfg.DecisionWait + time.Second)
	}
	restarted := newHarnessOn(t, cfg, host())
	slow(restarted)
	recs := restarted.incidentRecords()
	require.Len(t, recs, 1, "the restarted collector judges catalog's slow requests at once")
	assert.Equal(t, "catalog", mustStr(t, recs[0].Attributes(), incidentrecord.AttrCulpritService))
	shutdownHarness(t, restarted)

	fresh := testConfig()
	blank := newHarnessOn(t, fresh, host())
	slow(blank)
	assert.Empty(t, blank.incidentRecords(), "without the saved baselines the slow requests are not judged yet")
}
