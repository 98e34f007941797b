// Package wechatsim plays WeChat Pay's side of the WeChat Cloud Hosting open interface
// (`/_/pay/unifiedOrder`, `queryorder`, `closeorder`), statefully, for local development and
// for tests that call it over real HTTP. It delivers the camelCase pay callback to the
// container service/path named in the order, redelivers on failure, and offers control
// routes to act as the user (pay), replay or forge callbacks, inject faults and inspect
// what reached "WeChat".
//
// The API v3 channel is meant to live beside this one (its own routes under /v3/ and its
// own file); faults, the call log and deliveries are shared.
package wechatsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Identities the simulator plays. Cloud Hosting acts as a WeChat Pay service provider, so
// respdata.appid/mch_id and the callback's appid/mchId are the provider's, not the merchant's.
const (
	DefaultAppID = "wxd0000000000sim1"                // the mini program's AppID (Config.AppID default)
	SPAppID      = "wxd00000000000sp1"                // the service provider's AppID
	SPMchID      = "1800000001"                       // the service provider's merchant number
	PaySignKey   = "cloudpaywechatsimulatorpaykey001" // key of the MD5 paySign and respdata sign
)

// Config configures a Simulator. Zero values get the documented defaults.
type Config struct {
	// SubMchID is the merchant this simulator serves; calls naming another get
	// result_code FAIL, err_code MCHID_NOT_EXIST. Empty accepts any merchant.
	SubMchID string
	// AppID is the appId of payment objects and the default sub_appid; default DefaultAppID.
	AppID string
	// Services maps a Cloud Hosting container service name (or, for callback_type 1, a cloud
	// function name) to a base URL; the delivery URL is base + container.path.
	Services map[string]string
	// RetryDelays is the redelivery schedule after a failed pay-callback delivery. nil means
	// 5s,15s,30s,1m,5m,15m,30m,1h; an empty non-nil slice means no redelivery.
	RetryDelays []time.Duration
	// HTTPClient delivers callbacks; default a client with a 5 s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Simulator is a stateful WeChat Pay simulator. It is safe for concurrent use.
type Simulator struct {
	cfg     Config
	loc     *time.Location
	handler http.Handler
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	orders     map[string]*order
	byTxn      map[string]*order
	calls      []Call
	deliveries []Delivery
	faults     []*Fault
}

// Error is what the Go control methods return; the HTTP control routes render it as
// {"error":{"code":..., "message":...}} with Status.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns a Simulator. Call Close when done to stop background redeliveries.
func New(cfg Config) *Simulator {
	if cfg.AppID == "" {
		cfg.AppID = DefaultAppID
	}
	if cfg.RetryDelays == nil {
		cfg.RetryDelays = []time.Duration{5 * time.Second, 15 * time.Second, 30 * time.Second,
			time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	} else {
		cfg.RetryDelays = append([]time.Duration{}, cfg.RetryDelays...)
	}
	services := make(map[string]string, len(cfg.Services))
	for k, v := range cfg.Services {
		services[k] = v
	}
	cfg.Services = services
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Simulator{
		cfg:    cfg,
		loc:    time.FixedZone("CST", 8*3600), // Asia/Shanghai has no DST; no tzdata needed
		ctx:    ctx,
		cancel: cancel,
		orders: map[string]*order{},
		byTxn:  map[string]*order{},
	}
	s.handler = s.routes()
	return s
}

// Handler serves the open-interface and control routes, rooted at "/".
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close stops background redeliveries and forged sends and waits for them. Replies held
// by a timeout fault are released. Close is idempotent.
func (s *Simulator) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// spawn runs f in a goroutine that Close waits for; after Close it does nothing.
func (s *Simulator) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

func (s *Simulator) now() time.Time { return s.cfg.Now() }

// wechatTime formats t as WeChat's yyyyMMddHHmmss in Beijing time.
func (s *Simulator) wechatTime(t time.Time) string { return t.In(s.loc).Format("20060102150405") }

// sleep waits d or until ctx ends; it reports whether the full delay passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits = "0123456789"
	hexLow = "0123456789abcdef"
)

func randString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

func nonce() string { return randString(alnum, 16) }

// newPrepayID returns "wx" + 30 characters: a Beijing timestamp and 16 random hex digits,
// shaped like real prepay ids.
func (s *Simulator) newPrepayID(now time.Time) string {
	return "wx" + s.wechatTime(now) + randString(hexLow, 16)
}

// newTransactionIDLocked returns "42000" + 23 digits, unique among paid orders.
func (s *Simulator) newTransactionIDLocked(now time.Time) string {
	for {
		id := "42000" + randString(digits, 5) + now.In(s.loc).Format("20060102") + randString(digits, 10)
		if _, used := s.byTxn[id]; !used {
			return id
		}
	}
}

// spOpenID derives the user's openid under the service provider's AppID.
func spOpenID(openid string) string {
	sum := md5.Sum([]byte("sp:" + openid))
	return "oSP" + hex.EncodeToString(sum[:])[:25]
}

func md5Upper(s string) string {
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// paySign is the v2 MD5 signature of a wx.requestPayment object.
func paySign(appID, nonceStr, pkg, timeStamp string) string {
	return md5Upper("appId=" + appID + "&nonceStr=" + nonceStr + "&package=" + pkg +
		"&signType=MD5&timeStamp=" + timeStamp + "&key=" + PaySignKey)
}

// v2Sign signs the flat string/number fields of m the v2 way (sorted k=v, &key=, MD5).
func v2Sign(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		var v string
		switch x := m[k].(type) {
		case string:
			v = x
		case int64:
			v = strconv.FormatInt(x, 10)
		case int:
			v = strconv.Itoa(x)
		default:
			continue
		}
		if k == "sign" || v == "" {
			continue
		}
		fmt.Fprintf(&b, "%s=%s&", k, v)
	}
	b.WriteString("key=" + PaySignKey)
	return md5Upper(b.String())
}
