package deploy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The disk budget of every shipped collector: its exporters' sending queues
// on disk (file_storage) are bounded in bytes, and all of them together take
// at most half of the volume the collector's file_storage writes to. The
// other half is for what the queues' bbolt files hold beyond the bytes
// queued (pages freed by a drained request and not yet reused, pages
// rounded up), the copy a compaction writes beside a file, and rootcause's
// state (baselines, open incidents). A queue bounded in requests (the
// default: 1,000 requests, each up to a pipeline batch of 10 MiB) has no
// bound a volume can hold: a long backend outage fills the disk, and then
// every queue and rootcause's state fail to write. The README's table is
// this test's output; it fails when they differ.

// composeVolumeBytes is the size the README asks compose's named volume
// (otelcol-rca-data) to have: a local Docker volume has no size of its own,
// so the budget holds compose's collector, which runs the same
// otelcol-config.yaml, to the Kubernetes pods' 1 GiB.
const composeVolumeBytes = 1 << 30

// diskQueue is an exporter's sending queue on disk: one per signal of the
// pipelines it is in (and per backend of a loadbalancing exporter), each
// bounded in bytes.
type diskQueue struct {
	exporter string
	queues   int
	bound    int64 // queue_size in bytes, each
}

func (q diskQueue) bytes() int64 { return int64(q.queues) * q.bound }

func TestDiskBudgetAddsUp(t *testing.T) {
	var table strings.Builder
	table.WriteString(diskHeader)
	for _, c := range shippedCollectors(t) {
		table.WriteString(checkDiskBudget(t, c))
	}
	readmeShows(t, "the disk budget", table.String())
}

// TestDiskBudgetRefuses: the budget fails a queue on disk bounded in
// requests, and queues that together take more than half of the volume,
// naming the collector and the exporter.
func TestDiskBudgetRefuses(t *testing.T) {
	compose := shippedCollectors(t)[0]
	for _, tc := range []struct {
		name   string
		change func(jaeger map[string]any)
		want   []string
	}{
		{
			name:   "bounded in requests",
			change: func(q map[string]any) { delete(q, "sizer"); q["queue_size"] = 1000 },
			want:   []string{"compose otelcol-rca exporter otlp_grpc/jaeger: its sending_queue on disk is bounded in requests (1000"},
		},
		{
			name:   "the default bound",
			change: func(q map[string]any) { delete(q, "sizer"); delete(q, "queue_size") },
			want:   []string{"compose otelcol-rca exporter otlp_grpc/jaeger: its sending_queue on disk is bounded in requests (1000"},
		},
		{
			name:   "more than half the volume",
			change: func(q map[string]any) { q["queue_size"] = 600 << 20 },
			want: []string{"compose otelcol-rca: its queues on disk (elasticsearch 2 × 24; otlp_grpc/jaeger 1 × 600) " +
				"may hold 648 MiB together, more than half of its 1024 MiB volume"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compose
			c.config = mergedConfig(t, []string{"--config=" + filepath.Join("..", "otelcol-config.yaml")}, func(p string) string { return p })
			tc.change(dig(c.config, "exporters", "otlp_grpc/jaeger", "sending_queue").(map[string]any))
			r := &errorRecorder{TB: t}
			checkDiskBudget(r, c)
			if len(r.errors) != len(tc.want) {
				t.Fatalf("got errors %q, want %d", r.errors, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(r.errors[i], w) {
					t.Errorf("error %q does not say %q", r.errors[i], w)
				}
			}
		})
	}
}

// errorRecorder keeps the errors a check reports instead of failing.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// checkDiskBudget checks a collector's queues on disk against its volume
// and returns its line of the table ("" where it queues nothing on disk).
func checkDiskBudget(t testing.TB, c collectorContainer) string {
	t.Helper()
	queues := diskQueuesOf(t, c)
	if len(queues) == 0 {
		return ""
	}
	var total int64
	var parts []string
	for _, q := range queues {
		total += q.bytes()
		parts = append(parts, fmt.Sprintf("%s %d × %s", q.exporter, q.queues, mib(q.bound)))
	}
	if c.volume == 0 {
		t.Errorf("%s: its exporters queue on disk (%s), but its file_storage directory is on no volume with a size", c.name, strings.Join(parts, "; "))
	} else if total > c.volume/2 {
		t.Errorf("%s: its queues on disk (%s) may hold %s MiB together, more than half of its %s MiB volume: "+
			"their bbolt files, a compaction's copy and rootcause's state would not fit",
			c.name, strings.Join(parts, "; "), mib(total), mib(c.volume))
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s |\n", c.name, mib(c.volume), strings.Join(parts, "; "), mib(total), mib(c.volume-total))
}

const diskHeader = `| Collector (MiB) | Volume | Queues on disk: exporter, queues (one per signal) × bound | Together | Left for the files' slack, compaction, rootcause's state |
|---|---:|---|---:|---:|
`

// diskQueuesOf reads the queues on disk of a collector's exporters, in the
// order of their names; it fails the test, naming the collector and the
// exporter, for a queue on disk not bounded in bytes, and checks that the
// file_storage compaction writes its copy on the same volume.
func diskQueuesOf(t testing.TB, c collectorContainer) []diskQueue {
	t.Helper()
	signals := map[string]map[string]bool{} // exporter → the signals of its pipelines
	pipelines, _ := dig(c.config, "service", "pipelines").(map[string]any)
	for name, p := range pipelines {
		signal, _, _ := strings.Cut(name, "/")
		exporters, _ := dig(p, "exporters").([]any)
		for _, e := range exporters {
			if signals[e.(string)] == nil {
				signals[e.(string)] = map[string]bool{}
			}
			signals[e.(string)][signal] = true
		}
	}
	var out []diskQueue
	for _, name := range slices.Sorted(maps.Keys(signals)) {
		cfg, _ := dig(c.config, "exporters", name).(map[string]any)
		copies := 1
		if kind, _, _ := strings.Cut(name, "/"); kind == "loadbalancing" {
			cfg, _ = dig(cfg, "protocol", "otlp").(map[string]any)
			copies = c.fanout
		}
		queue, _ := dig(cfg, "sending_queue").(map[string]any)
		if queue == nil || queue["enabled"] == false || queue["storage"] == nil {
			continue
		}
		where := fmt.Sprintf("%s exporter %s", c.name, name)
		q := diskQueue{exporter: name, queues: copies * len(signals[name])}
		if queue["sizer"] != "bytes" {
			size := intOf(t, where, queue, "queue_size")
			if size == 0 {
				size = 1000 // exporterhelper's default
			}
			t.Errorf("%s: its sending_queue on disk is bounded in requests (%d, each up to a pipeline batch), not in bytes: "+
				"a long outage of its backend can fill the volume; set sending_queue::sizer: bytes and queue_size in bytes", where, size)
			continue
		}
		q.bound = intOf(t, where, queue, "queue_size")
		if q.bound <= 0 {
			t.Errorf("%s: sending_queue::queue_size (bytes) is not stated", where)
			continue
		}
		out = append(out, q)
	}
	if len(out) > 0 {
		storageDir := dig(c.config, "extensions", "file_storage", "directory")
		if dig(c.config, "extensions", "file_storage", "compaction", "on_rebound") == true &&
			dig(c.config, "extensions", "file_storage", "compaction", "directory") != storageDir {
			t.Errorf("%s: file_storage compaction writes its copy outside the storage directory %v (the default is on the container's read-only root)", c.name, storageDir)
		}
	}
	return out
}

// storageVolume is the size of the volume mounted at a Kubernetes
// container's storage directory (RCA_STORAGE_DIR): its StatefulSet's
// volume claim template's request, or an emptyDir's sizeLimit; 0 where
// nothing with a size is mounted there.
func storageVolume(o *k8sObjects, w workload, c corev1.Container, dir string) int64 {
	if dir == "" {
		return 0
	}
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			volume = m.Name
		}
	}
	for _, v := range w.pod.Spec.Volumes {
		if v.Name == volume && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil {
			return v.EmptyDir.SizeLimit.Value()
		}
	}
	for _, s := range o.statefulSets {
		if s.Name != w.name {
			continue
		}
		for _, claim := range s.Spec.VolumeClaimTemplates {
			if claim.Name == volume {
				size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
				return size.Value()
			}
		}
	}
	return 0
}
