package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// Config is where business events go. An empty URL turns delivery off.
//
// Config never shows its secret: fmt, slog and encoding/json all see it
// redacted, and a password in the URL's user info hidden.
type Config struct {
	URL         string        `env:"BUSINESS_NOTIFY_URL"`
	Secret      string        `env:"BUSINESS_NOTIFY_SECRET" json:"-"`
	Timeout     time.Duration `env:"BUSINESS_NOTIFY_TIMEOUT, default=5s"`
	RetryWindow time.Duration `env:"BUSINESS_NOTIFY_RETRY_WINDOW, default=24h"`
}

const redacted = "[REDACTED]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// safeURL hides a password the URL may carry in its user info.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redact(raw)
	}
	return u.Redacted()
}

// LogValue is what slog logs for a Config.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", safeURL(c.URL)),
		slog.String("secret", redact(c.Secret)),
		slog.Duration("timeout", c.Timeout),
		slog.Duration("retry_window", c.RetryWindow),
	)
}

// String renders the Config with its secret redacted.
func (c Config) String() string {
	return fmt.Sprintf("outbox.Config{URL:%s Secret:%s Timeout:%s RetryWindow:%s}",
		safeURL(c.URL), redact(c.Secret), c.Timeout, c.RetryWindow)
}

// MarshalJSON renders the Config with its secret left out and the URL's
// password hidden.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		URL         string        `json:"url"`
		Timeout     time.Duration `json:"timeout"`
		RetryWindow time.Duration `json:"retry_window"`
	}{safeURL(c.URL), c.Timeout, c.RetryWindow})
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %d, …) print String:
// without it, %#v or %d would print the fields, the secret included.
func (c Config) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// check validates the settings and fills in defaults for zero durations.
func (c Config) check() (Config, error) {
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.RetryWindow == 0 {
		c.RetryWindow = 24 * time.Hour
	}
	if c.URL == "" {
		return c, nil
	}
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("BUSINESS_NOTIFY_URL must be an absolute http or https URL"))
	}
	if c.Secret == "" {
		errs = append(errs, errors.New("BUSINESS_NOTIFY_SECRET is required when BUSINESS_NOTIFY_URL is set"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("BUSINESS_NOTIFY_TIMEOUT must be positive"))
	}
	if c.RetryWindow < 0 {
		errs = append(errs, errors.New("BUSINESS_NOTIFY_RETRY_WINDOW must be positive"))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("business notifications: %w", errors.Join(errs...))
	}
	return c, nil
}

// Validate reports what is wrong with the settings, naming each variable,
// so a function can refuse to start before it connects to anything.
func (c Config) Validate() error {
	_, err := c.check()
	return err
}
