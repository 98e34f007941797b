package checkout

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

//go:embed page.html checkout.js checkout.css
var files embed.FS

// CSP allows the page nothing but its own script and style and calls to
// its own origin. The QR code is inline SVG markup, which needs no source.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// AssetsPath is where the page's script and style are served, beside
// /checkout/ rather than under it, where a file name would read as an
// order number.
const AssetsPath = "/checkout-assets/"

// assetsFromPage is AssetsPath relative to a page at /checkout/{no}, so
// the page works behind a path prefix too (/create-payment locally).
const assetsFromPage = "../checkout-assets/"

// State is what the page shows.
type State string

const (
	Pending     State = "pending"     // the QR code, awaiting payment
	Paid        State = "paid"        // 支付成功
	Expired     State = "expired"     // 已过期: expired or closed
	Invalid     State = "invalid"     // a bad or expired link, or no such order: one answer for all
	Unavailable State = "unavailable" // the payment could not be prepared now
)

// Page is one rendering of the checkout page.
type Page struct {
	State       State
	OutTradeNo  string
	Description string
	AmountFen   cloudpay.Fen
	CodeURL     string    // Pending: the QR code's content
	ExpiresAt   time.Time // Pending: when the QR code stops being payable
	Now         time.Time
	// StatusQuery is the link's exp and sig, for the page's status calls
	// and its choice of method.
	StatusQuery string
	// Method is the way to pay the page is about: the QR code shown
	// (Pending), the one that could not be prepared (Unavailable), how
	// the order was paid (Paid). It names the page; empty: Methods[0].
	Method cloudpay.PayMethod
	// Methods are the ways to pay the deployment offers, of Methods().
	// With more than one, a pending or unavailable page links to each
	// (?method=), and shows the one picked: picking, not polling,
	// switches the order's live payment.
	Methods []cloudpay.PayMethod
}

// view is what the template reads: everything already formatted.
type view struct {
	Page
	Amount      string
	QR          template.HTML
	RemainingMS int64
	StatusURL   string
	Assets      string
	Brand       string // the page's name: 微信支付 or 支付宝
	Provider    string // whose colours: wechat or alipay
	Tabs        []tab  // the choice of method, when there is one
}

// tab is a link to the page showing one way to pay.
type tab struct {
	Param, Name, Href string
	Current           bool
}

var page = template.Must(template.ParseFS(files, "page.html"))

// Render writes the page as HTML.
func (p Page) Render(w io.Writer) error {
	v := view{Page: p, Amount: Yuan(p.AmountFen), Assets: assetsFromPage}
	named := p.Method
	if named == "" && len(p.Methods) > 0 {
		named = p.Methods[0]
	}
	v.Brand, v.Provider = Name(named), cloudpay.ProviderWeChat
	if named.Provider() == cloudpay.ProviderAlipay {
		v.Provider = cloudpay.ProviderAlipay
	}
	if len(p.Methods) > 1 && (p.State == Pending || p.State == Unavailable) {
		v.Tabs = tabs(p)
	}
	if p.State == Pending {
		svg, err := QRSVG(p.CodeURL)
		if err != nil {
			return err
		}
		// Our own markup from the QR encoder: nothing from the request is in it.
		v.QR = template.HTML(svg)
		v.RemainingMS = max(p.ExpiresAt.Sub(p.Now).Milliseconds(), 0)
		// Relative to /checkout/{no}: the order's own status route. An order
		// number has no ":", so it never reads as a scheme.
		v.StatusURL = url.PathEscape(p.OutTradeNo) + "/status?" + p.StatusQuery
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return fmt.Errorf("render checkout page: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// tabs link to the page with each method the page offers. A link of
// only a query keeps the page's path, so it works behind a prefix.
func tabs(p Page) []tab {
	var out []tab
	for _, m := range p.Methods {
		c, ok := choiceOf(m)
		if !ok {
			continue
		}
		q := "method=" + c.param
		if p.StatusQuery != "" {
			q = p.StatusQuery + "&" + q
		}
		out = append(out, tab{Param: c.param, Name: c.name, Href: "?" + q, Current: m == p.Method})
	}
	return out
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

var assets = loadAssets()

func loadAssets() map[string]asset {
	out := map[string]asset{}
	for name, ct := range map[string]string{
		"checkout.js":  "text/javascript; charset=utf-8",
		"checkout.css": "text/css; charset=utf-8",
	} {
		body, err := files.ReadFile(name)
		if err != nil {
			panic("checkout: " + name + " is not embedded: " + err.Error()) // a build defect
		}
		sum := sha256.Sum256(body)
		out[name] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// Assets serves the page's script and style by file name (the last path
// segment), wherever it is mounted; any other name is 404.
func Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		a, ok := assets[path.Base(r.URL.Path)]
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		// Fixed names, so revalidated every time: a page from one release
		// with a script from another would break. The ETag makes it a 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("Content-Type", a.contentType)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
