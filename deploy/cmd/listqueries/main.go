// Command listqueries prints every PromQL expression of the dashboards, one
// JSON object per line ({"dashboard","panel","refId","expr","expanded","exemplar"}),
// or with -expanded only the macro-free expressions, one per line, for an
// end-to-end test that runs them against a real Prometheus.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/otelcol-rca/otelcol-rca/deploy/dashboards"
)

func main() {
	expanded := flag.Bool("expanded", false, "print only the expanded expressions, one per line")
	flag.Parse()
	qs, err := dashboards.PromQueries()
	if err != nil {
		fmt.Fprintln(os.Stderr, "listqueries:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, q := range qs {
		if *expanded {
			fmt.Println(q.Expanded)
			continue
		}
		if err := enc.Encode(q); err != nil {
			fmt.Fprintln(os.Stderr, "listqueries:", err)
			os.Exit(1)
		}
	}
}
