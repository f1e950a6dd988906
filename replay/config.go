package replay // import "github.com/otelcol-rca/otelcol-rca/replay"

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor"
)

// DefaultConfig is the rootcause processor's default configuration.
func DefaultConfig() *rootcauseprocessor.Config {
	return rootcauseprocessor.NewFactory().CreateDefaultConfig().(*rootcauseprocessor.Config)
}

// LoadConfig reads the configuration of the rootcause processor named id
// ("rootcause" or "rootcause/name"; empty: the only one) from a collector
// configuration file, resolving ${env:...} as the collector does.
func LoadConfig(ctx context.Context, path, id string) (*rootcauseprocessor.Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs: []string{"file:" + abs},
		ProviderFactories: []confmap.ProviderFactory{
			fileprovider.NewFactory(),
			envprovider.NewFactory(),
		},
		DefaultScheme: "env",
	})
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	conf, err := resolver.Resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	processors, err := conf.Sub("processors")
	if err != nil {
		return nil, fmt.Errorf("config %s: processors: %w", path, err)
	}
	var ids []string
	for _, k := range processors.AllKeys() {
		name, _, _ := strings.Cut(k, confmap.KeyDelimiter)
		if (name == "rootcause" || strings.HasPrefix(name, "rootcause/")) && !slices.Contains(ids, name) {
			ids = append(ids, name)
		}
	}
	// A processor configured with no keys ("rootcause:") has no sub-keys.
	for k := range processors.ToStringMap() {
		if (k == "rootcause" || strings.HasPrefix(k, "rootcause/")) && !slices.Contains(ids, k) {
			ids = append(ids, k)
		}
	}
	switch {
	case id == "" && len(ids) == 1:
		id = ids[0]
	case id == "" && len(ids) == 0:
		return nil, fmt.Errorf("config %s: no rootcause processor under processors", path)
	case id == "":
		return nil, fmt.Errorf("config %s: several rootcause processors (%s): choose one", path, strings.Join(ids, ", "))
	case !slices.Contains(ids, id):
		return nil, fmt.Errorf("config %s: no processor %q (found: %s)", path, id, strings.Join(ids, ", "))
	}
	sub, err := processors.Sub(id)
	if err != nil {
		return nil, fmt.Errorf("config %s: processors::%s: %w", path, id, err)
	}
	cfg := DefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("config %s: processors::%s: %w", path, id, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: processors::%s: %w", path, id, err)
	}
	return cfg, nil
}
