package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// meView is who the console is logged in as: the token's name and role
// (viewer, operator, approver, or admin for a token of ADMIN_TOKENS).
type meView struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// consoleMe answers GET /admin/api/me: the console learns from it which
// actions to offer. The server decides each action on its own; this only
// spares an operator buttons that would be refused.
func consoleMe(c *gin.Context) {
	id := caller(c)
	c.JSON(http.StatusOK, meView{Name: id.Name, Role: string(id.Role)})
}
