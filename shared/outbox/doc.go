// Package outbox delivers business events (order.paid, refund.succeeded, …)
// to the merchant's back end: at least once, signed, with backoff for 24 h,
// then as dead letters that an admin can redeliver.
//
// # What the receiver gets
//
// Each delivery is a POST of
//
//	{"id":"order.paid:A1","type":"order.paid","subject":"A1","data":{…},"created_at":"…","attempt":1}
//
// with the headers Content-Type: application/json, X-Cloudpay-Event-Id,
// X-Cloudpay-Event-Type and
//
//	X-Cloudpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// Any 2xx reply acknowledges the event; anything else (or no reply within the
// timeout) is retried after 15 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h,
// then every 6 h, the last time 24 h after the event happened; an event
// still not acknowledged then becomes a dead letter. Delivery is at least once: the same event (same id) may arrive
// more than once, so the receiver deduplicates on X-Cloudpay-Event-Id.
//
// # Verifying a delivery
//
// Read the raw body before parsing it, split the header on "," into t and
// v1, compute HMAC-SHA256 with the shared secret over t, ".", and the raw
// body, compare it with v1 in constant time, and reject a t more than a few
// minutes away from now (a replayed delivery). In Go, without this package:
//
//	func verify(secret, header string, body []byte, now time.Time) bool {
//		var t, v1 string
//		for _, kv := range strings.Split(header, ",") {
//			k, v, _ := strings.Cut(kv, "=")
//			if k == "t" { t = v } else if k == "v1" { v1 = v }
//		}
//		ts, err := strconv.ParseInt(t, 10, 64)
//		if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute { return false }
//		mac := hmac.New(sha256.New, []byte(secret))
//		mac.Write([]byte(t + ".")); mac.Write(body)
//		sig, err := hex.DecodeString(v1)
//		return err == nil && hmac.Equal(mac.Sum(nil), sig)
//	}
//
// or with this package, [Verify](secret, header, body, time.Now(), 5*time.Minute).
// In Node.js, with rawBody a Buffer of the unparsed body (timingSafeEqual
// throws on a v1 that is not hex: treat that as a failure too):
//
//	const ok = v1.length === 64 && crypto.timingSafeEqual(Buffer.from(v1, 'hex'), crypto.createHmac('sha256', secret).update(t + '.').update(rawBody).digest()) && Math.abs(Date.now() / 1000 - Number(t)) <= 300;
package outbox
