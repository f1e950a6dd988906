package demo

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// Every OTLP/gRPC exporter of a run's collectors, in one collector and in a
// cluster, sends requests a gRPC server accepts: at most 3 MiB, under its
// default 4 MiB, as the shipped configs do. A larger one is refused and
// dropped, not retried.
func TestOTLPGRPCExportersBoundRequestsByBytes(t *testing.T) {
	p := Ports{Base: 20000}
	configs := map[string]string{
		"single":  collectorConfig(p, "/tmp/incidents.jsonl", "", ""),
		"gateway": gatewayConfig(p, 3),
		"shard":   shardConfig(p, 0, ""),
		"stage":   stageConfig(p, "/tmp/incidents.jsonl", "", ""),
	}
	checked := 0
	for name, raw := range configs {
		var config struct {
			Exporters map[string]map[string]any `yaml:"exporters"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(raw), &config), name)
		for id, exporter := range config.Exporters {
			settings := exporter
			switch typ, _, _ := strings.Cut(id, "/"); typ {
			case "otlp_grpc", "otlp":
			case "loadbalancing":
				settings = lookup(exporter, "protocol", "otlp")
			default:
				continue
			}
			checked++
			batch := lookup(settings, "sending_queue", "batch")
			assert.Equal(t, "bytes", batch["sizer"], "%s: exporters::%s: sending_queue::batch::sizer", name, id)
			assert.Equal(t, 3<<20, batch["max_size"], "%s: exporters::%s: sending_queue::batch::max_size", name, id)
		}
	}
	assert.Equal(t, 6, checked, "the gateway's loadbalancing, stage and three shard exporters, the shard's to the stage")
}

func lookup(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, _ := m[k].(map[string]any)
		m = next
	}
	return m
}
