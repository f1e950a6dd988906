// Command gendashboards writes the Grafana dashboards built by package
// dashboards to grafana/dashboards (run from the deploy module: go run ./cmd/gendashboards).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otelcol-rca/otelcol-rca/deploy/dashboards"
)

func main() {
	out := flag.String("out", filepath.Join("grafana", "dashboards"), "directory to write the dashboard JSON files to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendashboards:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := dashboards.All()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
