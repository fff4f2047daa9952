package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the HTTP metrics, labelled by route pattern (bounded: one
// value per route plus "unmatched") and status code.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// refused counts requests refused by an abuse limit, by reason
	// (rate_limited, device_cooling_off, precheck_limit_reached).
	refused *prometheus.CounterVec
	// auditFailures counts audit records that could not be written.
	auditFailures prometheus.Counter
	handler       http.Handler // serves the whole registry
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "everify_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "everify_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "everify_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "everify_requests_refused_total",
			Help: "Requests refused by an abuse limit, by reason (rate_limited, device_cooling_off, precheck_limit_reached).",
		}, []string{"reason"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "everify_audit_write_failures_total",
			Help: "Audit records of answered requests that could not be written.",
		}),
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.refused, m.auditFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering HTTP metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, code).Inc()
	m.duration.WithLabelValues(route, code).Observe(d.Seconds())
}

// serveMetrics serves the registry in the Prometheus text format.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}
