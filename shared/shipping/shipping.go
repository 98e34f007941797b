// Package shipping uploads paid orders' shipping information to WeChat's
// trade management (发货信息管理), without which a mini-program's funds
// stay frozen. An upload is recorded before it is sent, sent by one
// request at a time (an attempt claim), and retried by close-expired with
// backoff while WeChat cannot take it; WeChat refusing it for good is
// recorded with WeChat's words.
package shipping

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Status is where an upload stands.
type Status string

const (
	StatusPending  Status = "pending"  // recorded, not known to WeChat yet (or its answer was lost)
	StatusUploaded Status = "uploaded" // WeChat took it
	StatusRefused  Status = "refused"  // WeChat refused it for good
)

// Shipment is one upload of an order's shipping, under the caller's key.
type Shipment struct {
	ID             string                `bson:"_id"` // out_trade_no:key
	OutTradeNo     string                `bson:"out_trade_no"`
	Key            string                `bson:"key"`
	Logistics      wechat.LogisticsType  `bson:"logistics_type"`
	Mode           wechat.DeliveryMode   `bson:"delivery_mode"`
	IsAllDelivered bool                  `bson:"is_all_delivered,omitempty"`
	Items          []wechat.ShippingItem `bson:"items"`
	Status         Status                `bson:"status"`
	Attempts       int                   `bson:"attempts"`
	NextAt         time.Time             `bson:"next_at"`
	LastError      string                `bson:"last_error,omitempty"`
	UploadTime     time.Time             `bson:"upload_time"` // fixed at creation: WeChat orders uploads by it
	CreatedAt      time.Time             `bson:"created_at"`
	UpdatedAt      time.Time             `bson:"updated_at"`
	UploadedAt     *time.Time            `bson:"uploaded_at,omitempty"`
	Auto           bool                  `bson:"auto,omitempty"` // made by the virtual-goods option
}

// Shipped reports whether the order is fully shipped once this is uploaded.
func (sh Shipment) Shipped() bool { return sh.Mode == wechat.DeliveryUnified || sh.IsAllDelivered }

// Store is what shipping may do to the store.
type Store interface {
	InsertShipment(ctx context.Context, sh Shipment) (Shipment, bool, error)
	Shipment(ctx context.Context, id string) (Shipment, bool, error)
	SaveShipment(ctx context.Context, sh Shipment) error
	ShipmentsDue(ctx context.Context, now time.Time, limit int) ([]Shipment, error)
	ClaimAttempt(ctx context.Context, subject string, n int, now time.Time) (cloudpay.Attempt, bool, error)
	Order(ctx context.Context, outTradeNo string) (cloudpay.Order, error)
	Settlement(ctx context.Context, outTradeNo string) (cloudpay.Settlement, bool, error)
	ProjectOrderShipping(ctx context.Context, outTradeNo, state string, now time.Time) error
	EnqueueEvent(ctx context.Context, e cloudpay.Event) error
}

// Config is the merchant's shipping choices.
type Config struct {
	// AutoVirtual uploads virtual-goods shipping right after each payment
	// (merchants selling services), described as the order is.
	AutoVirtual bool `env:"SHIPPING_AUTO_VIRTUAL, default=false"`
}

// Service is the shipping use cases. Build one per process; mp nil means
// no mini-program credentials: uploads are refused as not configured.
type Service struct {
	store Store
	mp    wechat.MiniProgram
	mchID string
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
}

// New builds the service.
func New(store Store, mp wechat.MiniProgram, mchID string, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, mp: mp, mchID: mchID, cfg: cfg, log: log, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// NewShipment is what the merchant's back end or an operator enters.
type NewShipment struct {
	Key            string // idempotency key; one upload per order and key
	Logistics      wechat.LogisticsType
	Mode           wechat.DeliveryMode
	IsAllDelivered bool
	Items          []wechat.ShippingItem
}

// WeChat's limits on upload_shipping_info (the page cited in wechat).
const (
	maxItems    = 15
	maxItemDesc = 120
	maxTracking = 128
	maxKey      = 64
)

func (n NewShipment) validate() error {
	switch {
	case n.Key == "" || len(n.Key) > maxKey || !cloudpay.Printable(n.Key):
		return cloudpay.FieldError("idempotency_key", "idempotency_key must be 1-%d printable bytes", maxKey)
	case n.Logistics < wechat.LogisticsExpress || n.Logistics > wechat.LogisticsPickup:
		return cloudpay.FieldError("logistics_type", "logistics_type must be express, same_city, virtual or pickup")
	case n.Mode != wechat.DeliveryUnified && n.Mode != wechat.DeliverySplit:
		return cloudpay.FieldError("delivery_mode", "delivery_mode must be unified or split")
	case n.Mode == wechat.DeliveryUnified && n.IsAllDelivered:
		return cloudpay.FieldError("is_all_delivered", "is_all_delivered is for split deliveries only")
	case len(n.Items) == 0 || len(n.Items) > maxItems:
		return cloudpay.FieldError("shipping_list", "shipping_list must hold 1-%d items", maxItems)
	case n.Mode == wechat.DeliverySplit && n.Logistics != wechat.LogisticsExpress:
		// WeChat: only express deliveries may be split (10060006).
		return cloudpay.FieldError("delivery_mode", "only express deliveries can be split")
	case n.Mode == wechat.DeliveryUnified && len(n.Items) > 1:
		return cloudpay.FieldError("shipping_list", "a unified delivery has one item (one parcel, or one line of goods)")
	}
	for i, it := range n.Items {
		field := func(f string) string { return fmt.Sprintf("shipping_list[%d].%s", i, f) }
		switch {
		case it.ItemDesc == "" || utf8.RuneCountInString(it.ItemDesc) > maxItemDesc || !cloudpay.Printable(it.ItemDesc):
			return cloudpay.FieldError(field("item_desc"), "item_desc must be 1-%d printable characters", maxItemDesc)
		case n.Logistics == wechat.LogisticsExpress && (it.TrackingNo == "" || len(it.TrackingNo) > maxTracking || !cloudpay.Printable(it.TrackingNo)):
			return cloudpay.FieldError(field("tracking_no"), "express deliveries need tracking_no, 1-%d printable bytes", maxTracking)
		case n.Logistics == wechat.LogisticsExpress && (it.ExpressCompany == "" || len(it.ExpressCompany) > 32 || !cloudpay.Printable(it.ExpressCompany)):
			return cloudpay.FieldError(field("express_company"), "express deliveries need express_company, WeChat's company code")
		case n.Logistics == wechat.LogisticsExpress && it.ExpressCompany == "SF" && it.ConsignorContact == "" && it.ReceiverContact == "":
			// WeChat: SF Express needs the sender's or receiver's (masked) phone.
			return cloudpay.FieldError(field("contact"), "SF Express deliveries need consignor_contact or receiver_contact (masked, last 4 digits clear)")
		case len(it.ConsignorContact) > 32 || len(it.ReceiverContact) > 32 || !cloudpay.Printable(it.ConsignorContact+it.ReceiverContact):
			return cloudpay.FieldError(field("contact"), "contacts must be at most 32 printable bytes")
		}
	}
	return nil
}

func sameUpload(a, b Shipment) bool {
	if a.Logistics != b.Logistics || a.Mode != b.Mode || a.IsAllDelivered != b.IsAllDelivered || len(a.Items) != len(b.Items) {
		return false
	}
	for i := range a.Items {
		if a.Items[i] != b.Items[i] {
			return false
		}
	}
	return true
}

// Ship records an upload of a paid order's shipping and sends it. The
// same key with the same content returns the stored upload (created
// false); with other content it is SHIPPING_CONFLICT.
func (s *Service) Ship(ctx context.Context, outTradeNo string, n NewShipment) (Shipment, bool, error) {
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return Shipment{}, false, cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	if err := n.validate(); err != nil {
		return Shipment{}, false, err
	}
	if s.mp == nil {
		return Shipment{}, false, cloudpay.Errorf(cloudpay.CodeShippingOff,
			"shipping needs the mini-program: on Cloud Hosting the open interface (no settings), elsewhere MINIPROGRAM_APPID and MINIPROGRAM_SECRET")
	}
	if _, err := s.paidAtWeChat(ctx, outTradeNo); err != nil {
		return Shipment{}, false, err
	}
	now := s.clock()
	sh := Shipment{ID: outTradeNo + ":" + n.Key, OutTradeNo: outTradeNo, Key: n.Key, Logistics: n.Logistics, Mode: n.Mode,
		IsAllDelivered: n.IsAllDelivered, Items: n.Items, Status: StatusPending, NextAt: now, UploadTime: now, CreatedAt: now, UpdatedAt: now}
	held, created, err := s.store.InsertShipment(ctx, sh)
	if err != nil {
		return Shipment{}, false, fmt.Errorf("ship: %w", err)
	}
	if !created && !sameUpload(held, sh) {
		return Shipment{}, false, cloudpay.Errorf(cloudpay.CodeShippingConflict, "idempotency_key %s names another upload of order %s", n.Key, outTradeNo)
	}
	if held.Status == StatusUploaded {
		// Its projection again, in case a crash cut it short (idempotent).
		return held, created, s.project(ctx, held)
	}
	if held.Status != StatusPending || held.Attempts > 0 {
		// Refused, or being sent (or waiting for its next turn, which
		// close-expired takes): nothing to do here.
		return held, created, nil
	}
	held, err = s.send(ctx, held)
	return held, created, err
}

// paidAtWeChat returns the settlement of an order paid at WeChat: only
// those have shipping to upload.
func (s *Service) paidAtWeChat(ctx context.Context, outTradeNo string) (cloudpay.Settlement, error) {
	st, found, err := s.store.Settlement(ctx, outTradeNo)
	if err != nil {
		return st, fmt.Errorf("ship: %w", err)
	}
	if !found || st.Outcome != cloudpay.SettledPaid {
		if _, err := s.store.Order(ctx, outTradeNo); err != nil {
			return st, err
		}
		return st, cloudpay.Errorf(cloudpay.CodeOrderNotPaid, "order %s is not paid: shipping is uploaded for paid orders", outTradeNo)
	}
	switch st.PaidMethod().Provider() {
	case "":
		return st, cloudpay.Errorf(cloudpay.CodeShippingRefused, "order %s was paid from the wallet balance: WeChat holds no payment to ship", outTradeNo)
	case cloudpay.ProviderAlipay:
		return st, cloudpay.Errorf(cloudpay.CodeShippingRefused, "order %s was paid with Alipay: WeChat holds no payment to ship", outTradeNo)
	}
	return st, nil
}

// lease is how long an attempt's sender is trusted to be alive: past it,
// a claim whose shipment still shows the attempt before it was left by a
// sender that died, and the next attempt is taken.
const lease = 2 * time.Minute

// retry is the backoff between sends WeChat could not take.
func retry(attempts int) time.Duration {
	return min(time.Duration(1<<min(attempts, 10))*15*time.Second, 6*time.Hour)
}

// send makes one attempt under a claim: a concurrent sender of the same
// upload leaves it to the one holding the claim. The answer decides:
// uploaded, refused for good, or pending again after a backoff (WeChat
// unreachable, busy, or not knowing the payment yet).
func (s *Service) send(ctx context.Context, sh Shipment) (Shipment, error) {
	now := s.clock()
	n := sh.Attempts + 1
	for {
		a, won, err := s.store.ClaimAttempt(ctx, "shipping:"+sh.ID, n, now)
		if err != nil {
			return sh, fmt.Errorf("ship: %w", err)
		}
		if won {
			break
		}
		if now.Sub(a.StartedAt) < lease {
			return sh, nil // another request is sending it
		}
		n++ // its sender died before recording it: the next attempt
	}
	// Another sender may have finished since sh was read.
	if cur, found, err := s.store.Shipment(ctx, sh.ID); err != nil {
		return sh, fmt.Errorf("ship: %w", err)
	} else if found && cur.Status != StatusPending {
		return cur, nil
	}
	sh.Attempts, sh.NextAt, sh.UpdatedAt = n, now.Add(retry(n)), now
	if err := s.store.SaveShipment(ctx, sh); err != nil {
		return sh, fmt.Errorf("ship: %w", err)
	}
	st, err := s.paidAtWeChat(ctx, sh.OutTradeNo)
	if err != nil {
		return sh, err
	}
	o, err := s.store.Order(ctx, sh.OutTradeNo)
	if err != nil {
		return sh, err
	}
	info := wechat.ShippingInfo{TransactionID: st.TransactionID, MchID: s.mchID, OutTradeNo: o.WeChatTradeNo(),
		Logistics: sh.Logistics, Mode: sh.Mode, IsAllDelivered: sh.IsAllDelivered, Items: sh.Items,
		UploadTime: sh.UploadTime, PayerOpenID: st.OpenID}
	if info.PayerOpenID == "" {
		info.PayerOpenID = o.OpenID
	}
	err = s.mp.UploadShipping(ctx, info)
	now = s.clock()
	switch code := cloudpay.ErrorCode(err); {
	case err == nil:
		sh.Status, sh.LastError, sh.UploadedAt = StatusUploaded, "", &now
	case code == cloudpay.CodeShippingRefused:
		sh.Status, sh.LastError = StatusRefused, err.Error()
	default:
		sh.LastError = err.Error()
		s.log.WarnContext(ctx, "shipping upload not taken; tried again later", "out_trade_no", sh.OutTradeNo, "attempt", n, "err", err)
	}
	sh.UpdatedAt = now
	if err := s.store.SaveShipment(ctx, sh); err != nil {
		return sh, fmt.Errorf("ship: %w", err)
	}
	if sh.Status == StatusUploaded {
		return sh, s.project(ctx, sh)
	}
	if sh.Status == StatusRefused {
		return sh, &cloudpay.Error{Code: cloudpay.CodeShippingRefused, Message: sh.LastError}
	}
	return sh, nil
}

// project shows the upload on the order and, when the order is fully
// shipped, raises order.shipped once.
func (s *Service) project(ctx context.Context, sh Shipment) error {
	state := "partly_shipped"
	if sh.Shipped() {
		state = "shipped"
		data := map[string]any{"out_trade_no": sh.OutTradeNo, "logistics_type": int(sh.Logistics), "idempotency_key": sh.Key}
		if err := s.store.EnqueueEvent(ctx, cloudpay.NewEvent(cloudpay.EventOrderShipped, sh.OutTradeNo, data, s.clock())); err != nil {
			return err
		}
	}
	return s.store.ProjectOrderShipping(ctx, sh.OutTradeNo, state, s.clock())
}

// Retry sends the uploads that are due, for close-expired; it returns how
// many it sent and the first store failure.
func (s *Service) Retry(ctx context.Context, limit int) (int, error) {
	if s.mp == nil {
		return 0, nil
	}
	due, err := s.store.ShipmentsDue(ctx, s.clock(), limit)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, sh := range due {
		if ctx.Err() != nil {
			break
		}
		if _, err := s.send(ctx, sh); err != nil && cloudpay.ErrorCode(err) != cloudpay.CodeShippingRefused {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// AutoVirtual records the virtual-goods upload of a paid order, when the
// merchant chose it; close-expired sends it (WeChat may not know a payment
// for some seconds after its notification).
func (s *Service) AutoVirtual(ctx context.Context, o cloudpay.Order) error {
	if !s.cfg.AutoVirtual || s.mp == nil || o.Method.Provider() != cloudpay.ProviderWeChat || o.Adopted {
		return nil
	}
	now := s.clock()
	sh := Shipment{ID: o.OutTradeNo + ":auto", OutTradeNo: o.OutTradeNo, Key: "auto", Logistics: wechat.LogisticsVirtual,
		Mode: wechat.DeliveryUnified, Items: []wechat.ShippingItem{{ItemDesc: desc(o.Description)}}, Status: StatusPending,
		NextAt: now.Add(autoDelay), UploadTime: now, CreatedAt: now, UpdatedAt: now, Auto: true}
	_, _, err := s.store.InsertShipment(ctx, sh)
	return err
}

// autoDelay lets WeChat's trade management learn of the payment first.
const autoDelay = 10 * time.Second

func desc(d string) string {
	if utf8.RuneCountInString(d) <= maxItemDesc {
		return d
	}
	return string([]rune(d)[:maxItemDesc])
}

// Get returns an order's upload under key.
func (s *Service) Get(ctx context.Context, outTradeNo, key string) (Shipment, error) {
	sh, found, err := s.store.Shipment(ctx, outTradeNo+":"+key)
	if err == nil && !found {
		err = cloudpay.Errorf(cloudpay.CodeNotFound, "no shipping upload %s for order %s", key, outTradeNo)
	}
	return sh, err
}

// TradeManaged asks WeChat whether the mini-program is under trade
// management, and logs the answer.
func (s *Service) TradeManaged(ctx context.Context) (bool, error) {
	if s.mp == nil {
		return false, cloudpay.Errorf(cloudpay.CodeShippingOff, "no mini-program configured")
	}
	managed, err := s.mp.IsTradeManaged(ctx)
	if err != nil {
		return false, err
	}
	if managed {
		s.log.InfoContext(ctx, "the mini-program is under WeChat's trade management: paid orders need their shipping uploaded")
	} else {
		s.log.InfoContext(ctx, "the mini-program is not under WeChat's trade management")
	}
	return managed, nil
}
