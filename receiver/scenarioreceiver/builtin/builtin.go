// Package builtin holds the built-in scenarios, written in the same YAML
// format as user scenarios.
package builtin // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/builtin"

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names returns the names of the built-in scenarios, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// YAML returns the source of a built-in scenario.
func YAML(name string) ([]byte, error) {
	data, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown scenario %q (built-in: %s)", name, strings.Join(Names(), ", "))
	}
	return data, nil
}
