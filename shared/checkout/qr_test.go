package checkout_test

import (
	"image"
	"image/color"
	"regexp"
	"strconv"
	"testing"

	qr "github.com/piglig/go-qr"

	"github.com/cloudpay/cloudpay/shared/checkout"
)

// codeURLs are contents of the form a Native prepay answers, and longer.
var codeURLs = []string{
	"weixin://wxpay/bizpayurl?pr=abc1234",
	"weixin://wxpay/bizpayurl?pr=Qx9TzK2bWmnsPq0aLdE4",
	"weixin://wxpay/bizpayurl/up?pr=NwY5Mz6&groupid=00&ext=0123456789abcdefghijklmnopqrstuvwxyz",
}

// The library renders and reads back what it encodes: the decoder the
// browser test trusts is checked against the encoder here.
func TestQRRoundTripPNG(t *testing.T) {
	t.Parallel()
	for _, want := range codeURLs {
		code, err := qr.EncodeText(want, qr.Medium)
		if err != nil {
			t.Fatal(err)
		}
		img, err := code.ToImage(qr.NewQrCodeImgConfig(6, 4))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := qr.Decode(img); err != nil || got != want {
			t.Errorf("decode the PNG of %q = %q, %v", want, got, err)
		}
	}
}

// What the page serves: the SVG, drawn module by module, scans back to
// the code_url.
func TestQRSVGRoundTrip(t *testing.T) {
	t.Parallel()
	for _, want := range codeURLs {
		svg, err := checkout.QRSVG(want)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := qr.Decode(rasterize(t, svg, 6)); err != nil || got != want {
			t.Errorf("decode the SVG of %q = %q, %v", want, got, err)
		}
		// Nothing the page's CSP would block: no style attribute or element,
		// no script, no external reference.
		if bad := regexp.MustCompile(`(?i)style|script|href|<image|url\(`).Find(svg); bad != nil {
			t.Errorf("the SVG of %q holds %q", want, bad)
		}
	}
}

var (
	viewBox = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`)
	module  = regexp.MustCompile(`M(\d+),(\d+)h1v1h-1z`)
)

// rasterize paints the SVG's unit squares (the form QRSVG draws modules
// in) black on white at scale pixels per unit.
func rasterize(t *testing.T, svg []byte, scale int) image.Image {
	t.Helper()
	vb := viewBox.FindSubmatch(svg)
	if vb == nil {
		t.Fatalf("no viewBox in %.200s", svg)
	}
	n, _ := strconv.Atoi(string(vb[1]))
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	modules := module.FindAllSubmatch(svg, -1)
	if len(modules) == 0 {
		t.Fatalf("no modules in %.200s", svg)
	}
	for _, m := range modules {
		x, _ := strconv.Atoi(string(m[1]))
		y, _ := strconv.Atoi(string(m[2]))
		for dy := range scale {
			for dx := range scale {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{})
			}
		}
	}
	return img
}
