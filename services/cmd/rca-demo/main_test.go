package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"unknown incident": {[]string{"--incidents", "nope"}, 2, "unknown incident"},
		"too short":        {[]string{"--duration", "30s"}, 2, "too short"},
		"missing binary":   {[]string{"--collector", "/nonexistent/otelcol-rca", "--out", "OUT"}, 1, "not an executable"},
	} {
		t.Run(name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "OUT" {
					tc.args[i] = t.TempDir()
				}
			}
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}
