package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/testbed/testbed"
	"github.com/shirou/gopsutil/v4/process"
	"github.com/stretchr/testify/require"
)

// loadDecisionWait is the decision_wait of rootcause and tail_sampling in the
// load tests: rootcause's default.
const loadDecisionWait = 5 * time.Second

// loadRun is one collector run of the load tests.
type loadRun struct {
	Rate  int // spans per second
	Peer  peer
	Usage usage
	// Sent and received items of all signals.
	Sent, Received uint64
	Duration       time.Duration
	// AchievedRate is the span rate the load generator sustained.
	AchievedRate float64
}

var (
	loadRunsMu sync.Mutex
	loadRuns   []loadRun
)

// limits are the testbed's resource limits asserted during a run: CPU in
// percent of one core, RAM in MiB RSS.
type limits struct {
	cpu, ram uint32
}

// resourceLimits returns the asserted limits for a rate. The full limits
// are the targets with head room on a 2-core machine; the short runs only
// catch gross regressions (they also run on loaded CI machines).
func resourceLimits(rate int) limits {
	if !fullMode() {
		return limits{cpu: 200, ram: 1500}
	}
	if rate <= 10_000 {
		return limits{cpu: 120, ram: 500}
	}
	return limits{cpu: 200, ram: 1500}
}

// loadPlan is the set of runs of this mode.
func loadPlan() (rates []int, duration time.Duration, peersFor func(rate int) []peer) {
	rates = []int{10_000, 50_000}
	duration = 5 * time.Second
	peersFor = func(rate int) []peer {
		if rate > 10_000 {
			// Short mode: the higher rate only for rootcause.
			return []peer{peerRootcause}
		}
		return peers
	}
	if fullMode() {
		duration = 60 * time.Second
		peersFor = func(int) []peer { return peers }
	}
	duration = envDurationOr(envDuration, duration)
	if v := os.Getenv(envRates); v != "" {
		rates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r <= 0 {
				panic(fmt.Sprintf("%s=%q: want comma-separated positive integers", envRates, v))
			}
			rates = append(rates, r)
		}
		if !fullMode() {
			peersFor = func(int) []peer { return peers }
		}
	}
	return rates, duration, peersFor
}

// TestLoad runs the built collector as a child process under traces, metrics
// and logs load at each rate, for each peer configuration: passthrough,
// tail_sampling and rootcause. The testbed asserts the CPU and RAM limits
// and that every item sent is received.
func TestLoad(t *testing.T) {
	requireCollector(t)
	rates, duration, peersFor := loadPlan()
	for _, rate := range rates {
		t.Run(fmt.Sprintf("%dk", rate/1000), func(t *testing.T) {
			for _, p := range peersFor(rate) {
				t.Run(p.name, func(t *testing.T) {
					run := runLoad(t, p, rate, duration)
					loadRunsMu.Lock()
					loadRuns = append(loadRuns, run)
					loadRunsMu.Unlock()
				})
			}
		})
	}
}

func runLoad(t *testing.T, p peer, rate int, duration time.Duration) loadRun {
	logRatio := envFloatOr(envLogRatio, 1)
	metricRatio := envFloatOr(envMetricRatio, 0.1)
	opts := testbed.LoadOptions{
		DataItemsPerSecond: rate,
		// 100 spans per trace (and per batch) at 10k spans/s as in the
		// upstream testbed; bigger batches above, so that one machine can
		// generate the load.
		ItemsPerBatch: max(100, rate/100),
		Parallel:      max(1, rate/25_000),
	}

	senderPort := freePort(t)
	load := newMultiSignalLoad(t, testbed.DefaultHost, senderPort, opts, logRatio, metricRatio)
	receiver := testbed.NewOTLPDataReceiver(freePort(t))
	config := collectorConfig(p, testbed.NewOTLPTraceDataSender(testbed.DefaultHost, senderPort), receiver, loadDecisionWait)
	runner := newCollector(t, config)

	lim := resourceLimits(rate)
	tc := testbed.NewLoadGeneratorTestCase(t, load, receiver, runner,
		&testbed.PerfTestValidator{IncludeLimitsInReport: true}, perfResults,
		testbed.WithResourceLimits(testbed.ResourceSpec{
			ExpectedMaxCPU:      lim.cpu,
			ExpectedMaxRAM:      lim.ram,
			ResourceCheckPeriod: 3 * time.Second,
		}),
	)
	defer tc.Stop()

	tc.StartBackend()
	tc.StartAgent()
	proc := waitProcessMon(t, runner)

	start := time.Now()
	tc.StartLoad(opts)
	sampler := startSampler(proc, time.Second, min(10*time.Second, duration/5))
	tc.Sleep(duration)
	u := sampler.Stop()
	elapsed := time.Since(start)
	spansSent := load.traces.DataItemsSent()
	tc.StopLoad()
	if elapsed < duration {
		t.Errorf("the testbed stopped the run after %v of %v: resource limit (CPU %d%%, RAM %d MiB) exceeded or collector failed; see the test log and %s",
			elapsed.Round(time.Millisecond), duration, lim.cpu, lim.ram, tc.ComposeTestResultFileName("agent.log"))
	}

	// rootcause and tail_sampling hold spans for decision_wait.
	if !tc.WaitForN(func() bool { return load.DataItemsSent() == tc.MockBackend.DataItemsReceived() },
		loadDecisionWait+30*time.Second, "all items received") {
		t.Errorf("not all items received: sent %d, received %d", load.DataItemsSent(), tc.MockBackend.DataItemsReceived())
	}
	tc.StopAgent()
	tc.ValidateData()

	run := loadRun{
		Rate: rate, Peer: p, Usage: u, Duration: duration,
		AchievedRate: float64(spansSent) / elapsed.Seconds(),
		Sent:         load.DataItemsSent(), Received: tc.MockBackend.DataItemsReceived(),
	}
	if run.AchievedRate < 0.9*float64(rate) {
		t.Logf("WARNING: the load generator sustained only %.0f spans/s of %d (machine too busy?)", run.AchievedRate, rate)
	}
	t.Logf("%s at %d spans/s: CPU avg %.1f%% max %.1f%%, RSS avg %.0f MiB max %.0f MiB (%d samples); sent %d received %d (%s)",
		p.name, rate, u.CPUAvg, u.CPUMax, u.RAMAvg, u.RAMMax, u.Samples, run.Sent, run.Received, load.GetStats())
	require.Positive(t, u.Samples, "no resource sample taken during the load")
	return run
}

// waitProcessMon returns the testbed's monitor of the collector process,
// set by the testbed's resource watcher shortly after the start.
func waitProcessMon(t *testing.T, runner testbed.OtelcolRunner) *process.Process {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if p := runner.GetProcessMon(); p != nil {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the collector process is not monitored: did it start? see the agent.log under results/")
	return nil
}
