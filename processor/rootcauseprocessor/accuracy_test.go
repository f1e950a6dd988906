package rootcauseprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/metadata"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"
)

// The accuracy benchmark plays generated fault cases through the scenario
// engine and the whole processor (assembly, baselines, diagnosis, incidents)
// on a simulated clock, and scores the incidents against the ground truth
// with RCAEval's AC@k and Avg@k. `make bench-accuracy` runs the full suite
// (RCA_ACCURACY_CASES=100); `go test` runs a few cases so the harness itself
// stays tested.

const (
	accFaultAt   = 6 * time.Minute
	accFaultFor  = 2 * time.Minute
	accRunFor    = 10 * time.Minute
	accStep      = 500 * time.Millisecond
	accRate      = 15
	accTopK      = 5
	accSlackOpen = 30 * time.Second // an incident this long after a window ends still answers it
)

// accCase is one scenario run.
type accCase struct {
	name     string
	scenario *model.Scenario
	seed     int64
	faults   bool // false: fault-free traffic only
	// bare strips the traces to what recordings of real systems often
	// hold (RCA_ACCURACY_VIEW=bare): names, parents, times and the
	// service; no kind, no status, no attributes, no events. Failures
	// show only in the ERROR logs.
	bare bool
}

// accBareView reads RCA_ACCURACY_VIEW: "bare" for bare traces, "" (or
// "full") for the traces as generated.
func accBareView(t testing.TB) bool {
	t.Helper()
	switch v := os.Getenv("RCA_ACCURACY_VIEW"); v {
	case "", "full":
		return false
	case "bare":
		return true
	default:
		t.Fatalf("RCA_ACCURACY_VIEW=%q: want full or bare", v)
		return false
	}
}

// bareTraces strips td to what a bare recording holds (accCase.bare).
func bareTraces(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.SetKind(ptrace.SpanKindUnspecified)
				s.Status().SetCode(ptrace.StatusCodeUnset)
				s.Status().SetMessage("")
				s.Attributes().Clear()
				s.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
			}
		}
	}
}

// targets are the answers that name gt's culprit: its service, or the
// dependency it hit. A bare trace does not name a dependency (no
// attributes): there, a service that calls it is the answer.
func targets(gt simulate.GroundTruth, sc *model.Scenario, bare bool) []string {
	if gt.CulpritService != "" {
		return []string{gt.CulpritService}
	}
	if !bare {
		return []string{gt.Dependency}
	}
	var out []string
	var visit func(steps []model.Step, svc string)
	visit = func(steps []model.Step, svc string) {
		for _, st := range steps {
			if st.Call != nil && st.Call.Dependency == gt.Dependency && !slices.Contains(out, svc) {
				out = append(out, svc)
			}
			visit(st.Parallel, svc)
		}
	}
	for _, svc := range sc.Services {
		for _, op := range svc.Operations {
			visit(op.Steps, svc.Name)
		}
	}
	return out
}

// accIncident is an opened incident as its first record shows it.
type accIncident struct {
	opened     time.Time // processing time of the open record
	culprit    string
	dependency string // the uninstrumented dependency the culprit service's calls to fail or slow down
	candidates []string
	reason     string
}

// accResult scores one fault window.
type accResult struct {
	kind     string
	rank     int // 1-based rank of the true culprit among the candidates, 0 when absent
	detected bool
	delay    time.Duration
	randomK  [accTopK]float64
}

// incidentCollector keeps the incident records out of the logs stream.
type incidentCollector struct {
	now   func() time.Time
	opens []accIncident
}

func (c *incidentCollector) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *incidentCollector) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.EventName() != IncidentEventName {
					continue
				}
				st, _ := lr.Attributes().Get("rca.incident.status")
				if st.Str() != "open" {
					continue
				}
				inc := accIncident{opened: c.now()}
				if v, ok := lr.Attributes().Get("rca.culprit.service"); ok {
					inc.culprit = v.Str()
				}
				if v, ok := lr.Attributes().Get("rca.culprit.dependency"); ok {
					inc.dependency = v.Str()
				}
				if v, ok := lr.Attributes().Get("rca.reason"); ok {
					inc.reason = v.Str()
				}
				if v, ok := lr.Attributes().Get("rca.candidates"); ok {
					for _, cv := range v.Slice().All() {
						inc.candidates = append(inc.candidates, cv.Str())
					}
				}
				c.opens = append(c.opens, inc)
			}
		}
	}
	return nil
}

// runAccCase plays one case and returns the opened incidents and the ground truth.
func runAccCase(t testing.TB, c accCase) ([]accIncident, []simulate.GroundTruth) {
	t.Helper()
	epoch := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: epoch}
	schedule := []model.Window{mustWindow(t, fmt.Sprintf("at %v for %v", accFaultAt, accFaultFor))}
	if !c.faults {
		schedule = []model.Window{mustWindow(t, "at 100h for 1m")}
	}
	eng, err := simulate.New(c.scenario, simulate.Options{
		Seed: c.seed, Start: epoch, TimeScale: 1, Rate: accRate,
		MetricsInterval: 10 * time.Second, FaultSchedule: schedule,
	})
	require.NoError(t, err)

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	f := &factory{instances: map[component.ID]*sharedProcessor{}}
	p, err := f.instance(set, createDefaultConfig().(*Config))
	require.NoError(t, err)
	p.now, p.manualTicks = clock.Now, true
	incidents := &incidentCollector{now: clock.Now}
	tp := p.tracesProcessor(consumertest.NewNop())
	lp := p.logsProcessor(incidents)
	mp := p.metricsProcessor(consumertest.NewNop())
	ctx := context.Background()
	for _, comp := range []component.Component{tp, lp, mp} {
		require.NoError(t, comp.Start(ctx, componenttest.NewNopHost()))
	}
	var truth []simulate.GroundTruth
	tick := p.tickInterval()
	for now := epoch; now.Before(epoch.Add(accRunFor)); {
		out := eng.Advance(now)
		truth = append(truth, out.Truth...)
		if out.Logs.LogRecordCount() > 0 {
			require.NoError(t, lp.ConsumeLogs(ctx, out.Logs))
		}
		if out.Traces.SpanCount() > 0 {
			if c.bare {
				bareTraces(out.Traces)
			}
			require.NoError(t, tp.ConsumeTraces(ctx, out.Traces))
		}
		if out.Metrics.DataPointCount() > 0 {
			require.NoError(t, mp.ConsumeMetrics(ctx, out.Metrics))
		}
		for d := time.Duration(0); d < accStep; d += tick {
			clock.Advance(min(tick, accStep-d))
			p.tick(ctx)
		}
		now = clock.Now()
	}
	truth = append(truth, eng.Flush(clock.Now())...)
	for _, comp := range []component.Component{tp, lp, mp} {
		require.NoError(t, comp.Shutdown(ctx))
	}
	return incidents.opens, truth
}

func mustWindow(t testing.TB, s string) model.Window {
	t.Helper()
	w, err := model.ParseWindow(s)
	require.NoError(t, err)
	return w
}

// score matches a fault window with the first incident opened during it (or
// shortly after) and ranks the true culprit among that incident's candidates:
// any name of want (targets) counts. A dependency fault's culprit is the
// dependency; the processor names it among its candidates, owned by the
// calling service (rca.culprit.dependency).
func score(gt simulate.GroundTruth, incs []accIncident, names, want []string, rng *rand.Rand) accResult {
	res := accResult{kind: gt.Kind}
	for _, inc := range incs {
		if inc.opened.Before(gt.Start) || inc.opened.After(gt.End.Add(accSlackOpen)) {
			continue
		}
		res.detected = true
		res.delay = inc.opened.Sub(gt.Start)
		switch {
		case slices.Contains(want, inc.culprit) || slices.Contains(want, inc.dependency):
			res.rank = 1
		default:
			for i, c := range inc.candidates {
				if slices.Contains(want, c) {
					res.rank = i + 1
					break
				}
			}
		}
		break
	}
	// A random ranking of every service and dependency of the scenario.
	const draws = 200
	for range draws {
		perm := slices.Clone(names)
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		if i := slices.IndexFunc(perm, func(n string) bool { return slices.Contains(want, n) }); i >= 0 && i < accTopK {
			for k := i; k < accTopK; k++ {
				res.randomK[k] += 1.0 / draws
			}
		}
	}
	return res
}

// falseIncidents counts incidents opened outside every fault window (and its slack).
func falseIncidents(truth []simulate.GroundTruth, incs []accIncident) int {
	n := 0
	for _, inc := range incs {
		inWindow := false
		for _, gt := range truth {
			if !inc.opened.Before(gt.Start) && !inc.opened.After(gt.End.Add(accSlackOpen)) {
				inWindow = true
			}
		}
		if !inWindow {
			n++
		}
	}
	return n
}

func scenarioNames(sc *model.Scenario) []string {
	var names []string
	for _, s := range sc.Services {
		names = append(names, s.Name)
	}
	for _, d := range sc.Dependencies {
		names = append(names, d.Name)
	}
	return names
}

func accCases(t testing.TB, generated int) []accCase {
	t.Helper()
	var cases []accCase
	for _, name := range builtin.Names() {
		raw, err := builtin.YAML(name)
		require.NoError(t, err)
		sc, err := model.Parse(raw)
		require.NoError(t, err)
		cases = append(cases, accCase{name: "seed/" + name, scenario: sc, seed: 1, faults: true})
	}
	for i := range generated {
		services := 5 + i%26
		sc, err := model.Random(uint64(1000+i), model.RandomOptions{Services: services, Rate: accRate})
		require.NoError(t, err)
		cases = append(cases, accCase{name: fmt.Sprintf("random/%03d-%dsvc", i, services), scenario: sc, seed: int64(i), faults: true})
	}
	bare := accBareView(t)
	for i := range cases {
		cases[i].bare = bare
	}
	return cases
}

// TestAccuracy runs the accuracy benchmark; a short run in `go test`.
func TestAccuracy(t *testing.T) {
	generated := 2
	if v := os.Getenv("RCA_ACCURACY_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "RCA_ACCURACY_CASES")
		generated = n
	} else if testing.Short() {
		t.Skip("accuracy benchmark")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var results []accResult
	var seedResults []accResult
	falseCount, fault := 0, 0
	var freeTime time.Duration
	for _, c := range accCases(t, generated) {
		incs, truth := runAccCase(t, c)
		require.NotEmpty(t, truth, "%s: no ground truth", c.name)
		// Fault-free time of each run: everything but the fault windows.
		freeTime += accRunFor
		for _, gt := range truth {
			require.NotEmpty(t, gt.SampleTraceIDs, "%s: fault %s affected no request; the case measures nothing", c.name, gt.Fault)
			freeTime -= gt.End.Sub(gt.Start) + accSlackOpen
			want := targets(gt, c.scenario, c.bare)
			require.NotEmpty(t, want, "%s: fault %s names no service or dependency to find", c.name, gt.Fault)
			r := score(gt, incs, scenarioNames(c.scenario), want, rng)
			if strings.HasPrefix(c.name, "seed/") {
				r.kind = "seed"
				seedResults = append(seedResults, r)
			}
			results = append(results, r)
			fault++
			t.Logf("%-28s %-18s culprit=%-16s rank=%d detected=%v delay=%v", c.name, gt.Kind, cmpOr(gt.CulpritService, gt.Dependency), r.rank, r.detected, r.delay.Round(time.Second))
		}
		falseCount += falseIncidents(truth, incs)
		for _, inc := range incs {
			t.Logf("    incident opened %v culprit=%s candidates=%v reason=%q", inc.opened.Format("15:04:05"), inc.culprit, inc.candidates, inc.reason)
		}
	}
	report := accuracyTable(results, falseCount, freeTime)
	t.Log("\n" + report)
	if path := os.Getenv("RCA_ACCURACY_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(report), 0o600))
	}
	for _, r := range seedResults {
		require.Equal(t, 1, r.rank, "every seed scenario's culprit is named first")
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// accuracyTable renders the results per fault kind, RCAEval style: AC@k is
// the share of faults whose true culprit is in the top k; Avg@5 the mean of
// AC@1..5.
func accuracyTable(results []accResult, falseCount int, freeTime time.Duration) string {
	groups := map[string][]accResult{}
	for _, r := range results {
		groups[r.kind] = append(groups[r.kind], r)
		if r.kind != "seed" {
			groups["all generated"] = append(groups["all generated"], r)
		}
	}
	kinds := make([]string, 0, len(groups))
	for k := range groups {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	b.WriteString("| Fault kind | Cases | AC@1 | AC@3 | Avg@5 | Detected | Median delay | p95 delay |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var random [accTopK]float64
	n := 0
	for _, k := range kinds {
		rs := groups[k]
		var ac [accTopK]float64
		var delays []time.Duration
		detected := 0
		for _, r := range rs {
			for j := range accTopK {
				if r.rank > 0 && r.rank <= j+1 {
					ac[j]++
				}
			}
			if r.detected {
				detected++
				delays = append(delays, r.delay)
			}
			if k == "all generated" {
				for j := range accTopK {
					random[j] += r.randomK[j]
				}
				n++
			}
		}
		cnt := float64(len(rs))
		avg5 := 0.0
		for j := range accTopK {
			avg5 += ac[j] / cnt / accTopK
		}
		slices.Sort(delays)
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %d/%d | %s | %s |\n", k, len(rs), ac[0]/cnt, ac[2]/cnt, avg5, detected, len(rs), quantile(delays, 0.5), quantile(delays, 0.95))
	}
	if n > 0 {
		avg5 := 0.0
		for j := range accTopK {
			avg5 += random[j] / float64(n) / accTopK
		}
		fmt.Fprintf(&b, "| random ranking (reference) | %d | %.2f | %.2f | %.2f | | | |\n", n, random[0]/float64(n), random[2]/float64(n), avg5)
	}
	hours := freeTime.Hours()
	fmt.Fprintf(&b, "\nFalse incidents: %d in %.1f h of fault-free traffic (%.2f per hour).\n", falseCount, hours, float64(falseCount)/hours)
	return b.String()
}

func quantile(ds []time.Duration, q float64) string {
	if len(ds) == 0 {
		return "-"
	}
	return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(100 * time.Millisecond).String()
}

// TestTheSeedScenariosOnBareTraces: a recording without span kinds,
// statuses, attributes or events, whose failures show only in ERROR logs,
// still gets every seed incident's culprit named first.
func TestTheSeedScenariosOnBareTraces(t *testing.T) {
	if testing.Short() {
		t.Skip("ten simulated minutes per scenario")
	}
	for _, c := range accCases(t, 0) {
		c.bare = true
		t.Run(c.name, func(t *testing.T) {
			incs, truth := runAccCase(t, c)
			require.NotEmpty(t, truth)
			for _, gt := range truth {
				r := score(gt, incs, scenarioNames(c.scenario), targets(gt, c.scenario, true), rand.New(rand.NewPCG(1, 1)))
				assert.Equal(t, 1, r.rank, "%s: culprit %s; incidents %+v", gt.Fault, gt.CulpritService, incs)
			}
		})
	}
}
