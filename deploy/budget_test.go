package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
)

// The memory budget of every shipped collector: what each part of the
// collector may take adds up under its container's memory limit, in compose
// and in Kubernetes, read from the shipped files (docker-compose.yml,
// otelcol-config.yaml, deploy/k8s). The README's table is this test's
// output; it fails when they differ.
//
// The parts, from the container's limit down:
//   - outside GOMEMLIMIT: the pages of the files the collector maps, which
//     count in its RSS beside the Go runtime's memory: its binary and
//     rootcause's state (mappedBesideQueues), and its queues' bbolt files
//     on disk (queueFileSlack times their bounds in bytes: bbolt maps its
//     file, and every page a queue reads stays mapped); what is left is for
//     what the Go runtime overshoots its soft limit by. At least 20% of the
//     container, as the collector's memory_limiter documentation advises
//     (GOMEMLIMIT at 80%).
//   - GOMEMLIMIT: the Go runtime's own limit; it collects harder as the
//     heap nears it. The memory_limiter's hard limit lies under it, so that
//     the limiter refuses data and forces a collection first.
//   - the memory_limiter's spike allowance (hard limit − soft limit): what
//     may arrive between two checks, before the limiter refuses.
//   - the soft limit: above it every receiver is refused. Below it, what
//     the exporters hold whatever the input does (requests in flight, with
//     their encoding, and in-memory queues) takes at most half, so that
//     refusing input always frees room: the rest is for what drains on its
//     own (rootcause's buffered traces and held logs, the batches).

// budgetSpanBytes is the largest span the budget provides for: the large
// spans of the stack benchmark (make bench-stack). A pipeline batch of
// send_batch_max_size spans takes at most that many times this.
const budgetSpanBytes = 10 << 10

// mappedBesideQueues is what the collector maps beside its queues' files:
// the pages of its binary it runs (48-49 MiB of its 73 MiB in make
// bench-stack, read from /proc/<pid>/smaps) and rootcause's state file
// (under 1 MiB there; baselines and open incidents).
const mappedBesideQueues = 56 << 20

// queueFileSlack is how much memory a queue on disk may take as the pages
// of its file the collector maps, in tenths of its bound in bytes: its bbolt file holds the bytes queued and
// the pages a rewrite freed and has not reused yet, and every page of it a
// queue reads (a request read back, the requests beside a key written or
// deleted, in the same leaf) stays mapped, in the RSS, until the file is
// remapped or compacted. In make bench-stack the queues' files together
// took at most 1.31 times their bounds (BENCHMARKS.md; one file alone up
// to 2.4 times its own, beside others far from full: every queue full at
// once is not measured).
const queueFileSlack = 13

// maxOTLPRequestBytes is the largest OTLP request a receiver takes (an
// OTLP/HTTP body: max_request_body_size's default; OTLP/gRPC takes 4 MiB):
// what a pipeline without a batch processor hands its exporters at once.
const maxOTLPRequestBytes = 20 << 20

// collectorContainer is a shipped collector: where it runs, its memory, and
// its configuration as the collector merges its --config arguments.
type collectorContainer struct {
	name       string
	limit      int64 // the container's memory limit, bytes
	goMemLimit int64 // GOMEMLIMIT, bytes
	config     map[string]any
	// fanout is how many backends each exporter of the loadbalancing kind
	// sends to (an exporter and its queue each).
	fanout int
	// volume is the size of the volume its file_storage writes to, bytes;
	// 0 where it has none.
	volume int64
}

// memoryBudget is what each part of a collector may take, in bytes.
type memoryBudget struct {
	limit, goMemLimit, hardLimit, spike int64
	// mappedQueues: the queues' files on disk, as they may be mapped.
	mappedQueues int64
	exporters    []exporterMemory
	// buffers: a pipeline holds data of its own (rootcause), which needs
	// room below the soft limit beside the exporters'.
	buffers bool
}

// exportersShare is how much of the soft limit the exporters may hold: half
// where rootcause buffers, all of it where the exporters alone hold data.
func (b memoryBudget) exportersShare() int64 {
	if b.buffers {
		return b.softLimit() / 2
	}
	return b.softLimit()
}

func (b memoryBudget) softLimit() int64 { return b.hardLimit - b.spike }

// mapped is what the collector's files may map: the binary, rootcause's
// state, the queues' files.
func (b memoryBudget) mapped() int64 { return mappedBesideQueues + b.mappedQueues }

func (b memoryBudget) exportersTotal() int64 {
	var sum int64
	for _, e := range b.exporters {
		sum += e.bytes()
	}
	return sum
}

// exporterMemory is what an exporter with a sending queue holds at most:
// consumers requests of requestBytes in flight, each with its encoding
// (twice), plus queued bytes in memory (an in-memory queue's capacity, or
// the one request a persistent queue's reader splits).
type exporterMemory struct {
	name                 string
	consumers            int
	requestBytes, queued int64
	persistent           bool
	// copies: the loadbalancing exporter runs one exporter, with its own
	// queue, per backend.
	copies int
}

func (e exporterMemory) each() int64 { return int64(e.consumers)*e.requestBytes*2 + e.queued }

func (e exporterMemory) bytes() int64 { return int64(e.copies) * e.each() }

func TestMemoryBudgetAddsUp(t *testing.T) {
	var table strings.Builder
	table.WriteString(budgetHeader)
	var exporters strings.Builder
	exporters.WriteString(exporterHeader)
	for _, c := range shippedCollectors(t) {
		b := budgetOf(t, c)
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.name,
			mib(b.limit), mib(b.limit-b.goMemLimit), mib(mappedBesideQueues), mib(b.mappedQueues), mib(b.limit-b.goMemLimit-b.mapped()),
			mib(b.goMemLimit), mib(b.hardLimit), mib(b.spike), mib(b.softLimit()),
			mib(b.exportersTotal()), mib(b.softLimit()-b.exportersTotal()))
		for _, e := range b.exporters {
			queue := "in memory"
			if e.persistent {
				queue = "on disk; one request read back"
			}
			total := mib(e.bytes())
			if e.copies > 1 {
				total = fmt.Sprintf("%d × %s", e.copies, mib(e.each()))
			}
			fmt.Fprintf(&exporters, "| %s | %s | %d × %s × 2 | %s: %s | %s |\n", c.name, e.name,
				e.consumers, mib(e.requestBytes), queue, mib(e.queued), total)
		}

		checkMemoryBudget(t, c.name, b)
	}
	readmeShows(t, "the memory budget", table.String()+"\n"+exporters.String())
}

// TestMemoryBudgetCountsTheQueuesFiles: the budget fails a collector whose
// queues' files, mapped, do not fit beside GOMEMLIMIT (as compose's did with
// queues of 384 MiB beside 400MiB), naming it.
func TestMemoryBudgetCountsTheQueuesFiles(t *testing.T) {
	c := shippedCollectors(t)[0]
	dig(c.config, "exporters", "otlp_grpc/jaeger", "sending_queue").(map[string]any)["queue_size"] = 192 << 20
	r := &errorRecorder{TB: t}
	checkMemoryBudget(r, c.name, budgetOf(t, c))
	want := "compose otelcol-rca: GOMEMLIMIT 320 MiB and the files the collector maps (its binary and rootcause's state 56 MiB, " +
		"its queues' files on disk 312 MiB) take 688 MiB, more than the container's 512 MiB"
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], want) {
		t.Errorf("got errors %q, want one that says %q", r.errors, want)
	}
}

// checkMemoryBudget fails a collector whose parts do not add up.
func checkMemoryBudget(t testing.TB, name string, b memoryBudget) {
	t.Helper()
	if b.goMemLimit > b.limit*80/100 {
		t.Errorf("%s: GOMEMLIMIT %s MiB leaves less than 20%% of the container's %s MiB outside Go (mapped files, the runtime's overshoot)",
			name, mib(b.goMemLimit), mib(b.limit))
	}
	if b.goMemLimit+b.mapped() > b.limit {
		t.Errorf("%s: GOMEMLIMIT %s MiB and the files the collector maps (its binary and rootcause's state %s MiB, its queues' files on disk %s MiB) "+
			"take %s MiB, more than the container's %s MiB: its RSS can pass the limit",
			name, mib(b.goMemLimit), mib(mappedBesideQueues), mib(b.mappedQueues), mib(b.goMemLimit+b.mapped()), mib(b.limit))
	}
	if b.hardLimit > b.goMemLimit {
		t.Errorf("%s: the memory_limiter's limit (%s MiB) is above GOMEMLIMIT (%s MiB): the runtime would collect in vain before the limiter refuses anything",
			name, mib(b.hardLimit), mib(b.goMemLimit))
	}
	if b.exportersTotal() > b.exportersShare() {
		t.Errorf("%s: the exporters may hold %s MiB whatever the input does, more than their share of the memory_limiter's soft limit (%s MiB of %s): refusing input would not free room",
			name, mib(b.exportersTotal()), mib(b.exportersShare()), mib(b.softLimit()))
	}
}

// readmeShows fails the test unless README.md holds the tables want, which
// the shipped files give.
func readmeShows(t *testing.T, what, want string) {
	t.Helper()
	t.Logf("%s:\n%s", what, want)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not show %s as the shipped files give it; its tables should read:\n%s", what, want)
	}
}

const budgetHeader = `| Collector (MiB) | Container limit | Outside GOMEMLIMIT | Mapped: binary, rootcause's state | Mapped: queues' files (1.3 × bounds) | Left for the runtime's overshoot | GOMEMLIMIT | memory_limiter limit | Spike allowance | Soft limit | Exporters in flight and queued | Left for rootcause, batches, requests received |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
`

const exporterHeader = `| Collector (MiB) | Exporter | In flight: consumers × request × 2 (with its encoding) | Queue | At most |
|---|---|---|---|---:|
`

// mib writes bytes in MiB, to a tenth where it is not whole.
func mib(v int64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(v)/(1<<20)), ".0")
}

// budgetOf reads a collector's budget from its configuration.
func budgetOf(t *testing.T, c collectorContainer) memoryBudget {
	t.Helper()
	b := memoryBudget{limit: c.limit, goMemLimit: c.goMemLimit}
	// The queues' bounds as the disk budget reads them; its own test
	// reports what is wrong with them.
	for _, q := range diskQueuesOf(&errorRecorder{TB: t}, c) {
		b.mappedQueues += q.bytes() * queueFileSlack / 10
	}
	processor := limiterOf(t, c, "processors")
	b.hardLimit, b.spike = processor.hard, processor.spike
	if extensions, _ := dig(c.config, "service", "extensions").([]any); slices.Contains(extensions, any("memory_limiter")) {
		if ext := limiterOf(t, c, "extensions"); ext != processor {
			t.Errorf("%s: the memory_limiter extension's limits %+v differ from the processor's %+v", c.name, ext, processor)
		}
	}

	pipelines, _ := dig(c.config, "service", "pipelines").(map[string]any)
	used := map[string]int64{} // exporter → the largest request its pipelines hand it
	for name, p := range pipelines {
		processors, _ := dig(p, "processors").([]any)
		if !slices.Contains(processors, any("memory_limiter")) {
			t.Errorf("%s: pipeline %s has no memory_limiter", c.name, name)
		}
		b.buffers = b.buffers || slices.Contains(processors, any("rootcause"))
		request := int64(maxOTLPRequestBytes)
		if slices.Contains(processors, any("batch")) {
			spans := intOf(t, c.name, c.config, "processors", "batch", "send_batch_max_size")
			if spans == 0 {
				t.Errorf("%s: processors::batch::send_batch_max_size is not set: its batches are unbounded", c.name)
			}
			request = spans * budgetSpanBytes
		}
		exporters, _ := dig(p, "exporters").([]any)
		for _, e := range exporters {
			used[e.(string)] = max(used[e.(string)], request)
		}
	}
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		cfg, _ := dig(c.config, "exporters", name).(map[string]any)
		kind, _, _ := strings.Cut(name, "/")
		count := 1
		if kind == "loadbalancing" {
			cfg, _ = dig(cfg, "protocol", "otlp").(map[string]any)
			count = c.fanout
		}
		queue, ok := dig(cfg, "sending_queue").(map[string]any)
		if !ok && queuedByDefault[kind] {
			t.Errorf("%s exporter %s: no sending_queue: its default queue holds 1,000 requests in memory; state it", c.name, name)
		}
		if !ok || queue["enabled"] == false {
			continue // exports within the pipeline's call: its data, the limiter's
		}
		e := queueMemory(t, c.name+" exporter "+name, queue, used[name])
		e.name, e.copies = name, count
		if count > 1 {
			e.name = fmt.Sprintf("%s (one per backend: %d)", name, count)
		}
		b.exporters = append(b.exporters, e)
	}
	return b
}

// queuedByDefault are the exporters of the distribution whose sending queue
// is on unless turned off (exporterhelper's default: 1,000 requests in
// memory, 10 consumers).
var queuedByDefault = map[string]bool{
	"otlp": true, "otlp_grpc": true, "otlp_http": true, "otlphttp": true,
	"elasticsearch": true, "zipkin": true, "loadbalancing": true,
}

// queueMemory is what an exporter's sending queue lets it hold. Every
// figure is stated in the shipped file rather than left to the exporter's
// default, so that the budget counts what runs: num_consumers, a batch
// bounded in bytes, and either a queue on disk (storage) or one bounded in
// bytes.
func queueMemory(t *testing.T, where string, queue map[string]any, pipelineRequest int64) exporterMemory {
	t.Helper()
	e := exporterMemory{consumers: int(intOf(t, where, queue, "num_consumers")), persistent: queue["storage"] != nil}
	if e.consumers == 0 {
		t.Errorf("%s: sending_queue::num_consumers is not stated", where)
	}
	if dig(queue, "batch", "sizer") != "bytes" || intOf(t, where, queue, "batch", "max_size") == 0 {
		t.Errorf("%s: sending_queue::batch is not bounded in bytes (sizer: bytes, max_size)", where)
	}
	e.requestBytes = intOf(t, where, queue, "batch", "max_size")
	switch {
	case e.persistent:
		e.queued = pipelineRequest
	case queue["sizer"] == "bytes":
		e.queued = intOf(t, where, queue, "queue_size")
		if e.queued < pipelineRequest {
			t.Errorf("%s: sending_queue::queue_size %d cannot take the largest request its pipelines hand it (%d bytes): the queue refuses it whole", where, e.queued, pipelineRequest)
		}
	default:
		t.Errorf("%s: an in-memory sending_queue must be bounded in bytes (sizer: bytes, queue_size)", where)
	}
	return e
}

type limiter struct {
	hard, spike   int64
	checkInterval time.Duration
}

// limiterOf reads the memory_limiter of kind (processors, extensions) as it
// computes its limits in the container.
func limiterOf(t *testing.T, c collectorContainer, kind string) limiter {
	t.Helper()
	where := c.name + " " + kind + "::memory_limiter"
	cfg, ok := dig(c.config, kind, "memory_limiter").(map[string]any)
	if !ok {
		t.Fatalf("%s: not configured", where)
	}
	var l limiter
	if v, ok := cfg["check_interval"].(string); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("%s: check_interval: %v", where, err)
		}
		l.checkInterval = d
	}
	if l.checkInterval <= 0 || l.checkInterval > time.Second {
		t.Errorf("%s: check_interval %v: the spike allowance is sized for at most 1s", where, l.checkInterval)
	}
	if mib := intOf(t, where, cfg, "limit_mib"); mib > 0 {
		l.hard, l.spike = mib<<20, intOf(t, where, cfg, "spike_limit_mib")<<20
		if l.spike == 0 {
			l.spike = l.hard / 5
		}
		return l
	}
	// As the limiter computes them from the cgroup's limit.
	l.hard = c.limit * intOf(t, where, cfg, "limit_percentage") / 100
	l.spike = c.limit * intOf(t, where, cfg, "spike_limit_percentage") / 100
	if l.hard == 0 || l.spike == 0 {
		t.Errorf("%s: neither limit_mib nor limit_percentage and spike_limit_percentage", where)
	}
	return l
}

// shippedCollectors are compose's collector and every collector container of
// the Kubernetes deployment, each with its configuration merged as the
// collector merges its --config arguments.
func shippedCollectors(t *testing.T) []collectorContainer {
	t.Helper()
	var compose struct {
		Services map[string]struct {
			MemLimit    string            `yaml:"mem_limit"`
			Environment map[string]string `yaml:"environment"`
			Command     []string          `yaml:"command"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join("..", "docker-compose.yml"), &compose)
	svc, ok := compose.Services["otelcol-rca"]
	if !ok {
		t.Fatal("docker-compose.yml: no otelcol-rca service")
	}
	limit, err := composeBytes(svc.MemLimit)
	if err != nil {
		t.Fatalf("docker-compose.yml otelcol-rca mem_limit: %v", err)
	}
	goMemLimit, err := parseGoMemLimit(svc.Environment["GOMEMLIMIT"])
	if err != nil {
		t.Fatalf("docker-compose.yml otelcol-rca GOMEMLIMIT: %v", err)
	}
	out := []collectorContainer{{
		name: "compose otelcol-rca", limit: limit, goMemLimit: goMemLimit, volume: composeVolumeBytes,
		config: mergedConfig(t, svc.Command, func(path string) string {
			if path == "/etc/otelcol-rca/config.yaml" { // the mounted otelcol-config.yaml
				return filepath.Join("..", "otelcol-config.yaml")
			}
			t.Fatalf("docker-compose.yml: --config=%s is not the mounted otelcol-config.yaml", path)
			return ""
		}),
	}}

	o := loadK8s(t)
	shards := 0
	for _, s := range o.statefulSets {
		if s.Name == "otelcol-rca-shard" && s.Spec.Replicas != nil {
			shards = int(*s.Spec.Replicas)
		}
	}
	for _, w := range o.workloads() {
		for _, container := range w.pod.Spec.Containers {
			if !strings.HasPrefix(container.Image, "otelcol-rca:") {
				continue
			}
			mem := container.Resources.Limits[corev1.ResourceMemory]
			env := map[string]string{}
			for _, e := range container.Env {
				env[e.Name] = e.Value
			}
			goMemLimit, err := parseGoMemLimit(env["GOMEMLIMIT"])
			if err != nil {
				t.Errorf("%s %s: GOMEMLIMIT: %v", w.kind, w.name, err)
				continue
			}
			args := make([]string, len(container.Args))
			for i, a := range container.Args {
				args[i] = localConfig(t, o, w.pod, a)
			}
			role := strings.TrimSuffix(filepath.Base(args[len(args)-1]), ".yaml")
			out = append(out, collectorContainer{
				name: fmt.Sprintf("k8s %s (%s)", w.name, role), limit: mem.Value(), goMemLimit: goMemLimit, fanout: shards,
				volume: storageVolume(o, w, container, env["RCA_STORAGE_DIR"]),
				config: mergedConfig(t, args, func(path string) string { return filepath.Join("..", path) }),
			})
		}
	}
	return out
}

// mergedConfig merges the --config arguments as the collector does: files
// and yaml: snippets in order, maps merged key by key, anything else
// replaced. file maps a --config path to the file to read.
func mergedConfig(t *testing.T, args []string, file func(string) string) map[string]any {
	t.Helper()
	merged := map[string]any{}
	for _, a := range args {
		v, ok := strings.CutPrefix(a, "--config=")
		if !ok {
			continue
		}
		var layer map[string]any
		if snippet, ok := strings.CutPrefix(v, "yaml:"); ok {
			path, value, _ := strings.Cut(snippet, ": ")
			var decoded any
			if err := yaml.Unmarshal([]byte(value), &decoded); err != nil {
				t.Fatalf("--config=%s: %v", v, err)
			}
			keys := strings.Split(path, "::")
			layer = map[string]any{keys[len(keys)-1]: decoded}
			for i := len(keys) - 2; i >= 0; i-- {
				layer = map[string]any{keys[i]: layer}
			}
		} else {
			readYAML(t, file(v), &layer)
		}
		mergeInto(merged, layer)
	}
	return merged
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if into, ok := dst[k].(map[string]any); ok {
				mergeInto(into, sub)
				continue
			}
		}
		dst[k] = v
	}
}

// dig walks nested maps by keys; nil where a key is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// intOf reads an integer setting; 0 when it is not set.
func intOf(t testing.TB, where string, v any, keys ...string) int64 {
	t.Helper()
	switch n := dig(v, keys...).(type) {
	case nil:
		return 0
	case int:
		return int64(n)
	default:
		t.Errorf("%s: %s: %v is not an integer", where, strings.Join(keys, "::"), n)
		return 0
	}
}

// composeBytes reads a compose memory size: bytes, or a number with b, k, m
// or g (powers of 1024).
func composeBytes(v string) (int64, error) {
	units := map[byte]int64{'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}
	v = strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	if v != "" {
		if u, ok := units[v[len(v)-1]]; ok {
			mult, v = u, v[:len(v)-1]
		}
	}
	var n int64
	if _, err := fmt.Sscan(v, &n); err != nil {
		return 0, fmt.Errorf("memory size %q: %w", v, err)
	}
	return n * mult, nil
}
