package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestStack benchmarks the stack as shipped: the collector on
// otelcol-config.yaml with its real exporters, against a real Jaeger v2 (its
// OTLP/gRPC receiver with the default 4 MiB limit) and a real log store
// (VictoriaLogs on the Elasticsearch bulk path), with the memory compose
// gives it (mem_limit as a cgroup's limit where this machine lets the test
// make one, GOMEMLIMIT as compose sets it), loaded over OTLP/gRPC as the
// compose stack's services send. Spans of 1 KB and 10 KB, at 10k and 50k
// spans/s and a flood (5× the higher rate, more than the clients can send
// here); each once with every backend up, and once with Jaeger down until
// the load has ended, then back. Every row must keep the collector alive
// (no OOM kill in the cgroup) and the cgroup's charge the kernel cannot
// reclaim under the cap (anonymous, shared and kernel memory, dirty file
// pages: what its OOM decision depends on; without a cgroup, the anonymous
// RSS), drop no span as too large, count every refusal, and account for
// every span it accepted, at Jaeger and at the log store (delivered, or
// dropped and counted: a full queue on disk drops what comes next).
// Reported beside it: the process's RSS with the pages of the files it
// maps, the cgroup's whole charge (page cache included), and the space the
// queues' files take on disk, at their peak and once drained (compacted).
//
// It is a benchmark (make bench-stack), not part of make test: about two
// minutes a row. RCA_STACK_DURATION sets the load's length (default 1m),
// RCA_STACK_ROWS a regular expression the rows' names must match
// ("1KB/10k/up"), RCA_STACK_REPORT a file for the table, RCA_STACK_LOGS a
// folder to keep each row's collector log in, RCA_STACK_CONFIG a
// configuration merged over the shipped one (to compare a setting).
func TestStack(t *testing.T) {
	if os.Getenv("RCA_STACK") == "" {
		t.Skip("benchmark: make bench-stack")
	}
	duration := loadDuration(t, "RCA_STACK_DURATION")
	rows := regexp.MustCompile(os.Getenv("RCA_STACK_ROWS"))
	budget := composeCollectorMemory(t)
	_, capErr := newMemoryCap(t, budget.limit)
	capping := "a cgroup's memory limit"
	if capErr != nil {
		capping = "GOMEMLIMIT alone (no cgroup: " + capErr.Error() + ")"
	}
	t.Logf("memory cap %d MiB by %s, GOMEMLIMIT %s", budget.limit>>20, capping, budget.goMemLimit)

	var report strings.Builder
	for _, jaegerUp := range []bool{true, false} {
		for _, spanBytes := range []int{1 << 10, 10 << 10} {
			for _, rate := range []int{10000, 50000, 250000} {
				row := stackRow{spanBytes: spanBytes, spansPerSecond: rate, jaegerUp: jaegerUp}
				if !rows.MatchString(row.name()) {
					continue
				}
				t.Run(row.name(), func(t *testing.T) {
					line := runStackRow(t, row, budget, duration)
					t.Logf("%s%s", stackHeader, line)
					report.WriteString(line)
				})
			}
		}
	}
	out := fmt.Sprintf("Memory cap: %d MiB by %s; GOMEMLIMIT %s; %s of load a row.\n\n%s%s",
		budget.limit>>20, capping, budget.goMemLimit, duration, stackHeader, report.String())
	t.Logf("stack:\n%s", out)
	if path := os.Getenv("RCA_STACK_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	}
}

const stackHeader = `| Spans | Jaeger | Target spans/s | Offered spans/s | Accepted | Refused: counted / seen | Delivered to Jaeger | Dropped and counted (Jaeger exporter) | Delivered to the log store | Dropped and counted (log store exporter) | Dropped as too large | Unaccounted: Jaeger / log store | RSS peak MiB (anonymous + file + shmem) | cgroup charge peak MiB | Unreclaimable charge peak MiB (anonymous + shmem + kernel + dirty) / cap | Queue files on disk MiB: peak / at the end | OOM kills |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---:|
`

type stackRow struct {
	spanBytes, spansPerSecond int
	jaegerUp                  bool
}

func (r stackRow) name() string {
	state := "up"
	if !r.jaegerUp {
		state = "down"
	}
	return fmt.Sprintf("%dKB/%dk/%s", r.spanBytes>>10, r.spansPerSecond/1000, state)
}

// runStackRow runs one row on fresh backends and a fresh collector and
// returns its line of the table.
func runStackRow(t *testing.T, row stackRow, budget collectorMemory, duration time.Duration) string {
	dir := t.TempDir()
	logStore := startVictoriaLogs(t, dir)
	// Jaeger's memory store keeps the last few thousand traces (the
	// benchmark counts what Jaeger's receiver accepted, not what it keeps):
	// 10 KB spans would otherwise take gigabytes.
	jaegerPort, jaegerTraces := freePort(t), 2000
	var trace *jaeger
	if row.jaegerUp {
		trace = startJaegerAt(t, dir, "jaeger", jaegerPort, jaegerTraces)
	}
	c := newShippedCollector(t, dir, logStore.url+"/insert/elasticsearch/", filepath.Join(dir, "storage"))
	c.env = append(c.env, fmt.Sprintf("JAEGER_OTLP_ENDPOINT=127.0.0.1:%d", jaegerPort), "GOMEMLIMIT="+budget.goMemLimit)
	if extra := os.Getenv("RCA_STACK_CONFIG"); extra != "" {
		c.args = append(c.args, "--config", extra)
	}
	cg, err := newMemoryCap(t, budget.limit)
	if err != nil {
		// The shipped percentages of the container's memory, which the
		// memory_limiter cannot read without a cgroup.
		override, _ := memoryLimiterOverride(t, dir, int(budget.limit>>20))
		c.args = append(c.args, "--config", override)
	} else {
		c.launcher = cg.launcher()
	}
	collector := c.start(t)
	if keep := os.Getenv("RCA_STACK_LOGS"); keep != "" {
		defer func() {
			raw, err := os.ReadFile(c.log)
			assert.NoError(t, err)
			assert.NoError(t, os.WriteFile(filepath.Join(keep, strings.ReplaceAll(row.name(), "/", "-")+".log"), raw, 0o644))
		}()
	}
	if raw, err := os.ReadFile(c.log); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, "Memory limiter configured") {
				t.Log(l)
			}
		}
	}
	mem := sampleMemory(collector.cmd.Process.Pid)
	charge := cg.sample()
	disk := sampleDisk(filepath.Join(dir, "storage"))
	load := generateLoad(t, c, loadSpec{clients: 8, spansPerSecond: row.spansPerSecond, spanBytes: row.spanBytes, grpc: true}, duration)

	const jaegerExporter, logExporter = `exporter="otlp_grpc/jaeger"`, `exporter="elasticsearch"`
	alive := func() bool {
		select {
		case <-collector.exited:
			return false
		default:
			return true
		}
	}
	accepted := func() float64 { return c.counter(t, "otelcol_receiver_accepted_spans", `receiver="otlp"`) }
	// Out of an exporter: sent, failed for good, or refused by its full
	// queue; what is left waits in its queue (or in rootcause and batch).
	out := func(exporter string) float64 {
		return c.counter(t, "otelcol_exporter_sent_spans", exporter) + c.counter(t, "otelcol_exporter_send_failed_spans", exporter) +
			c.counter(t, "otelcol_exporter_enqueue_failed_spans", exporter)
	}
	drained := func(exporter string, within time.Duration) {
		deadline := time.Now().Add(within)
		for alive() && time.Now().Before(deadline) && out(exporter) < accepted() {
			time.Sleep(time.Second)
		}
	}
	if row.jaegerUp {
		drained(jaegerExporter, 3*time.Minute)
	} else if alive() {
		// Decided (decision_wait) and queued on disk, then Jaeger comes back
		// and the queue drains into it.
		time.Sleep(15 * time.Second)
		trace = startJaegerAt(t, dir, "jaeger", jaegerPort, jaegerTraces)
		drained(jaegerExporter, 5*time.Minute)
	}
	if alive() {
		drained(logExporter, 3*time.Minute)
	}
	// The queues drained: a file that grew past compaction's threshold is
	// rewritten small within its check interval (5 s).
	for deadline := time.Now().Add(15 * time.Second); alive() && time.Now().Before(deadline) && disk.largestNow() > compactionNeeded; {
		time.Sleep(time.Second)
	}
	peak := mem.stop()
	chargePeak := charge.stop()
	diskPeak, diskEnd := disk.stop()
	ooms := cg.oomKills()
	jaegerState := "up"
	if !row.jaegerUp {
		jaegerState = "down, back after the load"
	}
	line := func(cells string) string {
		return fmt.Sprintf("| %d KB | %s | %d | %.0f | %s |\n", row.spanBytes>>10, jaegerState, row.spansPerSecond,
			float64(load.offered.Load())/duration.Seconds(), cells)
	}
	memory := fmt.Sprintf("%d (%d + %d + %d) | %d | %s / %d | %d / %d", peak.rss>>20, peak.anon>>20, peak.file>>20, peak.shmem>>20,
		cg.peakUsage()>>20, chargePeak, budget.limit>>20, diskPeak>>20, diskEnd>>20)
	if !alive() {
		t.Errorf("the collector exited (OOM kills: %d); its log: %s", ooms, c.log)
		return line(fmt.Sprintf("collector exited | | | | | | | | %s | %d", memory, ooms))
	}

	acceptedSpans := accepted()
	refusedCounted := c.counter(t, "otelcol_receiver_refused_spans", `receiver="otlp"`)
	toJaeger := counterAt(t, trace.metrics, "otelcol_receiver_accepted_spans", `receiver="otlp"`)
	toLogStore := c.counter(t, "otelcol_exporter_sent_spans", logExporter)
	droppedLogStore := c.counter(t, "otelcol_exporter_send_failed_spans", logExporter) + c.counter(t, "otelcol_exporter_enqueue_failed_spans", logExporter)
	unaccountedLogStore := acceptedSpans - toLogStore - droppedLogStore
	dropped := c.counter(t, "otelcol_exporter_send_failed_spans", jaegerExporter) + c.counter(t, "otelcol_exporter_enqueue_failed_spans", jaegerExporter)
	tooLarge, splitFailures := droppedAsTooLarge(t, c.log)
	unaccounted := acceptedSpans - toJaeger - dropped

	// The pages of the files the collector maps (its binary, the queues'
	// database) count in its RSS, but clean ones are page cache, which the
	// kernel reclaims under the cap before it OOM-kills: what must fit is
	// what it cannot reclaim (no swap here). Without a cgroup, the
	// anonymous RSS.
	if chargePeak.sampled {
		assert.Less(t, chargePeak.unreclaimable(), budget.limit, "the cgroup's unreclaimable charge stays under the cap")
	} else {
		assert.Less(t, peak.anon, budget.limit, "anonymous RSS stays under the cap")
	}
	assert.Zero(t, ooms, "no OOM kill")
	assert.Zero(t, tooLarge, "spans dropped as too large")
	assert.Zero(t, splitFailures, "requests the exporter could not split")
	assert.Equal(t, load.refused.Load(), int64(refusedCounted), "every refusal is counted")
	assert.Zero(t, load.other.Load(), "refusals are retryable (UNAVAILABLE), never other errors")
	assert.Equal(t, load.accepted.Load(), int64(acceptedSpans), "every acceptance is counted")
	assert.Zero(t, unaccounted, "every accepted span reached Jaeger or was dropped and counted")
	assert.Zero(t, unaccountedLogStore, "every accepted span reached the log store or was dropped and counted")
	code, body := c.healthStatus()
	assert.Equal(t, http.StatusOK, code, "healthy at the end: %s", body)

	return line(fmt.Sprintf("%.0f | %.0f / %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f / %.0f | %s | %d",
		acceptedSpans, refusedCounted, load.refused.Load(), toJaeger, dropped, toLogStore, droppedLogStore, tooLarge, unaccounted, unaccountedLogStore, memory, ooms))
}

// counterAt sums the counter name over the series with label at a
// Prometheus endpoint.
func counterAt(t *testing.T, url, name, label string) float64 {
	t.Helper()
	var sum float64
	scrapeSeries(t, url, name, label, func(_ string, v float64) { sum += v })
	return sum
}

var droppedItems = regexp.MustCompile(`"dropped_items": (\d+)`)

// droppedAsTooLarge reads the collector's log for exports dropped because
// the receiver refused a message over its size limit (gRPC
// RESOURCE_EXHAUSTED: the exporter does not retry it), summing their
// spans, and counts the requests the exporter could not split under its
// byte bound (which it drops without counting).
func droppedAsTooLarge(t *testing.T, log string) (spans float64, splitFailures int) {
	t.Helper()
	raw, err := os.ReadFile(log)
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.Contains(line, "Failed to split request"):
			splitFailures++
		case strings.Contains(line, "Dropping data.") && (strings.Contains(line, "ResourceExhausted") || strings.Contains(line, "larger than max")):
			if m := droppedItems.FindStringSubmatch(line); m != nil {
				n, _ := strconv.ParseFloat(m[1], 64)
				spans += n
			}
		}
	}
	return spans, splitFailures
}

// collectorMemory is the memory docker-compose.yml gives the collector.
type collectorMemory struct {
	limit      int64  // mem_limit, bytes
	goMemLimit string // GOMEMLIMIT as set there
}

func composeCollectorMemory(t *testing.T) collectorMemory {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docker-compose.yml"))
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			MemLimit    string            `yaml:"mem_limit"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &compose))
	svc := compose.Services["otelcol-rca"]
	limit, err := dockerBytes(svc.MemLimit)
	require.NoError(t, err, "mem_limit of otelcol-rca")
	require.NotEmpty(t, svc.Environment["GOMEMLIMIT"], "GOMEMLIMIT of otelcol-rca")
	return collectorMemory{limit: limit, goMemLimit: svc.Environment["GOMEMLIMIT"]}
}

// dockerBytes reads a compose memory size: bytes, or a number with b, k, m
// or g (powers of 1024).
func dockerBytes(v string) (int64, error) {
	units := map[byte]int64{'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}
	v = strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	if v != "" {
		if u, ok := units[v[len(v)-1]]; ok {
			mult, v = u, v[:len(v)-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory size %q: %w", v, err)
	}
	return n * mult, nil
}

// memoryLimiterOverride writes a config that sets both memory_limiters to
// what the shipped percentages make of budgetMiB, as they compute them in a
// container of that size; it returns the file and the limit in MiB.
func memoryLimiterOverride(t *testing.T, dir string, budgetMiB int) (path string, limitMiB int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "otelcol-config.yaml"))
	require.NoError(t, err)
	var shipped struct {
		Processors struct {
			MemoryLimiter struct {
				Limit int `yaml:"limit_percentage"`
				Spike int `yaml:"spike_limit_percentage"`
			} `yaml:"memory_limiter"`
		} `yaml:"processors"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &shipped))
	limiter := shipped.Processors.MemoryLimiter
	require.Positive(t, limiter.Limit, "the shipped memory_limiter's limit_percentage")
	limitMiB = budgetMiB * limiter.Limit / 100
	path = filepath.Join(dir, "memory-limiter.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`
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
`, limitMiB, budgetMiB*limiter.Spike/100)), 0o600))
	return path, limitMiB
}

// memoryCap is a memory cgroup (v1) with a limit, made under this test's
// own, as a container engine makes one for a container: the kernel
// reclaims the page cache of what is inside and OOM-kills it beyond the
// limit.
type memoryCap struct {
	dir string
}

// newMemoryCap makes the cgroup, removed when the test ends; an error
// where this machine does not let the test make one.
func newMemoryCap(t *testing.T, limit int64) (*memoryCap, error) {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var own string
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "memory") {
			own = f[2]
		}
	}
	if own == "" {
		return nil, errors.New("no cgroup v1 memory controller in /proc/self/cgroup")
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", own, fmt.Sprintf("rca-stack-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		// After the processes inside have exited (cleanups run last in,
		// first out: theirs were registered later).
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o600); err != nil {
		return nil, fmt.Errorf("set the memory limit: %w", err)
	}
	return &memoryCap{dir: dir}, nil
}

// launcher runs a command inside the cgroup: the shell enters it, then
// executes the command in its own process.
func (m *memoryCap) launcher() []string {
	return []string{"/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(m.dir, "cgroup.procs")}
}

// peakUsage is the most memory the cgroup was charged, page cache
// included; 0 without one.
func (m *memoryCap) peakUsage() int64 {
	if m == nil {
		return 0
	}
	raw, _ := os.ReadFile(filepath.Join(m.dir, "memory.max_usage_in_bytes"))
	v, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	return v
}

// chargePeak is the sample of a cgroup's memory.stat at which the charge
// the kernel cannot reclaim was highest.
type chargePeak struct {
	sampled                        bool
	anon, shmem, kernel, dirty, wb int64
}

// unreclaimable is what the kernel's OOM decision depends on: the cgroup's
// charge less the page cache it can drop or write back and drop (file
// pages on the LRU lists, mapped ones included), with no swap: anonymous
// memory, shared memory, kernel memory charged to the cgroup (slab,
// stacks, page tables, sockets), and the file pages dirty or under
// writeback, which reclaim must write out first.
func (c chargePeak) unreclaimable() int64 { return c.anon + c.shmem + c.kernel + c.dirty + c.wb }

func (c chargePeak) String() string {
	if !c.sampled {
		return "n/a"
	}
	return fmt.Sprintf("%d (%d + %d + %d + %d)", c.unreclaimable()>>20, c.anon>>20, c.shmem>>20, c.kernel>>20, (c.dirty+c.wb)>>20)
}

// sample starts sampling the cgroup's memory.usage_in_bytes and
// memory.stat every 250 ms, keeping the sample with the most charge the
// kernel cannot reclaim; it finds nothing without a cgroup.
func (m *memoryCap) sample() *peakSampler[chargePeak] {
	return samplePeak(func(peak chargePeak) chargePeak {
		if c, ok := m.charge(); ok && (!peak.sampled || c.unreclaimable() > peak.unreclaimable()) {
			return c
		}
		return peak
	})
}

// charge reads the cgroup's charge now, split as chargePeak has it.
func (m *memoryCap) charge() (chargePeak, bool) {
	if m == nil {
		return chargePeak{}, false
	}
	raw, err := os.ReadFile(filepath.Join(m.dir, "memory.usage_in_bytes"))
	if err != nil {
		return chargePeak{}, false
	}
	usage, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	raw, err = os.ReadFile(filepath.Join(m.dir, "memory.stat"))
	if err != nil {
		return chargePeak{}, false
	}
	stat := map[string]int64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			stat[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	// usage = rss + cache + kernel memory; cache = file LRU pages + shmem.
	return chargePeak{
		sampled: true,
		anon:    stat["rss"],
		shmem:   stat["shmem"],
		kernel:  usage - stat["rss"] - stat["cache"],
		dirty:   stat["dirty"],
		wb:      stat["writeback"],
	}, true
}

// oomKills is how many processes the kernel killed in the cgroup for
// memory; 0 without one.
func (m *memoryCap) oomKills() int {
	if m == nil {
		return 0
	}
	raw, _ := os.ReadFile(filepath.Join(m.dir, "memory.oom_control"))
	for _, line := range strings.Split(string(raw), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			v, _ := strconv.Atoi(n)
			return v
		}
	}
	return 0
}

// compactionNeeded is file_storage's rebound_needed_threshold_mib in
// otelcol-config.yaml: a queue file larger holds pages a compaction frees
// once its queue has drained.
const compactionNeeded = 32 << 20

// diskSampler samples the space the files of a directory take on disk
// (their blocks, as du counts them) every 250 ms.
type diskSampler struct {
	dir  string
	peak *peakSampler[int64]
}

func sampleDisk(dir string) *diskSampler {
	d := &diskSampler{dir: dir}
	d.peak = samplePeak(func(peak int64) int64 {
		total, _ := d.now()
		return max(peak, total)
	})
	return d
}

// now is the space the directory's files take, and the largest file's.
func (d *diskSampler) now() (total, largest int64) {
	entries, _ := os.ReadDir(d.dir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		used := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			used = st.Blocks * 512
		}
		total += used
		largest = max(largest, used)
	}
	return total, largest
}

func (d *diskSampler) largestNow() int64 {
	_, largest := d.now()
	return largest
}

// stop ends the sampling: the peak, and the space taken now.
func (d *diskSampler) stop() (peak, end int64) {
	peak = d.peak.stop()
	end, _ = d.now()
	return max(peak, end), end
}
