package distribution

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// grpcMessageLimit is what a gRPC server takes by default in one message
// (uncompressed), Jaeger's and the collector's OTLP receivers among them;
// they refuse a larger one with RESOURCE_EXHAUSTED, which the OTLP exporter
// does not retry.
const grpcMessageLimit = 4 << 20

// TestOTLPGRPCExportersBoundRequestsByBytes: every OTLP/gRPC exporter of
// the shipped collector configurations (otelcol-config.yaml, which compose
// and the Kubernetes shards and stage run, and deploy/'s own) splits its
// requests by bytes below the default gRPC limit: the pipeline's batches are
// bounded in spans only, and a batch of large spans sent whole is dropped.
// TestLargeSpansReachJaeger (test/e2e) shows it against a real Jaeger.
func TestOTLPGRPCExportersBoundRequestsByBytes(t *testing.T) {
	root := repoRoot(t)
	files := []string{"otelcol-config.yaml"}
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, rel)
		return err
	}))
	checked := 0
	for _, file := range files {
		raw, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err)
		var config struct {
			Exporters map[string]map[string]any `yaml:"exporters"`
		}
		if yaml.Unmarshal(raw, &config) != nil {
			continue // not a collector configuration (a compose file, a manifest)
		}
		for id, exporter := range config.Exporters {
			queue := exporter
			switch typ, _, _ := strings.Cut(id, "/"); typ {
			case "otlp_grpc", "otlp":
			case "loadbalancing":
				queue = lookup(exporter, "protocol", "otlp")
			default:
				continue
			}
			checked++
			batch := lookup(queue, "sending_queue", "batch")
			where := file + ": exporters::" + id
			assert.Equal(t, "bytes", batch["sizer"], "%s: sending_queue::batch::sizer", where)
			maxSize, _ := batch["max_size"].(int)
			assert.Positive(t, maxSize, "%s: sending_queue::batch::max_size", where)
			assert.Less(t, maxSize, grpcMessageLimit, "%s: sending_queue::batch::max_size", where)
		}
	}
	assert.GreaterOrEqual(t, checked, 7, "the Jaeger, stage, loadbalancing, rootcause and three shard exporters")
}

// lookup walks keys down nested YAML maps; nil where one is missing.
func lookup(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}
