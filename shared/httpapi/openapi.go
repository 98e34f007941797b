package httpapi

import (
	"embed"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Each function's OpenAPI 3.1 document, compact JSON generated from the
// routes' descriptions in openapi_spec_test.go (go generate; a test fails
// when a file is stale, or when a route is served without being described).
//
//go:generate go test -run ^TestOpenAPIDocumentsCurrent$ . -args -update
//go:embed openapi/*.json
var openAPIDocuments embed.FS

// openAPI serves the function's document at GET /openapi.json.
func openAPI(function string) gin.HandlerFunc {
	doc, err := openAPIDocuments.ReadFile("openapi/" + function + ".json")
	return func(c *gin.Context) {
		if err != nil {
			fail(c, cloudpay.Errorf(cloudpay.CodeNotFound, "no OpenAPI document for %s", function))
			return
		}
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "application/json", doc)
	}
}
