// Package wechatsim plays WeChat Pay, statefully, for local development and for tests that
// call it over real HTTP. One simulated WeChat serves both channels a merchant can use, with
// one set of orders, refunds and transfer bills:
//
//   - the WeChat Cloud Hosting open interface (`/_/pay/unifiedOrder`, `queryorder`,
//     `closeorder`, `refund`, `queryrefund`; JSON, v2 semantics, no keys), which delivers the
//     camelCase pay and refund callbacks to the container service/path named in the request;
//   - WeChat Pay API v3 (`/v3/pay/transactions/jsapi`, `/native` (a code_url
//     `weixin://wxpay/bizpayurl?pr=…`) and `/h5` (an h5_url; scene_info required), order query and close,
//     `/v3/refund/domestic/refunds`, and the 商家转账 transfer bills
//     `/v3/fund-app/mch-transfer/transfer-bills`: create, query, cancel), which verifies the
//     merchant's request signature, signs every response with the platform key
//     (RSA-SHA256, public-key mode), decrypts the RSA-OAEP encrypted user_name of a transfer
//     with it, and sends AES-256-GCM encrypted, signed notifications to the order's,
//     refund's or bill's notify_url, so the unmodified wechatpay-go SDK accepts it.
//
// WeChat's paths are served at the root as WeChat serves them; the simulator's own
// (control) routes, named below without it, are under ControlPrefix (/sim). The errors
// of WeChat's documented tables are answered as documented, each rule citing its page
// (docs/simulator-fidelity-v3.md); the pre-2025 transfer API (/v3/transfer/batches)
// answers 403 NO_AUTH as WeChat answers a merchant on the 2025 product (v3batches.go).
//
// Native and H5 orders (v3native.go) are orders like jsapi's, with trade_type NATIVE or
// MWEB, paid by POST /pay as the user DevPayerOpenID; the same request again answers the
// same URL, and another trade type for the number, or a Native/H5 prepay after a close,
// answers 403 OUT_TRADE_NO_USED (inferred: docs/native-h5.md §3; a JSAPI prepay after a
// close answers 400 ORDER_CLOSED).
//
// The user may pay part of an order with a coupon (PayWithCoupon; POST /pay with
// "coupon_fen" and "coupon_type" CASH or NO_CASH): the order's total stays the merchant's
// and every answer and notification also tells the cash paid and the coupon, as WeChat
// does (Cloud Hosting cash_fee, coupon_fee, coupon_count and the coupon fields; API v3
// amount.payer_total and promotion_detail), and each refund of such an order gives the
// user back a share of the cash and the rest as coupon (splitRefundLocked in refund.go).
// A merchant not bound to the Cloud Hosting environment (Config.SubMchID) is answered
// return_code FAIL, 受理关系不存在. Cloud Hosting callbacks carry X-WX-SOURCE and X-WX-ENV
// (chCallbackHeaders in callback.go). docs/simulator-fidelity-ch.md tells, per Cloud
// Hosting endpoint and callback, what is documented, what is simulated and what was
// chosen.
//
// Refunds of either channel share one state machine: PROCESSING, then SUCCESS on their own
// after Config.RefundSettleDelay, or SUCCESS / CLOSED / ABNORMAL when a test settles them.
//
// Money can also move outside any merchant back end: OutsidePayment makes a paid order
// that no back end created (no prepay, no pay callback), and OutsideRefund a refund made
// in the merchant platform, which notifies like any refund (see Config.OutsideNotifyURL
// and Config.OutsideRefundCallbackURL).
//
// Transfer bills (API v3 only) wait for the user: a new bill is WAIT_USER_CONFIRM with a
// package_info until ConfirmTransfer (the user confirms: TRANSFERING, then SUCCESS) or
// DeclineTransfer (FAIL, fail_reason USER_REFUSED, a reason the simulator invented), until
// the merchant cancels it (CANCELING, then CANCELLED right after the reply), or until
// Config.TransferConfirmWindow (24 h by Config.Now) has passed, when the next look at it
// finds it FAIL with OVERDUE_CLOSE. With Config.TransferNoConfirm a new bill is PROCESSING
// and becomes SUCCESS right after the reply. SettleTransfer forces SUCCESS or FAIL. Each
// final state sends one MCHTRANSFER.BILL.FINISHED notification (original_type and
// associated_data mch_payment), redelivered like the others.
//
// Daily bills (bill.go): the API v3 trade and fund-flow bills (GET /v3/bill/tradebill,
// /v3/bill/fundflowbill, then the signed download of GET /v3/billdownload/file) and the Cloud
// Hosting downloadbill are made from the simulator's own orders and refunds of a Beijing
// day, served from 10:00 the next day by Config.Now. POST /bills/plant {"date", "kind",
// "out_trade_no"?, "out_refund_no"?, "amount_fen"?, "status"?} makes a day's bills
// disagree with what the merchant stored, kind extra_payment, missing_payment, amount,
// status, extra_refund or missing_refund (see BillPlant); GET and DELETE /bills/plants
// list and clear them; GET /bills/{date}?kind=trade|fundflow&bill_type=&sub_mch_id= shows
// a bill whatever the hour.
//
// Control routes (see Handler) act as the user (pay, confirm or decline a transfer),
// settle refunds and transfers, replay callbacks and notifications, forge them (including
// v3 notifications with bad signatures, stale timestamps, tampered bodies or
// undecryptable resources), inject faults and show what reached "WeChat": its orders,
// refunds, transfer bills, received calls and delivery attempts.
//
// Signature timestamps (v3 requests, responses and notifications) use the wall clock, as the
// SDK does; everything else (order, refund and bill times, the refund rules, the transfer
// confirm window) uses Config.Now.
//
// With Config.StateFile, WeChat's side of the truth survives a crash and a restart: see
// Config.StateFile and Open.
package wechatsim

import (
	"context"
	"crypto/md5"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Coupon types: v2's coupon_type (the open interface's queryorder, refund and
// callbacks). API v3 names the same two CASH and NOCASH in a transaction's
// promotion_detail, COUPON and DISCOUNT in a refund's
// (https://pay.weixin.qq.com/doc/v2/partner/4011984209: "COUPON表示普通代金券(原值:CASH)，
// DISCOUNT表示免充值券(原值:NO_CASH)").
const (
	// CouponCash is a 充值代金券, funded outside the merchant (WeChat Pay, a bank): the
	// merchant settles the whole total_fee.
	CouponCash = "CASH"
	// CouponNoCash is a 免充值代金券, funded by the merchant: settlement_total_fee is
	// total_fee less the coupon ("应结订单金额=订单金额-非充值代金券金额",
	// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_2).
	CouponNoCash = "NO_CASH"
)

// Coupon is a voucher the user pays part of an order with (PayWithCoupon, POST /pay
// {"out_trade_no", "coupon_fen", "coupon_type"}): the order's total stays what the
// merchant asked for, the user pays total less Fen in cash.
type Coupon struct {
	Fen  int64  `json:"coupon_fen"`
	Type string `json:"coupon_type,omitempty"` // CouponCash (default) or CouponNoCash
}

// mulDivRound returns a*b/c rounded half up, for 0 <= a, b and 0 < c, without
// overflowing: the proportional refund of a coupon payment.
func mulDivRound(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	// (a*b + c/2) / c, with c/2 rounded down: half up for the exact halves of an even c
	// and of an odd one alike, since a*b is an integer.
	lo, carry := bits.Add64(lo, uint64(c/2), 0)
	hi += carry
	if hi >= uint64(c) { // cannot happen for a refund: the quotient is at most b
		return b
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// Config configures a Simulator. Zero values get the documented defaults.
type Config struct {
	// SubMchID is the merchant bound to the Cloud Hosting environment; an open-interface
	// pay call naming another is answered as WeChat answers a merchant not bound (or not
	// authorised) in 微信支付配置: errcode 0 and respdata {"return_code":"FAIL",
	// "return_msg":"受理关系不存在"} (see unbound in cloudhosting.go). Empty accepts any
	// merchant.
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

	// RefundSettleDelay is how long a new refund stays PROCESSING before it becomes SUCCESS
	// on its own and its callback or notification is sent. 0 means right after the reply to
	// the create call (asynchronously); a negative value means never on its own (the test
	// settles it with SettleRefund).
	RefundSettleDelay time.Duration
	// RefundMinInterval, when positive, is the least time (by Now) between two new refunds
	// of one order; a new refund sooner is refused with FREQUENCY_LIMITED.
	RefundMinInterval time.Duration

	// OutsideRefundCallbackURL is where the Cloud Hosting refund callback of a refund made
	// in the merchant platform (POST /outside/refunds) goes when its order's channel is
	// Cloud Hosting and no refund callback target of the order is known (none of its
	// earlier refunds named one): the full URL, not a container. Read at each delivery.
	// Empty: such a callback is logged as undeliverable. See OutsideRefund.
	OutsideRefundCallbackURL string
	// OutsideNotifyURL is the API v3 notify URL the merchant configured in the merchant
	// platform: the REFUND.* notification of a refund made there goes to it when its
	// order's channel is API v3 and the order has no notify_url (an outside payment). Read
	// at each delivery. See OutsideRefund.
	OutsideNotifyURL string

	// MchID is the API v3 merchant number; default DevMchID.
	MchID string
	// MerchantSerial is the serial number the merchant signs v3 requests with; default
	// DevMerchantSerial.
	MerchantSerial string
	// MerchantPublicKey verifies v3 request signatures; default DevMerchantPublicKeyPEM.
	MerchantPublicKey *rsa.PublicKey
	// PlatformKey signs v3 responses and notifications; default DevPlatformPrivateKeyPEM.
	PlatformKey *rsa.PrivateKey
	// PublicKeyID names PlatformKey (the Wechatpay-Serial header); default DevPublicKeyID.
	PublicKeyID string
	// PlatformCertKey and PlatformCertPEM are the platform certificate
	// (platform-certificate mode) and its key, served by GET
	// /v3/certificates; PlatformCertSerial names it. Defaults: the
	// DevPlatformCert* development ones.
	PlatformCertKey    *rsa.PrivateKey
	PlatformCertPEM    string
	PlatformCertSerial string
	// Signing is what signs v3 answers and notifications at start:
	// SignPublicKey (default) or SignCertificate; POST /signing switches it.
	Signing string
	// APIv3Key encrypts notification resources (32 bytes); default DevAPIv3Key.
	APIv3Key string

	// TransferMinFen and TransferMaxFen are the scene's per-bill limits (0: none); a new
	// bill outside them is refused with INVALID_REQUEST 超过单笔转账上下限.
	TransferMinFen int64
	TransferMaxFen int64
	// TransferConfirmWindow is how long (by Now) a WAIT_USER_CONFIRM bill waits for the
	// user; once it has passed, the next look at the bill (query, cancel, create again,
	// control view, confirm, ...) finds it FAIL with fail_reason OVERDUE_CLOSE and sends its
	// notification. 0 means 24 h; a negative value means forever.
	TransferConfirmWindow time.Duration
	// TransferNoConfirm makes new bills skip the user: the create call answers PROCESSING
	// and the bill becomes SUCCESS right after the reply (asynchronously), with its
	// notification.
	TransferNoConfirm bool

	// StateFile, when set, makes WeChat's state durable: the orders, refunds and transfer
	// bills, whether their callbacks were acknowledged, and the timestamps their timers run
	// from are kept in this append-only JSON-lines journal (its directory is created; a
	// lock file StateFile+".lock" keeps a second simulator off it). Every change is
	// written and fsynced before the simulator answers the request that caused it, and
	// before it sends a callback that tells of it, so after a crash (kill -9 at any
	// instant) and Open on the same file the simulator has forgotten nothing it answered.
	// Open replays it, rewrites it compacted and resumes the timers (see Open). Test
	// tooling is not kept: fault injections, the call log and the delivery log start
	// empty after a restart. Empty keeps everything in memory and writes nothing.
	StateFile string
}

// Simulator is a stateful WeChat Pay simulator. It is safe for concurrent use.
type Simulator struct {
	cfg     Config
	signing atomic.Value // SignPublicKey or SignCertificate
	loc     *time.Location
	handler http.Handler
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu            sync.Mutex
	closed        bool
	orders        map[string]*order
	byTxn         map[string]*order
	refunds       map[string]*refund   // by out_refund_no
	refundsByID   map[string]*refund   // by refund_id
	transfers     map[string]*transfer // by out_bill_no
	transfersByID map[string]*transfer // by transfer_bill_no
	mp            miniProgram          // the mini-program platform's trade management (own lock)
	calls         []Call
	deliveries    []Delivery
	faults        []*Fault
	bills         billState // bill plants and download links (bill.go)

	j *journal // nil without Config.StateFile
}

// Error is what the Go control methods return; the HTTP control routes render it as
// {"error":{"code":..., "message":...}} with Status.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns a Simulator. Call Close when done to stop background redeliveries and
// refund settlements. It panics if Config.APIv3Key is set but is not 32 bytes long, or if
// Config.StateFile cannot be opened (Open returns that error instead).
func New(cfg Config) *Simulator {
	s, err := Open(cfg)
	if err != nil {
		panic("wechatsim: " + err.Error())
	}
	return s
}

// Open returns a Simulator, as New does, or an error. With Config.StateFile it loads the
// state the file holds (a missing file is an empty state; a final line cut short by a
// crash was never answered and is dropped; any other damage is an error), rewrites the
// file compacted, and resumes what was under way, by the persisted timestamps (Config.Now):
// a PROCESSING refund settles when Config.RefundSettleDelay after its creation has passed
// (at once if it already has); a PROCESSING bill becomes SUCCESS and a CANCELING one
// CANCELLED at once; and each genuine callback or notification not yet acknowledged (a
// paid order's, a settled refund's, a final bill's) is delivered at once (trigger
// TriggerResume) and then on the rest of the Config.RetryDelays schedule, counted from
// the moment it was first due; except that one already attempted before the crash whose
// schedule has run out by then is left alone, as WeChat would have given up.
func Open(cfg Config) (*Simulator, error) {
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
	if cfg.MchID == "" {
		cfg.MchID = DevMchID
	}
	if cfg.MerchantSerial == "" {
		cfg.MerchantSerial = DevMerchantSerial
	}
	if cfg.PublicKeyID == "" {
		cfg.PublicKeyID = DevPublicKeyID
	}
	if cfg.APIv3Key == "" {
		cfg.APIv3Key = DevAPIv3Key
	}
	if cfg.TransferConfirmWindow == 0 {
		cfg.TransferConfirmWindow = defaultConfirmWindow
	}
	if len(cfg.APIv3Key) != 32 {
		return nil, errors.New("Config.APIv3Key must be 32 bytes long")
	}
	if cfg.PlatformCertKey == nil {
		cfg.PlatformCertKey, cfg.PlatformCertPEM, cfg.PlatformCertSerial = loadDevKeys().certKey, DevPlatformCertificatePEM, DevPlatformCertSerial
	}
	switch cfg.Signing {
	case "":
		cfg.Signing = SignPublicKey
	case SignPublicKey, SignCertificate:
	default:
		return nil, errors.New("Config.Signing must be " + SignPublicKey + " or " + SignCertificate)
	}
	if cfg.MerchantPublicKey == nil || cfg.PlatformKey == nil {
		keys := loadDevKeys()
		if cfg.MerchantPublicKey == nil {
			cfg.MerchantPublicKey = keys.merchantPub
		}
		if cfg.PlatformKey == nil {
			cfg.PlatformKey = keys.platform
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Simulator{
		cfg:           cfg,
		loc:           time.FixedZone("CST", 8*3600), // Asia/Shanghai has no DST; no tzdata needed
		ctx:           ctx,
		cancel:        cancel,
		orders:        map[string]*order{},
		byTxn:         map[string]*order{},
		refunds:       map[string]*refund{},
		refundsByID:   map[string]*refund{},
		transfers:     map[string]*transfer{},
		transfersByID: map[string]*transfer{},
	}
	s.signing.Store(cfg.Signing)
	s.handler = s.routes()
	if cfg.StateFile != "" {
		if err := s.openState(cfg.StateFile); err != nil {
			cancel()
			return nil, err
		}
		s.handler = s.durable(s.handler)
		s.resume()
	}
	return s, nil
}

// Handler serves, rooted at "/":
//
// Cloud Hosting open interface: POST /_/pay/unifiedOrder (and unifiedorder), queryorder,
// closeorder, refund, queryrefund.
//
// API v3: POST /v3/pay/transactions/jsapi; GET /v3/pay/transactions/out-trade-no/{no}?mchid=
// and /v3/pay/transactions/id/{transaction_id}?mchid=; POST
// /v3/pay/transactions/out-trade-no/{no}/close; POST /v3/refund/domestic/refunds; GET
// /v3/refund/domestic/refunds/{out_refund_no}; POST /v3/fund-app/mch-transfer/transfer-bills;
// GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no} and
// .../transfer-bills/transfer-bill-no/{transfer_bill_no}; POST
// /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel; GET
// /v3/bill/tradebill, /v3/bill/fundflowbill and /v3/billdownload/file (bill.go); and on the
// open interface POST /_/pay/downloadbill.
//
// Control: POST /pay ({"out_trade_no", "coupon_fen"?, "coupon_type"?}), /notify, /forge (a body with "kind" is a ForgeV3Request, otherwise a
// ForgeRequest); POST /outside/payments (OutsidePaymentRequest) and /outside/refunds
// (OutsideRefundRequest); POST, GET, DELETE /faults; GET /calls?api=; GET
// /callbacks?out_trade_no=&out_refund_no=&out_bill_no=; GET /orders/{out_trade_no}; GET
// /refunds?out_trade_no=; GET /refunds/{out_refund_no}; POST /refunds/{out_refund_no}/settle
// {"status"}; POST /refunds/{out_refund_no}/notify {"status"?}; GET /transfers?openid=;
// GET /transfers/{out_bill_no}; POST /transfers/{out_bill_no}/confirm and /decline (act as
// the user; empty body); POST /transfers/{out_bill_no}/settle {"state","fail_reason"?};
// POST /transfers/{out_bill_no}/notify (empty body); POST /bills/plant (BillPlant), GET and
// DELETE /bills/plants, GET /bills/{date}.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close stops background redeliveries and forged sends and waits for them. Replies held
// by a timeout fault are released. With Config.StateFile it then writes what is left to
// write (acknowledgements of deliveries that ended meanwhile), closes the file and
// releases its lock. Close is idempotent.
func (s *Simulator) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.j != nil {
		_ = s.sync()
		s.j.close()
	}
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
