package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/jobs"
	"github.com/everify/everify/internal/store"
)

// protectFlags are serve's data protection and abuse limit settings.
type protectFlags struct {
	rate, sessionRate   *float64
	burst, sessionBurst *int
	deviceFailures      *int
	deviceCoolOff       *time.Duration
	requestTimeout      *time.Duration
	biometrics, records *time.Duration
	purgeInterval       *time.Duration
	webhookAllow        *string
	webhookAttempts     *int
	webhookTimeout      *time.Duration
	analysisTimeout     *time.Duration
	analysisWorkers     *int
	rescueAfter         *time.Duration
}

// addProtectFlags adds serve's data protection and abuse limit flags.
func addProtectFlags(fs *flag.FlagSet) *protectFlags {
	return &protectFlags{
		rate:            fs.Float64("rate-limit", 10, "requests per second allowed per API key, shared by every replica on PostgreSQL (0: no limit)"),
		burst:           fs.Int("rate-burst", 20, "requests an API key may send at once above --rate-limit"),
		sessionRate:     fs.Float64("session-rate-limit", 10, "requests per second allowed per session token on the capture endpoints (0: no limit)"),
		sessionBurst:    fs.Int("session-rate-burst", 30, "requests a session token may send at once above --session-rate-limit"),
		deviceFailures:  fs.Int("device-max-failures", api.DefaultDeviceMaxFailures, "failed liveness checks in a row after which a start's device_id is refused for --device-cool-off (0: no limit)"),
		deviceCoolOff:   fs.Duration("device-cool-off", api.DefaultDeviceCoolOff, "how long a device_id is refused after --device-max-failures failed checks"),
		requestTimeout:  fs.Duration("request-timeout", api.DefaultRequestTimeout, "deadline of each API request (face-match and frame uploads get twice as long)"),
		biometrics:      fs.Duration("biometric-retention", jobs.DefaultBiometricRetention, "how long frames and reference faces are kept after a session starts"),
		records:         fs.Duration("record-retention", jobs.DefaultRecordRetention, "how long decisions and audit records are kept (at least --biometric-retention)"),
		purgeInterval:   fs.Duration("purge-interval", jobs.DefaultPurgeInterval, "how often the retention purge runs"),
		webhookAllow:    fs.String("webhook-allow", "", "comma-separated internal hosts, IPs or CIDRs that webhook URLs may reach (default: public addresses only)"),
		webhookAttempts: fs.Int("webhook-attempts", jobs.DefaultWebhookAttempts, "how often a webhook delivery is tried before it is given up"),
		webhookTimeout:  fs.Duration("webhook-timeout", jobs.DefaultWebhookTimeout, "deadline of one webhook delivery attempt"),
		analysisTimeout: fs.Duration("analysis-timeout", jobs.DefaultAnalysisTimeout, "deadline of one liveness analysis attempt"),
		analysisWorkers: fs.Int("analysis-workers", jobs.DefaultWorkers, "liveness analyses this replica runs at once (each already uses two cores; raise it on machines with more)"),
		rescueAfter:     fs.Duration("job-rescue-after", 0, fmt.Sprintf("how long a job may run before it is taken for lost (its replica died) and retried; longer than --analysis-timeout (0: %d times it)", jobs.RescueFactor)),
	}
}

// apply sets the abuse limits of cfg. On PostgreSQL the rate limit
// buckets live in the database, so that every replica enforces one limit;
// on SQLite (one process) they live in memory.
func (p *protectFlags) apply(cfg *api.Config, db *store.DB) {
	cfg.RateLimit = api.RateLimit{PerSecond: *p.rate, Burst: *p.burst}
	cfg.SessionRateLimit = api.RateLimit{PerSecond: *p.sessionRate, Burst: *p.sessionBurst}
	if db.Dialect() == store.Postgres {
		cfg.Limiter = db
	}
	cfg.Device = api.DeviceLimit{MaxFailures: *p.deviceFailures, CoolOff: *p.deviceCoolOff}
	if *p.deviceFailures == 0 {
		cfg.Device.MaxFailures = -1
	}
	cfg.RequestTimeout = *p.requestTimeout
}

// jobs sets the retention, webhook and job timeout settings of cfg;
// webhooks are delivered through the image fetcher's SSRF guard, with
// their own allowlist.
func (p *protectFlags) jobs(cfg *jobs.Config) error {
	if *p.records < *p.biometrics {
		return usageErrorf("--record-retention (%s) is shorter than --biometric-retention (%s)", *p.records, *p.biometrics)
	}
	guard, err := imagein.NewFetcher(imagein.Options{Allow: splitList(*p.webhookAllow)})
	if err != nil {
		return usageErrorf("--webhook-allow: %v", err)
	}
	cfg.BiometricRetention, cfg.RecordRetention, cfg.PurgeInterval = *p.biometrics, *p.records, *p.purgeInterval
	cfg.WebhookClient = jobs.NewWebhookClient(guard.Transport())
	cfg.WebhookAttempts, cfg.WebhookTimeout = *p.webhookAttempts, *p.webhookTimeout
	if *p.rescueAfter > 0 && *p.rescueAfter <= *p.analysisTimeout {
		return usageErrorf("--job-rescue-after (%s) must be longer than --analysis-timeout (%s)", *p.rescueAfter, *p.analysisTimeout)
	}
	if *p.analysisWorkers < 1 {
		return usageErrorf("--analysis-workers must be at least 1")
	}
	cfg.AnalysisTimeout, cfg.RescueAfter, cfg.Workers = *p.analysisTimeout, *p.rescueAfter, *p.analysisWorkers
	return nil
}

// describe summarises the limits for the start-up log.
func (p *protectFlags) describe() string {
	return fmt.Sprintf("rate limit %g/s (burst %d) per key, %g/s (burst %d) per session; biometrics kept %s, records %s",
		*p.rate, *p.burst, *p.sessionRate, *p.sessionBurst, *p.biometrics, *p.records)
}
