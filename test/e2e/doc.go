// Package e2e runs the built otelcol-rca binary against real backends started
// on loopback (Prometheus from Debian's package, VictoriaLogs) and checks what
// a user would see in them.
package e2e
