// Package miniapp talks to the mini-program platform (api.weixin.qq.com)
// for WeChat's trade management: shipping uploads and whether the
// mini-program is under it. On Cloud Hosting it goes through the open
// interface, which needs no token: a container's calls to
// http://api.weixin.qq.com are authenticated by the platform ("云调用":
// upload_shipping_info is offered as wxa.sec.order.uploadShippingInfo,
// https://developers.weixin.qq.com/miniprogram/dev/server/API/order_shipping/api_uploadshippinginfo).
// Elsewhere (AWS Lambda) it uses an access token from stable_token, kept
// in the store with its expiry and refreshed by one instance at a time.
package miniapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Config is the mini-program's settings. Without a secret the open
// interface is used (Cloud Hosting); with one, access tokens.
type Config struct {
	APIURL  string        `env:"MINIPROGRAM_API_URL, default=http://api.weixin.qq.com"`
	AppID   string        `env:"MINIPROGRAM_APPID"`
	Secret  string        `env:"MINIPROGRAM_SECRET" json:"-"`
	Timeout time.Duration `env:"WECHAT_TIMEOUT, default=5s"`
}

// LogValue is what slog logs for a Config: never the secret.
func (c Config) LogValue() slog.Value {
	secret := ""
	if c.Secret != "" {
		secret = "[REDACTED]"
	}
	return slog.GroupValue(slog.String("api_url", c.APIURL), slog.String("appid", c.AppID),
		slog.String("secret", secret), slog.Duration("timeout", c.Timeout))
}

// String renders the Config with its secret redacted.
func (c Config) String() string { return fmt.Sprint(c.LogValue()) }

// Format makes every fmt verb print String.
func (c Config) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// AccessToken is a cached stable_token answer.
type AccessToken struct {
	AppID     string    `bson:"_id"`
	Token     string    `bson:"token"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Tokens is where access tokens are kept, shared by every instance.
type Tokens interface {
	AccessToken(ctx context.Context, appID string) (AccessToken, bool, error)
	SaveAccessToken(ctx context.Context, t AccessToken) error
	// ClaimAction lets one instance at a time refresh the token.
	ClaimAction(ctx context.Context, action, subject, pass string, spacing time.Duration, now time.Time) (bool, error)
}

// Client is the mini-program platform.
type Client struct {
	cfg    Config
	tokens Tokens
	http   *http.Client
	now    func() time.Time
}

var _ wechat.MiniProgram = (*Client)(nil)

// Format prints the client's settings, never its secret, with every verb.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, "miniapp.Client", c.cfg.String()) }

// New builds the client; tokens may be nil in open-interface mode.
func New(cfg Config, tokens Tokens, hc *http.Client, now func() time.Time) (*Client, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = "http://api.weixin.qq.com"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if u, err := url.Parse(cfg.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("miniprogram configuration: MINIPROGRAM_API_URL must be an http(s) URL")
	}
	if cfg.Secret != "" && cfg.AppID == "" {
		return nil, errors.New("miniprogram configuration: MINIPROGRAM_APPID is required with MINIPROGRAM_SECRET")
	}
	if hc == nil {
		hc = &http.Client{}
	}
	if now == nil {
		now = time.Now
	}
	return &Client{cfg: cfg, tokens: tokens, http: hc, now: now}, nil
}

// Refresh timing: a token is renewed when less than tokenMargin of its
// life is left; one instance renews at a time (the claim's spacing), the
// others wait for its answer at most tokenWait.
const (
	tokenMargin  = 5 * time.Minute
	claimSpacing = 10 * time.Second
	tokenWait    = 5 * time.Second
)

// token returns a usable access token ("" in open-interface mode);
// rejected is one WeChat refused, which is renewed and never returned.
func (c *Client) token(ctx context.Context, rejected string) (string, error) {
	if c.cfg.Secret == "" {
		return "", nil
	}
	// Wait for another instance's renewal at least as long as a call to
	// WeChat may take.
	deadline := time.Now().Add(max(tokenWait, c.cfg.Timeout))
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		t, found, err := c.tokens.AccessToken(ctx, c.cfg.AppID)
		if err != nil {
			return "", fmt.Errorf("access token: %w", err)
		}
		now := c.now()
		usable := found && t.Token != rejected
		if usable && t.ExpiresAt.Sub(now) > tokenMargin {
			return t.Token, nil
		}
		won, err := c.tokens.ClaimAction(ctx, "refresh-access-token", c.cfg.AppID, cloudpay.Nonce(), claimSpacing, now)
		if err != nil {
			return "", fmt.Errorf("access token: %w", err)
		}
		if won {
			return c.refresh(ctx, rejected != "")
		}
		// Another instance is renewing it: its answer will be in the store.
		if usable && t.ExpiresAt.After(now) && time.Now().After(deadline) {
			return t.Token, nil // still valid, if close to its end
		}
		if time.Now().After(deadline) {
			return "", cloudpay.Errorf(cloudpay.CodeWeChatTimeout, "no access token: another instance is renewing it")
		}
		t2 := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t2.Stop()
			return "", ctx.Err()
		case <-t2.C:
		}
	}
}

// refresh asks stable_token for the token and keeps it.
// https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html
func (c *Client) refresh(ctx context.Context, force bool) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	body := map[string]any{"grant_type": "client_credential", "appid": c.cfg.AppID, "secret": c.cfg.Secret, "force_refresh": force}
	if err := c.post(ctx, "/cgi-bin/stable_token", "", body, &out); err != nil {
		return "", fmt.Errorf("stable_token: %w", err)
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", cloudpay.Errorf(cloudpay.CodeWeChatError, "stable_token answered no token")
	}
	t := AccessToken{AppID: c.cfg.AppID, Token: out.AccessToken, ExpiresAt: c.now().Add(time.Duration(out.ExpiresIn) * time.Second)}
	if err := c.tokens.SaveAccessToken(ctx, t); err != nil {
		return "", fmt.Errorf("keep access token: %w", err)
	}
	return t.Token, nil
}

// apiError is the platform's {errcode, errmsg}.
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("errcode %d: %s", e.Code, e.Message) }

// call posts body to path with a token, renewing a token WeChat says is
// invalid or expired once (40001, 42001, 40014).
func (c *Client) call(ctx context.Context, path string, body, out any) error {
	rejected := ""
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx, rejected)
		if err != nil {
			return err
		}
		err = c.post(ctx, path, tok, body, out)
		var ae *apiError
		if attempt == 0 && c.cfg.Secret != "" && errors.As(err, &ae) && (ae.Code == 40001 || ae.Code == 42001 || ae.Code == 40014) {
			rejected = tok
			continue
		}
		return err
	}
}

func (c *Client) post(ctx context.Context, path, token string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	u := c.cfg.APIURL + path
	if token != "" {
		u += "?access_token=" + url.QueryEscape(token)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error prints the URL, and with it the access token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil {
			return &cloudpay.Error{Code: cloudpay.CodeWeChatTimeout, Message: "the mini-program platform did not answer in time", Err: err}
		}
		return &cloudpay.Error{Code: cloudpay.CodeWeChatError, Message: "the mini-program platform cannot be reached", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return cloudpay.Errorf(cloudpay.CodeWeChatError, "the mini-program platform answered HTTP %d", resp.StatusCode)
	}
	var env struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return cloudpay.Errorf(cloudpay.CodeWeChatError, "the mini-program platform answered something that is not JSON")
	}
	if env.ErrCode != 0 {
		return &apiError{Code: env.ErrCode, Message: env.ErrMsg}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return cloudpay.Errorf(cloudpay.CodeWeChatError, "the mini-program platform's answer cannot be read")
		}
	}
	return nil
}
