package checkout

import (
	"bytes"
	"fmt"

	qr "github.com/piglig/go-qr"
)

// quietZone is the blank border around the code, in modules: the QR
// standard's 4, which scanners need to find the code on any background.
const quietZone = 4

// QRSVG renders content (a Native code_url) as an SVG QR code at error
// correction level M. One module is one unit of the viewBox, so the page's
// CSS sets the size; the SVG carries only presentation attributes, which a
// CSP without 'unsafe-inline' allows.
func QRSVG(content string) ([]byte, error) {
	code, err := qr.EncodeText(content, qr.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode qr: %w", err)
	}
	svg, err := code.ToSVGBytes(qr.NewQrCodeImgConfig(1, quietZone))
	if err != nil {
		return nil, fmt.Errorf("render qr: %w", err)
	}
	// Crisp module edges at any scale.
	return bytes.Replace(svg, []byte(` stroke="none"`), []byte(` stroke="none" shape-rendering="crispEdges"`), 1), nil
}
