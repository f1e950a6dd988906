// Command listqueries prints every PromQL expression of the dashboards, one
// JSON object per line ({"dashboard","panel","refId","expr","expanded","exemplar"}),
// or with -expanded only the macro-free expressions, one per line, for an
// end-to-end test that runs them against a real Prometheus; with -es-fields,
// the Elasticsearch fields the dashboards' queries may name, one per line, for
// an end-to-end test that finds each in stored incident records and logs.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/otelcol-rca/otelcol-rca/deploy/dashboards"
)

func main() {
	expanded := flag.Bool("expanded", false, "print only the expanded expressions, one per line")
	esFields := flag.Bool("es-fields", false, "print the Elasticsearch fields queries may name, one per line")
	flag.Parse()
	if *esFields {
		fields := make([]string, 0, len(dashboards.ElasticsearchFields))
		for f := range dashboards.ElasticsearchFields {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			fmt.Println(f)
		}
		return
	}
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
