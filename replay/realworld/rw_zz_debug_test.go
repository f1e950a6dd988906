package realworld

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/otelcol-rca/otelcol-rca/replay"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/trainticket"
)

func TestZZDebugCase(t *testing.T) {
	cs := os.Getenv("RCA_DEBUG_CASE")
	if cs == "" {
		t.Skip()
	}
	d, err := Open(datasetDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Split(cs, ",") {
		i, _ := strconv.Atoi(s)
		c := d.Cases[i]
		from := c.Inject.Truncate(60e9)
		r, err := trainticket.Open(trainticket.Options{
			Parts: []trainticket.Part{
				{Dir: d.NezhaConstruct, From: d.Reference, To: d.Reference.Add(60e9)},
				{Dir: d.NezhaRCA, From: from, To: from.Add(180e9)},
			},
			Traces: true, Logs: true, Metrics: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := replay.Run(context.Background(), Options{}.config(), Options{}.logger(), r.Next, nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("case %d %s %s %s\n", i, c.Inject.Format("15:04:05"), c.Type, c.Service)
		for _, in := range res.Incidents {
			fmt.Printf("  %s %s %-7s %-6s %s/%s n=%d share=%.2f win=%s..%s cands=%v %v\n    %s\n", in.At.Format("15:04:05"), in.ID[:8], in.Status, in.Kind, in.CulpritService, in.CulpritOperation, in.TraceCount, in.Share, in.WindowStart.Format("15:04:05"), in.WindowEnd.Format("15:04:05"), in.Candidates, in.Scores, in.Reason)
		}
	}
}

func TestZZDebugContinuous(t *testing.T) {
	if os.Getenv("RCA_DEBUG_CONT") == "" {
		t.Skip()
	}
	d, err := Open(datasetDir(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := trainticket.Open(trainticket.Options{Parts: []trainticket.Part{{Dir: d.TraStrainer}}, Traces: true, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Run(context.Background(), Options{}.config(), Options{}.logger(), r.Next, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range res.Incidents {
		fmt.Printf("  %s %s %-7s %-6s %s/%s n=%d share=%.2f win=%s..%s cands=%v %v\n    %s\n", in.At.Format("15:04:05"), in.ID[:8], in.Status, in.Kind, in.CulpritService, in.CulpritOperation, in.TraceCount, in.Share, in.WindowStart.Format("15:04:05"), in.WindowEnd.Format("15:04:05"), in.Candidates, in.Scores, in.Reason)
	}
}
